"""The cyclic garbage collector on the daemon's schedule: between fan-outs, never inside one.

CPython's automatic collector runs a generation whenever enough container objects have been
allocated, wherever the interpreter happens to be. A fan-out allocates a few dozen containers per
follower (intents, futures, coroutines, log records), so at a hundred followers several young
collections, and now and then an older one, land in the middle of it: measured in process, a
young collection costs 0.1–2 ms there, a middle one 6–9 ms and a full one 10–15 ms, and the slowest
fan-outs were the ones a middle or full collection fell into.

:class:`IdleCollector` switches the automatic collector off and runs the same generations itself,
by the same counts (``gc.get_threshold()``), from a timer — but only while the router is not
fanning out. When a collection has been due for ``max_defer`` seconds of uninterrupted fan-out (a
daemon that is never idle), it runs anyway, so memory stays bounded under any load.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class IdleCollector:
    """Runs ``gc.collect(generation)`` when a generation is due and ``busy()`` is false.

    ``thresholds`` default to the interpreter's own (``gc.get_threshold()``): generation 0 is due
    after that many net container allocations, generation 1 after that many generation-0
    collections, generation 2 after that many generation-1 collections.
    """

    def __init__(
        self,
        busy: Callable[[], bool],
        *,
        interval: float = 0.01,
        max_defer: float = 1.0,
        thresholds: tuple[int, int, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._busy = busy
        self.interval = interval
        self.max_defer = max_defer
        self._thresholds = thresholds or gc.get_threshold()
        self._clock = clock
        self._due_since: float | None = None
        self._was_enabled = False
        self._task: asyncio.Task[None] | None = None
        self.collections = [0, 0, 0]
        self.forced = 0

    def start(self) -> None:
        """Take over from the automatic collector (inside the running loop)."""
        if self._task is not None:
            return
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="idle-gc")
        self._task.add_done_callback(self._ended)

    async def stop(self) -> None:
        """Stop the timer and give collection back to the interpreter."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._was_enabled:
            gc.enable()

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("the idle collector stopped; automatic collection is back", exc_info=task.exception())
            gc.enable()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.tick()

    def due(self) -> int | None:
        """The oldest generation whose count has reached its threshold, or None."""
        counts, limits = gc.get_count(), self._thresholds
        if counts[0] < limits[0]:
            return None
        if counts[2] >= limits[2]:
            return 2
        if counts[1] >= limits[1]:
            return 1
        return 0

    def tick(self) -> int | None:
        """Collect the due generation unless the router is busy; returns what was collected."""
        generation = self.due()
        if generation is None:
            self._due_since = None
            return None
        if self._busy():
            now = self._clock()
            if self._due_since is None:
                self._due_since = now
            if now - self._due_since < self.max_defer:
                return None
            self.forced += 1
        self._due_since = None
        gc.collect(generation)
        self.collections[generation] += 1
        return generation
