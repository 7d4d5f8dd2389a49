"""The long crash proof: hundreds of SIGKILLs against venue simulator processes.

    python -m benchmarks.crash_proof --kills 300 --per-round 4

Writes ``benchmarks/results/crash_proof.{json,md}``. See ``tests/e2e/crash.py`` for the method.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.stats import machine, write_results
from tests.e2e import crash
from tests.e2e.sims import simulators


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=300)
    parser.add_argument("--per-round", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, simulators("binance", "okx", "bybit") as sims:
        report = crash.run(Path(tmp), sims, kills=args.kills, per_round=args.per_round, seed=args.seed)
    result = report.as_dict() | {"followers": 3, "seconds": round(time.monotonic() - started), "machine": machine()}
    write_results("crash_proof", result, render(result))
    if report.problems:
        print("\n".join(report.problems))
        raise SystemExit(1)


def render(result: dict[str, Any]) -> str:
    """The Markdown report of one run's ``result``."""
    return (
        "# Crash proof\n\n"
        f"{result['kills']} SIGKILLs of the daemon while {result['signals']} signals flowed to 3 followers on "
        "Binance, OKX and Bybit simulator processes; every signal resent until answered 200, as TradingView "
        "does. The signals alternate an open of BTCUSDT, which each follower's route splits into "
        f"{crash.LEGS} orders (three linked positions), and a close of the long side (one order per "
        "position). Checked against each venue's own order book: every open's orders and every close's "
        "held exactly once, every position an open made closed exactly once, nothing that belongs to no "
        "signal.\n\n"
        "| kills | signals | follower orders | skipped with reason | followers resumed after a kill | "
        "duplicates | lost |\n|---|---|---|---|---|---|---|\n"
        f"| {result['kills']} | {result['signals']} | {result['follower_orders']} | {result['skipped']} | "
        f"{result['resumed_followers']} | {result['duplicates']} | {result['lost']} |\n\n"
        f"Hot path: {result.get('machine', {}).get('hot_path', 'interpreted')}.\n"
    )


if __name__ == "__main__":
    main()
