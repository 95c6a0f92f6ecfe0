"""Benchmarks. Each `bench/bench_*.py` has `main() -> str` returning its Markdown section for BENCHMARKS.md.

Every figure is reported against a baseline measured in the same run (a ratio), because the machines are shared
and noisy: absolute numbers move, ratios much less. None of this is a test; `make bench` runs it.
"""
