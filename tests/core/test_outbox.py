"""The outbox: frames held during a fan-out, written in growing groups, each stamped at its write."""

from __future__ import annotations

import itertools
import logging
import time

import pytest

from core.outbox import LARGEST_GROUP, Outbox


class Socket:
    """A stand-in for a transport's ``write``: records what it was handed and when."""

    def __init__(self, fail: bool = False) -> None:
        self.frames: list[tuple[bytes, int]] = []
        self.fail = fail

    def write(self, frame: bytes) -> None:
        if self.fail:
            raise ConnectionResetError("closed")
        self.frames.append((frame, time.monotonic_ns()))


def test_without_a_hold_a_frame_is_written_and_stamped_at_once() -> None:
    outbox, socket = Outbox(), Socket()
    before = time.monotonic_ns()
    stamp = outbox.write(socket.write, b"one")
    assert [frame for frame, _ in socket.frames] == [b"one"]
    assert before <= stamp.ns <= socket.frames[0][1]


def test_groups_grow_to_the_largest_and_the_rest_is_written_when_the_hold_ends() -> None:
    outbox, socket = Outbox(), Socket()
    written_after_each_step: list[int] = []
    stamps = []
    with outbox.hold():
        for index in range(100):
            stamps.append(outbox.write(socket.write, b"%d" % index))
            outbox.step()
            written_after_each_step.append(len(socket.frames))
        assert stamps[-1].ns == 0  # still held: the last group is not full
    # A group is written by the step that completes it; the steps in between write nothing.
    counts = [0, *written_after_each_step]
    groups = [after - before for before, after in itertools.pairwise(counts) if after != before]
    assert groups[:6] == [1, 2, 4, 8, 16, 32] and set(groups[6:]) == {LARGEST_GROUP}
    assert sum(groups) + 5 == 100  # 1 + 2 + ... + 32 + 32 = 95; the last five wait for the hold's end
    assert [frame for frame, _ in socket.frames] == [b"%d" % i for i in range(100)]  # in order, every one
    # Each frame is stamped when it is handed over (just before), not when it was queued.
    assert all(0 < stamp.ns <= at for stamp, (_, at) in zip(stamps, socket.frames, strict=True))
    assert [stamp.ns for stamp in stamps] == sorted(stamp.ns for stamp in stamps)


def test_a_socket_that_fails_at_the_flush_does_not_keep_the_others_frames(caplog: pytest.LogCaptureFixture) -> None:
    outbox, good, bad = Outbox(), Socket(), Socket(fail=True)
    with caplog.at_level(logging.WARNING, logger="core.outbox"), outbox.hold():
        outbox.write(bad.write, b"lost")
        outbox.write(good.write, b"kept")
    assert [frame for frame, _ in good.frames] == [b"kept"]
    assert "could not be written" in caplog.text
