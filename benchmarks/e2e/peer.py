"""The peer: ccxt's async ``create_order`` against the same Binance simulator as Copier.

    python -m benchmarks.e2e --followers 1 --peer      # as part of a run
    python -m benchmarks.e2e.peer client --base-url http://127.0.0.1:PORT --signals 200 --rate 5 --out x.json

ccxt is a benchmark-only dependency (``pip install -e '.[bench]'``); the runtime never imports it.

The **client** role runs in its own process: ``ccxt.async_support.binanceusdm`` with every
``fapi`` URL pointed at the simulator, markets loaded and five warm-up orders sent, then one market
order per slot at ``--rate``, each call stamped with ``time.monotonic_ns()`` just before
``create_order`` and tagged with its ``newClientOrderId``. The process's CPU time (user + system)
over the measured orders is divided by their count. :func:`peer_run` pairs that with a one-follower
Copier run on the same simulator and reports both sides and Copier ÷ ccxt.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from benchmarks.stats import summary

KEY = "simkey" + "0" * 58
SECRET = "simsecret" + "1" * 55
WARM = 5


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
        calls: list[tuple[str, int]] = []

        async def order(cid: str, index: int) -> None:
            side = "buy" if index % 2 == 0 else "sell"
            await exchange.create_order("BTC/USDT:USDT", "market", side, 0.01, None, {"newClientOrderId": cid})

        for index in range(WARM):
            await order(f"ccxtwarm{index}", index)
        interval = 1 / rate if rate > 0 else 0.0
        cpu0 = time.process_time()
        start = time.monotonic() + 0.02
        for index in range(signals):
            delay = start + index * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            cid = f"ccxt{index}"
            calls.append((cid, time.monotonic_ns()))
            await order(cid, index)
        cpu = time.process_time() - cpu0
    finally:
        await exchange.close()
    return {"calls": calls, "cpu_seconds": cpu, "ccxt_version": ccxt.__version__}


def peer_run(signals: int, rate: float, per_process: int) -> dict[str, Any]:
    """Copier with one Binance follower and ccxt's client, each against a fresh Binance simulator."""
    import subprocess

    from benchmarks.e2e import harness

    folder = Path(tempfile.mkdtemp(prefix="copier-e2e-peer-"))
    print("[e2e] peer: Copier, one Binance follower …", flush=True)
    copier = harness.copier_run("binance", 1, signals, rate, per_process, folder)
    print("[e2e] peer: ccxt create_order …", flush=True)
    with harness.simulators("binance", 1, 1, folder) as urls:
        out = folder / "ccxt.json"
        args = [sys.executable, "-m", "benchmarks.e2e.peer", "client", "--base-url", urls[0]["base_url"],
                "--signals", str(signals), "--rate", str(rate), "--out", str(out)]  # fmt: skip
        subprocess.run(args, cwd=harness.ROOT, env=harness._env(), check=True)
        arrivals = harness.fetch_arrivals(urls)
    result = orjson.loads(out.read_bytes())
    latency = [(arrivals[cid] - sent) / 1000 for cid, sent in result["calls"] if cid in arrivals]
    ccxt_side = {
        "latency_us": summary(latency),
        "cpu_per_order_ms": result["cpu_seconds"] / signals * 1000,
        "ccxt_version": result["ccxt_version"],
        "transport": "REST (fapi/v1/order), one kept-alive connection",
        "missing_orders": signals - len(latency),
    }
    return {
        "copier": copier,
        "ccxt": ccxt_side,
        "latency_ratio_p50": copier["propagation_us"]["p50"] / ccxt_side["latency_us"]["p50"],
        "latency_ratio_p99": copier["propagation_us"]["p99"] / ccxt_side["latency_us"]["p99"],
        "cpu_ratio": copier["cpu_per_signal_ms"] / ccxt_side["cpu_per_order_ms"],
    }


def main(argv: list[str] | None = None) -> None:
    """Command line: the ``client`` role (the harness calls :func:`peer_run`)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    roles = parser.add_subparsers(dest="role", required=True)
    client = roles.add_parser("client")
    client.add_argument("--base-url", required=True)
    client.add_argument("--signals", type=int, default=200)
    client.add_argument("--rate", type=float, default=5.0)
    client.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(_client(args.base_url, args.signals, args.rate))
    else:
        result = uvloop.run(_client(args.base_url, args.signals, args.rate))
    args.out.write_bytes(orjson.dumps(result))


if __name__ == "__main__":
    main()
