"""Helpers that start real servers for the tests and benchmarks."""
