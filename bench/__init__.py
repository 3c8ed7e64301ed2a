"""Benchmarks, run by `make bench` (never timing asserts in tests)."""
