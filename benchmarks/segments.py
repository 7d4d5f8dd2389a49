"""Where a follower's share of a fan-out goes, stamped in process (``fanout_profile --segments``).

Three points of the order path are wrapped, without changing its code: ``Router._execute`` (a
follower's job starts), ``Router._plan_open`` (the plan: map, guard, size, round, client id) and
aiohttp's ``WebSocketWriter._write_websocket_frame`` (framing, masking and the socket write, for
every WebSocket venue). Stamps are taken only while a fan-out runs (from ``submit`` until every
lane has written), so acknowledgements and fills are not in them. Each follower's time splits into:

* ``dispatch`` — job start → plan start (the outcome entry, the action's branch);
* ``plan`` — the plan itself;
* ``order path`` — plan end → frame write start: the router's send and the connector's part
  (encode, sign, rate limit, the answer's future);
* ``write`` — the frame: header, mask and the ``write`` to the socket;
* ``switch`` — write end → the next follower's job start: the answer's deadline, the suspension
  of the lane's coroutines and the switch to the next lane's task.

The wrappers add a few tenths of a microsecond per stamp; the segments' sum is therefore a little
above the window measured without them.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from aiohttp._websocket.writer import WebSocketWriter

from core.router import Router

#: A follower's stamps in the order they are taken, and the segment each one starts.
_STAMPS = ("job", "plan", "planned", "write", "written")
ORDER = ("dispatch", "plan", "order path", "write", "switch")
_SEGMENT = dict(zip(_STAMPS, ORDER, strict=True))
_FOLLOWS = dict(zip(_STAMPS, _STAMPS[1:] + _STAMPS[:1], strict=True))


class Segments:
    """Stamps the three points while :attr:`active`; :meth:`close` takes one fan-out's stamps."""

    def __init__(self) -> None:
        self.active = False
        self._stamps: list[tuple[str, int]] = []
        self._per_segment: dict[str, list[float]] = defaultdict(list)
        self._undo: list[Callable[[], None]] = []

    def install(self) -> None:
        """Wrap the three points (undone by :meth:`uninstall`)."""
        stamp = self._stamp
        execute, plan_open, write_frame = Router._execute, Router._plan_open, WebSocketWriter._write_websocket_frame

        async def timed_execute(router: Router, job: Any, conn: Any) -> None:
            stamp("job")
            await execute(router, job, conn)

        def timed_plan(router: Router, *args: Any) -> Any:
            stamp("plan")
            try:
                return plan_open(router, *args)
            finally:
                stamp("planned")

        def timed_write(writer: WebSocketWriter, *args: Any) -> None:
            stamp("write")
            try:
                write_frame(writer, *args)
            finally:
                stamp("written")

        Router._execute = timed_execute  # type: ignore[method-assign,assignment]
        Router._plan_open = timed_plan  # type: ignore[method-assign,assignment]
        WebSocketWriter._write_websocket_frame = timed_write  # type: ignore[method-assign,assignment]

        def undo() -> None:
            Router._execute = execute  # type: ignore[method-assign]
            Router._plan_open = plan_open  # type: ignore[method-assign]
            WebSocketWriter._write_websocket_frame = write_frame  # type: ignore[method-assign]

        self._undo.append(undo)

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()

    def _stamp(self, tag: str) -> None:
        if self.active:
            self._stamps.append((tag, time.perf_counter_ns()))

    def close(self, keep: bool) -> None:
        """End one fan-out: its segments are kept when ``keep`` (a measured signal)."""
        self.active = False
        stamps, self._stamps = self._stamps, []
        if not keep:
            return
        # Only the steps of a follower's sequence count (job, plan, planned, write, written, then
        # the next job): a frame written outside one, such as a pong, is not an order's.
        previous: tuple[str, int] | None = None
        for tag, at in stamps:
            if previous is not None and tag == _FOLLOWS[previous[0]]:
                self._per_segment[_SEGMENT[previous[0]]].append((at - previous[1]) / 1000)
                previous = (tag, at)
            else:
                previous = (tag, at) if tag == "job" else None

    def report(self, followers: int, window_us: float) -> str:
        """Median and mean of each segment, per follower, against the window per follower."""
        lines = []
        for name in ORDER:
            values = self._per_segment.get(name) or [0.0]
            lines.append(
                f"  {name:<11} median {statistics.median(values):6.1f} µs  mean {statistics.fmean(values):6.1f} µs"
                f"  ({len(values)} samples)"
            )
        means = sum(statistics.fmean(self._per_segment.get(name) or [0.0]) for name in ORDER)
        lines.append(f"  sum of means {means:.1f} µs per follower; window per follower {window_us / followers:.1f} µs")
        return "\n".join(lines)
