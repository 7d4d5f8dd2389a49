"""Order sockets that write at once.

uvloop queues a small write and sends it after the loop's current turn, together with the other
writes of that turn. For an order socket that is the wrong trade: in a fan-out, the first
follower's order would wait for the last follower's to be planned. With a write buffer high-water
mark of zero, every write goes to the kernel when it is made (the buffer and back-pressure still
apply when the kernel does not take all of it).
"""

from __future__ import annotations

from typing import Any


def write_immediately(ws: Any) -> bool:
    """Make an aiohttp WebSocket's transport send each frame when it is written; False when the
    transport cannot be reached (the socket then keeps the event loop's default batching)."""
    transport = getattr(getattr(ws, "_writer", None), "transport", None)
    # Duck-typed: uvloop's transports are not registered as ``asyncio.WriteTransport``.
    set_limits = getattr(transport, "set_write_buffer_limits", None)
    if set_limits is None:
        return False
    set_limits(high=0)
    return True
