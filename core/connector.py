"""The one protocol every venue connector implements."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from core.instrument import Instrument
from core.orders import AccountState, ExecutionReport, OrderIntent, Position, VenueOrder


class ConnectorState(StrEnum):
    DOWN = "down"
    CONNECTING = "connecting"
    UP = "up"
    RECONNECTING = "reconnecting"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a venue can do; the router plans around what it cannot."""

    hedging: bool = False
    netting: bool = True
    partial_close: bool = True
    modify_sltp: bool = True
    pending_orders: bool = True
    sltp_on_open: bool = True
    order_comment: bool = False
    query_by_client_id: bool = True


StateListener = Callable[[str, ConnectorState, str], None]


@runtime_checkable
class Connector(Protocol):
    """A follower (or master) account on one venue.

    ``start`` opens and authenticates connections and loads instrument facts; everything the hot
    path reads (``instrument``, ``account``, ``last_price``) is answered from memory.
    ``submit`` raises only the typed errors of :mod:`core.errors`.
    """

    name: str
    venue: str
    capabilities: Capabilities

    @property
    def state(self) -> ConnectorState: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def venue_symbol(self, canonical: str) -> str | None:
        """The venue's own name for a canonical symbol (``BTCUSDT`` → ``BTC-USDT-SWAP``), or None."""
        ...

    def instrument(self, symbol: str) -> Instrument | None:
        """Facts for a venue symbol, from memory. Volumes are in the canonical unit: lots for
        forex and CFDs, base quantity for crypto (a contract venue converts on the wire)."""
        ...

    def account(self) -> AccountState: ...

    def last_price(self, symbol: str) -> Decimal | None: ...

    async def submit(self, intent: OrderIntent) -> ExecutionReport: ...

    def submit_now(self, intent: OrderIntent) -> Awaitable[ExecutionReport] | None:
        """Put ``intent`` on the wire before returning, from synchronous code, and return what
        awaits its report (the same report, and the same errors, as :meth:`submit`). None when it
        cannot be written at once (the kind of order, or the connection): the caller then uses
        :meth:`submit`. Errors that come before anything is sent are raised here."""
        ...

    def rehearse(self, intent: OrderIntent) -> None:
        """Encode ``intent`` as :meth:`submit` would, without sending or recording anything (it
        keeps the encoding warm between signals). Raises nothing."""
        ...

    async def positions(self) -> list[Position]: ...

    async def order_by_client_id(self, client_order_id: str, symbol: str | None = None) -> ExecutionReport | None:
        """The order with this client id as the venue has it now, or None when it has none.

        ``symbol`` is the venue symbol the order was sent on, when the caller knows it: venues that
        keep orders per symbol (Binance) are asked there, rather than only where this process
        remembers sending it or holds a position (which, after a restart and a close, may be
        nowhere)."""
        ...

    async def recent_orders(self, prefix: str, since_ms: int, symbols: Collection[str] = ()) -> list[VenueOrder]:
        """Orders the venue holds whose client order id starts with ``prefix``, created at or after
        ``since_ms`` (Unix milliseconds, venue clock): its open orders and its order history, as far
        back as the venue keeps it. Market and limit orders, and stop entries where the venue lists
        them: with the others (Bybit) or from its algo-order list (OKX's live ``trigger`` orders; a
        triggered one is listed as the order it placed). Binance's conditional orders are not listed.

        ``symbols`` names venue symbols worth asking about, for a venue that can only be asked per
        symbol; others ignore it. Raises only the typed errors of :mod:`core.errors`.
        """
        ...
