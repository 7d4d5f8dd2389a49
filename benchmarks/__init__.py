"""Micro-benchmarks (pytest-benchmark) and latency harnesses."""
