"""The journal interface the router writes to: one buffered append per accepted signal and per
order state change, so that after a crash every (signal, follower) can be finished exactly once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Protocol

from core.links import Leg
from core.orders import OrderIntent
from core.signal import Signal


class JournalWriter(Protocol):
    """Appends must return quickly (no fsync on the calling thread unless configured so)."""

    def signal(self, signal: Signal, followers: Iterable[str]) -> None: ...

    def intent(
        self,
        signal_id: str,
        account: str,
        route: str,
        leg: int,
        intent: OrderIntent,
        venue: str | None = None,
        link: Mapping[str, Any] | None = None,
    ) -> None: ...

    def result(
        self,
        signal_id: str,
        client_order_id: str,
        status: str,
        *,
        venue_order_id: str | None = None,
        position_id: str | None = None,
        filled: Decimal | None = None,
        price: Decimal | None = None,
        reason: str | None = None,
        code: str | int | None = None,
        latency_us: int | None = None,
        ack_us: int | None = None,
    ) -> None: ...

    def done(self, signal_id: str, account: str, status: str, reason: str | None = None) -> None: ...

    def link(self, leg: Leg, *, closed: bool = False) -> None: ...
