"""Wire latency of the real daemon: N webhooks to two paper followers, read from the mirror log.

    python -m benchmarks.webhook_latency --signals 1000

    python -m benchmarks.webhook_latency --signals 1000 --tls

Starts ``copier run`` as its own process, posts the webhooks one after another over a kept-alive
connection, then reads ``latency_us`` (t_wire − t0, the daemon's own stamps) of every
``order_sent`` line. Propagation per signal is the maximum over its followers; the client's round
trip (request sent → answer read) is timed too. With ``--tls`` the edge serves HTTPS with a
self-signed certificate. Results go to ``benchmarks/results/webhook_latency[_tls].{json,md}``.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import ssl
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from benchmarks.stats import machine, summary, write_results
from tests.certs import self_signed
from tests.e2e.daemon import running_daemon
from tests.helpers import eventually_sync

CONFIG = """
[log]
max_bytes = 1073741824
[router]
dedupe_window = 60
[[sources]]
name = "tv"
kind = "tradingview"
token = "bench-token"
[[accounts]]
name = "paper-a"
venue = "paper"
balance = 1000000
[[accounts]]
name = "paper-b"
venue = "paper"
balance = 500000
mode = "netting"
[[routes]]
source = "tv"
account = "paper-a"
[[routes]]
source = "tv"
account = "paper-b"
sizing = { mode = "equity_ratio", source_equity = 1000000 }
"""


def run(signals: int, tls: bool = False) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        config = CONFIG
        conn_for: Callable[[str, int], http.client.HTTPConnection] = http.client.HTTPConnection
        if tls:
            files, _ = self_signed(Path(tmp) / "tls", "copier-bench")
            config = f'tls_cert = "{files.cert}"\ntls_key = "{files.key}"\n' + CONFIG  # under [server]
            trust = ssl.create_default_context(cafile=str(files.cert))
            conn_for = functools.partial(http.client.HTTPSConnection, context=trust)
        with running_daemon(Path(tmp), config) as daemon:
            host, port = daemon.webhook.removeprefix("http://").split(":")
            conn = conn_for(host, int(port))
            sides = ("buy", "sell")
            round_trips: list[float] = []
            started = time.perf_counter()
            for index in range(signals):
                body = json.dumps({"action": sides[index % 2], "symbol": "EURUSD", "volume": 0.1, "id": f"b{index}"})
                began = time.perf_counter_ns()
                conn.request("POST", "/webhook/tv?token=bench-token", body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                round_trips.append((time.perf_counter_ns() - began) / 1000)
                assert response.status == 200, response.status
            elapsed = time.perf_counter() - started

            def all_sent() -> list[dict[str, object]]:
                sent = [e for e in daemon.events() if e["event"] == "order_sent"]
                return sent if len(sent) >= 2 * signals else []

            sent = eventually_sync(all_sent, timeout=60)
            conn.close()
    per_follower: dict[str, list[float]] = defaultdict(list)
    per_signal: dict[str, float] = defaultdict(float)
    for event in sent:
        latency = float(event["latency_us"])  # type: ignore[arg-type]
        per_follower[str(event["account"])].append(latency)
        key = str(event["signal_id"])
        per_signal[key] = max(per_signal[key], latency)
    return {
        "signals": signals,
        "followers": 2,
        "tls": tls,
        "round_trip_us": summary(round_trips),
        "requests_per_second": signals / elapsed,
        "propagation_us": summary(list(per_signal.values())),
        "per_follower_us": {k: summary(v) for k, v in sorted(per_follower.items())},
        "machine": machine(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


def markdown(result: dict[str, object]) -> str:
    prop = result["propagation_us"]
    assert isinstance(prop, dict)
    rows = [
        "| measure | n | p50 µs | p90 µs | p99 µs | max µs |",
        "|---|---|---|---|---|---|",
        f"| propagation (max over followers) | {prop['n']} | {prop['p50']:.0f} | {prop['p90']:.0f} | "
        f"{prop['p99']:.0f} | {prop['max']:.0f} |",
    ]
    trip = result["round_trip_us"]
    assert isinstance(trip, dict)
    rows.append(
        f"| client round trip (request → answer) | {trip['n']} | {trip['p50']:.0f} | {trip['p90']:.0f} | "
        f"{trip['p99']:.0f} | {trip['max']:.0f} |"
    )
    followers = result["per_follower_us"]
    assert isinstance(followers, dict)
    for name, stats in followers.items():
        rows.append(
            f"| {name} t_wire − t0 | {stats['n']} | {stats['p50']:.0f} | {stats['p90']:.0f} | "
            f"{stats['p99']:.0f} | {stats['max']:.0f} |"
        )
    facts = result["machine"]
    assert isinstance(facts, dict)
    return (
        f"# Webhook → paper wire latency ({result['when']})\n\n"
        f"{result['signals']} webhooks sent one after another{' over HTTPS' if result['tls'] else ''} to two paper "
        f"followers; latency from the daemon's mirror log (t_wire − t0) and the client's round trip.\n\n"
        + "\n".join(rows)
        + "\n\n"
        f"Machine: {facts['cpu']}, {facts['cores']} cores, Python {facts['python']}, uvloop {facts['uvloop']}, "
        f"aiohttp {facts['aiohttp']}. Hot path: {facts.get('hot_path', 'interpreted')}.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signals", type=int, default=1000)
    parser.add_argument("--tls", action="store_true", help="the edge serves HTTPS (self-signed certificate)")
    args = parser.parse_args()
    result = run(args.signals, args.tls)
    write_results("webhook_latency_tls" if args.tls else "webhook_latency", result, markdown(result))


if __name__ == "__main__":
    main()
