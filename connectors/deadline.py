"""Deadlines on futures without a task or a timeout context per order.

``asyncio.wait_for`` and ``asyncio.timeout`` build a waiter, a cancellation scope and a timer for
every call; an order's answer and its fill are plain futures that a reader task resolves, so one
timer that settles the future is all a deadline needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def settle_after(
    future: asyncio.Future[T], seconds: float, outcome: Callable[[], T | BaseException]
) -> asyncio.TimerHandle:
    """After ``seconds``, give a still pending ``future`` the value (or exception) ``outcome()``
    returns. Cancel the returned handle once the future is awaited."""

    def expire() -> None:
        if not future.done():
            value = outcome()
            if isinstance(value, BaseException):
                future.set_exception(value)
            else:
                future.set_result(value)

    return future.get_loop().call_later(seconds, expire)
