"""The sliding-window limiter: refuses before the venue would, and says how long to wait."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import RateLimited
from core.ratelimit import Limit, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_limit_refuses_the_request_over_the_count_and_names_the_wait() -> None:
    clock = Clock()
    limiter = RateLimiter((Limit(3, 2.0),), clock)
    for step in (0.0, 0.5, 0.5):
        clock.now += step
        limiter.acquire()
    with pytest.raises(RateLimited) as refused:
        limiter.acquire()
    assert refused.value.retry_after == pytest.approx(1.0)  # the first stamp leaves the window at 1002.0
    clock.now = 1002.0
    limiter.acquire()  # the first request has left the window


def test_a_refund_gives_back_the_last_request_of_every_limit() -> None:
    clock = Clock()
    limiter = RateLimiter((Limit(2, 1.0), Limit(3, 60.0)), clock)
    limiter.acquire()
    limiter.acquire()
    limiter.refund()  # the second never left
    limiter.acquire()
    with pytest.raises(RateLimited):
        limiter.acquire()  # two in the second: the refund gave back exactly one
    limiter.refund()
    limiter.refund()
    limiter.refund()  # more than were taken: nothing left to give back
    limiter.acquire()
    limiter.acquire()


def test_the_tightest_of_several_limits_decides() -> None:
    clock = Clock()
    limiter = RateLimiter((Limit(10, 1.0), Limit(2, 60.0)), clock)
    limiter.acquire()
    clock.now += 5
    limiter.acquire()
    with pytest.raises(RateLimited) as refused:
        limiter.acquire()
    assert refused.value.retry_after == pytest.approx(55.0)


@given(
    gaps=st.lists(st.floats(min_value=0, max_value=1.5, allow_nan=False), min_size=1, max_size=60),
    count=st.integers(min_value=1, max_value=8),
)
def test_one_limit_agrees_with_a_direct_count_of_the_window(gaps: list[float], count: int) -> None:
    clock = Clock()
    limiter = RateLimiter((Limit(count, 2.0),), clock)
    accepted: list[float] = []
    for gap in gaps:
        clock.now += gap
        in_window = [t for t in accepted if t > clock.now - 2.0]
        try:
            limiter.acquire()
        except RateLimited as refused:
            assert len(in_window) >= count
            assert refused.retry_after == pytest.approx(in_window[0] - (clock.now - 2.0))
        else:
            assert len(in_window) < count
            accepted.append(clock.now)
