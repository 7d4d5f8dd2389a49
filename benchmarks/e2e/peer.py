"""The peer: ccxt's async ``create_order`` against the same Binance simulator as Copier.

    python -m benchmarks.e2e --followers 1 --peer      # as part of a run
    python -m benchmarks.e2e.peer ccxt --base-url http://127.0.0.1:PORT --signals 200 --rate 5 --out x.json
    python -m benchmarks.e2e.peer connector-ws --base-url … --ws-url … --stream-url … --out y.json

ccxt is a benchmark-only dependency (``pip install -e '.[bench]'``); the runtime never imports it.

The **client** role runs in its own process: ``ccxt.async_support.binanceusdm`` with every
``fapi`` URL pointed at the simulator, markets loaded and five warm-up orders sent, then one market
order per slot at ``--rate``, each call stamped with ``time.monotonic_ns()`` just before
``create_order`` and tagged with its ``newClientOrderId``. The process's CPU time (user + system)
over the measured orders is divided by their count. The **connector** roles do the same with
Copier's own Binance connector (``connector-ws``: its WebSocket order API; ``connector-rest``: the
REST fallback, ccxt's transport), so the per-order CPU is compared like for like, client library
against client library. :func:`peer_run` runs the three against fresh simulators, adds a
one-follower Copier daemon run (webhook → order, the whole ingest path) and reports the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from benchmarks.stats import summary

KEY = "simkey" + "0" * 58
SECRET = "simsecret" + "1" * 55
WARM = 5
VOLUME = Decimal("0.01")


async def _paced(
    order: Callable[[str, int], Awaitable[None]], prefix: str, signals: int, rate: float
) -> dict[str, Any]:
    """Warm-up orders, then ``signals`` orders at ``rate`` per second (0: back to back), each
    stamped just before the call; the process's CPU time over the measured ones."""
    for index in range(WARM):
        await order(f"{prefix}warm{index}", index)
    interval = 1 / rate if rate > 0 else 0.0
    calls: list[tuple[str, int]] = []
    cpu0 = time.process_time()
    start = time.monotonic() + 0.02
    for index in range(signals):
        delay = start + index * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        cid = f"{prefix}{index}"
        calls.append((cid, time.monotonic_ns()))
        await order(cid, index)
    return {"calls": calls, "cpu_seconds": time.process_time() - cpu0}


async def _client(base_url: str, signals: int, rate: float) -> dict[str, Any]:
    import ccxt
    import ccxt.async_support as ccxt_async

    exchange = ccxt_async.binanceusdm(
        {
            "apiKey": KEY,
            "secret": SECRET,
            "enableRateLimit": False,
            "options": {"fetchCurrencies": False, "fetchMargins": False},
        }
    )
    for name in list(exchange.urls["api"]):
        if name.startswith("fapi"):
            version = exchange.urls["api"][name].rsplit("/", 1)[1]
            prefix = "futures/data" if name == "fapiData" else f"fapi/{version}"
            exchange.urls["api"][name] = f"{base_url}/{prefix}"
    try:
        await exchange.load_markets()

        async def order(cid: str, index: int) -> None:
            side = "buy" if index % 2 == 0 else "sell"
            await exchange.create_order("BTC/USDT:USDT", "market", side, 0.01, None, {"newClientOrderId": cid})

        result = await _paced(order, "ccxt", signals, rate)
    finally:
        await exchange.close()
    return result | {"ccxt_version": ccxt.__version__}


async def _connector_client(
    base_url: str, ws_url: str, stream_url: str, signals: int, rate: float, ws: bool
) -> dict[str, Any]:
    """Copier's Binance connector alone, in the same shape as the ccxt client: same orders, same
    pacing, the process's CPU over the measured orders."""
    from connectors.binance import BinanceConfig, BinanceConnector
    from core.enums import Side
    from core.orders import IntentKind, OrderIntent

    connector = BinanceConnector(
        BinanceConfig(
            name="peer",
            api_key=KEY,
            api_secret=SECRET,
            base_url=base_url,
            ws_url=ws_url,
            stream_url=stream_url,
            ws_orders=ws,
        )
    )
    await connector.start()
    try:

        async def order(cid: str, index: int) -> None:
            side = Side.BUY if index % 2 == 0 else Side.SELL
            await connector.submit(
                OrderIntent(kind=IntentKind.OPEN, client_order_id=cid, symbol="BTCUSDT", side=side, volume=VOLUME)
            )

        result = await _paced(order, "cpconn", signals, rate)
    finally:
        await connector.stop()
    return result


