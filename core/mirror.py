"""The mirror log: one JSON object per line, append-only, rotated by size, off the hot path.

``emit`` only appends a record to a list. A flush scheduled on the event loop a few milliseconds
later encodes the batch with orjson and hands the bytes to a writer thread, which does the file
I/O and the rotation. Subscribers (the live page, tests) get each batch as it is flushed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from core.priority import background

log = logging.getLogger(__name__)

Record = dict[str, Any]
Subscriber = Callable[[list[Record]], None]
LineSubscriber = Callable[[list[Record], list[bytes]], None]

FIELDS = (
    "ts",
    "mono_ns",
    "event",
    "signal_id",
    "source",
    "account",
    "venue",
    "symbol",
    "side",
    "volume",
    "price",
    "client_order_id",
    "venue_order_id",
    "status",
    "reason",
    "latency_us",
    "ack_us",
    "detail",
)


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value, "f")
    if hasattr(value, "value"):
        return value.value
    raise TypeError(f"cannot encode {type(value).__name__}")


def encode(record: Record) -> bytes:
    """One log line (with its newline)."""
    return orjson.dumps(record, default=_default, option=orjson.OPT_APPEND_NEWLINE)


def _record(event: str, wall_ns: int, mono_ns: int, fields: dict[str, Any]) -> Record:
    record: Record = {
        "ts": datetime.fromtimestamp(wall_ns / 1e9, UTC),
        "mono_ns": fields.pop("mono_ns", None) or mono_ns,
        "event": event,
    }
    for key, value in fields.items():
        if value is not None:
            record[key] = value
    return record


class _Writer(threading.Thread):
    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        super().__init__(name="mirror-log-writer", daemon=True)
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self.jobs: queue.SimpleQueue[bytes | threading.Event | None] = queue.SimpleQueue()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "ab")
        self._size = self._file.tell()

    def run(self) -> None:
        background()
        while True:
            job = self.jobs.get()
            if job is None:
                self._file.close()
                return
            if isinstance(job, threading.Event):
                self._file.flush()
                job.set()
                continue
            try:
                self._file.write(job)
                self._size += len(job)
                if self.jobs.empty():
                    self._file.flush()
                if self._size >= self.max_bytes:
                    self._rotate()
            except OSError:
                log.exception("mirror log write failed")

    def _rotate(self) -> None:
        self._file.close()
        for index in range(self.backups, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            newer = self.path.with_name(f"{self.path.name}.{index - 1}") if index > 1 else self.path
            if newer.exists():
                os.replace(newer, older)
        self._file = open(self.path, "ab")
        self._size = 0


class MirrorLog:
    """Writer of the mirror log. Create and ``start`` it inside the running event loop."""

    def __init__(
        self, path: str | Path, *, max_bytes: int = 64 * 1024 * 1024, backups: int = 5, flush_interval: float = 0.005
    ) -> None:
        self.path = Path(path)
        self._max_bytes = max_bytes
        self._backups = backups
        self._interval = flush_interval
        self._pending: list[tuple[str, int, int, dict[str, Any]]] = []
        self._subscribers: list[Subscriber] = []
        self._line_subscribers: list[LineSubscriber] = []
        self._writer: _Writer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._writer = _Writer(self.path, self._max_bytes, self._backups)
        self._writer.start()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` with every flushed batch; returns the function that unsubscribes."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber) if subscriber in self._subscribers else None

    def subscribe_lines(self, subscriber: LineSubscriber) -> Callable[[], None]:
        """Like :meth:`subscribe`, with each record's encoded line too (nothing is encoded twice)."""
        self._line_subscribers.append(subscriber)
        return lambda: self._line_subscribers.remove(subscriber) if subscriber in self._line_subscribers else None

    def emit(self, event: str, **fields: Any) -> None:
        """Record one event. Never blocks and does no encoding; ``None`` fields are left out later."""
        self._pending.append((event, time.time_ns(), time.monotonic_ns(), fields))
        if not self._scheduled and self._loop is not None:
            self._scheduled = True
            self._loop.call_later(self._interval, self._flush_pending)

    def rehearse(self, event: str, **fields: Any) -> bytes:
        """Build and encode one record as :meth:`emit` and the flush would, without logging it."""
        return encode(_record(event, time.time_ns(), time.monotonic_ns(), fields))

    def _flush_pending(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, []
        if not pending:
            return
        batch = [_record(event, wall_ns, mono_ns, fields) for event, wall_ns, mono_ns, fields in pending]
        lines = [encode(r) for r in batch]
        if self._writer is not None:
            self._writer.jobs.put(b"".join(lines))
        for subscriber in list(self._subscribers):
            try:
                subscriber(batch)
            except Exception:
                log.exception("mirror log subscriber failed")
        for line_subscriber in list(self._line_subscribers):
            try:
                line_subscriber(batch, lines)
            except Exception:
                log.exception("mirror log subscriber failed")

    async def flush(self) -> None:
        """Write everything emitted so far and wait until it is in the file."""
        self._flush_pending()
        if self._writer is None or not self._writer.is_alive():
            return
        done = threading.Event()
        self._writer.jobs.put(done)
        await asyncio.to_thread(done.wait, 10)

    async def close(self) -> None:
        await self.flush()
        if self._writer is not None:
            self._writer.jobs.put(None)
            await asyncio.to_thread(self._writer.join, 10)
            self._writer = None
