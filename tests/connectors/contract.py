"""The contract every venue connector passes.

Run it against a connector by subclassing :class:`ConnectorContract` in a ``test_<venue>_contract.py``
module, with a class name starting with ``Test``, and implementing :meth:`ConnectorContract.make`::

    class TestPaperContract(ConnectorContract):
        @asynccontextmanager
        async def make(self) -> AsyncIterator[tuple[Connector, ContractVenue]]:
            sim = ...                      # a fresh, flat account on the venue simulator
            connector = ...                # the connector, pointed at the simulator
            await connector.start()
            try:
                yield connector, Adapter(sim)
            finally:
                await connector.stop()     # and shut the simulator down

Every test calls ``make()`` once and gets a fresh account: no positions, no orders, margin to
spare. The connector must already be started when ``make`` yields.

The adapter (:class:`ContractVenue`) says what to trade and reads the venue's *own* records, not
the connector's:

``symbol``
    a venue symbol the account trades; ``connector.instrument(symbol)`` is known after start and
    the venue has a price for it.
``volume``
    an on-step volume, at least the minimum, that opens at market with margin to spare.
``part``
    an on-step volume below ``volume``; closing it leaves ``volume - part`` open.
``off_step_volume``
    at least the minimum but not a multiple of the volume step.
``below_min_volume``
    positive and below the minimum volume (it may also be off step when the minimum is one step).
``async orders_with_client_id(client_order_id) -> int``
    how many orders the venue itself holds under that client order id.

Conventions fixed here for every connector:

- OPEN at market: ``ExecutionReport.status`` is FILLED, ``position_id`` names the follower
  position the fill went into, ``venue_order_id`` is set, and
  ``t_wire_ns <= t_ack_ns`` are ``time.monotonic_ns()`` stamps taken inside ``submit``.
- CLOSE: ``position_id`` is the id from the open's report, ``side`` is the side of the *position*
  being closed (a connector that must send a closing order uses ``side.opposite``), ``volume`` is
  the amount to close. The report's status is CLOSED and its ``position_id`` the position's.
- MODIFY: ``position_id`` and absolute ``sl``/``tp`` prices, ``side`` is the position's side; the
  report's status is MODIFIED and :meth:`Connector.positions` shows the new levels.
- A refused order raises :class:`~core.errors.VenueRejected` and leaves nothing at the venue.
- ``recent_orders(prefix, since_ms, symbols)`` lists the orders (opens and closes) whose client id
  starts with ``prefix`` and that were created at or after ``since_ms``; a closing order is
  ``reduce_only`` and, once filled, CLOSED.
"""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Protocol

import pytest

from core.connector import Connector, ConnectorState
from core.enums import Side
from core.errors import VenueRejected
from core.orders import CLIENT_ID_PREFIX, IntentKind, OrderIntent, Position, ReportStatus, client_order_id


class ContractVenue(Protocol):
    """What a venue's test double tells the contract suite; see the module docstring."""

    symbol: str
    volume: Decimal
    part: Decimal
    off_step_volume: Decimal
    below_min_volume: Decimal

    async def orders_with_client_id(self, client_order_id: str) -> int: ...


def cid(tag: str, leg: int = 0) -> str:
    """A real (deterministic, venue-safe) client order id, unique per ``tag`` and ``leg``."""
    return client_order_id("contract", tag, "route", leg)


def market_open(venue: ContractVenue, order_id: str, volume: Decimal | None = None) -> OrderIntent:
    return OrderIntent(
        kind=IntentKind.OPEN,
        client_order_id=order_id,
        symbol=venue.symbol,
        side=Side.BUY,
        volume=venue.volume if volume is None else volume,
    )


def close(venue: ContractVenue, order_id: str, position_id: str | None, volume: Decimal) -> OrderIntent:
    return OrderIntent(
        kind=IntentKind.CLOSE,
        client_order_id=order_id,
        symbol=venue.symbol,
        side=Side.BUY,
        volume=volume,
        position_id=position_id,
    )


async def find_position(connector: Connector, position_id: str | None) -> Position | None:
    for position in await connector.positions():
        if position.position_id == position_id:
            return position
    return None


