"""The queryable record: SQLAlchemy 2 (async) on SQLite (WAL) or PostgreSQL.

The hot path never awaits the store. A background projector hands it batches of records —
the journal's own (``signal``, ``intent``, ``sent``, ``result``, ``done``, ``adopted``) and the
store-only ones built by the ``*_record`` helpers below (``link``, ``fill``, ``audit``,
``account``, ``source``, ``route``) — and :meth:`Store.apply` turns each batch into a few upserts
in one transaction.
Applying the same records again changes nothing, and an order's status never moves backwards
(planned → sent → unknown → a final status), so the whole journal can be projected again after a
crash.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, case, event, func, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from copier.store import migrations
from copier.store.models import (
    Account,
    ApiKey,
    AuditEvent,
    Fill,
    OrderRow,
    PositionLink,
    RouteRow,
    SignalFollower,
    SignalRow,
    Source,
)
from core.enums import Side
from core.links import Leg

DB_FILE = "copier.db"

# Order statuses in the order they can follow each other; every other status is final.
STATUS_RANK = {"planned": 0, "sent": 1, "unknown": 2}
FINAL_RANK = 3
UNFINISHED = tuple(STATUS_RANK)


def default_url(data_dir: Path | str) -> str:
    """The embedded default: SQLite in the data folder."""
    return f"sqlite+aiosqlite:///{Path(data_dir).as_posix()}/{DB_FILE}"


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (``None`` for other backends and in-memory databases)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _ts(value: Any) -> datetime:
    """A record's ``ts`` (µs since the epoch) as a UTC datetime; now when absent."""
    if isinstance(value, int):
        return datetime.fromtimestamp(value // 1_000_000, UTC).replace(microsecond=value % 1_000_000)
    if isinstance(value, datetime):
        return value
    return datetime.now(UTC)


def _now_us() -> int:
    return int(datetime.now(UTC).timestamp() * 1_000_000)


def _dec(value: Any) -> Decimal | None:
    return Decimal(str(value)) if value is not None else None


def key_digest(key: str) -> str:
    """The SHA-256 hex digest under which an API key is stored."""
    return hashlib.sha256(key.encode()).hexdigest()


# -- record builders for what the journal does not carry -------------------------------------


def link_record(leg: Leg, *, closed: bool = False) -> dict[str, Any]:
    """A position link (created, resized or closed) for :meth:`Store.apply`."""
    return {
        "t": "link",
        "ts": _now_us(),
        "cid": leg.client_order_id,
        "account": leg.account,
        "source": leg.source,
        "source_key": leg.source_key,
        "symbol": leg.symbol,
        "canonical": leg.canonical,
        "side": leg.side.value,
        "source_side": leg.source_side.value,
        "volume": format(leg.volume, "f"),
        "position_id": leg.position_id,
        "order_id": leg.order_id,
        "open_price": format(leg.open_price, "f") if leg.open_price is not None else None,
        "pending": leg.pending,
        "closed": closed,
    }


def fill_record(
    client_order_id: str, fill_id: str, volume: Decimal, price: Decimal | None, venue_order_id: str | None = None
) -> dict[str, Any]:
    """One execution of an order."""
    return {
        "t": "fill",
        "ts": _now_us(),
        "cid": client_order_id,
        "fill_id": fill_id,
        "vid": venue_order_id,
        "filled": format(volume, "f"),
        "price": format(price, "f") if price is not None else None,
    }


def audit_record(
    action: str, *, actor: str | None = None, target: str | None = None, detail: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """An audit event (kill switch, account or key changes); its random id makes a replay idempotent."""
    return {
        "t": "audit",
        "ts": _now_us(),
        "id": secrets.token_hex(12),
        "action": action,
        "actor": actor,
        "target": target,
        "detail": dict(detail) if detail else None,
    }


def account_record(
    name: str, venue: str, *, enabled: bool = True, settings: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """An account's public description (never its secrets)."""
    return {"t": "account", "ts": _now_us(), "name": name, "venue": venue, "enabled": enabled, "settings": settings}


def source_record(name: str, kind: str, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A source's public description (never its token)."""
    return {"t": "source", "ts": _now_us(), "name": name, "kind": kind, "settings": settings}


def route_record(
    name: str,
    source: str,
    account: str,
    *,
    sizing: Mapping[str, Any] | None = None,
    guards: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A route's description."""
    return {
        "t": "route",
        "ts": _now_us(),
        "name": name,
        "source": source,
        "account": account,
        "sizing": sizing,
        "guards": guards,
    }


class _Batch:
    """One :meth:`Store.apply` call's rows, merged per key so each row is written once."""

    def __init__(self) -> None:
        self.signals: dict[str, dict[str, Any]] = {}
        self.queued: dict[tuple[str, str], dict[str, Any]] = {}
        self.done: dict[tuple[str, str], dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.fills: dict[tuple[str, str], dict[str, Any]] = {}
        self.links: dict[str, dict[str, Any]] = {}
        self.audit: dict[str, dict[str, Any]] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.sources: dict[str, dict[str, Any]] = {}
        self.routes: dict[str, dict[str, Any]] = {}

    def order(self, cid: str, ts: datetime, status: str, **fields: Any) -> None:
        row = self.orders.get(cid)
        if row is None:
            row = self.orders[cid] = {"client_order_id": cid, "status": status, "updated_at": ts}
        elif _rank(status) >= _rank(row["status"]):
            row["status"], row["updated_at"] = status, ts
        row.update({k: v for k, v in fields.items() if v is not None})

    def fill(self, cid: str, fill_id: str, record: Mapping[str, Any], ts: datetime) -> None:
        """A fill row from a journal record's ``filled``, ``price`` and ``vid`` (none when nothing filled)."""
        filled = _dec(record.get("filled"))
        if filled is not None and filled > 0:
            self.fills[(cid, fill_id)] = {
                "client_order_id": cid,
                "fill_id": fill_id,
                "venue_order_id": record.get("vid"),
                "volume": filled,
                "price": _dec(record.get("price")),
                "filled_at": ts,
            }

    def add(self, record: Mapping[str, Any]) -> None:
        kind = record.get("t")
        ts = _ts(record.get("ts"))
        if kind == "signal":
            data = record["signal"]
            sid = record["sig"]
            self.signals[sid] = {
                "id": sid,
                "source": data["source"],
                "origin_id": data.get("origin_id"),
                "action": data["action"],
                "symbol": data.get("symbol"),
                "side": data.get("side"),
                "volume": _dec(data.get("volume")),
                "raw": data.get("raw"),
                "payload": {k: v for k, v in data.items() if k != "raw"},
                "received_at": _ts(datetime.fromisoformat(data["received_at"])) if data.get("received_at") else ts,
                "status": "accepted",
            }
            for account in record.get("followers", ()):
                self.queued[(sid, account)] = {
                    "signal_id": sid,
                    "account": account,
                    "status": "queued",
                    "updated_at": ts,
                }
        elif kind == "intent":
            intent = record.get("intent", {})
            self.order(
                record["cid"],
                ts,
                "planned",
                signal_id=record.get("sig"),
                account=record.get("acct"),
                venue=record.get("venue"),
                route=record.get("route"),
                leg=record.get("leg"),
                kind=intent.get("kind"),
                symbol=intent.get("symbol"),
                side=intent.get("side"),
                volume=_dec(intent.get("volume")),
                price=_dec(intent.get("price")),
            )
        elif kind == "sent":
            self.order(record["cid"], ts, "sent", signal_id=record.get("sig"))
        elif kind == "result":
            cid = record["cid"]
            self.order(
                cid,
                ts,
                record["status"],
                signal_id=record.get("sig"),
                venue_order_id=record.get("vid"),
                position_id=record.get("pos"),
                reason=record.get("reason"),
                code=record.get("code"),
                latency_us=record.get("lat"),
                ack_us=record.get("ack"),
            )
            self.fill(cid, "result", record, ts)
        elif kind == "done":
            key = (record["sig"], record["acct"])
            self.done[key] = {
                "signal_id": key[0],
                "account": key[1],
                "status": record.get("status", "done"),
                "reason": record.get("reason"),
                "updated_at": ts,
            }
        elif kind == "adopted":
            # An order found at the venue that the journal lost: it belongs to no known signal.
            cid = record["cid"]
            self.order(
                cid,
                ts,
                record.get("status", "accepted"),
                account=record.get("acct"),
                venue=record.get("venue"),
                kind=record.get("kind"),
                symbol=record.get("symbol"),
                side=record.get("side"),
                volume=_dec(record.get("volume")),
                price=_dec(record.get("px")),
                venue_order_id=record.get("vid"),
                position_id=record.get("pos"),
                reason=record.get("reason"),
            )
            self.fill(cid, "adopted", record, ts)
        elif kind == "fill":
            self.fill(record["cid"], str(record["fill_id"]), record, ts)
        elif kind == "link":
            self.links[record["cid"]] = {
                "client_order_id": record["cid"],
                **{k: record.get(k) for k in ("account", "source", "source_key", "symbol", "canonical", "side")},
                "source_side": record.get("source_side"),
                "volume": _dec(record["volume"]),
                "position_id": record.get("position_id"),
                "order_id": record.get("order_id"),
                "open_price": _dec(record.get("open_price")),
                "pending": bool(record.get("pending", False)),
                "closed": bool(record.get("closed", False)),
                "opened_at": ts,
                "updated_at": ts,
            }
        elif kind == "audit":
            self.audit[record["id"]] = {
                "id": record["id"],
                "ts": ts,
                "actor": record.get("actor"),
                "action": record["action"],
                "target": record.get("target"),
                "detail": record.get("detail"),
            }
        elif kind == "account":
            self.accounts[record["name"]] = {
                "name": record["name"],
                "venue": record["venue"],
                "enabled": bool(record.get("enabled", True)),
                "settings": record.get("settings"),
                "updated_at": ts,
            }
        elif kind == "source":
            self.sources[record["name"]] = {
                "name": record["name"],
                "kind": record["kind"],
                "settings": record.get("settings"),
                "updated_at": ts,
            }
        elif kind == "route":
            self.routes[record["name"]] = {
                "name": record["name"],
                "source": record["source"],
                "account": record["account"],
                "sizing": record.get("sizing"),
                "guards": record.get("guards"),
                "updated_at": ts,
            }


def _t(model: Any) -> Table:
    return cast(Table, model.__table__)


def _rank(status: str) -> int:
    return STATUS_RANK.get(status, FINAL_RANK)


class Store:
    """The SQL store. Create with :meth:`open`, then :meth:`migrate` once before use."""

    def __init__(self, engine: AsyncEngine, url: str, schema: str | None = None) -> None:
        self.engine = engine
        self.url = url
        self.schema = schema

    def __repr__(self) -> str:
        # The URL may carry a password; show the backend and database only.
        parsed = make_url(self.url)
        return f"Store({parsed.get_backend_name()}:{parsed.database})"

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @classmethod
    async def open(cls, url: str, *, schema: str | None = None, echo: bool = False) -> Store:
        """Connect to ``url`` (``sqlite+aiosqlite:///FILE`` or ``postgresql+asyncpg://…``).

        ``schema`` (PostgreSQL only) puts every table in that schema, created by :meth:`migrate`.
        The connection is tried at once, so an unreachable server fails here.
        """
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if backend == "sqlite":
            path = sqlite_path(url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
        elif backend == "postgresql":
            if schema is not None:
                if not schema.isidentifier():
                    raise ValueError(f"schema must be a plain identifier, got {schema!r}")
                kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
            kwargs["pool_pre_ping"] = True
        else:
            raise ValueError(f"unsupported store backend {backend!r}: use sqlite+aiosqlite or postgresql+asyncpg")
        engine = create_async_engine(url, hide_parameters=True, **kwargs)
        if backend == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        store = cls(engine, url, schema)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except BaseException:
            await engine.dispose()
            raise
        return store

    async def migrate(self) -> list[int]:
        """Bring the schema to the newest version; returns the versions applied now (empty when current)."""
        schema = self.schema if self.backend == "postgresql" else None
        async with self.engine.connect() as conn:
            applied = await conn.run_sync(lambda sync: migrations.upgrade(sync, schema=schema))
            await conn.commit()
            return applied

    async def version(self) -> int:
        """The schema version the database is at."""
        async with self.engine.connect() as conn:
            return await conn.run_sync(migrations.current_version)

    async def close(self) -> None:
        await self.engine.dispose()

    # -- writes -----------------------------------------------------------------------------

    async def apply(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Project a batch of records into the tables, in one transaction."""
        batch = _Batch()
        for record in records:
            batch.add(record)
        async with self.engine.begin() as conn:
            await self._write(conn, batch)

    async def _write(self, conn: AsyncConnection, b: _Batch) -> None:
        await self._upsert(conn, _t(Account), ["name"], b.accounts.values())
        await self._upsert(conn, _t(Source), ["name"], b.sources.values())
        await self._upsert(conn, _t(RouteRow), ["name"], b.routes.values())
        await self._upsert(conn, _t(SignalRow), ["id"], b.signals.values(), update=False)
        await self._upsert(conn, _t(SignalFollower), ["signal_id", "account"], b.queued.values(), update=False)
        await self._upsert(conn, _t(SignalFollower), ["signal_id", "account"], b.done.values())
        await self._upsert_orders(conn, b.orders.values())
        await self._upsert(conn, _t(Fill), ["client_order_id", "fill_id"], b.fills.values())
        await self._upsert(conn, _t(PositionLink), ["client_order_id"], b.links.values(), keep=("opened_at",))
        await self._upsert(conn, _t(AuditEvent), ["id"], b.audit.values(), update=False)

    def _insert(self, table: Table) -> Any:
        return (postgresql.insert if self.backend == "postgresql" else sqlite.insert)(table)

    async def _upsert(
        self,
        conn: AsyncConnection,
        table: Any,
        keys: list[str],
        rows: Iterable[dict[str, Any]],
        *,
        update: bool = True,
        keep: tuple[str, ...] = (),
        where: Any = None,
    ) -> None:
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault(tuple(sorted(row)), []).append(row)
        for columns, group in groups.items():
            stmt = self._insert(table)
            if update:
                changed = {c: stmt.excluded[c] for c in columns if c not in keys and c not in keep}
                stmt = stmt.on_conflict_do_update(index_elements=keys, set_=changed, where=where)
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=keys)
            await conn.execute(stmt, group)

    async def _upsert_orders(self, conn: AsyncConnection, rows: Iterable[dict[str, Any]]) -> None:
        table = _t(OrderRow)
        excluded = self._insert(table).excluded

        def rank(column: Any) -> Any:
            return case(STATUS_RANK, value=column, else_=FINAL_RANK)

        # Never move an order's status backwards, so re-projecting old records is harmless.
        forward = or_(
            rank(excluded.status) > rank(table.c.status),
            (rank(excluded.status) == rank(table.c.status)) & (excluded.updated_at >= table.c.updated_at),
        )
        await self._upsert(conn, table, ["client_order_id"], rows, where=forward)

    async def put_api_key(self, name: str, key: str, scopes: Iterable[str]) -> None:
        """Store an API key as its SHA-256 digest (the key itself is never written)."""
        row = {"name": name, "digest": key_digest(key), "scopes": sorted(scopes), "created_at": datetime.now(UTC)}
        async with self.engine.begin() as conn:
            await self._upsert(conn, _t(ApiKey), ["name"], [row])

    async def remove_api_key(self, name: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(_t(ApiKey).delete().where(ApiKey.name == name))
            return bool(result.rowcount)

    # -- queries ----------------------------------------------------------------------------

    async def api_key(self, key: str) -> tuple[str, frozenset[str]] | None:
        """The name and scopes of the stored key equal to ``key``, if any."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(ApiKey.name, ApiKey.scopes).where(ApiKey.digest == key_digest(key)))
            ).first()
        return (row.name, frozenset(row.scopes)) if row else None

    async def signal(self, signal_id: str) -> dict[str, Any] | None:
        """The signal and, under ``followers``, each follower's status and reason."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(_t(SignalRow)).where(SignalRow.id == signal_id))).first()
            if row is None:
                return None
            followers = await conn.execute(
                select(_t(SignalFollower)).where(SignalFollower.signal_id == signal_id).order_by(SignalFollower.account)
            )
            out = dict(row._mapping)
            out["followers"] = [dict(f._mapping) for f in followers]
            return out

    async def signal_by_origin(self, source: str, origin_id: str) -> dict[str, Any] | None:
        """The most recent signal a source sent with this id of its own."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(_t(SignalRow))
                    .where(SignalRow.source == source, SignalRow.origin_id == origin_id)
                    .order_by(SignalRow.received_at.desc())
                    .limit(1)
                )
            ).first()
            return dict(row._mapping) if row else None

    async def recent_signals(self, limit: int = 100) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(_t(SignalRow)).order_by(SignalRow.received_at.desc(), SignalRow.id.desc()).limit(limit)
            )
            return [dict(r._mapping) for r in rows]

    async def orders_for_signal(self, signal_id: str) -> list[dict[str, Any]]:
        """Every order of the signal, by account and leg."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(_t(OrderRow))
                .where(OrderRow.signal_id == signal_id)
                .order_by(OrderRow.account, OrderRow.leg, OrderRow.client_order_id)
            )
            return [dict(r._mapping) for r in rows]

    async def order(self, client_order_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(_t(OrderRow)).where(OrderRow.client_order_id == client_order_id))).first()
            return dict(row._mapping) if row else None

    async def orders_unfinished(self) -> list[dict[str, Any]]:
        """Orders planned, sent, or with an unknown outcome, oldest first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(_t(OrderRow))
                .where(OrderRow.status.in_(UNFINISHED))
                .order_by(OrderRow.updated_at, OrderRow.client_order_id)
            )
            return [dict(r._mapping) for r in rows]

    async def fills(self, client_order_id: str) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(_t(Fill)).where(Fill.client_order_id == client_order_id).order_by(Fill.filled_at)
            )
            return [dict(r._mapping) for r in rows]

    async def open_links(self) -> list[Leg]:
        """Every position link not closed, in the order they were opened (to rebuild ``PositionLinks``)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(_t(PositionLink))
                .where(PositionLink.closed.is_(False))
                .order_by(PositionLink.opened_at, PositionLink.client_order_id)
            )
            return [
                Leg(
                    account=r.account,
                    source=r.source,
                    source_key=r.source_key,
                    symbol=r.symbol,
                    canonical=r.canonical,
                    side=Side(r.side),
                    source_side=Side(r.source_side),
                    volume=r.volume,
                    position_id=r.position_id,
                    order_id=r.order_id,
                    client_order_id=r.client_order_id,
                    open_price=r.open_price,
                    pending=bool(r.pending),
                )
                for r in rows
            ]

    async def audit_events(self, limit: int = 100) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(_t(AuditEvent)).order_by(AuditEvent.ts.desc(), AuditEvent.id).limit(limit))
            return [dict(r._mapping) for r in rows]

    async def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of one of the store's tables in primary-key order (for backups, checks and tests)."""
        target = store_table(table)
        async with self.engine.connect() as conn:
            result = await conn.execute(select(target).order_by(*target.primary_key.columns))
            return [dict(r._mapping) for r in result]

    async def count(self, table: str) -> int:
        target = store_table(table)
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(target))).scalar_one())


TABLES: dict[str, Table] = {
    model.__tablename__: model.__table__  # type: ignore[misc]
    for model in (
        Account,
        Source,
        RouteRow,
        SignalRow,
        SignalFollower,
        OrderRow,
        Fill,
        PositionLink,
        ApiKey,
        AuditEvent,
    )
}


def store_table(name: str) -> Table:
    """One of the store's tables by name."""
    try:
        return TABLES[name]
    except KeyError:
        raise ValueError(f"no table {name!r} in the store") from None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets readers (API, backup) run while the projector writes; NORMAL is durable across a
        # process crash, and the journal, not the store, is what must survive a power loss.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
    finally:
        cursor.close()