def _client_run(role: str, urls: dict[str, str], signals: int, rate: float, folder: Path) -> dict[str, Any]:
    """One client role in its own process against one simulator; its calls joined to the arrivals."""
    import subprocess

    from benchmarks.e2e import harness

    out = folder / f"{role}.json"
    args = [sys.executable, "-m", "benchmarks.e2e.peer", role, "--base-url", urls["base_url"],
            "--ws-url", urls["ws_url"], "--stream-url", urls["stream_url"],
            "--signals", str(signals), "--rate", str(rate), "--out", str(out)]  # fmt: skip
    subprocess.run(args, cwd=harness.ROOT, env=harness._env(), check=True)
    result = orjson.loads(out.read_bytes())
    arrivals = harness.fetch_arrivals([urls])
    latency = [(arrivals[cid] - sent) / 1000 for cid, sent in result["calls"] if cid in arrivals]
    return {
        "latency_us": summary(latency),
        "cpu_per_order_ms": result["cpu_seconds"] / signals * 1000,
        "missing_orders": signals - len(latency),
        **{k: v for k, v in result.items() if k not in ("calls", "cpu_seconds")},
    }


ROLES = {
    "ccxt": "ccxt create_order, REST (fapi/v1/order), one kept-alive connection",
    "connector-ws": "Copier's Binance connector, WebSocket API (order.place)",
    "connector-rest": "Copier's Binance connector, REST (fapi/v1/order), one kept-alive connection",
}


def peer_run(signals: int, rate: float, per_process: int) -> dict[str, Any]:
    """Copier with one Binance follower, and the three client roles, each against a fresh simulator.

    Each client runs twice: paced at ``rate`` (every order finds the process idle, as a copier's
    orders do; on a virtual machine a wake-up from idle costs a few hundred microseconds of CPU,
    which both sides pay) and back to back (the next order as soon as the last one is answered:
    the client's own work per order).
    """
    from benchmarks.e2e import harness

    folder = Path(tempfile.mkdtemp(prefix="copier-e2e-peer-"))
    print("[e2e] peer: Copier, one Binance follower …", flush=True)
    copier = harness.copier_run("binance", 1, signals, rate, per_process, folder)
    result: dict[str, Any] = {"copier": copier, "paced": {}, "back_to_back": {}, "rate": rate}
    for pace, pace_rate in (("paced", rate), ("back_to_back", 0.0)):
        for role, transport in ROLES.items():
            print(f"[e2e] peer: {role}, {pace.replace('_', ' ')} …", flush=True)
            with harness.simulators("binance", 1, 1, folder) as urls:
                side = _client_run(role, urls[0], signals, pace_rate, folder)
            side["transport"] = transport
            result[pace][role] = side
    ccxt_paced = result["paced"]["ccxt"]["cpu_per_order_ms"]
    result["cpu_ratio"] = copier["cpu_per_signal_ms"] / ccxt_paced
    for pace in ("paced", "back_to_back"):
        ccxt_cpu = result[pace]["ccxt"]["cpu_per_order_ms"]
        for role in ("connector-ws", "connector-rest"):
            result[pace][role]["cpu_ratio"] = result[pace][role]["cpu_per_order_ms"] / ccxt_cpu
    return result


def main(argv: list[str] | None = None) -> None:
    """Command line: one client role (the harness calls :func:`peer_run`)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    roles = parser.add_subparsers(dest="role", required=True)
    for role in ("ccxt", "connector-ws", "connector-rest"):
        client = roles.add_parser(role)
        client.add_argument("--base-url", required=True)
        client.add_argument("--ws-url", default="")
        client.add_argument("--stream-url", default="")
        client.add_argument("--signals", type=int, default=200)
        client.add_argument("--rate", type=float, default=5.0)
        client.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    if args.role == "ccxt":
        work = _client(args.base_url, args.signals, args.rate)
    else:
        ws = args.role == "connector-ws"
        work = _connector_client(args.base_url, args.ws_url, args.stream_url, args.signals, args.rate, ws)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(work)
    else:
        result = uvloop.run(work)
    args.out.write_bytes(orjson.dumps(result))


if __name__ == "__main__":
    main()
