"""Wire latency of the real daemon: N webhooks to two paper followers, read from the mirror log.

    python -m benchmarks.webhook_latency --signals 1000

Starts ``copier run`` as its own process, posts the webhooks one after another over a kept-alive
connection, then reads ``latency_us`` (t_wire − t0, the daemon's own stamps) of every
``order_sent`` line. Propagation per signal is the maximum over its followers. Results go to
``benchmarks/results/webhook_latency.{json,md}``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.stats import machine, summary, write_results
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


def run(signals: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp, running_daemon(Path(tmp), CONFIG) as daemon:
        host, port = daemon.webhook.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port))
        sides = ("buy", "sell")
        started = time.perf_counter()
        for index in range(signals):
            body = json.dumps({"action": sides[index % 2], "symbol": "EURUSD", "volume": 0.1, "id": f"b{index}"})
            conn.request("POST", "/webhook/tv?token=bench-token", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            assert response.status == 200, response.status
        elapsed = time.perf_counter() - started
        conn.close()

        def all_sent() -> list[dict[str, object]]:
            sent = [e for e in daemon.events() if e["event"] == "order_sent"]
            return sent if len(sent) >= 2 * signals else []

        sent = eventually_sync(all_sent, timeout=60)
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
        f"{result['signals']} webhooks sent one after another to two paper followers; latency from the daemon's "
        f"mirror log (t_wire − t0).\n\n" + "\n".join(rows) + "\n\n"
        f"Machine: {facts['cpu']}, {facts['cores']} cores, Python {facts['python']}, uvloop {facts['uvloop']}, "
        f"aiohttp {facts['aiohttp']}.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signals", type=int, default=1000)
    args = parser.parse_args()
    result = run(args.signals)
    write_results("webhook_latency", result, markdown(result))


if __name__ == "__main__":
    main()
