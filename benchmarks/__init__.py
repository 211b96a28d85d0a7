"""Benchmarks of Abasto: run with ``make bench``; results go to docs/benchmarks.md."""
