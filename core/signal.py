"""The normalized ``Signal`` every source produces and the router consumes."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from core.enums import Action, LevelUnit, OrderType, Side, VolumeKind
from core.instrument import Instrument


@dataclass(frozen=True, slots=True)
class Level:
    """A stop-loss or take-profit: an absolute price, or a distance from the entry."""

    value: Decimal
    unit: LevelUnit = LevelUnit.PRICE

    def resolve(self, entry: Decimal | None, side: Side, *, is_stop: bool, instrument: Instrument) -> Decimal | None:
        """The absolute price for a position on ``side`` entered at ``entry``, rounded to tick.

        A stop lies against the position (below a buy), a target with it. Distances need an entry;
        without one the level cannot be placed and ``None`` is returned.
        """
        if self.unit is LevelUnit.PRICE:
            return instrument.price(self.value).value
        if entry is None:
            return None
        if self.unit is LevelUnit.PIPS:
            distance = self.value * instrument.pip
        elif self.unit is LevelUnit.POINTS:
            distance = self.value * instrument.tick_size
        else:
            distance = entry * self.value / 100
        direction = -side.sign if is_stop else side.sign
        return instrument.price(entry + direction * distance).value

    def to_json(self) -> dict[str, str]:
        return {"value": format(self.value, "f"), "unit": self.unit.value}


_last_id = [0]


def new_signal_id() -> str:
    """A time-sortable, process-unique id: 13 hex digits of microseconds plus 6 random hex digits."""
    now = time.time_ns() // 1000
    if now <= _last_id[0]:
        now = _last_id[0] + 1
    _last_id[0] = now
    return f"{now:013x}{os.urandom(3).hex()}"


@dataclass(frozen=True, slots=True)
class Signal:
    """One normalized instruction from a source.

    ``origin_id`` is the id the source gave (or a hash of its content); the router dedupes on
    ``(source, origin_id)`` and derives client order ids from it, so a resent alert can never trade
    twice. ``position_ref`` names the source position the signal acts on; when absent, the source's
    position is taken to be its net position per symbol and side.
    """

    source: str
    action: Action
    symbol: str | None = None
    side: Side | None = None
    order_type: OrderType = OrderType.MARKET
    volume: Decimal | None = None
    volume_kind: VolumeKind = VolumeKind.LOTS
    price: Decimal | None = None
    price_range: tuple[Decimal, Decimal] | None = None
    sl: Level | None = None
    tps: tuple[Level, ...] = ()
    comment: str | None = None
    position_ref: str | None = None
    origin_id: str | None = None
    sent_at: datetime | None = None
    raw: str = ""
    id: str = field(default_factory=new_signal_id)
    received_ns: int = field(default_factory=time.monotonic_ns)
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def tp(self) -> Level | None:
        return self.tps[0] if self.tps else None

    @property
    def dedupe_key(self) -> str:
        return self.origin_id or self.id

    def to_json(self) -> dict[str, object]:
        """A JSON-ready view (the raw input is kept out; it is logged separately when needed)."""
        return {
            "id": self.id,
            "source": self.source,
            "action": self.action.value,
            "symbol": self.symbol,
            "side": self.side.value if self.side else None,
            "order_type": self.order_type.value,
            "volume": format(self.volume, "f") if self.volume is not None else None,
            "volume_kind": self.volume_kind.value,
            "price": format(self.price, "f") if self.price is not None else None,
            "price_range": [format(p, "f") for p in self.price_range] if self.price_range else None,
            "sl": self.sl.to_json() if self.sl else None,
            "tps": [tp.to_json() for tp in self.tps],
            "comment": self.comment,
            "position_ref": self.position_ref,
            "origin_id": self.origin_id,
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
            "received_at": self.received_at.isoformat(),
        }
