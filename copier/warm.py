"""Keeps the signal path in the CPU caches between signals.

On a shared machine (a VPS, a cloud VM) the other tenants evict a sleeping process's code and data
within milliseconds: measured here, parsing one alert and encoding one order takes about 40 µs back
to back and 400–470 µs after 20 ms or more of idling, whether the process slept or spun through the
gap (``benchmarks/cold_path.py``). A copier idles between signals, so every signal would pay that.

:class:`WarmKeeper` rehearses the path every ``interval`` seconds while the daemon is idle: each
webhook source's last accepted body is read and interpreted again, and the signal is planned and
encoded for its first ``followers`` routes (:meth:`core.router.Router.rehearsal`) with nothing
recorded, logged or sent. It runs in steps with the event loop let in between, so a signal that
arrives meanwhile waits for one step of a few tens of microseconds at most. It costs CPU while idle
(about a tenth of a core at 2 ms, measured in docs/design.md) and is off when ``interval`` is 0.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from core.router import Router
from core.signal import Signal

log = logging.getLogger(__name__)


class WarmKeeper:
    """Rehearses each of ``signals()`` every ``interval`` seconds unless ``busy()``; a failed
    rehearsal is logged once and skipped."""

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
        self._reported: set[str] = set()
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
                await self._pass()
                self.rehearsals += 1

    async def _pass(self) -> None:
        """One rehearsal, a step at a time with the loop let in between: a signal that arrives
        meanwhile waits for one step at most, and the rest of the pass is dropped. A rehearsal
        that fails is logged once and skipped; the real signal path reports its own errors."""
        try:
            signals = self._signals()
        except Exception as exc:
            self._failed(exc)
            return
        for signal in signals:
            steps = self._router.rehearsal(signal, self.followers)
            while True:
                await asyncio.sleep(0)
                if self._busy():
                    return
                try:
                    next(steps)
                except StopIteration:
                    break
                except Exception as exc:
                    self._failed(exc)
                    break

    def _failed(self, exc: Exception) -> None:
        kind = f"{type(exc).__name__}: {exc}"
        if kind not in self._reported:
            self._reported.add(kind)
            log.warning("warm keeper: a rehearsal failed and is skipped (%s)", kind, exc_info=exc)
