"""Keeps the signal path in the CPU caches between signals.

On a shared machine (a VPS, a cloud VM) the other tenants evict a sleeping process's code and data
within milliseconds: measured here, parsing one alert and encoding one order takes about 40 µs back
to back and 400–470 µs after 20 ms or more of idling, whether the process slept or spun through the
gap (``benchmarks/cold_path.py``). A copier idles between signals, so every signal would pay that.

:class:`WarmKeeper` rehearses the path every ``interval`` seconds while the daemon is idle: each
webhook source's last accepted body is read and interpreted again, and the signal is planned and
encoded for its first ``followers`` routes (:meth:`core.router.Router.rehearse`) with nothing
recorded, logged or sent. It costs a few percent of one core (measured in docs/benchmarks.md) and
is off when ``interval`` is 0.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from core.router import Router
from core.signal import Signal

log = logging.getLogger(__name__)


class WarmKeeper:
    """Runs ``rehearse`` every ``interval`` seconds unless ``busy()``; stops itself on an error."""

    def __init__(
        self,
        signals: Callable[[], list[Signal]],
        router: Router,
        *,
        interval: float,
        followers: int,
        busy: Callable[[], bool],
    ) -> None:
        self._signals = signals
        self._router = router
        self.interval = interval
        self.followers = followers
        self._busy = busy
        self._task: asyncio.Task[None] | None = None
        self.rehearsals = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the timer (inside the running loop); nothing when the interval is 0."""
        if self._task is not None or self.interval <= 0:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="warm-keeper")
        self._task.add_done_callback(self._ended)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    @staticmethod
    def _ended(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("the warm keeper stopped; signals pay the cold-cache cost", exc_info=task.exception())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if not self._busy():
                self.rehearse()

    def rehearse(self) -> int:
        """One rehearsal of every source's last signal; returns the orders planned."""
        planned = 0
        for signal in self._signals():
            planned += self._router.rehearse(signal, self.followers)
        self.rehearsals += 1
        return planned
