"""Tests for edge.store (memory, disk and tiered stores)."""
