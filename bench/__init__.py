"""Benchmarks of the routing library: public VRPTW sets and a generated doorstep day.

Run as ``python -m bench.vrptw`` and ``python -m bench.doorstep_day``; each prints a table and
writes JSON to ``var/bench/<name>.json``. Benchmark data is read from $DOORSTEP_BENCH_DATA
(default ``../shared/bench-data`` beside the repository) and never copied into it.
"""
