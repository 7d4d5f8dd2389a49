"""A master account's stop-loss and take-profit per position, from its live protective orders.

The venues report SL/TP as orders of their own (OKX's ``conditional``/``oco`` algo orders, Binance's
``STOP_MARKET``/``TAKE_PROFIT_MARKET`` algo orders), created, amended and canceled apart from the
position's fills. :class:`MasterLevels` keeps the live ones and says when a held position's levels
differ from those last copied, which a master turns into a ``MODIFY`` signal. The newest live order
gives each level.

An order protects one direction: a sell stop or target guards a long, a buy one a short. On a
one-way (net) position, which one position key carries through a flip, only the orders that guard
the held direction count, and a flip drops those that guarded the old one. The new side's orders
may come before the flip's fill (an entry's attached SL/TP, pushed on another channel): they are
kept, and copied once the fill has turned the position.

Taking a level off is not copied (the followers keep theirs, as a modify that leaves a level out
keeps it), so a level that disappears reads as unchanged: an order replaced by cancel-then-place
or by place-then-cancel is one change either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from core.enums import Action, Side
from core.signal import Level, Signal

Key = tuple[str, str]
"""A master position: (symbol or instrument id, position side)."""
Levels = tuple[Decimal | None, Decimal | None]
"""(stop-loss, take-profit) prices."""
_Order = tuple[Key, Decimal | None, Decimal | None, Side | None]


def guarded(order_side: Side | None) -> Side | None:
    """The direction a protective order on ``order_side`` guards (a sell guards a long), or None."""
    return None if order_side is None else order_side.opposite


def direction(amount: Decimal | int) -> Side | None:
    """The direction of a signed position size; None when flat."""
    return Side.BUY if amount > 0 else Side.SELL if amount < 0 else None


class MasterLevels:
    """Live protective orders by id, and the levels last copied per position."""

    def __init__(self) -> None:
        self._orders: dict[str, _Order] = {}
        self.copied: dict[Key, Levels] = {}

    def update(
        self,
        order_id: str,
        key: Key,
        sl: Decimal | None,
        tp: Decimal | None,
        *,
        live: bool,
        guards: Side | None = None,
    ) -> None:
        """Record one protective order's state: live with these levels, or gone (``live`` false).
        ``guards``: the direction it protects (:func:`guarded`), None when the venue does not say."""
        self._orders.pop(order_id, None)
        if live:
            self._orders[order_id] = (key, sl, tp, guards)

    def current(self, key: Key, held: Side | None = None) -> Levels:
        """(sl, tp) of position ``key`` held in direction ``held``: each from the newest live order
        that has it and guards that direction (or does not say which it guards)."""
        orders = [
            order
            for order in reversed(self._orders.values())
            if order[0] == key and (held is None or order[3] is None or order[3] is held)
        ]
        sl = next((order[1] for order in orders if order[1] is not None), None)
        tp = next((order[2] for order in orders if order[2] is not None), None)
        return sl, tp

    def position_gone(self, key: Key, keep: Side | None = None) -> None:
        """Position ``key`` went flat, or flipped to direction ``keep``: the venue cancels the
        protective orders of the position that was; those that guard ``keep`` are the new one's."""
        self.copied.pop(key, None)
        self._orders = {
            order_id: order
            for order_id, order in self._orders.items()
            if order[0] != key or (keep is not None and order[3] is keep)
        }

    def after_fill(self, key: Key, signals: list[Signal], *, held: Decimal | int) -> Levels | None:
        """Account for a fill on ``key`` that meant ``signals`` and left the master holding the
        signed size ``held``: a position gone flat or flipped loses its orders, and an open that
        found levels already placed returns them to copy."""
        now = direction(held)
        closed = next((signal.side for signal in signals if signal.action is Action.CLOSE), None)
        if closed is not None:
            # Flat or flipped, and a flip filled in several trades goes through flat: the orders
            # already placed for the side it goes on to (not guarding the side closed) stay.
            self.position_gone(key, keep=now if now is not None else closed.opposite)
        elif now is None:
            self.position_gone(key)
        if any(signal.action is Action.OPEN for signal in signals):
            return self.changed(key, held=held)
        return None

    def changed(self, key: Key, *, held: Decimal | int) -> Levels | None:
        """The levels to copy for ``key`` (recorded as copied), or None when there is no change to
        copy: the position is not held (``held``, its signed size, is 0), it has no levels, or
        they are those copied last."""
        now = direction(held)
        if now is None:
            return None
        sl, tp = self.current(key, now)
        copied = self.copied.get(key, (None, None))
        levels = (sl if sl is not None else copied[0], tp if tp is not None else copied[1])
        if levels == (None, None) or levels == copied:
            return None
        self.copied[key] = levels
        return levels

    def resync(
        self,
        orders: Iterable[tuple[str, Key, Decimal | None, Decimal | None, Side | None]],
        held: Mapping[Key, Decimal],
    ) -> list[tuple[Key, Levels]]:
        """Replace the live orders with a snapshot read from the venue (the streams push only
        changes); ``held`` gives the signed size of each position.

        Returns the held positions whose levels changed since they were last copied (as while the
        stream was down). A held position seen for the first time is only recorded: nothing says
        what the followers' positions carry.
        """
        self._orders = {order_id: (key, sl, tp, guards) for order_id, key, sl, tp, guards in orders}
        held = {key: amount for key, amount in held.items() if amount != 0}
        for key in [key for key in self.copied if key not in held]:
            del self.copied[key]
        changes = []
        for key in sorted(held):
            if key not in self.copied:
                self.copied[key] = self.current(key, direction(held[key]))
                continue
            levels = self.changed(key, held=held[key])
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
