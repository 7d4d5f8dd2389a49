"""The phase of a connector's periodic background work.

Every account's connector refreshes on its own period (clock sync, instruments, balances, pings),
and accounts started together would otherwise all fall due in the same event-loop turn: a hundred
accounts syncing their clocks at once is a hundred REST requests and their answers back to back,
tens of milliseconds in which no webhook is read and no order is written. Starting each loop at a
random point of its period spreads that work evenly, at the same cost.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator


def first_wait(period: float) -> float:
    """Seconds before a periodic task's first round: between half and one and a half ``period``."""
    return period * (0.5 + random.random())


def first_keepalive(period: float) -> float:
    """Seconds before a keepalive's first round: up to ``period``, never later, so the connection is
    never quieter than the venue allows."""
    return period * random.random()


async def ticks(period: float, first: float | None = None) -> AsyncIterator[None]:
    """Yield once every ``period`` seconds, for ever; the first time after ``first`` seconds
    (by default :func:`first_wait`). ``async for _ in ticks(period):`` is a periodic loop."""
    await asyncio.sleep(first_wait(period) if first is None else first)
    while True:
        yield
        await asyncio.sleep(period)
