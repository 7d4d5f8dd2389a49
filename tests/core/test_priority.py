"""Pinning the loop's thread: CPUs that are not there are refused with the reason, nothing changed."""

from __future__ import annotations

import os
import threading

from core import priority


def _in_thread(work):  # type: ignore[no-untyped-def]
    box: list[object] = []
    thread = threading.Thread(target=lambda: box.append(work()))
    thread.start()
    thread.join()
    return box[0]


def test_pinning_to_cpus_the_process_may_not_use_changes_nothing_and_says_why() -> None:
    allowed = os.sched_getaffinity(0)
    missing = max(allowed) + 1000

    def attempt() -> tuple[str, set[int]]:
        return priority.pin_loop_thread(frozenset({missing})), os.sched_getaffinity(0)

    said, after = _in_thread(attempt)
    assert said == f"CPUs: none of [{missing}] is available (this process may use {sorted(allowed)}); not pinned"
    assert after == allowed
    assert priority._base_cpus is None


def test_pinning_keeps_only_the_calling_thread_on_the_chosen_cpu() -> None:
    allowed = os.sched_getaffinity(0)
    chosen = min(allowed)

    def attempt() -> tuple[str, set[int]]:
        try:
            return priority.pin_loop_thread(frozenset({chosen})), os.sched_getaffinity(0)
        finally:
            priority._base_cpus = None

    said, after = _in_thread(attempt)
    assert said == f"CPUs: event loop on [{chosen}], helper threads on {sorted(allowed)}"
    assert after == {chosen}
    assert os.sched_getaffinity(0) == allowed  # this (another) thread is untouched
