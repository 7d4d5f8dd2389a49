"""What a master account's fill means for its followers: one rule for every venue's master source.

A master's position per (symbol, position side) is tracked from its fills. A fill that grows the
position (or opens it) is an OPEN of the filled quantity; one that shrinks it is a CLOSE_PART of the
fraction it took, or a CLOSE when nothing is left; one that goes through zero is a CLOSE and an OPEN
of the rest on the other side. A fill the venue marks as reducing never opens: on a position the
master does not hold it is ignored, and past zero it is a CLOSE.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from core.enums import Action, Side, VolumeKind
from core.signal import Signal

Make = Callable[[Action, Side, Decimal | None, VolumeKind, str], Signal]
"""Builds one signal: action, side, volume, volume kind, origin id suffix."""

ZERO = Decimal(0)


def fill_signals(
    before: Decimal, delta: Decimal, make: Make, *, reducing: bool = False
) -> tuple[Decimal, list[Signal]]:
    """The position after a fill of signed ``delta`` on signed ``before``, and the signals it means.

    For a reducing fill on a position the master does not hold, the position stays and the list is
    empty; the caller says why in its log.
    """
    if before == 0 or (before > 0) == (delta > 0):
        if reducing:
            return before, []
        return before + delta, [
            make(Action.OPEN, Side.BUY if delta > 0 else Side.SELL, abs(delta), VolumeKind.UNITS, "")
        ]
    held = Side.BUY if before > 0 else Side.SELL
    after = before + delta
    if reducing and (after == 0 or (after > 0) != (before > 0)):
        after = ZERO
    if after == 0:
        return ZERO, [make(Action.CLOSE, held, None, VolumeKind.FRACTION, "")]
    if (after > 0) == (before > 0):
        fraction = (abs(before) - abs(after)) / abs(before)
        return after, [make(Action.CLOSE_PART, held, fraction, VolumeKind.FRACTION, "")]
    return after, [
        make(Action.CLOSE, held, None, VolumeKind.FRACTION, ":close"),
        make(Action.OPEN, held.opposite, abs(after), VolumeKind.UNITS, ":open"),
    ]
