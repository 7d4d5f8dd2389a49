"""``python -m benchmarks.e2e``: see :mod:`benchmarks.e2e.harness`."""

from benchmarks.e2e.harness import main

main()
