"""Feeds the SQL store from the journal in the background, in batches, off the hot path."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from copier.store.store import Store

log = logging.getLogger(__name__)


class Projector:
    """Collects journal records (``push`` is the journal's listener) and applies them every ``interval``.

    A failed batch is kept and retried, so the store catches up after an outage; records are
    idempotent in the store, so replaying the journal into it at start is safe.
    """

    def __init__(self, store: Store, *, interval: float = 0.1, batch: int = 5000) -> None:
        self.store = store
        self.interval = interval
        self.batch = batch
        self._pending: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self.applied = 0
        self.failures = 0

    def push(self, record: dict[str, Any]) -> None:
        self._pending.append(record)

    def extend(self, records: Iterable[dict[str, Any]]) -> None:
        self._pending.extend(records)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="store-projector")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()

    async def flush(self) -> None:
        while self._pending:
            batch = self._pending[: self.batch]
            try:
                await self.store.apply(batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures += 1
                log.exception("store projection failed; %d records kept for the next try", len(self._pending))
                return
            del self._pending[: len(batch)]
            self.applied += len(batch)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.flush()
