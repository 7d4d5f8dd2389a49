"""Arrival stamps for a simulator's order socket, taken when a message is read, not when it is served.

A venue's gateway reads every connection as bytes arrive and hands requests to the matching
engine behind it. A simulator that stamped a message only when its handler got to it would put
the time it spent on the messages of other connections into the stamp: with a hundred accounts
on one simulator process, the last order's "arrival" would include the handling of the ninety-nine
before it. Here a reader task per connection stamps each message as it is read and queues it; the
handler serves the queue in order, so a connection's requests keep their order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from aiohttp import WSMessage, web


async def stamped(ws: web.WebSocketResponse) -> AsyncIterator[tuple[WSMessage, int]]:
    """Each message of ``ws`` with ``time.monotonic_ns()`` taken when it was read.

    Use with :func:`contextlib.aclosing` so the reader stops when the handler does.
    """
    queue: asyncio.Queue[tuple[WSMessage, int] | None] = asyncio.Queue()

    async def read() -> None:
        try:
            async for msg in ws:
                queue.put_nowait((msg, time.monotonic_ns()))
        finally:
            queue.put_nowait(None)

    reader = asyncio.get_running_loop().create_task(read(), name="sim-ws-reader")
    try:
        while (item := await queue.get()) is not None:
            yield item
    finally:
        reader.cancel()
        await asyncio.wait([reader])
