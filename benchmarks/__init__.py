"""Benchmarks (`make bench`): ratios against baselines run in the same command, never timed tests."""
