"""Benchmarks: run with ``python -m benchmarks.run`` (see README)."""
