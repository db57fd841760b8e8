"""Benchmarks: timings and simulations, never assertions."""
