"""Purges, tombstones and versioned invalidation."""
