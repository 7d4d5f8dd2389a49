"""Versioned schema migrations, recorded in ``schema_version``.

Each migration is a function of a synchronous SQLAlchemy connection that describes its own tables
(frozen as they were at that version), so a later change to the models never changes what an old
migration does. :func:`upgrade` applies the missing ones in order inside one transaction, holding a
lock that makes concurrent starts wait for each other: ``BEGIN IMMEDIATE`` on SQLite, a
transaction-scoped advisory lock on PostgreSQL. Running it again is a no-op.

To change the schema, append a ``Migration`` with the next version and update
:mod:`copier.store.models` to match.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
    text,
)

from copier.store.types import DecimalText, UTCDateTime

# Arbitrary, fixed: identifies Copier's migration lock among the database's advisory locks.
ADVISORY_LOCK_KEY = 0x636F706965720001


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: ``version`` is its position, ``upgrade`` does the work."""

    version: int
    description: str
    upgrade: Callable[[Connection], None]


def _version_table(metadata: MetaData) -> Table:
    return Table(
        "schema_version",
        metadata,
        Column("version", Integer, primary_key=True, autoincrement=False),
        Column("description", String(200), nullable=False),
        Column("applied_at", UTCDateTime, nullable=False),
    )


def _v1_initial(conn: Connection) -> None:
    m = MetaData()
    Table(
        "accounts",
        m,
        Column("name", String(100), primary_key=True),
        Column("venue", String(40), nullable=False),
        Column("enabled", Boolean, nullable=False),
        Column("settings", JSON, nullable=True),
        Column("updated_at", UTCDateTime, nullable=False),
    )
    Table(
        "sources",
        m,
        Column("name", String(100), primary_key=True),
        Column("kind", String(40), nullable=False),
        Column("settings", JSON, nullable=True),
        Column("updated_at", UTCDateTime, nullable=False),
    )
    Table(
        "routes",
        m,
        Column("name", String(210), primary_key=True),
        Column("source", String(100), nullable=False),
        Column("account", String(100), nullable=False),
        Column("sizing", JSON, nullable=True),
        Column("guards", JSON, nullable=True),
        Column("updated_at", UTCDateTime, nullable=False),
    )
    Table(
        "signals",
        m,
        Column("id", String(40), primary_key=True),
        Column("source", String(100), nullable=False),
        Column("origin_id", String(200), nullable=True),
        Column("action", String(20), nullable=False),
        Column("symbol", String(60), nullable=True),
        Column("side", String(4), nullable=True),
        Column("volume", DecimalText, nullable=True),
        Column("raw", Text, nullable=True),
        Column("payload", JSON, nullable=True),
        Column("received_at", UTCDateTime, nullable=False),
        Column("status", String(20), nullable=False),
        Index("ix_signals_source_origin", "source", "origin_id"),
        Index("ix_signals_received", "received_at"),
    )
    Table(
        "signal_followers",
        m,
        Column("signal_id", String(40), primary_key=True),
        Column("account", String(100), primary_key=True),
        Column("status", String(20), nullable=False),
        Column("reason", Text, nullable=True),
        Column("updated_at", UTCDateTime, nullable=False),
    )
    Table(
        "orders",
        m,
        Column("client_order_id", String(64), primary_key=True),
        Column("signal_id", String(40), nullable=True),
        Column("account", String(100), nullable=True),
        Column("venue", String(40), nullable=True),
        Column("route", String(210), nullable=True),
        Column("leg", Integer, nullable=True),
        Column("kind", String(20), nullable=True),
        Column("symbol", String(60), nullable=True),
        Column("side", String(4), nullable=True),
        Column("volume", DecimalText, nullable=True),
        Column("price", DecimalText, nullable=True),
        Column("status", String(20), nullable=False),
        Column("venue_order_id", String(100), nullable=True),
        Column("position_id", String(100), nullable=True),
        Column("reason", Text, nullable=True),
        Column("code", String(40), nullable=True),
        Column("latency_us", BigInteger, nullable=True),
        Column("ack_us", BigInteger, nullable=True),
        Column("updated_at", UTCDateTime, nullable=False),
        Index("ix_orders_signal", "signal_id"),
        Index("ix_orders_account", "account"),
        Index("ix_orders_status", "status"),
    )
    Table(
        "fills",
        m,
        Column("client_order_id", String(64), primary_key=True),
        Column("fill_id", String(100), primary_key=True),
        Column("venue_order_id", String(100), nullable=True),
        Column("volume", DecimalText, nullable=False),
        Column("price", DecimalText, nullable=True),
        Column("filled_at", UTCDateTime, nullable=False),
    )
    Table(
        "position_links",
        m,
        Column("client_order_id", String(64), primary_key=True),
        Column("account", String(100), nullable=False),
        Column("source", String(100), nullable=False),
        Column("source_key", String(200), nullable=False),
        Column("symbol", String(60), nullable=False),
        Column("canonical", String(60), nullable=False),
        Column("side", String(4), nullable=False),
        Column("source_side", String(4), nullable=False),
        Column("volume", DecimalText, nullable=False),
        Column("position_id", String(100), nullable=True),
        Column("order_id", String(100), nullable=True),
        Column("open_price", DecimalText, nullable=True),
        Column("pending", Boolean, nullable=False),
        Column("closed", Boolean, nullable=False),
        Column("opened_at", UTCDateTime, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
        Index("ix_links_account_source", "account", "source"),
        Index("ix_links_closed", "closed"),
    )
    Table(
        "api_keys",
        m,
        Column("name", String(100), primary_key=True),
        Column("digest", String(64), nullable=False, unique=True),
        Column("scopes", JSON, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
    )
    Table(
        "audit_events",
        m,
        Column("id", String(40), primary_key=True),
        Column("ts", UTCDateTime, nullable=False),
        Column("actor", String(100), nullable=True),
        Column("action", String(60), nullable=False),
        Column("target", String(200), nullable=True),
        Column("detail", JSON, nullable=True),
        Index("ix_audit_ts", "ts"),
    )
    m.create_all(conn)


MIGRATIONS: tuple[Migration, ...] = (Migration(1, "initial schema", _v1_initial),)


def head() -> int:
    """The newest schema version this code knows."""
    return MIGRATIONS[-1].version


def current_version(conn: Connection) -> int:
    """The highest version recorded in the database (0 when it has never been migrated)."""
    if not conn.dialect.has_table(conn, "schema_version"):
        return 0
    versions = _version_table(MetaData())
    found = conn.execute(select(versions.c.version).order_by(versions.c.version.desc()).limit(1)).scalar()
    return int(found or 0)


def upgrade(
    conn: Connection, migrations: tuple[Migration, ...] = MIGRATIONS, *, schema: str | None = None
) -> list[int]:
    """Apply the migrations the database has not recorded; returns the versions applied now.

    ``schema`` (PostgreSQL) is created first when missing. The caller provides the transaction
    and commits it once every step has run.
    """
    if conn.dialect.name == "sqlite":
        # Take the write lock before reading the version, so a concurrent start waits here.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        if schema is not None:
            conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    versions = _version_table(MetaData())
    versions.create(conn, checkfirst=True)
    applied = set(conn.execute(select(versions.c.version)).scalars())
    newest, known = max(applied, default=0), max((m.version for m in migrations), default=0)
    if newest > known:
        raise RuntimeError(f"the database schema is at version {newest}, newer than this program's {known}")
    done: list[int] = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in applied:
            continue
        migration.upgrade(conn)
        conn.execute(
            versions.insert().values(
                version=migration.version, description=migration.description, applied_at=datetime.now(UTC)
            )
        )
        done.append(migration.version)
    return done
