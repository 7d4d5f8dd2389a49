"""The journal interface the router writes to: one buffered append per accepted signal and per
order state change, so that after a crash every (signal, follower) can be finished exactly once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from core.links import Leg
from core.orders import OrderIntent
from core.signal import Signal


class JournalWriter(Protocol):
    """Appends must return quickly (no fsync on the calling thread unless configured so)."""

    def signal(self, signal: Signal, followers: Iterable[str]) -> None: ...

    def encode_signal(self, signal: Signal, followers: Iterable[str]) -> bytes:
        """The bytes :meth:`signal` would append, encoded and not written (a rehearsal)."""
        ...

    def outcome(
        self,
        signal_id: str,
        account: str,
        route: str,
        leg: int,
        intent: OrderIntent,
        venue: str | None,
        link: Mapping[str, Any] | None,
        status: str,
        **result: Any,
    ) -> None:
        """An order's intent and outcome, after the venue answered (or after giving up).

        ``result`` may carry venue_order_id, position_id, filled, price, reason, code, latency_us,
        ack_us. Nothing is written before the send: recovery asks the venue by client order id.
        """
        ...

    def done(self, signal_id: str, account: str, status: str, reason: str | None = None) -> None: ...

    def link(self, leg: Leg, *, closed: bool = False) -> None: ...

    def settled(self, leg: Leg, status: str) -> None:
        """A pending open the venue has since ``filled`` (``leg`` holds the fill) or ``canceled``
        unfilled, found when a later signal acts on it; recovery applies it to the rebuilt links."""
        ...
