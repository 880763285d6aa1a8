"""Benchmarks: each module prints its figures beside the library a user would otherwise use."""
