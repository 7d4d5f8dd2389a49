"""The idle collector against the interpreter's real garbage collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from copier.collector import IdleCollector
from tests.helpers import eventually


@contextmanager
def collections_seen() -> Iterator[list[int]]:
    """The generations the interpreter collects while the block runs."""
    seen: list[int] = []

    def note(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(note)
    try:
        yield seen
    finally:
        gc.callbacks.remove(note)


@asynccontextmanager
async def taken_over(collector: IdleCollector):
    enabled = gc.isenabled()
    gc.enable()
    collector.start()
    try:
        gc.collect()  # start from empty counts
        yield collector
    finally:
        await collector.stop()
        if not enabled:
            gc.disable()


def allocate(count: int, keep: list[object]) -> None:
    keep.extend([] for _ in range(count))


async def test_takes_over_from_the_automatic_collector_and_gives_it_back():
    collector = IdleCollector(lambda: False, interval=3600)
    async with taken_over(collector):
        assert not gc.isenabled()
    assert gc.isenabled()


async def test_collects_the_due_generation_only_when_idle():
    busy = [True]
    now = [0.0]
    collector = IdleCollector(
        lambda: busy[0], interval=3600, max_defer=1.0, thresholds=(50, 10, 10), clock=lambda: now[0]
    )
    keep: list[object] = []
    async with taken_over(collector):
        with collections_seen() as seen:
            assert collector.tick() is None  # nothing allocated: nothing due
            allocate(200, keep)
            assert collector.due() == 0
            assert collector.tick() is None  # due, but the router is fanning out
            now[0] = 0.5
            assert collector.tick() is None
            assert seen == []
            busy[0] = False
            assert collector.tick() == 0
            assert seen == [0]
            assert collector.due() is None
            assert collector.forced == 0


async def test_runs_anyway_after_max_defer_of_uninterrupted_fan_out():
    now = [0.0]
    collector = IdleCollector(lambda: True, interval=3600, max_defer=1.0, thresholds=(50, 10, 10), clock=lambda: now[0])
    keep: list[object] = []
    async with taken_over(collector):
        with collections_seen() as seen:
            allocate(200, keep)
            assert collector.tick() is None
            now[0] = 0.99
            assert collector.tick() is None
            now[0] = 1.0
            assert collector.tick() == 0
            assert seen == [0]
            assert collector.forced == 1


async def test_older_generations_follow_the_interpreter_counts():
    collector = IdleCollector(lambda: False, interval=3600, thresholds=(50, 2, 2))
    keep: list[object] = []
    done: list[int | None] = []
    async with taken_over(collector):
        with collections_seen() as seen:
            for _ in range(7):
                allocate(200, keep)
                done.append(collector.tick())
    # Generation 1 after two young collections, generation 2 after two of generation 1.
    assert done == [0, 0, 1, 0, 0, 1, 2]
    assert seen == done
    assert collector.collections == [4, 2, 1]


async def test_the_timer_collects_on_its_own():
    collector = IdleCollector(lambda: False, interval=0.001, thresholds=(50, 10, 10))
    keep: list[object] = []
    async with taken_over(collector):
        allocate(200, keep)
        await eventually(lambda: collector.collections[0] >= 1)
        assert gc.get_count()[0] < 200
