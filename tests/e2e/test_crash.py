"""Short crash proof: a few SIGKILLs mid-flow against three venue simulator processes."""

from __future__ import annotations

from tests.e2e import crash
from tests.e2e.sims import simulators


def test_kill_9_neither_loses_nor_doubles(tmp_path):
    with simulators("binance", "okx", "bybit") as sims:
        report = crash.run(tmp_path, sims, kills=3, per_round=4, seed=7)
    assert report.problems == []
    assert report.duplicates == 0 and report.lost == 0
    assert report.follower_orders + report.skipped == report.signals * len(sims)
    assert report.follower_orders > 0
