"""A simulator host process: several venue accounts, each its own simulator on its own port.

    python -m benchmarks.e2e.venues --venue okx --accounts 250

Each follower account of the benchmark gets its own simulator instance (a venue account of its
own: own balance, positions, private stream), so one account's order pushes go to that account's
socket only, as at a real venue. Hundreds of instances share one process and event loop (uvloop);
the harness spreads larger fan-outs over several such processes.

The venue's own order-rate limits are lifted (a benchmark sends more than one retail account may);
everything else is the simulator as the tests use it, including its arrival stamps
(``time.monotonic_ns()`` when an order's bytes are read), served at ``GET /__sim/orders``.

The process collects its garbage between bursts of orders, as the daemon does
(:class:`copier.collector.IdleCollector`): with the interpreter's automatic collector, a
collection of a few hundred simulated accounts' state could pause the host for tens of
milliseconds in the middle of a fan-out and hold back the stamp of every order still unread, which
would put the test bench's own pauses into the measured propagation.

Prints one JSON line ``{"accounts": [{"base_url", "ws_url", "private_ws_url", "stream_url"}, …]}``
when every instance listens, then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import sys
import time
from decimal import Decimal
from typing import Any

import orjson

from copier.collector import IdleCollector
from tests.venues import stamped

VENUES = ("okx", "bybit", "binance")
BALANCE = Decimal(1_000_000_000)
NO_LIMIT = 10**9


async def start_one(venue: str) -> tuple[Any, dict[str, str]]:
    """Start one simulator account; returns it with the URLs an account table needs."""
    if venue == "okx":
        from tests.venues.okx_sim import OkxSim

        okx = OkxSim(balance=BALANCE, order_limit=(NO_LIMIT, 1.0))
        await okx.start()
        return okx, {"base_url": okx.base_url, "ws_url": okx.ws_url}
    if venue == "bybit":
        from tests.venues.bybit_sim import BybitSim

        bybit = BybitSim(balance=BALANCE, orders_per_second=NO_LIMIT)
        await bybit.start()
        return bybit, {"base_url": bybit.base_url, "ws_url": bybit.ws_url, "private_ws_url": bybit.private_ws_url}
    if venue == "binance":
        from tests.venues.binance_sim import BinanceSim

        binance = BinanceSim(balance=BALANCE, order_limits=((NO_LIMIT, 1.0),))
        await binance.start()
        return binance, {"base_url": binance.base_url, "ws_url": binance.ws_url, "stream_url": binance.stream_url}
    raise ValueError(f"unknown venue {venue!r}; use one of {', '.join(VENUES)}")


async def serve(venue: str, accounts: int, read_first: float = 0.0) -> None:
    """Start ``accounts`` simulators, print their URLs, serve until a stop signal.

    ``read_first`` > 0: answer orders only after the host's sockets have been quiet that long
    (:func:`tests.venues.stamped.read_first`)."""
    stamped.read_first(read_first)
    started = [await start_one(venue) for _ in range(accounts)]
    gc.collect()
    gc.freeze()
    collector = IdleCollector(_receiving)
    collector.start()
    sys.stdout.write(orjson.dumps({"accounts": [urls for _, urls in started]}).decode() + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await collector.stop()
    for sim, _ in started:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(sim.stop(), 2)


def _receiving() -> bool:
    """Whether any order socket of this host read something in the last 20 ms."""
    return time.monotonic_ns() - stamped.last_read_ns() < 20_000_000


def main(argv: list[str] | None = None) -> None:
    """Command line: ``--venue`` and ``--accounts``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venue", choices=VENUES, default="okx")
    parser.add_argument("--accounts", type=int, default=1)
    parser.add_argument(
        "--read-first",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="answer orders only after the host's sockets have read nothing for this long (0: at once)",
    )
    args = parser.parse_args(argv)
    import uvloop

    uvloop.run(serve(args.venue, args.accounts, args.read_first))


if __name__ == "__main__":
    main()
