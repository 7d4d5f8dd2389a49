"""The SQL store on every backend: migrations, projections of journal records, queries."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text

from copier.journal import Journal
from copier.store import (
    Store,
    account_record,
    audit_record,
    fill_record,
    key_digest,
    link_record,
    route_record,
    source_record,
)
from copier.store.migrations import head
from copier.store.models import Base
from core.enums import Action, Side
from core.links import Leg
from core.orders import IntentKind, OrderIntent, client_order_id
from core.signal import Signal
from tests.store.conftest import Backend, open_store


def _signal(origin: str = "a1", volume: str = "0.123456789") -> Signal:
    return Signal(
        source="tv",
        action=Action.OPEN,
        symbol="EURUSD",
        side=Side.BUY,
        volume=Decimal(volume),
        origin_id=origin,
        raw='{"ticker":"EURUSD","action":"buy"}',
        received_at=datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
    )


def _intent(signal: Signal, account: str, leg: int = 0, volume: str = "0.12") -> OrderIntent:
    cid = client_order_id(signal.source, signal.dedupe_key, f"tv>{account}", leg)
    return OrderIntent(IntentKind.OPEN, cid, "EURUSD", Side.BUY, Decimal(volume), price=Decimal("1.07251"))


def _journal_records(tmp_path: Path, signal: Signal) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """One signal to three followers: a filled, b sent with no answer yet, c skipped."""
    records: list[dict[str, Any]] = []
    with Journal(tmp_path / "journal", fsync="never", listener=records.append) as journal:
        journal.signal(signal, ["paper-a", "paper-b", "paper-c"])
        a, b = _intent(signal, "paper-a"), _intent(signal, "paper-b", volume="0.06")
        journal.intent(signal.id, "paper-a", "tv>paper-a", 0, a, venue="paper")
        journal.sent(signal.id, a.client_order_id)
        journal.intent(signal.id, "paper-b", "tv>paper-b", 0, b, venue="paper")
        journal.sent(signal.id, b.client_order_id)
        journal.result(
            signal.id,
            a.client_order_id,
            "filled",
            venue_order_id="v-1",
            position_id="p-1",
            filled=Decimal("0.12"),
            price=Decimal("1.07253"),
            latency_us=412,
            ack_us=980,
        )
        journal.done(signal.id, "paper-a", "filled")
        journal.done(signal.id, "paper-c", "skipped", "EURUSD is not in paper-c's allowed symbols")
    return records, {"a": a.client_order_id, "b": b.client_order_id}


async def test_migrations_are_recorded_and_idempotent(backend: Backend) -> None:
    async with open_store(backend, migrate=False) as store:
        assert await store.version() == 0
        assert await store.migrate() == [head()]
        assert await store.migrate() == []
        assert await store.version() == head()
        async with store.engine.connect() as conn:
            rows = (await conn.execute(text("SELECT version, description FROM schema_version"))).all()
        assert [r.version for r in rows] == [head()]


async def test_concurrent_starts_migrate_once(backend: Backend) -> None:
    async with open_store(backend, migrate=False) as first:
        second = await Store.open(backend.url, schema=backend.schema)
        try:
            results = await asyncio.gather(first.migrate(), second.migrate())
        finally:
            await second.close()
        assert sorted(results) == [[], [head()]]
        assert await first.count("signals") == 0


async def test_migrated_schema_matches_the_models(backend: Backend) -> None:
    async with open_store(backend) as store:

        def describe(sync_conn: Any) -> dict[str, Any]:
            insp = inspect(sync_conn)
            return {
                name: (
                    {c["name"]: c["nullable"] for c in insp.get_columns(name)},
                    sorted(insp.get_pk_constraint(name)["constrained_columns"]),
                    sorted(i["name"] for i in insp.get_indexes(name) if i["name"].startswith("ix_")),
                )
                for name in insp.get_table_names()
            }

        async with store.engine.connect() as conn:
            found = await conn.run_sync(describe)
        for table in Base.metadata.sorted_tables:
            columns, pk, indexes = found[table.name]
            assert columns == {c.name: c.nullable for c in table.columns}, table.name
            assert pk == sorted(c.name for c in table.primary_key.columns), table.name
            assert indexes == sorted(i.name for i in table.indexes if i.name and i.name.startswith("ix_")), table.name
        assert set(found) == {t.name for t in Base.metadata.sorted_tables}


async def test_journal_records_project_into_signals_orders_and_fills(backend: Backend, tmp_path: Path) -> None:
    signal = _signal()
    records, cids = _journal_records(tmp_path, signal)
    async with open_store(backend) as store:
        await store.apply(records)

        row = await store.signal(signal.id)
        assert row is not None
        assert (row["source"], row["origin_id"], row["action"], row["symbol"], row["side"]) == (
            "tv",
            "a1",
            "open",
            "EURUSD",
            "buy",
        )
        assert row["volume"] == Decimal("0.123456789") and isinstance(row["volume"], Decimal)
        assert row["received_at"] == signal.received_at
        assert row["raw"] == signal.raw
        assert row["payload"]["id"] == signal.id
        assert row["status"] == "accepted"
        followers = {f["account"]: (f["status"], f["reason"]) for f in row["followers"]}
        assert followers == {
            "paper-a": ("filled", None),
            "paper-b": ("queued", None),
            "paper-c": ("skipped", "EURUSD is not in paper-c's allowed symbols"),
        }

        orders = await store.orders_for_signal(signal.id)
        assert [(o["account"], o["status"]) for o in orders] == [("paper-a", "filled"), ("paper-b", "sent")]
        filled = orders[0]
        assert filled["client_order_id"] == cids["a"]
        assert (filled["venue"], filled["route"], filled["leg"], filled["kind"]) == ("paper", "tv>paper-a", 0, "open")
        assert (filled["volume"], filled["price"]) == (Decimal("0.12"), Decimal("1.07251"))
        assert (filled["venue_order_id"], filled["position_id"]) == ("v-1", "p-1")
        assert (filled["latency_us"], filled["ack_us"]) == (412, 980)
        assert filled["updated_at"].tzinfo is not None

        unfinished = await store.orders_unfinished()
        assert [o["client_order_id"] for o in unfinished] == [cids["b"]]
        fills = await store.fills(cids["a"])
        assert [(f["volume"], f["price"], f["venue_order_id"]) for f in fills] == [
            (Decimal("0.12"), Decimal("1.07253"), "v-1")
        ]
        assert await store.signal_by_origin("tv", "a1") == {k: v for k, v in row.items() if k != "followers"}
        assert await store.signal("nope") is None


async def test_reprojection_never_moves_an_order_backwards(backend: Backend, tmp_path: Path) -> None:
    signal = _signal()
    records, cids = _journal_records(tmp_path, signal)
    async with open_store(backend) as store:
        # One record per batch, then everything again in one batch (what a restart's re-projection does).
        for record in records:
            await store.apply([record])
        before = {t: await store.rows(t) for t in ("signals", "signal_followers", "orders", "fills")}
        await store.apply(records)
        await store.apply(records[:3])
        after = {t: await store.rows(t) for t in ("signals", "signal_followers", "orders", "fills")}
        assert after == before
        assert (await store.order(cids["a"]) or {})["status"] == "filled"

        # Later: paper-b's outcome was unknown, then reconciled as filled.
        with Journal(tmp_path / "journal", fsync="never") as journal:
            more: list[dict[str, Any]] = []
            journal.listener = more.append
            journal.result(signal.id, cids["b"], "unknown", reason="connection dropped after send")
            journal.result(signal.id, cids["b"], "filled", venue_order_id="v-2", filled=Decimal("0.06"))
        await store.apply(more[:1])
        assert (await store.order(cids["b"]) or {})["status"] == "unknown"
        assert [o["client_order_id"] for o in await store.orders_unfinished()] == [cids["b"]]
        await store.apply(more[1:])
        await store.apply(more[:1])
        order_b = await store.order(cids["b"]) or {}
        assert (order_b["status"], order_b["venue_order_id"]) == ("filled", "v-2")
        assert await store.orders_unfinished() == []


async def test_position_links_round_trip(backend: Backend) -> None:
    d = Decimal
    buy, sell = Side.BUY, Side.SELL
    legs = [
        Leg(
            "paper-a", "tv", "EURUSD:buy", "EURUSD.m", "EURUSD", buy, buy, d("0.12"), "p-1", None, "cpaaa", d("1.0725")
        ),
        Leg(
            "paper-b", "tv", "EURUSD:buy", "EURUSD", "EURUSD", sell, buy, d("0.06"), None, "o-9", "cpbbb", pending=True
        ),
        Leg("paper-a", "tv", "XAUUSD:sell", "XAUUSD", "XAUUSD", sell, sell, d("1"), "p-3", None, "cpccc", d("2301.5")),
    ]
    async with open_store(backend) as store:
        for leg in legs:
            await store.apply([link_record(leg)])
        assert await store.open_links() == legs

        # A partial close resizes the first, the third closes; the order of opening is kept.
        legs[0].volume = Decimal("0.07")
        await store.apply([link_record(legs[0]), link_record(legs[2], closed=True)])
        assert await store.open_links() == legs[:2]
        rows = {r["client_order_id"]: r for r in await store.rows("position_links")}
        assert rows["cpccc"]["closed"] is True and rows["cpaaa"]["volume"] == Decimal("0.07")
        assert rows["cpaaa"]["opened_at"] < rows["cpbbb"]["opened_at"] <= rows["cpaaa"]["updated_at"]


async def test_api_keys_are_kept_as_digests(backend: Backend) -> None:
    key = "k3y-that-must-never-be-stored-9f1c"
    async with open_store(backend) as store:
        await store.put_api_key("ops", key, ["read", "trade"])
        assert await store.api_key(key) == ("ops", frozenset({"read", "trade"}))
        assert await store.api_key(key + "x") is None
        rows = await store.rows("api_keys")
        assert rows[0]["digest"] == key_digest(key)
        assert key not in repr(rows)
        await store.put_api_key("ops", key, ["read"])
        assert await store.api_key(key) == ("ops", frozenset({"read"}))
        assert await store.remove_api_key("ops") is True
        assert await store.api_key(key) is None


async def test_config_audit_and_fill_records(backend: Backend) -> None:
    async with open_store(backend) as store:
        event = audit_record("kill_switch", actor="ops", target="paper-a", detail={"on": True})
        await store.apply(
            [
                account_record("paper-a", "paper", settings={"balance": "10000"}),
                source_record("tv", "tradingview", {"allow_ips": ["52.89.214.238"]}),
                route_record("tv>paper-a", "tv", "paper-a", sizing={"mode": "multiplier", "factor": "1"}),
                event,
                event,
                fill_record("cpaaa", "t-1", Decimal("0.05"), Decimal("1.1"), "v-1"),
                fill_record("cpaaa", "t-2", Decimal("0.07"), Decimal("1.2"), "v-1"),
            ]
        )
        await store.apply([account_record("paper-a", "paper", enabled=False, settings={"balance": "20000"})])
        accounts = await store.rows("accounts")
        assert [(a["name"], a["venue"], a["enabled"], a["settings"]) for a in accounts] == [
            ("paper-a", "paper", False, {"balance": "20000"})
        ]
        assert (await store.rows("sources"))[0]["settings"] == {"allow_ips": ["52.89.214.238"]}
        assert (await store.rows("routes"))[0]["sizing"] == {"mode": "multiplier", "factor": "1"}
        audit = await store.audit_events()
        assert [(a["action"], a["actor"], a["target"], a["detail"]) for a in audit] == [
            ("kill_switch", "ops", "paper-a", {"on": True})
        ]
        assert [f["fill_id"] for f in await store.fills("cpaaa")] == ["t-1", "t-2"]


async def test_sqlite_store_runs_in_wal_mode(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/data/copier.db")
    try:
        await store.migrate()
        async with store.engine.connect() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
        assert mode == "wal"
        assert (tmp_path / "data" / "copier.db").exists()
    finally:
        await store.close()
