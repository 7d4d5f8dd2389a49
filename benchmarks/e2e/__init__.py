"""End-to-end latency harness: the real daemon, venue simulators and a load generator as processes.

    python -m benchmarks.e2e --followers 1,10,100,1000 --signals 200 --rate 5 --venue okx
    python -m benchmarks.e2e --quick

Every process runs on this host and stamps with ``time.monotonic_ns()`` (CLOCK_MONOTONIC, one
clock): the load generator stamps each webhook's send, the simulators stamp each order's arrival,
the daemon's mirror log carries its own ``t0`` and ``t_wire``. The same run measures the floor (a
minimal uvloop program that turns the same HTTP request into N prebuilt frames on N held-open
loopback sockets) and, for Binance, ccxt's ``create_order`` against the same simulator.
"""
