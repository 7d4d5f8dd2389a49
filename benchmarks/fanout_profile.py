"""The fan-out window in one process, for profiling: the daemon in-process, simulators outside.

    python -m benchmarks.fanout_profile --venue okx --followers 100 --signals 60
    python -m benchmarks.fanout_profile --followers 100 --cprofile /tmp/fanout.pstats

The daemon is started in this process from the same generated config as the end-to-end harness
(:mod:`benchmarks.e2e`), with its simulators in their own processes. Signals are parsed from a
TradingView body and handed to ``Router.submit`` directly, one at a time, each after the previous
one has finished at every follower. Reported per signal, from the daemon's own stamps:

* ``window`` — last follower's ``t_wire`` − ``t0``: the CPU the fan-out spends before its last
  write, the part of the latency that is Copier's own;
* ``per follower`` — window ÷ N;
* ``cpu`` — process CPU time per signal, the whole order life included (acks, pushes, logs).

With ``--cprofile`` the profile covers only the synchronous fan-out (submit until the last lane
has written), so the listing shows where the window goes. ``--segments`` splits each follower's
share of that window into stamped segments instead (:mod:`benchmarks.segments`), without a
profiler's per-call cost. Both see only the interpreted hot path: run them with
``COPIER_COMPILED=0`` (see :mod:`core.compiled`).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import core.router as router_module
from benchmarks.e2e.harness import (
    DAEMON_NICE,
    SYMBOL,
    add_read_first,
    daemon_config,
    free_port,
    simulators,
    write_config,
)
from benchmarks.e2e.loadgen import body as webhook_body
from benchmarks.segments import Segments
from copier.config import load
from copier.daemon import Daemon
from core import compiled
from ingest.tradingview import parse_alert


async def _run(args: argparse.Namespace, urls: list[dict[str, str]], folder: Path) -> dict[str, Any]:
    body, _ = daemon_config(args.venue, urls)
    config = load(write_config(folder, body, webhook=free_port(), api=free_port()))
    daemon = Daemon(config, out=io.StringIO())
    await daemon.start()
    router = daemon.router
    source = config.sources[0]
    profiler = cProfile.Profile() if args.cprofile else None
    segments = Segments() if args.segments else None
    if segments is not None:
        segments.install()
    windows: list[float] = []
    cpu: list[float] = []
    try:
        for index in range(args.warmup + args.signals):
            raw = webhook_body(index, f"fp{time.monotonic_ns()}", SYMBOL[args.venue], "0.01")
            signal = parse_alert(raw, source=source.name, received_ns=time.monotonic_ns()).signal
            measured = index >= args.warmup
            c0 = time.process_time()
            if profiler is not None and measured:
                profiler.enable()
            if segments is not None:
                segments.active = True
            result = router.submit(signal)
            assert result.accepted, result
            if (profiler is not None and measured) or segments is not None:
                # Every lane wakes in the next loop iteration and runs up to its write.
                await asyncio.sleep(0)
                if profiler is not None and measured:
                    profiler.disable()
                if segments is not None:
                    segments.close(keep=measured)
            await router.drain()
            c1 = time.process_time()
            record = router.outcomes.get(signal.id)
            assert record is not None
            latencies = [o["latency_us"] for f in record.followers.values() for o in f.orders if "latency_us" in o]
            if len(latencies) != args.followers:
                raise RuntimeError(f"{len(latencies)} of {args.followers} followers sent: {record.followers}")
            if measured:
                windows.append(max(latencies))
                cpu.append((c1 - c0) * 1e6)
            await asyncio.sleep(args.gap)
    finally:
        if segments is not None:
            segments.uninstall()
        await daemon.stop()
    if profiler is not None:
        profiler.dump_stats(args.cprofile)
    return {"windows_us": windows, "cpu_us": cpu, "segments": segments}


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> None:
    """Command line; prints one summary line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venue", choices=tuple(SYMBOL), default="okx")
    parser.add_argument("--followers", type=int, default=100)
    parser.add_argument("--signals", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between signals")
    parser.add_argument("--per-process", type=int, default=250, help="simulator accounts per process")
    add_read_first(parser)
    parser.add_argument("--cprofile", type=Path, help="write a cProfile of the fan-out windows here")
    parser.add_argument("--segments", action="store_true", help="print each follower's share of the window by segment")
    parser.add_argument(
        "--nice",
        type=int,
        default=DAEMON_NICE if os.geteuid() == 0 else 0,
        help=f"this process's niceness once the simulators run (default {DAEMON_NICE} as root, as in the e2e run)",
    )
    args = parser.parse_args(argv)
    if args.cprofile and compiled.is_compiled(router_module):
        parser.error("a profile sees only the interpreted hot path: run with COPIER_COMPILED=0")
    import uvloop

    with tempfile.TemporaryDirectory(prefix="fanout-") as tmp:
        folder = Path(tmp)
        with simulators(args.venue, args.followers, args.per_process, folder, args.read_first) as urls:
            if args.nice:
                os.setpriority(os.PRIO_PROCESS, 0, args.nice)
            result = uvloop.run(_run(args, urls, folder))
    windows, cpu = result["windows_us"], result["cpu_us"]
    n = args.followers
    print(
        f"{args.venue} N={n} signals={len(windows)}: window p50 {statistics.median(windows):.0f} µs "
        f"p90 {_quantile(windows, 0.9):.0f} µs max {max(windows):.0f} µs; "
        f"per follower p50 {statistics.median(windows) / n:.1f} µs; "
        f"cpu/signal p50 {statistics.median(cpu):.0f} µs ({statistics.median(cpu) / n:.1f} µs per follower); "
        f"hot path {compiled.status()[1]}",
        file=sys.stdout,
    )
    if result["segments"] is not None:
        print(result["segments"].report(n, statistics.median(windows)), file=sys.stdout)


if __name__ == "__main__":
    main()
