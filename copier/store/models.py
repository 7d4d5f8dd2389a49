"""The SQL store's tables as they are after the latest migration.

The migrations in :mod:`copier.store.migrations` create and change these tables; the models only
describe the result (a test checks that the two agree on every backend).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from copier.store.types import DecimalText, UTCDateTime


class Base(DeclarativeBase):
    """Declarative base of the store's models."""


class SchemaVersion(Base):
    """One row per migration applied."""

    __tablename__ = "schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    description: Mapped[str] = mapped_column(String(200))
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Account(Base):
    """A follower or master account; its secrets live in the encrypted credential store, not here."""

    __tablename__ = "accounts"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    venue: Mapped[str] = mapped_column(String(40))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    settings: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Source(Base):
    """A signal source (TradingView, REST, file drop, Telegram, a master account)."""

    __tablename__ = "sources"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    settings: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RouteRow(Base):
    """A subscription of one account to one source, with its sizing and guards."""

    __tablename__ = "routes"

    name: Mapped[str] = mapped_column(String(210), primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    account: Mapped[str] = mapped_column(String(100))
    sizing: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    guards: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SignalRow(Base):
    """An accepted signal; ``payload`` is the whole normalized signal."""

    __tablename__ = "signals"
    __table_args__ = (
        Index("ix_signals_source_origin", "source", "origin_id"),
        Index("ix_signals_received", "received_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    origin_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    action: Mapped[str] = mapped_column(String(20))
    symbol: Mapped[str | None] = mapped_column(String(60), nullable=True)
    side: Mapped[str | None] = mapped_column(String(4), nullable=True)
    volume: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    raw: Mapped[str | None] = mapped_column(Text, nullable=True)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20))


class SignalFollower(Base):
    """One follower's outcome for one signal, including a skip's reason when no order was made."""

    __tablename__ = "signal_followers"

    signal_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account: Mapped[str] = mapped_column(String(100), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OrderRow(Base):
    """One follower order, keyed by its deterministic client order id."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_signal", "signal_id"),
        Index("ix_orders_account", "account"),
        Index("ix_orders_status", "status"),
    )

    client_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    signal_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    account: Mapped[str | None] = mapped_column(String(100), nullable=True)
    venue: Mapped[str | None] = mapped_column(String(40), nullable=True)
    route: Mapped[str | None] = mapped_column(String(210), nullable=True)
    leg: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str | None] = mapped_column(String(20), nullable=True)
    symbol: Mapped[str | None] = mapped_column(String(60), nullable=True)
    side: Mapped[str | None] = mapped_column(String(4), nullable=True)
    volume: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    price: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    venue_order_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    position_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    latency_us: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    ack_us: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Fill(Base):
    """An execution of an order; ``fill_id`` tells apart several fills of one order."""

    __tablename__ = "fills"

    client_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fill_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    venue_order_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    volume: Mapped[Decimal] = mapped_column(DecimalText)
    price: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    filled_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PositionLink(Base):
    """A source position copied into a follower position (or pending order), keyed by the opening order."""

    __tablename__ = "position_links"
    __table_args__ = (Index("ix_links_account_source", "account", "source"), Index("ix_links_closed", "closed"))

    client_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(100))
    source_key: Mapped[str] = mapped_column(String(200))
    symbol: Mapped[str] = mapped_column(String(60))
    canonical: Mapped[str] = mapped_column(String(60))
    side: Mapped[str] = mapped_column(String(4))
    source_side: Mapped[str] = mapped_column(String(4))
    volume: Mapped[Decimal] = mapped_column(DecimalText)
    position_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    order_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    open_price: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    pending: Mapped[bool] = mapped_column(Boolean, default=False)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiKey(Base):
    """A control-plane API key: only its SHA-256 digest (hex) is stored."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    """Who changed what on the control plane (kill switch, accounts, keys), one row per event."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_ts", "ts"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str | None] = mapped_column(String(100), nullable=True)
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str | None] = mapped_column(String(200), nullable=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
