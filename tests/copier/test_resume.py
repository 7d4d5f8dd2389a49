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
from core.enums import Action, Side, VolumeKind
from core.mirror import MirrorLog
from core.orders import ExecutionReport, IntentKind, OrderIntent
from core.router import Route, Router
from core.signal import Signal
from core.sizing import MaxPolicy, Sizing

D = Decimal

SPLIT = Sizing(max_volume=D("0.1"), max_policy=MaxPolicy.SPLIT)  # an open of 0.3 is three 0.1 positions


class Venue(PaperConnector):
    """A paper account whose connection hangs before the order after ``closes_before_hang`` closes."""

    closes_before_hang: int | None = None
    hung: asyncio.Event

    async def submit(self, intent: OrderIntent) -> ExecutionReport:
        if intent.kind is IntentKind.CLOSE and self.closes_before_hang is not None:
            if self.closes_before_hang == 0:
                self.hung.set()
                await asyncio.Event().wait()  # the crash comes while this close waits
            self.closes_before_hang -= 1
        return await super().submit(intent)


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
    conn.closes_before_hang, conn.hung = 1, asyncio.Event()  # P1 closes, the close of P2 hangs, the daemon dies
    await run(tmp_path, conn, [Signal(source="tv", action=Action.CLOSE, position_ref="p")], crash=True)
    assert [p.position_id for p in await conn.positions()] == ["P2", "P3"]

    conn.closes_before_hang = None
    router = await run(tmp_path, conn, [], crash=False)
    # Before: the ids went by the position's place in the list, so after the restart P2 took the
    # id P1's close had, found it final, and was left open.
    assert await conn.positions() == []
    assert closes_sent(conn) == {"P1": 1, "P2": 1, "P3": 1}
    assert router.links.of_account("a") == []


async def test_a_partial_close_by_volume_cut_off_by_a_crash_takes_the_volume_once(tmp_path):
    conn = await started(tmp_path)
    conn.closes_before_hang, conn.hung = 1, asyncio.Event()  # 0.1 of the 0.15 comes off P1, the close of P2 hangs
    close = Signal(
        source="tv", action=Action.CLOSE_PART, position_ref="p", volume=D("0.15"), volume_kind=VolumeKind.LOTS
    )
    await run(tmp_path, conn, [close], crash=True)

    conn.closes_before_hang = None
    router = await run(tmp_path, conn, [], crash=False)
    # The 0.05 left of the signal comes off P2: neither a second 0.15 nor P2 passed over for P3.
    assert {p.position_id: p.volume for p in await conn.positions()} == {"P2": D("0.05"), "P3": D("0.10")}
    assert sorted(leg.volume for leg in router.links.of_account("a")) == [D("0.05"), D("0.10")]
