"""What a master account's fill means for its followers: one rule for every venue's master source.

A master's position per (symbol, position side) is tracked from its fills. A fill that grows the
position (or opens it) is an OPEN of the filled quantity; one that shrinks it is a CLOSE_PART of the
fraction it took, or a CLOSE when nothing is left; one that goes through zero is a CLOSE and an OPEN
of the rest on the other side. A fill the venue marks as reducing never opens: on a position the
master does not hold it is ignored, and past zero it is a CLOSE.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from core.enums import Action, Side, VolumeKind
from core.signal import Signal

log = logging.getLogger(__name__)

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class MasterFill:
    """What every signal of one master fill carries: its source, symbol, price, the master
    position it acts on, the fill's own id (suffixed when it means two signals) and the raw push."""

    source: str
    symbol: str
    price: Decimal | None
    position_ref: str
    origin_id: str
    raw: str

    def signal(self, action: Action, side: Side, volume: Decimal | None, kind: VolumeKind, suffix: str = "") -> Signal:
        return Signal(
            source=self.source,
            action=action,
            symbol=self.symbol,
            side=side,
            volume=volume,
            volume_kind=kind,
            price=self.price,
            position_ref=self.position_ref,
            origin_id=self.origin_id + suffix,
            raw=self.raw,
        )


def fill_signals(
    before: Decimal, delta: Decimal, fill: MasterFill, *, reducing: bool = False
) -> tuple[Decimal, list[Signal]]:
    """The position after a fill of signed ``delta`` on signed ``before``, and the signals it means.

    For a reducing fill on a position the master does not hold, the position stays and the list is
    empty; the caller says why in its log.
    """
    if before == 0 or (before > 0) == (delta > 0):
        if reducing:
            return before, []
        return before + delta, [
            fill.signal(Action.OPEN, Side.BUY if delta > 0 else Side.SELL, abs(delta), VolumeKind.UNITS)
        ]
    held = Side.BUY if before > 0 else Side.SELL
    after = before + delta
    if reducing and (after == 0 or (after > 0) != (before > 0)):
        after = ZERO
    if after == 0:
        return ZERO, [fill.signal(Action.CLOSE, held, None, VolumeKind.FRACTION)]
    if (after > 0) == (before > 0):
        fraction = (abs(before) - abs(after)) / abs(before)
        return after, [fill.signal(Action.CLOSE_PART, held, fraction, VolumeKind.FRACTION)]
    return after, [
        fill.signal(Action.CLOSE, held, None, VolumeKind.FRACTION, ":close"),
        fill.signal(Action.OPEN, held.opposite, abs(after), VolumeKind.UNITS, ":open"),
    ]


def apply_fill(
    positions: dict[tuple[str, str], Decimal],
    key: tuple[str, str],
    delta: Decimal,
    fill: MasterFill,
    *,
    reducing: bool,
    master: str,
) -> list[Signal]:
    """Apply one fill of signed ``delta`` to the master's position book under ``key`` (symbol,
    position side) and return the signals it means; a flat position leaves the book.

    A reducing fill on a position the book does not hold means nothing and is logged as ignored.
    """
    after, signals = fill_signals(positions.get(key, ZERO), delta, fill, reducing=reducing)
    if not signals:
        log.warning(
            "%s: fill %s reduces a %s %s position the master does not hold; ignored",
            master,
            fill.origin_id,
            *key,
        )
    if after == 0:
        positions.pop(key, None)
    else:
        positions[key] = after
    return signals