class ConnectorContract:
    """Shared tests; subclasses named ``Test...`` implement :meth:`make`."""

    def make(self) -> AbstractAsyncContextManager[tuple[Connector, ContractVenue]]:
        """A started connector on a fresh account, and the venue adapter. Override this."""
        raise NotImplementedError

    async def test_start_brings_it_up_with_instrument_facts(self) -> None:
        async with self.make() as (connector, venue):
            assert isinstance(connector, Connector)
            assert connector.state is ConnectorState.UP
            instrument = connector.instrument(venue.symbol)
            assert instrument is not None
            assert instrument.volume_step > 0 and instrument.tick_size > 0
            # The adapter's volumes must mean what the suite assumes of them.
            assert venue.volume >= instrument.min_volume and venue.volume % instrument.volume_step == 0
            assert 0 < venue.part < venue.volume and venue.part % instrument.volume_step == 0
            assert venue.off_step_volume >= instrument.min_volume
            assert venue.off_step_volume % instrument.volume_step != 0
            assert 0 < venue.below_min_volume < instrument.min_volume

    async def test_market_open_fills_and_shows_the_position(self) -> None:
        async with self.make() as (connector, venue):
            order_id = cid("open")
            before = time.monotonic_ns()
            report = await connector.submit(market_open(venue, order_id))
            after = time.monotonic_ns()

            assert report.status is ReportStatus.FILLED
            assert report.client_order_id == order_id
            assert report.venue_order_id
            assert report.filled_volume == venue.volume
            assert before <= report.t_wire_ns <= report.t_ack_ns <= after
            assert report.position_id is not None

            position = await find_position(connector, report.position_id)
            assert position is not None
            assert position.symbol == venue.symbol
            assert position.side is Side.BUY
            assert position.volume == venue.volume

    async def test_a_rehearsal_sends_and_records_nothing(self) -> None:
        async with self.make() as (connector, venue):
            order_id = cid("rehearsal")
            for volume in (venue.volume, venue.off_step_volume):  # a bad order raises nothing either
                connector.rehearse(market_open(venue, order_id, volume))
            assert await venue.orders_with_client_id(order_id) == 0
            assert await connector.order_by_client_id(order_id) is None
            assert await connector.positions() == []
            # The id is still free: the real order goes through.
            report = await connector.submit(market_open(venue, order_id))
            assert report.status is ReportStatus.FILLED

    async def test_off_step_volume_is_rejected_and_leaves_nothing(self) -> None:
        async with self.make() as (connector, venue):
            order_id = cid("off-step")
            with pytest.raises(VenueRejected) as raised:
                await connector.submit(market_open(venue, order_id, venue.off_step_volume))
            assert raised.value.code is not None
            assert await venue.orders_with_client_id(order_id) == 0
            assert await connector.order_by_client_id(order_id) is None
            assert await connector.positions() == []

    async def test_volume_below_minimum_is_rejected(self) -> None:
        async with self.make() as (connector, venue):
            order_id = cid("below-min")
            with pytest.raises(VenueRejected):
                await connector.submit(market_open(venue, order_id, venue.below_min_volume))
            assert await venue.orders_with_client_id(order_id) == 0
            assert await connector.positions() == []

    async def test_duplicate_client_order_id_is_rejected_once_held(self) -> None:
        async with self.make() as (connector, venue):
            order_id = cid("duplicate")
            first = await connector.submit(market_open(venue, order_id))
            assert first.status is ReportStatus.FILLED

            with pytest.raises(VenueRejected):
                await connector.submit(market_open(venue, order_id))

            assert await venue.orders_with_client_id(order_id) == 1
            positions = [p for p in await connector.positions() if p.symbol == venue.symbol]
            assert len(positions) == 1
            assert positions[0].volume == venue.volume

    async def test_order_by_client_id_finds_placed_orders_only(self) -> None:
        async with self.make() as (connector, venue):
            order_id = cid("lookup")
            placed = await connector.submit(market_open(venue, order_id))

            found = await connector.order_by_client_id(order_id)
            assert found is not None
            assert found.client_order_id == order_id
            assert found.status is ReportStatus.FILLED
            assert found.venue_order_id == placed.venue_order_id
            assert found.filled_volume == venue.volume

            assert await connector.order_by_client_id(cid("never-sent")) is None

    async def test_recent_orders_lists_orders_under_the_prefix_only(self) -> None:
        async with self.make() as (connector, venue):
            since_ms = time.time_ns() // 1_000_000 - 60_000
            opened = await connector.submit(market_open(venue, cid("recent", 0)))
            foreign_id = "zz" + cid("recent-foreign")[2:]
            await connector.submit(market_open(venue, foreign_id))
            closed = await connector.submit(close(venue, cid("recent", 1), opened.position_id, venue.part))

            found = await connector.recent_orders(CLIENT_ID_PREFIX, since_ms, [venue.symbol])
            by_id = {order.client_order_id: order for order in found}
            assert set(by_id) == {cid("recent", 0), cid("recent", 1)}
            assert foreign_id not in by_id

            opening = by_id[cid("recent", 0)]
            assert opening.symbol == venue.symbol
            assert opening.side is Side.BUY
            assert opening.volume == opening.filled_volume == venue.volume
            assert opening.status is ReportStatus.FILLED
            assert not opening.reduce_only
            assert opening.venue_order_id == opened.venue_order_id
            assert opening.position_id == opened.position_id
            assert opening.average_price is not None and opening.average_price > 0
            assert opening.time_ms >= since_ms

            closing = by_id[cid("recent", 1)]
            assert closing.reduce_only
            assert closing.status is ReportStatus.CLOSED
            assert closing.filled_volume == venue.part
            assert closing.venue_order_id == closed.venue_order_id

            # Orders created before ``since_ms`` are not listed.
            later = time.time_ns() // 1_000_000 + 60_000
            assert await connector.recent_orders(CLIENT_ID_PREFIX, later, [venue.symbol]) == []

    async def test_partial_close_reduces_by_exactly_that_volume(self) -> None:
        async with self.make() as (connector, venue):
            if not connector.capabilities.partial_close:
                pytest.skip("venue has no partial close")
            opened = await connector.submit(market_open(venue, cid("partial", 0)))
            closed = await connector.submit(close(venue, cid("partial", 1), opened.position_id, venue.part))

            assert closed.status is ReportStatus.CLOSED
            assert closed.position_id == opened.position_id
            assert closed.filled_volume == venue.part
            position = await find_position(connector, opened.position_id)
            assert position is not None
            assert position.volume == venue.volume - venue.part

    async def test_full_close_removes_the_position(self) -> None:
        async with self.make() as (connector, venue):
            opened = await connector.submit(market_open(venue, cid("full", 0)))
            closed = await connector.submit(close(venue, cid("full", 1), opened.position_id, venue.volume))

            assert closed.status is ReportStatus.CLOSED
            assert closed.position_id == opened.position_id
            assert closed.filled_volume == venue.volume
            assert await find_position(connector, opened.position_id) is None
            assert [p for p in await connector.positions() if p.symbol == venue.symbol] == []

    async def test_modify_sets_stop_loss_and_take_profit(self) -> None:
        async with self.make() as (connector, venue):
            if not connector.capabilities.modify_sltp:
                pytest.skip("venue cannot modify SL/TP")
            instrument = connector.instrument(venue.symbol)
            assert instrument is not None
            opened = await connector.submit(market_open(venue, cid("modify", 0)))
            reference = opened.fill_price or connector.last_price(venue.symbol)
            assert reference is not None
            sl = instrument.price(reference * Decimal("0.9")).value
            tp = instrument.price(reference * Decimal("1.1")).value

            report = await connector.submit(
                OrderIntent(
                    kind=IntentKind.MODIFY,
                    client_order_id=cid("modify", 1),
                    symbol=venue.symbol,
                    side=Side.BUY,
                    position_id=opened.position_id,
                    sl=sl,
                    tp=tp,
                )
            )

            assert report.status is ReportStatus.MODIFIED
            position = await find_position(connector, opened.position_id)
            assert position is not None
            assert (position.sl, position.tp) == (sl, tp)
            assert position.volume == venue.volume

    async def test_stop_takes_it_down(self) -> None:
        async with self.make() as (connector, _venue):
            before = connector.state
            await connector.stop()
            assert before is ConnectorState.UP
            assert connector.state is ConnectorState.DOWN
