"""A master account's stop-loss and take-profit per position, from its live protective orders.

The venues report SL/TP as orders of their own (OKX's ``conditional``/``oco`` algo orders, Binance's
``STOP_MARKET``/``TAKE_PROFIT_MARKET`` algo orders), created, amended and canceled apart from the
position's fills. :class:`MasterLevels` keeps the live ones and says when a held position's levels
differ from those last copied, which a master turns into a ``MODIFY`` signal. The newest live order
gives each level. Taking a level off is not copied (the followers keep theirs, as a modify that
leaves a level out keeps it), so a level that disappears reads as unchanged: an order replaced by
cancel-then-place or by place-then-cancel is one change either way.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from core.enums import Action, Side
from core.signal import Level, Signal

Key = tuple[str, str]
"""A master position: (symbol or instrument id, position side)."""
Levels = tuple[Decimal | None, Decimal | None]
"""(stop-loss, take-profit) prices."""


class MasterLevels:
    """Live protective orders by id, and the levels last copied per position."""

    def __init__(self) -> None:
        self._orders: dict[str, tuple[Key, Decimal | None, Decimal | None]] = {}
        self.copied: dict[Key, Levels] = {}

    def update(self, order_id: str, key: Key, sl: Decimal | None, tp: Decimal | None, *, live: bool) -> None:
        """Record one protective order's state: live with these levels, or gone (``live`` false)."""
        self._orders.pop(order_id, None)
        if live:
            self._orders[order_id] = (key, sl, tp)

    def current(self, key: Key) -> Levels:
        """(sl, tp) of position ``key``: each from the newest live order that has it."""
        orders = [order for order in reversed(self._orders.values()) if order[0] == key]
        sl = next((order[1] for order in orders if order[1] is not None), None)
        tp = next((order[2] for order in orders if order[2] is not None), None)
        return sl, tp

    def position_gone(self, key: Key) -> None:
        """Position ``key`` went flat or flipped: the venue cancels its protective orders with it."""
        self.copied.pop(key, None)
        self._orders = {order_id: order for order_id, order in self._orders.items() if order[0] != key}

    def after_fill(self, key: Key, signals: list[Signal], *, held: bool) -> Levels | None:
        """Account for a fill on ``key`` that meant ``signals``: a position gone flat or flipped
        loses its orders, and an open that found levels already placed returns them to copy."""
        if not held or any(signal.action is Action.CLOSE for signal in signals):
            self.position_gone(key)
        if any(signal.action is Action.OPEN for signal in signals):
            return self.changed(key, held=held)
        return None

    def changed(self, key: Key, *, held: bool) -> Levels | None:
        """The levels to copy for ``key`` (recorded as copied), or None when there is no change to
        copy: the position is not held, it has no levels, or they are those copied last."""
        sl, tp = self.current(key)
        copied = self.copied.get(key, (None, None))
        levels = (sl if sl is not None else copied[0], tp if tp is not None else copied[1])
        if not held or levels == (None, None) or levels == copied:
            return None
        self.copied[key] = levels
        return levels

    def resync(
        self, orders: Iterable[tuple[str, Key, Decimal | None, Decimal | None]], held: Iterable[Key]
    ) -> list[tuple[Key, Levels]]:
        """Replace the live orders with a snapshot read from the venue (the streams push only changes).

        Returns the held positions whose levels changed since they were last copied (as while the
        stream was down). A held position seen for the first time is only recorded: nothing says
        what the followers' positions carry.
        """
        self._orders = {order_id: (key, sl, tp) for order_id, key, sl, tp in orders}
        held = set(held)
        for key in [key for key in self.copied if key not in held]:
            del self.copied[key]
        changes = []
        for key in sorted(held):
            if key not in self.copied:
                self.copied[key] = self.current(key)
                continue
            levels = self.changed(key, held=True)
            if levels is not None:
                changes.append((key, levels))
        return changes


def modify_signal(
    source: str, symbol: str, held: Decimal, levels: Levels, *, position_ref: str, origin: str, raw: str = ""
) -> Signal:
    """The MODIFY that gives the followers' positions linked to ``position_ref`` these levels
    (``held`` is the master's signed size there); the levels are part of ``origin_id``."""
    sl, tp = levels
    return Signal(
        source=source,
        action=Action.MODIFY,
        symbol=symbol,
        side=Side.BUY if held > 0 else Side.SELL,
        sl=Level(sl) if sl is not None else None,
        tps=(Level(tp),) if tp is not None else (),
        position_ref=position_ref,
        origin_id=f"{origin}:{sl}:{tp}",
        raw=raw,
    )
