"""The latency a simulator adds by fault injection: the venue takes this long before it answers."""

from __future__ import annotations

import asyncio


async def venue_latency(seconds: float) -> None:
    """Hold the answer for ``seconds`` (nothing when 0): the simulated venue's own processing time."""
    if seconds > 0:
        await asyncio.sleep(seconds)
