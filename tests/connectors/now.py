"""Helpers for the ``submit_now`` tests of the venue connectors."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TypeVar

import pytest

from core.connector import Connector
from core.errors import VenueRejected
from core.orders import ExecutionReport, OrderIntent, ReportStatus
from tests.helpers import eventually

T = TypeVar("T")


async def written_before_awaited(sent: Awaitable[T] | None, arrived: Callable[[], object]) -> T:
    """Await what a connector's ``submit_now`` returned, once the venue has read the order
    (``arrived``) while the returned coroutine had not run a step: the order went on the wire
    inside the ``submit_now`` call."""
    assert sent is not None, "submit_now wrote nothing"
    # A coroutine, interpreted or compiled (mypyc's has no frame to inspect), and never a task,
    # which the loop would run on its own while the order is awaited here.
    assert inspect.isawaitable(sent) and not isinstance(sent, asyncio.Future)
    await eventually(arrived)
    if inspect.iscoroutine(sent):
        assert inspect.getcoroutinestate(sent) == inspect.CORO_CREATED
    return await sent


def refused_now(connector: Connector, intent: OrderIntent) -> str | int | None:
    """The code of the :class:`VenueRejected` that ``connector.submit_now(intent)`` raises at once."""
    with pytest.raises(VenueRejected) as refused:
        connector.submit_now(intent)
    return refused.value.code


def outcome(report: ExecutionReport) -> tuple[ReportStatus, Decimal, Decimal | None, str | None]:
    """What a report says happened to its order, apart from the order's ids and stamps."""
    return report.status, report.filled_volume, report.fill_price, report.position_id
