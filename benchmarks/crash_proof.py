"""The long crash proof: hundreds of SIGKILLs against venue simulator processes.

    python -m benchmarks.crash_proof --kills 300 --per-round 3

Writes ``benchmarks/results/crash_proof.{json,md}``. See ``tests/e2e/crash.py`` for the method.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.stats import machine, write_results
from tests.e2e import crash
from tests.e2e.sims import simulators


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=300)
    parser.add_argument("--per-round", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, simulators("binance", "okx", "bybit") as sims:
        report = crash.run(Path(tmp), sims, kills=args.kills, per_round=args.per_round, seed=args.seed)
    result = report.as_dict() | {"followers": 3, "seconds": round(time.monotonic() - started), "machine": machine()}
    text = (
        "# Crash proof\n\n"
        f"{report.kills} SIGKILLs of the daemon while {report.signals} signals flowed to 3 followers on Binance, "
        "OKX and Bybit simulator processes; every signal resent until answered 200, as TradingView does.\n\n"
        "| kills | signals | follower orders | skipped with reason | followers resumed after a kill | "
        "duplicates | lost |\n|---|---|---|---|---|---|---|\n"
        f"| {report.kills} | {report.signals} | {report.follower_orders} | {report.skipped} | "
        f"{report.resumed_followers} | {report.duplicates} | {report.lost} |\n"
    )
    write_results("crash_proof", result, text)
    if report.problems:
        print("\n".join(report.problems))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
