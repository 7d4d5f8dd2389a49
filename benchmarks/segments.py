"""Where a follower's share of a fan-out goes, stamped in process (``fanout_profile --segments``).

Two points of the order path are wrapped, without changing its code: ``Router._plan_open`` (the
plan: map, guard, size, round, client id) and ``FrameWriter.text`` (framing, masking and the
socket write, for every WebSocket venue). Stamps are taken only while a fan-out runs (from
``submit`` until every follower has written), so acknowledgements and fills are not in them. Each
follower's time splits into:

* ``plan`` — the plan itself;
* ``order path`` — plan end → frame write start: the connector's part (encode, sign, rate limit,
  the answer's future);
* ``write`` — the frame: header, mask, and the ``write`` to the socket or, while the fan-out holds
  frames (:mod:`core.outbox`), its place in the group;
* ``next`` — write end → the next follower's plan: the rest of the connector's call, the group's
  writes when this follower completes a group, and the step to the next follower (in
  ``submit``'s pass over the idle followers, or, for a busy lane's job, the lane's bookkeeping and
  the switch to the next lane's task).

The wrappers add a few tenths of a microsecond per stamp; the segments' sum is therefore a little
above the window measured without them.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import core.router as router_module
from connectors.wire import FrameWriter
from core import compiled
from core.outbox import WireStamp
from core.router import Router

#: A follower's stamps in the order they are taken, and the segment each one starts.
_STAMPS = ("plan", "planned", "write", "written")
ORDER = ("plan", "order path", "write", "next")
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
        """Wrap the two points (undone by :meth:`uninstall`). The compiled hot path calls its
        methods directly, past any wrapper: the stamps need ``COPIER_COMPILED=0``."""
        if compiled.is_compiled(router_module):
            raise RuntimeError("segment stamps need the interpreted hot path: run with COPIER_COMPILED=0")
        stamp = self._stamp
        plan_open, write_frame = Router._plan_open, FrameWriter.text

        def timed_plan(router: Router, *args: Any) -> Any:
            stamp("plan")
            try:
                return plan_open(router, *args)
            finally:
                stamp("planned")

        def timed_write(writer: FrameWriter, payload: bytes) -> WireStamp:
            stamp("write")
            try:
                return write_frame(writer, payload)
            finally:
                stamp("written")

        Router._plan_open = timed_plan  # type: ignore[method-assign]
        FrameWriter.text = timed_write  # type: ignore[method-assign]

        def undo() -> None:
            Router._plan_open = plan_open  # type: ignore[method-assign]
            FrameWriter.text = write_frame  # type: ignore[method-assign]

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
        # Only the steps of a follower's sequence count (plan, planned, write, written, then the
        # next plan): a frame written outside one is not an order's.
        previous: tuple[str, int] | None = None
        for tag, at in stamps:
            if previous is not None and tag == _FOLLOWS[previous[0]]:
                self._per_segment[_SEGMENT[previous[0]]].append((at - previous[1]) / 1000)
                previous = (tag, at)
            else:
                previous = (tag, at) if tag == "plan" else None

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
