"""Adoption at start: orders a venue holds under Copier's client id prefix that the journal lost are
journaled, logged and linked; known, foreign and derived ids are left alone. Paper venues (in this
process) stand in for the venue; the daemon-level test with simulator processes is in
tests/e2e/test_adoption.py."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from connectors.paper import PaperConfig, PaperConnector, PaperVenue
from copier.journal import Journal, read_records
from copier.recovery import (
    ADOPT_EMPTY_JOURNAL_MS,
    ADOPT_HISTORY_MS,
    ADOPT_MARGIN_MS,
    ADOPTED_SOURCE,
    ADOPTION_REASON,
    Adoption,
    adoption_since,
    load_journal,
    resume,
)
from copier.store import Store
from core.enums import Action, OrderType, Side
from core.mirror import MirrorLog
from core.orders import IntentKind, OrderIntent, client_order_id
from core.router import Route, Router
from core.signal import Signal

D = Decimal


def cid(tag: str, leg: int = 0) -> str:
    return client_order_id("elsewhere", tag, "route", leg)


def foreign(tag: str) -> str:
    return "zz" + cid(tag)[2:]


def open_intent(order_id: str, volume: str = "0.10", **kw: Any) -> OrderIntent:
    return OrderIntent(
        kind=IntentKind.OPEN, client_order_id=order_id, symbol="EURUSD", side=Side.BUY, volume=D(volume), **kw
    )


def close_intent(order_id: str, position_id: str | None, volume: str) -> OrderIntent:
    return OrderIntent(
        kind=IntentKind.CLOSE,
        client_order_id=order_id,
        symbol="EURUSD",
        side=Side.BUY,
        volume=D(volume),
        position_id=position_id,
    )


@dataclass
class Started:
    router: Router
    journal: Journal
    mirror: MirrorLog
    adoption: Adoption
    connectors: dict[str, PaperConnector]

    def events(self, name: str) -> list[dict[str, Any]]:
        lines = self.mirror.path.read_bytes().splitlines() if self.mirror.path.exists() else []
        return [e for e in map(orjson.loads, lines) if e["event"] == name]


@asynccontextmanager
async def started(
    tmp: Path, venues: dict[str, PaperVenue], *, down: tuple[str, ...] = (), resumed: bool = False, start: int = 1
):
    """What the daemon builds at its ``start``-th start, on paper accounts backed by ``venues``
    (which outlive it); each start has a mirror log of its own."""
    journal_dir = tmp / "journal"
    recovered = load_journal(journal_dir)
    mirror = MirrorLog(tmp / f"mirror-{start}.jsonl", flush_interval=0.001)
    mirror.start()
    connectors = {name: PaperConnector(venue.config, sim=venue) for name, venue in venues.items()}
    for name, conn in connectors.items():
        if name not in down:
            await conn.start()
    journal = Journal(journal_dir)
    router = Router(
        routes=[Route("tv", name) for name in venues],
        connectors=connectors,
        mirror=mirror,
        journal=journal,
        links=recovered.links,
    )
    adoption = Adoption(recovered, journal, router, mirror, attempts=1)
    if resumed:
        resume(recovered.state, router, mirror)
    try:
        yield Started(router, journal, mirror, adoption, connectors)
    finally:
        adoption.close()
        await router.drain()
        await router.stop()
        journal.close()
        await mirror.close()


def adopted_records(tmp: Path) -> dict[str, dict[str, Any]]:
    return {r["cid"]: r for r in read_records(tmp / "journal") if r.get("t") == "adopted"}


def venue(name: str = "a", **options: Any) -> PaperVenue:
    return PaperVenue(PaperConfig.from_mapping(name, options, prefix=""))


async def test_unknown_copier_orders_are_adopted_journaled_logged_and_linked(tmp_path):
    paper = venue()
    # Orders Copier sent before a power cut took their journal records:
    filled = paper.execute(open_intent(cid("filled"), "0.10"))  # its position P1 is still open
    price = paper.price("EURUSD")
    assert price is not None
    resting = paper.execute(open_intent(cid("resting"), "0.05", order_type=OrderType.LIMIT, price=price - D("0.01")))
    gone = paper.execute(open_intent(cid("gone"), "0.10"))
    paper.execute(close_intent(foreign("closed-by-hand"), gone.position_id, "0.10"))
    by_hand = paper.execute(open_intent(foreign("by-hand"), "0.20"))
    closing = paper.execute(close_intent(cid("closing"), by_hand.position_id, "0.10"))
    # Orders that are not adoptable: one the journal knows, a derived id, and the user's own.
    paper.execute(open_intent(cid("known"), "0.10"))
    paper.execute(open_intent(cid("filled") + "-sl", "0.10"))
    with Journal(tmp_path / "journal") as journal:
        signal = Signal(source="tv", action=Action.OPEN, symbol="EURUSD", side=Side.BUY, volume=D("0.1"))
        journal.signal(signal, ["a"])
        journal.outcome(signal.id, "a", "tv>a", 0, open_intent(cid("known")), "paper", None, "filled")

    async with started(tmp_path, {"a": paper}) as run:
        summary = await run.adoption.run()
        await run.mirror.flush()

        assert summary["adopted"] == 4 and summary["linked"] == 2 and summary["failed"] == []
        events = {e["client_order_id"]: e for e in run.events("order_adopted")}
        assert set(events) == {cid("filled"), cid("resting"), cid("gone"), cid("closing")}
        first = events[cid("filled")]
        assert first["account"] == "a" and first["venue"] == "paper" and first["symbol"] == "EURUSD"
        assert first["side"] == "buy" and D(first["volume"]) == D("0.10") and first["status"] == "filled"
        assert first["venue_order_id"] == filled.venue_order_id and first["reason"] == ADOPTION_REASON
        assert events[cid("closing")]["venue_order_id"] == closing.venue_order_id
        assert events[cid("closing")]["detail"]["kind"] == "close"
        assert "no longer open" in events[cid("gone")]["detail"]["link"]
        assert run.events("adoption")[-1]["detail"]["adopted"] == 4

        records = adopted_records(tmp_path)
        assert set(records) == set(events)
        assert records[cid("filled")]["sig"] is None
        assert records[cid("filled")]["vid"] == filled.venue_order_id
        assert records[cid("filled")]["pos"] == filled.position_id
        assert records[cid("closing")]["kind"] == "close" and "link" not in records[cid("closing")]
        assert "link" not in records[cid("gone")]

        legs = {leg.client_order_id: leg for leg in run.router.links.find("a", ADOPTED_SOURCE, pending=None)}
        assert set(legs) == {cid("filled"), cid("resting")}
        assert legs[cid("filled")].volume == D("0.10") and not legs[cid("filled")].pending
        assert legs[cid("filled")].position_id == filled.position_id
        assert legs[cid("resting")].pending and legs[cid("resting")].order_id == resting.venue_order_id
        # A signal of a real source never acts on an adopted link.
        assert run.router.links.find("a", "tv", pending=None) == []
        linked = [e["client_order_id"] for e in run.events("position_linked")]
        assert sorted(linked) == sorted(legs)
    link_records = [r for r in read_records(tmp_path / "journal") if r.get("t") == "link"]
    assert {(r["cid"], r["source"]) for r in link_records} == {(c, ADOPTED_SOURCE) for c in legs}


async def test_a_second_start_adopts_nothing_again_and_keeps_the_links(tmp_path):
    paper = venue()
    opened = paper.execute(open_intent(cid("once"), "0.10"))
    async with started(tmp_path, {"a": paper}) as run:
        assert (await run.adoption.run())["adopted"] == 1

    recovered = load_journal(tmp_path / "journal")
    legs = recovered.links.find("a", ADOPTED_SOURCE)
    assert [(leg.client_order_id, leg.volume, leg.position_id) for leg in legs] == [
        (cid("once"), D("0.10"), opened.position_id)
    ]
    async with started(tmp_path, {"a": paper}, start=2) as run:
        summary = await run.adoption.run()
        await run.mirror.flush()
        assert summary["adopted"] == 0
        assert run.events("order_adopted") == []
        assert [leg.client_order_id for leg in run.router.links.find("a", ADOPTED_SOURCE)] == [cid("once")]
    assert list(adopted_records(tmp_path)) == [cid("once")]


async def test_a_position_other_links_account_for_is_not_linked_twice(tmp_path):
    paper = venue("a", mode="netting")
    paper.execute(open_intent(cid("tracked"), "0.10"))
    paper.execute(open_intent(cid("lost"), "0.10"))
    with Journal(tmp_path / "journal") as journal:
        signal = Signal(source="tv", action=Action.OPEN, symbol="EURUSD", side=Side.BUY, volume=D("0.1"))
        journal.signal(signal, ["a"])
        link = {"op": "open", "source": "tv", "key": "EURUSD:buy", "canonical": "EURUSD", "source_side": "buy"}
        journal.outcome(
            signal.id, "a", "tv>a", 0, open_intent(cid("tracked")), "paper", link, "filled",
            position_id="EURUSD", filled=D("0.10"), price=D("1.1"),
        )
        journal.done(signal.id, "a", "filled")
    paper.execute(close_intent(foreign("partly-by-hand"), "EURUSD", "0.15"))

    async with started(tmp_path, {"a": paper}) as run:
        summary = await run.adoption.run()
        # 0.05 is left and the tracked link claims 0.10 of it: nothing is left for the lost order.
        assert summary == {**summary, "adopted": 1, "linked": 0}
        assert run.router.links.find("a", ADOPTED_SOURCE) == []


async def test_a_venue_that_cannot_be_asked_is_logged_and_the_others_are_adopted(tmp_path):
    up, down = venue("a"), venue("b")
    up.execute(open_intent(cid("on-a"), "0.10"))
    down.execute(open_intent(cid("on-b"), "0.10"))
    async with started(tmp_path, {"a": up, "b": down}, down=("b",)) as run:
        summary = await run.adoption.run()
        await run.mirror.flush()
        assert summary["failed"] == ["b"] and summary["adopted"] == 1
        [failed] = run.events("adoption_failed")
        assert failed["account"] == "b" and failed["venue"] == "paper"
        assert "paper account b is down" in failed["reason"]
        assert [e["client_order_id"] for e in run.events("order_adopted")] == [cid("on-a")]
        assert run.events("adoption")[-1]["status"] == "partial"
    # Not adopted means not journaled: the next start asks again.
    async with started(tmp_path, {"a": up, "b": down}, start=2) as run:
        summary = await run.adoption.run()
        assert summary["adopted"] == 1 and summary["failed"] == []
    assert sorted(adopted_records(tmp_path)) == sorted([cid("on-a"), cid("on-b")])


async def test_orders_this_run_journals_are_never_taken_for_lost_ones(tmp_path):
    """A recovered follower's order is at the venue but journaled only when its job runs; the job
    waits behind a slow one, so the venue is asked first. Adoption waits for the jobs."""
    paper = venue("a", latency_us=200_000)
    slow = Signal(source="tv", action=Action.OPEN, symbol="EURUSD", side=Side.BUY, volume=D("0.1"), origin_id="s1")
    sent = Signal(source="tv", action=Action.OPEN, symbol="EURUSD", side=Side.BUY, volume=D("0.2"), origin_id="s2")
    with Journal(tmp_path / "journal") as journal:
        journal.signal(slow, ["a"])
        journal.signal(sent, ["a"])
    # The second signal's order reached the venue before the crash; its outcome never reached the journal.
    at_venue = client_order_id("tv", sent.dedupe_key, "tv>a", 0)
    paper.execute(open_intent(at_venue, "0.20"))

    async with started(tmp_path, {"a": paper}, resumed=True) as run:
        summary = await run.adoption.run()
        await run.mirror.flush()
        assert summary["adopted"] == 0
        assert run.events("order_adopted") == []
        assert [e["client_order_id"] for e in run.events("order_reconciled")] == [at_venue]
        assert run.router.links.find("a", ADOPTED_SOURCE) == []
        assert {leg.client_order_id for leg in run.router.links.find("a", "tv")} >= {at_venue}
    assert adopted_records(tmp_path) == {}


def test_the_window_reaches_before_the_journal_s_last_record():
    now = 1_700_000_000_000
    assert adoption_since(None, now) == now - ADOPT_EMPTY_JOURNAL_MS
    assert adoption_since((now - 60_000) * 1000, now) == now - 60_000 - ADOPT_MARGIN_MS
    assert adoption_since((now - 30 * 86_400_000) * 1000, now) == now - ADOPT_HISTORY_MS
    assert adoption_since((now + 60_000) * 1000, now) == now - ADOPT_MARGIN_MS  # a clock that ran ahead


async def test_the_store_projects_adopted_orders_and_their_links(tmp_path):
    paper = venue()
    opened = paper.execute(open_intent(cid("stored"), "0.10"))
    async with started(tmp_path, {"a": paper}) as run:
        await run.adoption.run()
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/copier.db")
    try:
        await store.migrate()
        records = list(read_records(tmp_path / "journal"))
        await store.apply(records)
        await store.apply(records)  # idempotent, like every journal record
        order = await store.order(cid("stored"))
        assert order is not None
        assert order["signal_id"] is None and order["account"] == "a" and order["venue"] == "paper"
        assert order["status"] == "filled" and order["kind"] == "open" and order["volume"] == D("0.10")
        assert order["venue_order_id"] == opened.venue_order_id and order["reason"] == ADOPTION_REASON
        assert [f["volume"] for f in await store.fills(cid("stored"))] == [D("0.10")]
        [link] = await store.open_links()
        assert (link.client_order_id, link.source, link.volume) == (cid("stored"), ADOPTED_SOURCE, D("0.10"))
    finally:
        await store.close()
