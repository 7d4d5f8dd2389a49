"""Periodic connector work starts at a random point of its period, so accounts do not refresh together."""

from __future__ import annotations

import asyncio

from connectors.periodic import first_keepalive, first_wait, ticks


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


async def test_ticks_come_first_after_the_first_wait_then_every_period() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    seen: list[float] = []
    async for _ in ticks(0.02, first=0.01):
        seen.append(loop.time() - start)
        if len(seen) == 3:
            break
    assert 0.009 <= seen[0] < seen[1] < seen[2]  # the loop's timers round to its clock's millisecond
    assert seen[1] - seen[0] >= 0.019 and seen[2] - seen[1] >= 0.019
