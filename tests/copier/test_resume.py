"""A signal that acts on several linked positions, cut off by a crash after some of its orders had
their outcome: planned again after the restart, it finishes the rest exactly once. The paper venue
in this process outlives the "crashed" router, as a real venue outlives the daemon."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from pathlib import Path

from connectors.paper import PaperConfig, PaperConnector
from copier.journal import Journal
from copier.recovery import load_journal, resume
from core.enums import Action, OrderType, Side, VolumeKind
from core.errors import VenueRejected
from core.mirror import MirrorLog
from core.orders import ExecutionReport, IntentKind, OrderIntent
from core.router import Route, Router
from core.signal import Signal
from core.sizing import MaxPolicy, Sizing

D = Decimal

SPLIT = Sizing(max_volume=D("0.1"), max_policy=MaxPolicy.SPLIT)  # an open of 0.3 is three 0.1 positions


class Venue(PaperConnector):
    """A paper account whose connection can hang (on the order of kind ``hang_on`` that follows
    ``before_hang`` others of its kind, or on the first order lookup after a cancel), refuse closes,
    or forget its orders."""

    hang_on: IntentKind | None = None
    before_hang = 0
    hang_after_cancel = False
    refuse_closes = 0
    forgets = False
    hung: asyncio.Event

    def hang(self, kind: IntentKind | None, after: int = 0, *, after_cancel: bool = False) -> None:
        self.hang_on, self.before_hang, self.hang_after_cancel = kind, after, after_cancel
        self.hung = asyncio.Event()

    async def _hang(self) -> None:
        self.hung.set()
        await asyncio.Event().wait()  # the crash comes while this waits

    async def submit(self, intent: OrderIntent) -> ExecutionReport:
        if intent.kind is self.hang_on:
            if self.before_hang == 0:
                await self._hang()
            self.before_hang -= 1
        if intent.kind is IntentKind.CLOSE and self.refuse_closes:
            self.refuse_closes -= 1
            raise VenueRejected("reduce-only order refused", "REDUCE_ONLY")
        report = await super().submit(intent)
        if intent.kind is IntentKind.CANCEL and self.hang_after_cancel:
            self.hang_after_cancel, self.hang_on = False, IntentKind.CANCEL  # the next lookup hangs
        return report

    async def order_by_client_id(self, client_order_id: str, symbol: str | None = None) -> ExecutionReport | None:
        if self.hang_on is IntentKind.CANCEL and not self.hang_after_cancel:
            await self._hang()
        return None if self.forgets else await super().order_by_client_id(client_order_id, symbol)


async def run(tmp: Path, conn: Venue, signals: list[Signal], *, crash: bool) -> Router:
    """One daemon life: resume what the journal left unfinished, take ``signals``, and either
    finish (``crash=False``) or stop dead once the venue hangs."""
    mirror = MirrorLog(tmp / "mirror.jsonl", flush_interval=0.001)
    mirror.start()
    recovered = load_journal(tmp / "journal")
    journal = Journal(tmp / "journal")
    router = Router(
        routes=[Route("tv", "a", sizing=SPLIT)],
        connectors={"a": conn},
        mirror=mirror,
        journal=journal,
        links=recovered.links,
    )
    resume(recovered.state, router, mirror)
    for signal in signals:
        router.submit(signal)
    if crash:
        await asyncio.wait_for(conn.hung.wait(), 10)
        conn.hang_on = None  # the venue answers again after the restart
    else:
        await router.drain()
    await router.stop()
    journal.close()
    await mirror.close()
    return router


def open_three() -> Signal:
    return Signal(source="tv", action=Action.OPEN, symbol="EURUSD", side=Side.BUY, volume=D("0.3"), position_ref="p")


def closes_sent(conn: PaperConnector) -> Counter[str]:
    """Close orders the venue took, by the position they closed."""
    return Counter(o.position_id or "" for o in conn.sim.orders() if o.kind is IntentKind.CLOSE)


async def started(tmp: Path) -> Venue:
    conn = Venue(PaperConfig.from_mapping("a", {}, prefix=""))
    await conn.start()
    await run(tmp, conn, [open_three()], crash=False)
    assert sorted(p.position_id for p in await conn.positions()) == ["P1", "P2", "P3"]
    return conn


async def test_a_close_cut_off_by_a_crash_closes_every_remaining_position_once(tmp_path):
    conn = await started(tmp_path)
    conn.hang(IntentKind.CLOSE, after=1)  # P1 closes, the close of P2 hangs, the daemon dies
    await run(tmp_path, conn, [Signal(source="tv", action=Action.CLOSE, position_ref="p")], crash=True)
    assert [p.position_id for p in await conn.positions()] == ["P2", "P3"]

    router = await run(tmp_path, conn, [], crash=False)
    # Before: the ids went by the position's place in the list, so after the restart P2 took the
    # id P1's close had, found it final, and was left open.
    assert await conn.positions() == []
    assert closes_sent(conn) == {"P1": 1, "P2": 1, "P3": 1}
    assert router.links.of_account("a") == []


async def test_a_partial_close_by_volume_cut_off_by_a_crash_takes_the_volume_once(tmp_path):
    conn = await started(tmp_path)
    conn.hang(IntentKind.CLOSE, after=1)  # 0.1 of the 0.15 comes off P1, the close of P2 hangs
    close = Signal(
        source="tv", action=Action.CLOSE_PART, position_ref="p", volume=D("0.15"), volume_kind=VolumeKind.LOTS
    )
    await run(tmp_path, conn, [close], crash=True)

    router = await run(tmp_path, conn, [], crash=False)
    # The 0.05 left of the signal comes off P2: neither a second 0.15 nor P2 passed over for P3.
    assert {p.position_id: p.volume for p in await conn.positions()} == {"P2": D("0.05"), "P3": D("0.10")}
    assert sorted(leg.volume for leg in router.links.of_account("a")) == [D("0.05"), D("0.10")]


async def test_a_reverse_whose_first_close_was_refused_before_a_crash_does_not_open_after_it(tmp_path):
    conn = await started(tmp_path)
    conn.refuse_closes = 1  # the close of P1 is refused and journaled as such
    conn.hang(IntentKind.CLOSE, after=1)  # the close of P2 hangs, the daemon dies
    reverse = Signal(source="tv", action=Action.REVERSE, symbol="EURUSD", side=Side.SELL, volume=D("0.1"))
    await run(tmp_path, conn, [reverse], crash=True)

    await run(tmp_path, conn, [], crash=False)
    # P2 and P3 close after the restart; P1 is still long, so the short is not opened beside it.
    assert [(p.position_id, p.side) for p in await conn.positions()] == [("P1", Side.BUY)]


async def test_a_target_split_into_orders_and_cut_off_by_a_crash_reaches_its_size(tmp_path):
    conn = Venue(PaperConfig.from_mapping("a", {}, prefix=""))
    await conn.start()
    conn.hang(IntentKind.OPEN, after=1)  # the first 0.1 of the 0.3 opens, the second hangs
    target = Signal(source="tv", action=Action.TARGET, symbol="EURUSD", volume=D("0.3"), volume_kind=VolumeKind.TARGET)
    await run(tmp_path, conn, [target], crash=True)
    assert [p.volume for p in await conn.positions()] == [D("0.10")]

    await run(tmp_path, conn, [], crash=False)
    # Before: the remaining 0.2 was planned from the first order's id again, found it final, and
    # only 0.1 of it was sent.
    assert sum(p.volume for p in await conn.positions()) == D("0.30")


async def test_a_cancel_done_before_a_crash_unlinks_an_order_the_venue_no_longer_lists(tmp_path):
    conn = Venue(PaperConfig.from_mapping("a", {}, prefix=""))
    await conn.start()
    limit = Signal(
        source="tv",
        action=Action.OPEN,
        symbol="EURUSD",
        side=Side.BUY,
        volume=D("0.1"),
        order_type=OrderType.LIMIT,
        price=D("1.07000"),
        position_ref="p",
    )
    await run(tmp_path, conn, [limit], crash=False)
    conn.hang(None, after_cancel=True)  # the cancel goes through; asking what it filled hangs
    reverse = Signal(source="tv", action=Action.REVERSE, symbol="EURUSD", side=Side.SELL, volume=D("0.1"))
    await run(tmp_path, conn, [reverse], crash=True)
    assert conn.sim.pending_orders() == [] and await conn.positions() == []

    conn.forgets = True  # after the restart the venue's order history no longer has the order
    router = await run(tmp_path, conn, [], crash=False)
    # Before: asked about an order it did not list, the leg stayed pending and blocked the short.
    ((side, volume),) = [(p.side, p.volume) for p in await conn.positions()]
    assert (side, volume) == (Side.SELL, D("0.10"))
    assert [leg.source_side for leg in router.links.of_account("a")] == [Side.SELL]
