"""The simulators' arrival stamps and the benchmark hosts' read-first gate."""

from __future__ import annotations

import contextlib
import time

import aiohttp
from aiohttp import web

from tests.helpers import eventually
from tests.venues import stamped


async def _serve(handled: list[tuple[str, int, int]]) -> tuple[web.AppRunner, int]:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async with contextlib.aclosing(stamped.stamped(ws, request)) as messages:
            async for msg, arrived_ns in messages:
                handled.append((msg.data, arrived_ns, time.monotonic_ns()))
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


async def test_read_first_answers_only_after_the_reads_went_quiet() -> None:
    quiet = 0.05
    handled: list[tuple[str, int, int]] = []
    stamped.read_first(quiet)
    runner, port = await _serve(handled)
    try:
        async with aiohttp.ClientSession() as session, session.ws_connect(f"http://127.0.0.1:{port}/") as ws:
            sent = []
            for index in range(5):
                sent.append(time.monotonic_ns())
                await ws.send_str(f"order {index}")
            await eventually(lambda: len(handled) == 5)
    finally:
        stamped.read_first(0)
        await runner.cleanup()
    last_read = max(arrived for _, arrived, _ in handled)
    assert [data for data, _, _ in handled] == [f"order {i}" for i in range(5)]
    for (_, arrived, at), send in zip(handled, sent, strict=True):
        # Stamped when read, at or after its send; handled only once the reads had been quiet.
        assert send <= arrived < at
        assert at - last_read >= quiet * 1e9
