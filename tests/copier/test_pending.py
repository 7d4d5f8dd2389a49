"""Pending legs (a resting limit order, or an open whose fill was not confirmed in time) that the venue
fills or ends later: a signal acting on them first asks the venue, and the journal keeps the answer
for the links rebuilt after a restart. Paper accounts in this process stand in for the venue."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import orjson

from connectors.paper import PaperConfig, PaperConnector
from connectors.paper.client import PaperOrder
from copier.journal import Journal
from copier.recovery import load_journal
from core.enums import Action, OrderType, Side, VolumeKind
from core.errors import TransientError
from core.mirror import MirrorLog
from core.orders import ExecutionReport, IntentKind, OrderIntent, ReportStatus
from core.router import Route, Router
from core.signal import Level, Signal

D = Decimal


@asynccontextmanager
async def router_on(tmp: Path, conn: PaperConnector):
    mirror = MirrorLog(tmp / "mirror.jsonl", flush_interval=0.001)
    mirror.start()
    journal = Journal(tmp / "journal")
    router = Router(
        routes=[Route("tv", "a")],
        connectors={"a": conn},
        mirror=mirror,
        journal=journal,
        links=load_journal(tmp / "journal").links,
    )
    try:
        yield router, mirror
    finally:
        await router.drain()
        await router.stop()
        journal.close()
        await mirror.close()


def events(mirror: MirrorLog, name: str) -> list[dict]:
    return [e for e in map(orjson.loads, mirror.path.read_bytes().splitlines()) if e["event"] == name]


def limit_entry(price: str, side: Side = Side.BUY) -> Signal:
    return Signal(
        source="tv",
        action=Action.OPEN,
        symbol="EURUSD",
        side=side,
        volume=D("0.10"),
        order_type=OrderType.LIMIT,
        price=D(price),
        position_ref="p1",
    )


def close() -> Signal:
    return Signal(source="tv", action=Action.CLOSE, position_ref="p1")


async def resting(router: Router, conn: PaperConnector) -> PaperOrder:
    """Copy a buy limit below the market; the order it rests as at the venue."""
    router.submit(limit_entry("1.07000"))
    await router.drain()
    (order,) = conn.sim.pending_orders()
    return order


async def paper() -> PaperConnector:
    conn = PaperConnector(PaperConfig.from_mapping("a", {}, prefix=""))
    await conn.start()
    return conn


async def test_a_limit_order_that_filled_is_closed_not_cancelled(tmp_path):
    conn = await paper()
    async with router_on(tmp_path, conn) as (router, mirror):
        router.submit(limit_entry("1.07000"))
        await router.drain()
        assert len(conn.sim.pending_orders()) == 1 and router.links.find("a", "tv", pending=True)
        conn.sim.set_price("EURUSD", D("1.06990"))  # the limit fills at the venue; nothing tells the router
        assert conn.sim.pending_orders() == [] and len(await conn.positions()) == 1

        result = router.submit(close())
        await router.drain()
        assert await conn.positions() == []  # before: a cancel of the filled order, rejected; position kept
        assert router.links.of_account("a") == []
        record = router.outcomes.get(result.signal_id)
        assert record is not None and record.follower("a").status == "closed"
        await mirror.flush()
        (settled,) = [e for e in events(mirror, "position_linked") if e.get("reason")]
        assert "has filled" in settled["reason"] and settled["volume"] == "0.10"


async def test_a_limit_order_cancelled_at_the_venue_is_unlinked_with_a_reason(tmp_path):
    conn = await paper()
    async with router_on(tmp_path, conn) as (router, mirror):
        order = await resting(router, conn)
        # Cancelled at the venue by someone else (a person on the platform, an expiry).
        conn.sim.execute(
            OrderIntent(IntentKind.CANCEL, "elsewhere", order.symbol, order.side, order_id=order.venue_order_id)
        )

        result = router.submit(close())
        await router.drain()
        assert router.links.of_account("a") == []
        record = router.outcomes.get(result.signal_id)
        assert record is not None
        outcome = record.follower("a")
        assert outcome.status == "skipped" and "no open position" in (outcome.reason or "")
        await mirror.flush()
        (unlinked,) = events(mirror, "position_unlinked")
        assert unlinked["reason"] == "the pending order ended unfilled at the venue"


async def test_a_fill_found_later_survives_a_restart(tmp_path):
    conn = await paper()
    async with router_on(tmp_path, conn) as (router, _):
        router.submit(limit_entry("1.07000"))
        await router.drain()
        conn.sim.set_price("EURUSD", D("1.06990"))
        # A modify reaches the pending leg, finds it filled, and moves the position's levels.
        router.submit(Signal(source="tv", action=Action.MODIFY, position_ref="p1", tps=(Level(D("1.08000")),)))
        await router.drain()
    (leg,) = load_journal(tmp_path / "journal").links.of_account("a")
    assert not leg.pending and leg.volume == D("0.10") and leg.position_id is not None
    (position,) = await conn.positions()
    assert position.position_id == leg.position_id and position.tp == D("1.08000")


async def test_a_close_over_a_partly_filled_order_cancels_the_rest_and_closes_the_filled_part(tmp_path):
    conn = await paper()
    async with router_on(tmp_path, conn) as (router, mirror):
        order = await resting(router, conn)
        conn.sim.fill_part(order.venue_order_id, D("0.04"))  # a thin market fills 0.04 of the 0.10

        router.submit(close())
        await router.drain()
        # Before: the rest was cancelled and the leg unlinked, leaving 0.04 open with no link.
        assert conn.sim.pending_orders() == [] and await conn.positions() == []
        assert router.links.of_account("a") == []
        await mirror.flush()
        (settled,) = [e for e in events(mirror, "position_linked") if e.get("reason")]
        assert settled["reason"].startswith("0.04 of the pending order's 0.10 filled") and settled["volume"] == "0.04"
        (closed,) = events(mirror, "position_closed")
        assert closed["volume"] == "0.04"
    assert load_journal(tmp_path / "journal").links.of_account("a") == []


async def test_a_cancel_of_a_partly_filled_order_keeps_the_filled_part_linked_across_a_restart(tmp_path):
    conn = await paper()
    async with router_on(tmp_path, conn) as (router, _):
        order = await resting(router, conn)
        conn.sim.fill_part(order.venue_order_id, D("0.04"))
        router.submit(Signal(source="tv", action=Action.CANCEL, position_ref="p1"))
        await router.drain()
        (leg,) = router.links.of_account("a")
        assert not leg.pending and leg.volume == D("0.04")
    (rebuilt,) = load_journal(tmp_path / "journal").links.of_account("a")
    assert not rebuilt.pending and rebuilt.volume == D("0.04") and rebuilt.position_id == leg.position_id

    async with router_on(tmp_path, conn) as (router, _):
        router.submit(close())  # after the restart the filled part is closed as the position it is
        await router.drain()
        assert await conn.positions() == [] and router.links.of_account("a") == []


class FillsBeforeTheCancel(PaperConnector):
    """A venue where a resting order fills while its cancel is on the way (the cancel is refused)."""

    async def submit(self, intent: OrderIntent) -> ExecutionReport:
        if intent.kind is IntentKind.CANCEL:
            self.sim.set_price("EURUSD", D("1.06990"))
        return await super().submit(intent)


class LookupsFail(PaperConnector):
    """A venue that cannot be asked about orders for a while."""

    lookups_fail = False

    async def order_by_client_id(self, client_order_id: str, symbol: str | None = None) -> ExecutionReport | None:
        if self.lookups_fail:
            raise TransientError("order lookup timed out")
        return await super().order_by_client_id(client_order_id, symbol)


async def test_an_order_that_fills_while_its_cancel_is_on_the_way_is_closed(tmp_path):
    conn = FillsBeforeTheCancel(PaperConfig.from_mapping("a", {}, prefix=""))
    await conn.start()
    async with router_on(tmp_path, conn) as (router, _):
        router.submit(limit_entry("1.07000"))
        await router.drain()
        result = router.submit(close())
        await router.drain()
        # Before: the refused cancel left the filled position open and linked as a pending order.
        assert await conn.positions() == [] and router.links.of_account("a") == []
        record = router.outcomes.get(result.signal_id)
        assert record is not None and record.follower("a").status == "closed"


async def test_a_fill_the_venue_could_not_be_asked_about_after_a_cancel_is_found_later(tmp_path):
    conn = LookupsFail(PaperConfig.from_mapping("a", {}, prefix=""))
    await conn.start()
    async with router_on(tmp_path, conn) as (router, _):
        order = await resting(router, conn)
        conn.sim.fill_part(order.venue_order_id, D("0.04"))
        conn.lookups_fail = True
        router.submit(close())
        await router.drain()
        assert conn.sim.pending_orders() == []  # the rest is cancelled ...
        (leg,) = router.links.of_account("a")  # ... and what it filled is not known yet
        assert leg.pending
    (rebuilt,) = load_journal(tmp_path / "journal").links.of_account("a")
    assert rebuilt.pending

    conn.lookups_fail = False
    async with router_on(tmp_path, conn) as (router, _):
        router.submit(close())
        await router.drain()
        assert await conn.positions() == [] and router.links.of_account("a") == []


class StaleAfterCancel(PaperConnector):
    """A venue that takes a cancel at once but goes on listing the order as resting (as one whose
    cancel is processed after its answer can)."""

    cancelled: frozenset[str] = frozenset()

    async def submit(self, intent: OrderIntent) -> ExecutionReport:
        report = await super().submit(intent)
        if intent.kind is IntentKind.CANCEL:
            orders = self.sim.orders()
            self.cancelled = frozenset(o.client_order_id for o in orders if o.venue_order_id == intent.order_id)
        return report

    async def order_by_client_id(self, client_order_id: str, symbol: str | None = None) -> ExecutionReport | None:
        report = await super().order_by_client_id(client_order_id, symbol)
        if report is not None and client_order_id in self.cancelled:
            return replace(report, status=ReportStatus.ACCEPTED)
        return report


async def test_a_reverse_over_a_cancelled_order_the_venue_still_lists_goes_ahead(tmp_path):
    conn = StaleAfterCancel(PaperConfig.from_mapping("a", {}, prefix=""))
    await conn.start()
    async with router_on(tmp_path, conn) as (router, _):
        order = await resting(router, conn)
        conn.sim.fill_part(order.venue_order_id, D("0.04"))
        router.submit(Signal(source="tv", action=Action.REVERSE, symbol="EURUSD", side=Side.SELL, volume=D("0.1")))
        await router.drain()
        # The venue took the cancel: the 0.04 that filled is closed and the short opened.
        assert [(p.side, p.volume) for p in await conn.positions()] == [(Side.SELL, D("0.10"))]
        assert [leg.side for leg in router.links.of_account("a")] == [Side.SELL]


async def test_a_target_cancels_a_resting_entry_on_its_other_side(tmp_path):
    conn = await paper()
    async with router_on(tmp_path, conn) as (router, _):
        router.submit(limit_entry("1.10000", Side.SELL))
        await router.drain()
        assert len(conn.sim.pending_orders()) == 1
        target = Signal(
            source="tv", action=Action.TARGET, symbol="EURUSD", volume=D("0.1"), volume_kind=VolumeKind.TARGET
        )
        router.submit(target)
        await router.drain()
        # Before: the sell limit kept resting beside the long, to open a short when it filled.
        assert conn.sim.pending_orders() == []
        assert [(p.side, p.volume) for p in await conn.positions()] == [(Side.BUY, D("0.10"))]
