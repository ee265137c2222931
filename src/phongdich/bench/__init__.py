"""Micro-benchmarks for the heavy batch jobs (``run(...) -> dict`` per module)."""
