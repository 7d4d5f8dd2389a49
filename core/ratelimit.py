"""Venue rate limits declared as data and respected before the venue refuses."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import RateLimited


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``count`` requests of ``cost`` 1 per ``window`` seconds (a sliding window)."""

    count: int
    window: float
    name: str = ""


class RateLimiter:
    """Sliding-window limiter over several limits at once (e.g. 300 per 10 s and 1200 per 60 s).

    ``acquire`` never sleeps: it either records the request or raises :class:`RateLimited` with the
    seconds until the oldest request leaves the tightest full window, so the caller decides whether
    to wait or to report.
    """

    def __init__(self, limits: tuple[Limit, ...], clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits
        self._clock = clock
        self._stamps: list[deque[float]] = [deque() for _ in limits]

    def acquire(self, cost: int = 1) -> None:
        now = self._clock()
        if cost == 1 and len(self._limits) == 1:
            # One limit, one request: the common case on an order path, without the general loop.
            limit, stamps = self._limits[0], self._stamps[0]
            horizon = now - limit.window
            while stamps and stamps[0] <= horizon:
                stamps.popleft()
            if len(stamps) >= limit.count:
                raise RateLimited("local rate limit reached", code="local", retry_after=stamps[0] - horizon)
            stamps.append(now)
            return
        wait = 0.0
        for limit, stamps in zip(self._limits, self._stamps, strict=True):
            horizon = now - limit.window
            while stamps and stamps[0] <= horizon:
                stamps.popleft()
            if len(stamps) + cost > limit.count:
                wait = max(wait, stamps[len(stamps) + cost - limit.count - 1] - horizon)
        if wait > 0:
            raise RateLimited("local rate limit reached", code="local", retry_after=wait)
        for stamps in self._stamps:
            stamps.extend([now] * cost)

    def refund(self, cost: int = 1) -> None:
        """Give back the last ``acquire`` (of ``cost``) for a request that never left, so sending
        it again another way does not count it twice. Call it before anything else acquires."""
        for stamps in self._stamps:
            for _ in range(min(cost, len(stamps))):
                stamps.pop()
