"""Benchmarks of the sync (not collected by pytest).

``python -m harvey_pipelines_tests.bench.sync_benchmark --help``; results and commands in
``BENCHMARKS.md`` at the repository root.
"""
