"""Order sockets that write at once.

uvloop queues a small write and sends it after the loop's current turn, together with the other
writes of that turn. For an order socket that is the wrong trade: in a fan-out, the first
follower's order would wait for the last follower's to be planned. With a write buffer high-water
mark of zero, every write goes to the kernel when it is made (the buffer and back-pressure still
apply when the kernel does not take all of it).

:class:`FrameWriter` writes a client's text frame (RFC 6455: FIN, opcode 1, masked) to that
transport from synchronous code, so an order can be put on the wire in the same call that planned
it, without a coroutine between the plan and the ``write(2)``.
"""

from __future__ import annotations

import asyncio
import random
import struct
from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar

from core.outbox import OUTBOX, WireStamp
from core.records import Record

_mask_in_place: Callable[[bytes, bytearray], None] | None
try:  # aiohttp's compiled masking: ~0.4 µs for an order's frame against ~1 µs for the XOR below
    from aiohttp._websocket import mask as _aiohttp_mask  # type: ignore[attr-defined]  # compiled, no stub

    _mask_in_place = _aiohttp_mask._websocket_mask_cython
except (ImportError, AttributeError):  # pragma: no cover - an aiohttp built without its extensions
    _mask_in_place = None

_HEADER_SHORT = struct.Struct("!BB").pack
_HEADER_16 = struct.Struct("!BBH").pack
_HEADER_64 = struct.Struct("!BBQ").pack
_TEXT_FIN = 0x81
_MASKED = 0x80


A = TypeVar("A")


class Sent(Record, Generic[A]):
    """A request on an order socket whose answer is still to come: what the venue calls it
    (``op``), the id its answer will carry, the future the socket's reader resolves, and when its
    frame was handed to the socket.

    Build it as ``Sent(...)``, not through a subscripted alias: calling ``Sent[T](...)`` goes
    through ``typing``'s generic-alias call, which costs microseconds per order."""

    FIELDS = ("op", "request_id", "future", "stamp")
    __slots__ = FIELDS

    def __init__(self, op: str, request_id: str, future: asyncio.Future[A], stamp: WireStamp) -> None:
        self.op: Final = op
        self.request_id: Final = request_id
        self.future: Final = future
        self.stamp: Final = stamp

    @property
    def t_wire(self) -> int:
        """When the request's frame was handed to the socket (``time.monotonic_ns()``)."""
        return self.stamp.ns


def write_immediately(ws: Any) -> bool:
    """Make an aiohttp WebSocket's transport send each frame when it is written; False when the
    transport cannot be reached (the socket then keeps the event loop's default batching)."""
    transport = _transport(ws)
    # Duck-typed: uvloop's transports are not registered as ``asyncio.WriteTransport``.
    set_limits = getattr(transport, "set_write_buffer_limits", None)
    if set_limits is None:
        return False
    set_limits(high=0)
    return True


def _transport(ws: Any) -> Any:
    return getattr(getattr(ws, "_writer", None), "transport", None)


def masked_text_frame(payload: bytes, key: int) -> bytes:
    """One client text frame carrying ``payload`` masked with the 32-bit ``key`` (RFC 6455 5.2-5.3)."""
    size = len(payload)
    if size < 126:
        header = _HEADER_SHORT(_TEXT_FIN, _MASKED | size)
    elif size < 65536:
        header = _HEADER_16(_TEXT_FIN, _MASKED | 126, size)
    else:
        header = _HEADER_64(_TEXT_FIN, _MASKED | 127, size)
    mask = key.to_bytes(4, "big")
    if not size:
        return header + mask
    if _mask_in_place is not None:
        masked_in_place = bytearray(payload)
        _mask_in_place(mask, masked_in_place)
        return header + mask + masked_in_place
    return header + mask + _masked(payload, mask)


def _masked(payload: bytes, mask: bytes) -> bytes:
    """``payload`` XOR the repeated ``mask``, for an aiohttp without its compiled masking."""
    size = len(payload)
    # XOR as one big integer: a few C calls for any length, instead of a Python loop per byte.
    stream = (mask * ((size >> 2) + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(size, "big")


class FrameWriter:
    """Writes text frames to an open aiohttp client WebSocket from synchronous code.

    Frames go straight to the socket's transport, as aiohttp's own writer puts an uncompressed
    frame there; a frame is one ``write`` call, so it never interleaves with aiohttp's frames
    (pings, subscriptions) on the same transport.
    """

    __slots__ = ("_transport",)

    def __init__(self, ws: Any) -> None:
        transport = _transport(ws)
        if transport is None or not hasattr(transport, "write"):
            raise TypeError("the WebSocket's transport cannot be reached")
        self._transport = transport

    @classmethod
    def of(cls, ws: Any) -> FrameWriter | None:
        """A writer for ``ws``, or None when its transport cannot be reached."""
        try:
            return cls(ws)
        except TypeError:
            return None

    def text(self, payload: bytes) -> WireStamp:
        """Write one text frame, through the process's :data:`~core.outbox.OUTBOX` (which may hold
        it back for a moment during a fan-out); the stamp says when it was handed to the socket.
        Raises ``ConnectionResetError`` when the transport is closing."""
        transport = self._transport
        if transport.is_closing():
            raise ConnectionResetError("the WebSocket's transport is closing")
        return OUTBOX.write(transport.write, masked_text_frame(payload, random.getrandbits(32)))
