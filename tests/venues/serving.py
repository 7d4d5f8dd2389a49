"""Starting and stopping a simulator's aiohttp server, the same way for every simulator."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web


async def listen(
    app: web.Application, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` (0: any free port); returns the runner and the bound port."""
    runner = web.AppRunner(app, access_log=None, **options)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner, int(runner.addresses[0][1])


async def shut(runner: web.AppRunner | None, sockets: Iterable[web.WebSocketResponse] = ()) -> None:
    """Close the simulator's open WebSockets, then its server."""
    for ws in list(sockets):
        await ws.close()
    if runner is not None:
        await runner.cleanup()
