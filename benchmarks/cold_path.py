"""How fast the same work runs after the process has been idle: the cold-cache penalty of a machine.

    python -m benchmarks.cold_path

Parses a TradingView alert (read and interpret, as the webhook does) and encodes one OKX order,
first back to back, then after each of several idle gaps, once sleeping through the gap and once
spinning through it (a busy loop that keeps the CPU but touches none of that code). If spinning is
as slow as sleeping, the code and data were evicted by something else sharing the hardware, not
lost to the process's own sleep, and busy polling would not help. Results go to
``benchmarks/results/cold_path.{json,md}``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from benchmarks.bench_okx import encode_and_sign
from benchmarks.e2e.loadgen import body
from benchmarks.stats import machine, write_results
from ingest.tradingview.parse import DEFAULT_OPTIONS, build_signal, read_alert

GAPS_MS = (0.0, 0.5, 1.0, 2.0, 5.0, 20.0, 100.0)


def _work(index: int) -> None:
    raw = read_alert(body(index, "cold", "BTCUSDT", "0.01"), DEFAULT_OPTIONS)
    build_signal(raw, source="tv", received_ns=0)
    encode_and_sign()


def _idle(gap_s: float, spin: bool) -> None:
    if not spin:
        time.sleep(gap_s)
        return
    end = time.perf_counter() + gap_s
    while time.perf_counter() < end:
        pass


def measure(gap_ms: float, spin: bool, samples: int, work: Callable[[int], None] = _work) -> float:
    """Median µs of one ``work`` call after ``gap_ms`` of idling (sleeping or spinning)."""
    times: list[float] = []
    for index in range(samples):
        if gap_ms:
            _idle(gap_ms / 1000, spin)
        start = time.perf_counter_ns()
        work(index)
        times.append((time.perf_counter_ns() - start) / 1000)
    times.sort()
    return times[len(times) // 2]


def run(samples: int) -> dict[str, object]:
    for index in range(200):  # import-time and first-call costs out of the way
        _work(index)
    rows = [
        {"gap_ms": gap, "sleep_us": measure(gap, False, samples), "spin_us": measure(gap, True, samples)}
        for gap in GAPS_MS
    ]
    return {"samples": samples, "rows": rows, "machine": machine(), "when": time.strftime("%Y-%m-%d %H:%M UTC")}


def markdown(result: dict[str, object]) -> str:
    rows = result["rows"]
    assert isinstance(rows, list)
    base = rows[0]["sleep_us"]
    lines = [
        "| idle gap before the call | after sleeping, µs | after spinning, µs | × back to back |",
        "|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['gap_ms']:g} ms | {row['sleep_us']:.1f} | {row['spin_us']:.1f} | {row['sleep_us'] / base:.1f}× |"
        )
    facts = result["machine"]
    assert isinstance(facts, dict)
    return (
        f"# Cold-path penalty ({result['when']})\n\n"
        "One TradingView alert parsed and one OKX order encoded and signed, median of "
        f"{result['samples']} calls per row.\n\n" + "\n".join(lines) + "\n\n"
        f"Machine: {facts['cpu']}, {facts['cores']} cores, Python {facts['python']}.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args()
    result = run(args.samples)
    write_results("cold_path", result, markdown(result))


if __name__ == "__main__":
    main()
