"""``PaperConnector``: the :class:`~core.connector.Connector` protocol over a :class:`PaperVenue`.

The venue lives in the same process, so ``submit`` costs a few microseconds: with
``latency_us = 0`` it never yields to the event loop. With ``latency_us > 0`` it awaits that long
between handing the order over (``t_wire_ns``) and the venue acting on it, which gives the router
realistic interleavings in tests and benchmarks.

Position ids: ``P<n>`` in hedging mode; in netting mode the symbol itself (one position per
symbol). ``ExecutionReport.position_id`` of an open names the position the fill went into (in
netting mode also when the fill reduced or closed it), of a close the position closed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Collection, Coroutine
from decimal import Decimal
from typing import Any

from connectors.paper.client import PaperOrder, PaperVenue, PaperVenueError
from connectors.paper.config import PaperConfig
from connectors.paper.parse import from_venue
from core.connector import Capabilities, ConnectorState, StateListener
from core.errors import TransientError
from core.instrument import Instrument
from core.orders import AccountState, ExecutionReport, IntentKind, OrderIntent, Position, VenueOrder

_CENT = Decimal("0.01")
_PERP_SUFFIX = "-PERP"


def _report(order: PaperOrder) -> ExecutionReport:
    return ExecutionReport(
        client_order_id=order.client_order_id,
        status=order.status,
        venue_order_id=order.venue_order_id,
        position_id=order.position_id,
        filled_volume=order.filled_volume,
        fill_price=order.fill_price,
        t_wire_ns=order.t_wire_ns,
        t_ack_ns=order.t_ack_ns,
    )


class PaperConnector:
    """A paper account. ``sim`` is the simulated venue, for tests and the embedded default."""

    venue = "paper"

    def __init__(
        self,
        config: PaperConfig,
        *,
        sim: PaperVenue | None = None,
        on_state: StateListener | None = None,
    ) -> None:
        self.name = config.name
        self.config = config
        self.sim = sim if sim is not None else PaperVenue(config)
        hedging = config.mode == "hedging"
        self.capabilities = Capabilities(
            hedging=hedging,
            netting=not hedging,
            partial_close=True,
            modify_sltp=True,
            pending_orders=True,
            sltp_on_open=True,
            order_comment=True,
            query_by_client_id=True,
        )
        self._latency_s = config.latency_us / 1_000_000
        self._on_state = on_state
        self._state = ConnectorState.DOWN

    @property
    def state(self) -> ConnectorState:
        return self._state

    def _set_state(self, state: ConnectorState, reason: str) -> None:
        self._state = state
        if self._on_state is not None:
            self._on_state(self.name, state, reason)

    async def start(self) -> None:
        """Bring the account up; instruments and prices are already in memory."""
        self._set_state(ConnectorState.UP, "paper account ready")

    async def stop(self) -> None:
        """Take the account down; later orders fail with :class:`~core.errors.TransientError`."""
        self._set_state(ConnectorState.DOWN, "stopped")

    def venue_symbol(self, canonical: str) -> str | None:
        """The paper symbol for ``canonical``: itself when traded here; ``BTCUSDT-PERP`` → ``BTCUSDT``."""
        instruments = self.sim.instruments
        if canonical in instruments:
            return canonical
        if canonical.endswith(_PERP_SUFFIX):
            base = canonical[: -len(_PERP_SUFFIX)]
            if base in instruments:
                return base
        return None

    def instrument(self, symbol: str) -> Instrument | None:
        return self.sim.instrument(symbol)

    def account(self) -> AccountState:
        """Balance and equity rounded to the cent."""
        sim = self.sim
        return AccountState(
            balance=sim.balance.quantize(_CENT),
            equity=sim.equity().quantize(_CENT),
            currency=sim.currency,
            open_positions=sim.open_positions,
        )

    def last_price(self, symbol: str) -> Decimal | None:
        return self.sim.price(symbol)

    def rehearse(self, intent: OrderIntent) -> None:
        """The paper venue's checks of an OPEN, without executing it."""
        if intent.kind is IntentKind.OPEN:
            self.sim.check_open(intent)

    async def submit(self, intent: OrderIntent) -> ExecutionReport:
        """Execute ``intent`` on the paper venue.

        Raises :class:`~core.errors.VenueRejected` with the paper code and reason when the venue
        refuses, and :class:`~core.errors.TransientError` when the account is not up.
        """
        return await self._sent(intent)

    def submit_now(self, intent: OrderIntent) -> Awaitable[ExecutionReport]:
        """Send ``intent`` now (its ``t_wire``); the paper venue acts on it when the returned
        coroutine runs, after the account's simulated latency."""
        return self._sent(intent)

    def _sent(self, intent: OrderIntent) -> Coroutine[Any, Any, ExecutionReport]:
        if self._state is not ConnectorState.UP:
            raise TransientError(f"paper account {self.name} is {self._state}", "NOT_CONNECTED")
        return self._arrive(intent, time.monotonic_ns())

    async def _arrive(self, intent: OrderIntent, t_wire: int) -> ExecutionReport:
        if self._latency_s:
            await asyncio.sleep(self._latency_s)
        try:
            order = self.sim.execute(intent)
        except PaperVenueError as exc:
            raise from_venue(exc) from None
        order.t_wire_ns = t_wire
        order.t_ack_ns = time.monotonic_ns()
        return _report(order)

    async def positions(self) -> list[Position]:
        return self.sim.positions()

    async def order_by_client_id(self, client_order_id: str, symbol: str | None = None) -> ExecutionReport | None:
        """The order's current state (a pending order may since have filled or been cancelled)."""
        order = self.sim.order(client_order_id)
        return _report(order) if order is not None else None

    async def recent_orders(self, prefix: str, since_ms: int, symbols: Collection[str] = ()) -> list[VenueOrder]:
        """Opens and closes the paper venue accepted under a client id starting with ``prefix``,
        created at or after ``since_ms``; modifies and cancels are not orders of their own here."""
        if self._state is not ConnectorState.UP:
            raise TransientError(f"paper account {self.name} is {self._state}", "NOT_CONNECTED")
        return [
            VenueOrder(
                client_order_id=order.client_order_id,
                symbol=order.symbol,
                side=order.side,
                volume=order.volume,
                filled_volume=order.filled_volume,
                status=order.status,
                venue_order_id=order.venue_order_id,
                position_id=order.position_id,
                average_price=order.fill_price,
                time_ms=order.created_ms,
                reduce_only=order.kind is IntentKind.CLOSE,
                order_type=order.order_type,
                price=order.price,
            )
            for order in self.sim.orders()
            if order.kind in (IntentKind.OPEN, IntentKind.CLOSE)
            and order.client_order_id.startswith(prefix)
            and order.created_ms >= since_ms
        ]
