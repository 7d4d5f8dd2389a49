"""Order frames held back during a fan-out and handed to the kernel in growing groups.

On one core, a fan-out that alternates planning an order in Python with the ``write(2)`` that
sends it runs both cold: the interpreter's working set and the kernel's socket path evict each
other from the caches, and every write wakes the receiving side, whose acknowledgements then
interrupt the planning. Planning a group of followers and then writing the group back to back
costs less per follower. The groups grow (1, 2, 4, 8, …): the first follower's order leaves
after its own plan, and no follower waits for more than about twice as many plans as are ahead
of it, while most writes run back to back. They stop growing at :data:`LARGEST_GROUP`, so a
large fan-out still hands its orders over all along rather than half of them in one burst at the
end, which the receiving side would then read in one backlog. See docs/benchmarks.md for the
measurements.

A held frame is stamped when it is written, not when it is queued, so ``t_wire`` stays the
moment the bytes were handed to the connection. Frames are held only inside :meth:`Outbox.hold`,
a synchronous section (nothing awaits in it), and the section always ends with a flush.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


LARGEST_GROUP = 32
"""Frames written together at most, once the groups have grown."""


class WireStamp:
    """When a frame was handed to its connection (``time.monotonic_ns()``); 0 while it is held."""

    __slots__ = ("ns",)

    def __init__(self, ns: int = 0) -> None:
        self.ns = ns


class Outbox:
    """Writes frames at once, or holds them while a fan-out has a hold open."""

    __slots__ = ("_group", "_held", "_holding")

    def __init__(self) -> None:
        self._held: list[tuple[Callable[[bytes], object], bytes, WireStamp]] = []
        self._holding = False
        self._group = 1

    def write(self, write: Callable[[bytes], object], frame: bytes) -> WireStamp:
        """Hand ``frame`` to ``write`` (a transport's ``write``) now, or queue it while a hold is open."""
        if self._holding:
            stamp = WireStamp()
            self._held.append((write, frame, stamp))
            return stamp
        stamp = WireStamp(time.monotonic_ns())
        write(frame)
        return stamp

    @contextmanager
    def hold(self) -> Iterator[Outbox]:
        """Hold frames until :meth:`step` says a group is complete, and write the rest on exit."""
        self._holding, self._group = True, 1
        try:
            yield self
        finally:
            self._holding = False
            self.flush()

    def step(self) -> None:
        """A follower's order is planned: write the held group once it has reached its size."""
        if len(self._held) >= self._group:
            self.flush()
            self._group = min(self._group * 2, LARGEST_GROUP)

    def flush(self) -> None:
        """Write every held frame, stamping each as it goes."""
        held, self._held = self._held, []
        clock = time.monotonic_ns
        for write, frame, stamp in held:
            stamp.ns = clock()
            try:
                write(frame)
            except Exception as exc:
                # Nothing answers this order: it ends as unknown and is reconciled by its client id.
                log.warning("an order frame could not be written: %s", exc)


OUTBOX = Outbox()
"""The process's outbox: the router holds it during a fan-out, and order sockets write through it."""
