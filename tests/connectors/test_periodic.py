"""Periodic connector work starts at a random point of its period, so accounts do not refresh together."""

from __future__ import annotations

from connectors.periodic import first_keepalive, first_wait


def test_first_rounds_spread_over_a_whole_period() -> None:
    waits = [first_wait(20.0) for _ in range(2000)]
    assert all(10.0 <= wait < 30.0 for wait in waits)
    # Spread, not bunched: every quarter of the range gets some of two thousand accounts.
    quarters = {int((wait - 10.0) // 5.0) for wait in waits}
    assert quarters == {0, 1, 2, 3}


def test_a_keepalive_never_waits_longer_than_its_period() -> None:
    waits = [first_keepalive(20.0) for _ in range(2000)]
    assert all(0.0 <= wait < 20.0 for wait in waits)
    assert max(waits) - min(waits) > 15.0
