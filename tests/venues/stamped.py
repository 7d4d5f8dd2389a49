"""Arrival stamps for a simulator's order socket, taken when the bytes are read from the socket.

A venue's gateway reads every connection as bytes arrive and hands requests to the matching
engine behind it. A simulator that stamped a message only when its handler got to it would put
into the stamp the time the simulator spent elsewhere: on the messages of other connections (with
a hundred accounts on one simulator process, the last order's "arrival" would include the
handling of the ninety-nine before it) and on its own WebSocket framework between the socket and
the handler.

So the connection's protocol is wrapped: each ``data_received`` records ``time.monotonic_ns()``
before the bytes go on to aiohttp, and a message is stamped with the time of the read that
completed it (or, when the reader runs behind, of a later read: a stamp can be late, never early).
A reader task per connection queues the stamped messages; the handler serves the queue in order,
so a connection's requests keep their order.

A host of many simulated accounts in one process still reads only between handlers: while it
answers the orders of a burst, the later orders of the same burst wait unread in the kernel, and
their stamps carry the host's own backlog. :func:`read_first` makes a host read before it answers:
every handler holds its next message until no connection of the process has read anything for a
moment, and then the handlers take one message per event-loop turn, so a burst is read (and
stamped) as it arrives and answered after, and a read is never more than one answer away. The
benchmark's hosts turn it on; the tests' simulators answer at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncGenerator
from typing import Any

from aiohttp import WSMessage, web


class _Reads:
    """Process-wide: the last read on any stamped connection, the read-first quiet time, and the
    handlers waiting for their turn."""

    last_ns = 0
    quiet_ns = 0  # 0: handlers answer at once
    waiting: deque[asyncio.Future[None]] = deque()
    keeper: asyncio.Task[None] | None = None


def last_read_ns() -> int:
    """When this process's stamped connections last read anything (``time.monotonic_ns()``)."""
    return _Reads.last_ns


def read_first(quiet: float = 0.002) -> None:
    """Hold every stamped handler's next message until this process's stamped connections have
    read nothing for ``quiet`` seconds, then let one message through per event-loop turn, so the
    sockets are read between any two answers (0 turns it off)."""
    _Reads.quiet_ns = int(quiet * 1e9)


async def _reads_quiet() -> None:
    turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    _Reads.waiting.append(turn)
    if _Reads.keeper is None or _Reads.keeper.done():
        _Reads.keeper = asyncio.get_running_loop().create_task(_keep_turns(), name="sim-read-first")
    await turn


async def _keep_turns() -> None:
    waiting = _Reads.waiting
    while waiting:
        left = _Reads.last_ns + _Reads.quiet_ns - time.monotonic_ns()
        if left > 0:
            # At least a millisecond: the event loop's timers do not resolve finer.
            await asyncio.sleep(max(left / 1e9, 0.001))
            continue
        turn = waiting.popleft()
        if not turn.done():
            turn.set_result(None)
            # The next turn polls the sockets before the next answer.
            await asyncio.sleep(0)


class _ArrivalClock(asyncio.Protocol):
    """A pass-through protocol that notes when the last bytes were read."""

    def __init__(self, inner: asyncio.BaseProtocol) -> None:
        self.inner: Any = inner
        self.last_ns = time.monotonic_ns()

    def data_received(self, data: bytes) -> None:
        self.last_ns = _Reads.last_ns = time.monotonic_ns()
        self.inner.data_received(data)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def eof_received(self) -> bool | None:
        return bool(self.inner.eof_received())

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _clock_for(request: web.Request) -> _ArrivalClock | None:
    transport = request.transport
    if transport is None:
        return None
    protocol = transport.get_protocol()
    if isinstance(protocol, _ArrivalClock):
        return protocol
    clock = _ArrivalClock(protocol)
    transport.set_protocol(clock)
    return clock


async def stamped(ws: web.WebSocketResponse, request: web.Request) -> AsyncGenerator[tuple[WSMessage, int], None]:
    """Each message of ``ws`` (prepared for ``request``) with the monotonic ns of its arrival.

    Use with :func:`contextlib.aclosing` so the reader stops when the handler does.
    """
    clock = _clock_for(request)
    queue: asyncio.Queue[tuple[WSMessage, int] | None] = asyncio.Queue()

    async def read() -> None:
        try:
            async for msg in ws:
                queue.put_nowait((msg, clock.last_ns if clock is not None else time.monotonic_ns()))
        finally:
            queue.put_nowait(None)

    reader = asyncio.get_running_loop().create_task(read(), name="sim-ws-reader")
    try:
        while (item := await queue.get()) is not None:
            if _Reads.quiet_ns:
                await _reads_quiet()
            yield item
    finally:
        reader.cancel()
        await asyncio.wait([reader])
