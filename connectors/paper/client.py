"""The simulated venue behind a paper account.

:class:`PaperVenue` holds one account: balance, open positions, pending orders and every accepted
order by client order id. It executes :class:`~core.orders.OrderIntent` objects synchronously and
refuses bad ones the way a real venue does, by raising
:class:`~connectors.paper.parse.PaperVenueError` with a code and a sentence.

Rules of this market:

- One price per symbol (no spread): market orders fill at it, or, in ``fill = "signal"`` mode, at
  the intent's ``signal_price`` (rounded to tick) when it carries one. Tests move prices with
  :meth:`PaperVenue.set_price`.
- Volumes are checked against the instrument: positive, at least the minimum, a whole multiple of
  the step, at most the maximum; crypto instruments also check the minimum notional.
- Margin of a position is ``volume × contract_size × price × quote_value / leverage`` at the
  current price; an order that adds exposure needs that much free margin (equity − used margin).
  Opposite hedged positions each carry their full margin.
- Netting mode keeps one position per symbol whose id is the symbol itself: an opposite order
  reduces it, closes it, or flips it (closing it and opening the excess the other way). The id is
  reused when the symbol is traded again after a close.
- A netting fill on the same side adds to the position at the volume-weighted average price
  (kept exact, not rounded to tick).
- Hedging mode opens a new position ``P1``, ``P2``, … for every fill.
- A CLOSE closes ``volume`` of ``position_id`` (in netting mode the id defaults to the symbol);
  the volume must be positive, on the step and no more than the position's; equal closes it.
  The intent's ``side`` is not used by a close. Closing volumes are not held to the minimum, so a
  remainder below it can always be closed.
- Realized P&L (rounded to the cent) goes to the balance; equity is balance plus the unrealized
  P&L at current prices.
- MODIFY sets SL/TP of a position (or of a pending order when only ``order_id`` is given):
  ``None`` keeps the current level, ``0`` removes it. Levels must be on tick and on the protective
  side of the current price (a pending order's own price for pending orders).
- Limit and stop opens rest as pending orders (venue order ids ``O<n>``) until a price change
  crosses them: a buy limit fills at or below its price, a buy stop at or above, and the reverse
  for sells. They fill at the price that crossed them. An order already crossed when placed fills
  at once. A pending order that cannot be filled when triggered (no margin) is cancelled with a
  reason. CANCEL removes a pending order by ``order_id``; what it filled before stays filled.
  :meth:`PaperVenue.fill_part` fills part of a resting order, as a thin market does.
- When a price change reaches a position's SL or TP, the position closes at that price.
- A client order id is taken only by an accepted order, so a refused order can be corrected and
  sent again under the same id; any reuse after acceptance is refused as a duplicate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from decimal import Decimal

from connectors.paper import parse
from connectors.paper.config import PaperConfig
from connectors.paper.instruments import inverse_quoted, quote_value_at
from core.enums import OrderType, Side
from core.instrument import Instrument, round_to_tick
from core.orders import IntentKind, OrderIntent, Position, ReportStatus

ZERO = Decimal(0)
CENT = Decimal("0.01")

PaperVenueError = parse.PaperVenueError


@dataclass(slots=True)
class PaperPosition:
    """An open position as the paper venue keeps it (mutable; use :meth:`snapshot` to share)."""

    position_id: str
    symbol: str
    side: Side
    volume: Decimal
    open_price: Decimal
    sl: Decimal | None = None
    tp: Decimal | None = None
    comment: str = ""
    client_order_id: str = ""

    def snapshot(self) -> Position:
        """The position as an immutable :class:`~core.orders.Position`."""
        return Position(
            position_id=self.position_id,
            symbol=self.symbol,
            side=self.side,
            volume=self.volume,
            open_price=self.open_price,
            sl=self.sl,
            tp=self.tp,
            comment=self.comment,
        )


@dataclass(slots=True)
class PaperOrder:
    """One accepted order, kept by client order id.

    ``status`` follows the order: a pending order goes from ACCEPTED to FILLED or CANCELED
    (``reason`` says why when the venue cancelled it). ``t_wire_ns``/``t_ack_ns`` are stamped by
    the connector that submitted it.
    """

    client_order_id: str
    kind: IntentKind
    symbol: str
    side: Side
    volume: Decimal
    status: ReportStatus
    venue_order_id: str
    order_type: OrderType = OrderType.MARKET
    price: Decimal | None = None
    sl: Decimal | None = None
    tp: Decimal | None = None
    comment: str = ""
    position_id: str | None = None
    filled_volume: Decimal = ZERO
    fill_price: Decimal | None = None
    reason: str = ""
    t_wire_ns: int = 0
    t_ack_ns: int = 0
    created_ms: int = field(default_factory=lambda: time.time_ns() // 1_000_000)


@dataclass(slots=True)
class _Book:
    """Running sums over one symbol's open positions, so valuing the account costs one step per
    symbol rather than per position."""

    signed_volume: Decimal = ZERO  # Σ side × volume
    signed_cost: Decimal = ZERO  # Σ side × volume × open price
    gross_volume: Decimal = ZERO  # Σ volume, for margin

    def add(self, sign: int, volume: Decimal, price: Decimal) -> None:
        self.signed_volume += sign * volume
        self.signed_cost += sign * volume * price
        self.gross_volume += volume


def _reject(code: str, detail: str) -> PaperVenueError:
    return PaperVenueError(code, detail)


def _level(value: Decimal | None) -> Decimal | None:
    """An SL/TP level from an intent: ``None`` and ``0`` both mean no level."""
    if value is None or value == 0:
        return None
    return value


def _fmt(value: Decimal) -> str:
    return format(value, "f")


class PaperVenue:
    """A simulated account on a simulated market. See the module docstring for its rules."""

    def __init__(self, config: PaperConfig) -> None:
        self.config = config
        self.netting = config.mode == "netting"
        self.signal_fill = config.fill == "signal"
        self.leverage = config.leverage
        self.currency = config.currency
        self.balance = config.balance
        self._prices: dict[str, Decimal] = config.all_prices()
        self._instruments: dict[str, Instrument] = {}
        for symbol, inst in config.all_instruments().items():
            price = self._prices.get(symbol)
            if price is not None and inverse_quoted(symbol):
                inst = replace(inst, quote_value=quote_value_at(inst, price))
            self._instruments[symbol] = inst
        self._positions: dict[str, PaperPosition] = {}
        self._books: dict[str, _Book] = {}
        self._pending: dict[str, PaperOrder] = {}
        self._orders: dict[str, PaperOrder] = {}
        self._position_seq = 0
        self._order_seq = 0

    # ----------------------------------------------------------------- reading

    @property
    def instruments(self) -> dict[str, Instrument]:
        """Every instrument the account trades, by symbol (do not mutate)."""
        return self._instruments

    def instrument(self, symbol: str) -> Instrument | None:
        """Contract facts for ``symbol``; ``quote_value`` is current for USD-based pairs."""
        return self._instruments.get(symbol)

    def price(self, symbol: str) -> Decimal | None:
        """The current price of ``symbol``, or None when the market has none."""
        return self._prices.get(symbol)

    def positions(self) -> list[Position]:
        """Open positions, oldest first."""
        return [pos.snapshot() for pos in self._positions.values()]

    def position(self, position_id: str) -> Position | None:
        pos = self._positions.get(position_id)
        return pos.snapshot() if pos is not None else None

    @property
    def open_positions(self) -> int:
        return len(self._positions)

    def pending_orders(self) -> list[PaperOrder]:
        """Resting limit and stop orders, oldest first."""
        return list(self._pending.values())

    def order(self, client_order_id: str) -> PaperOrder | None:
        """The accepted order with this client order id, or None."""
        return self._orders.get(client_order_id)

    def orders(self) -> list[PaperOrder]:
        """Every accepted order (opens, closes, modifies and cancels), oldest first."""
        return list(self._orders.values())

    def unrealized_pnl(self) -> Decimal:
        """Open P&L of every position at current prices, in the account currency."""
        total = ZERO
        for symbol, book in self._books.items():
            inst = self._instruments[symbol]
            total += (self._prices[symbol] * book.signed_volume - book.signed_cost) * inst.value_per_price_unit
        return total

    def equity(self) -> Decimal:
        """Balance plus unrealized P&L."""
        return self.balance + self.unrealized_pnl()

    def used_margin(self) -> Decimal:
        """Margin held by open positions at current prices."""
        total = ZERO
        for symbol, book in self._books.items():
            total += self._margin(self._instruments[symbol], book.gross_volume, self._prices[symbol])
        return total

    def free_margin(self) -> Decimal:
        return self.equity() - self.used_margin()

    # ----------------------------------------------------------------- moving the market

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move ``symbol`` to ``price``: positions hitting SL/TP close, crossed pending orders fill."""
        inst = self._instruments.get(symbol)
        if inst is None:
            raise ValueError(f"unknown symbol {symbol!r}")
        if not price.is_finite() or price <= 0:
            raise ValueError(f"price must be positive, not {price}")
        if price % inst.tick_size != 0:
            raise ValueError(f"price {price} is not a multiple of tick {inst.tick_size} for {symbol}")
        self._prices[symbol] = price
        if inverse_quoted(symbol):
            self._instruments[symbol] = inst = replace(inst, quote_value=quote_value_at(inst, price))

        for pos in [p for p in self._positions.values() if p.symbol == symbol]:
            if _stop_hit(pos, price):
                self._realize(pos, pos.volume, price)

        for order in [o for o in self._pending.values() if o.symbol == symbol]:
            if not _crossed(order, price):
                continue
            del self._pending[order.venue_order_id]
            try:
                self._fill_pending(inst, order, price)
            except PaperVenueError as exc:
                order.status = ReportStatus.CANCELED
                order.reason = exc.detail or exc.code

    # ----------------------------------------------------------------- orders

    def execute(self, intent: OrderIntent) -> PaperOrder:
        """Carry out one intent, or raise :class:`PaperVenueError` leaving the account unchanged."""
        cid = intent.client_order_id
        if not cid:
            raise _reject(parse.INVALID_REQUEST, "the order has no client order id")
        if cid in self._orders:
            raise _reject(parse.DUPLICATE_CLIENT_ID, f"an order with client order id {cid} already exists")
        kind = intent.kind
        if kind is IntentKind.OPEN:
            order = self._open(intent)
        elif kind is IntentKind.CLOSE:
            order = self._close(intent)
        elif kind is IntentKind.MODIFY:
            order = self._modify(intent)
        elif kind is IntentKind.CANCEL:
            order = self._cancel(intent)
        else:  # pragma: no cover - IntentKind is closed
            raise _reject(parse.INVALID_REQUEST, f"unknown order kind {kind}")
        self._orders[cid] = order
        return order

    def _next_order_id(self) -> str:
        self._order_seq += 1
        return f"O{self._order_seq}"

    def _lookup(self, symbol: str) -> tuple[Instrument, Decimal]:
        inst = self._instruments.get(symbol)
        if inst is None:
            raise _reject(parse.UNKNOWN_SYMBOL, f"the account does not trade {symbol or 'an empty symbol'}")
        price = self._prices.get(symbol)
        if price is None:
            raise _reject(parse.MARKET_CLOSED, f"there is no price for {symbol}")
        return inst, price

    def check_open(self, intent: OrderIntent) -> bool:
        """Whether an OPEN passes the symbol, volume and level checks :meth:`execute` makes first;
        nothing changes."""
        try:
            inst, _ = self._lookup(intent.symbol)
            _check_volume(inst, intent.volume)
            _check_on_tick(inst, _level(intent.sl), "stop-loss")
            _check_on_tick(inst, _level(intent.tp), "take-profit")
        except PaperVenueError:
            return False
        return True

    def _open(self, intent: OrderIntent) -> PaperOrder:
        inst, market = self._lookup(intent.symbol)
        volume = intent.volume
        _check_volume(inst, volume)
        sl, tp = _level(intent.sl), _level(intent.tp)
        _check_on_tick(inst, sl, "stop-loss")
        _check_on_tick(inst, tp, "take-profit")
        order = PaperOrder(
            client_order_id=intent.client_order_id,
            kind=IntentKind.OPEN,
            symbol=intent.symbol,
            side=intent.side,
            volume=volume,
            status=ReportStatus.FILLED,
            venue_order_id="",
            order_type=intent.order_type,
            price=intent.price,
            sl=sl,
            tp=tp,
            comment=intent.comment,
        )
        if intent.order_type is OrderType.MARKET:
            _check_stops(intent.side, market, sl, tp)
            fill = self._fill_price(inst, intent, market)
            order.position_id = self._fill(inst, order, fill, market, reduce_only=intent.reduce_only)
            order.filled_volume = volume
            order.fill_price = fill
            order.venue_order_id = self._next_order_id()
            return order

        price = intent.price
        if price is None or not price.is_finite() or price <= 0:
            raise _reject(parse.INVALID_PRICE, f"a {intent.order_type} order needs a positive price")
        if price % inst.tick_size != 0:
            raise _reject(
                parse.INVALID_PRICE, f"price {_fmt(price)} is not a multiple of the tick {_fmt(inst.tick_size)}"
            )
        _check_stops(intent.side, price, sl, tp)
        _check_notional(inst, volume, price)
        if intent.reduce_only:
            raise _reject(parse.REDUCE_ONLY, "pending orders cannot be reduce-only on this venue")
        if _crossed(order, market):
            order.position_id = self._fill(inst, order, market, market, reduce_only=False)
            order.filled_volume = volume
            order.fill_price = market
            order.venue_order_id = self._next_order_id()
            return order
        order.status = ReportStatus.ACCEPTED
        order.venue_order_id = self._next_order_id()
        self._pending[order.venue_order_id] = order
        return order

    def _fill_price(self, inst: Instrument, intent: OrderIntent, market: Decimal) -> Decimal:
        signal = intent.signal_price
        if self.signal_fill and signal is not None and signal.is_finite() and signal > 0:
            return round_to_tick(signal, inst.tick_size)
        return market

    def fill_part(self, venue_order_id: str, volume: Decimal) -> None:
        """Fill ``volume`` of a resting order at its own price and leave the rest resting, as a
        thin market does. The order's later fills go into the same position."""
        order = self._pending.get(venue_order_id)
        if order is None:
            raise ValueError(f"no pending order {venue_order_id}")
        inst = self._instruments[order.symbol]
        if not ZERO < volume < order.volume - order.filled_volume or volume % inst.volume_step:
            raise ValueError(f"{volume} is not a part of order {venue_order_id} on the step {inst.volume_step}")
        assert order.price is not None
        self._fill_more(inst, order, volume, order.price)

    def _fill_pending(self, inst: Instrument, order: PaperOrder, price: Decimal) -> None:
        self._fill_more(inst, order, order.volume - order.filled_volume, price)
        order.status = ReportStatus.FILLED

    def _fill_more(self, inst: Instrument, order: PaperOrder, volume: Decimal, price: Decimal) -> None:
        """Book ``volume`` more of ``order`` at ``price``; a hedging account's earlier fill of the
        same order is its position, which grows."""
        held = self._positions.get(order.position_id or "") if not self.netting else None
        if held is not None:
            self._check_margin(inst, volume, price, released=ZERO)
            self._grow(held, order, volume, price)
        else:
            # The minimum notional applies to the order, not to what is left of it.
            part = replace(order, volume=volume)
            first = order.filled_volume == 0
            order.position_id = self._fill(inst, part, price, price, reduce_only=False, min_notional=first)
        before = order.filled_volume
        order.filled_volume = before + volume
        if before == 0 or order.fill_price is None:
            order.fill_price = price
        else:
            order.fill_price = (order.fill_price * before + price * volume) / order.filled_volume

    def _grow(self, pos: PaperPosition, order: PaperOrder, volume: Decimal, fill: Decimal) -> None:
        """Add ``volume`` filled at ``fill`` to ``pos`` at the volume-weighted price; the order's
        levels, when it has any, become the position's."""
        total = pos.volume + volume
        # Not rounded to tick: a rounded average would move the open P&L by itself.
        pos.open_price = (pos.open_price * pos.volume + fill * volume) / total
        pos.volume = total
        self._books[pos.symbol].add(pos.side.sign, volume, fill)
        if order.sl is not None:
            pos.sl = order.sl
        if order.tp is not None:
            pos.tp = order.tp

    def _fill(
        self,
        inst: Instrument,
        order: PaperOrder,
        fill: Decimal,
        market: Decimal,
        *,
        reduce_only: bool,
        min_notional: bool = True,
    ) -> str:
        """Book a fill of ``order`` at ``fill``; returns the position it went into.

        Every check runs before the first change, so a refusal leaves the account as it was.
        """
        side, volume = order.side, order.volume
        if not self.netting:
            if reduce_only:
                raise _reject(parse.REDUCE_ONLY, "a hedging account opens a new position for every order")
            if min_notional:
                _check_notional(inst, volume, fill)
            self._check_margin(inst, volume, market, released=ZERO)
            self._position_seq += 1
            position_id = f"P{self._position_seq}"
            opened = PaperPosition(position_id, order.symbol, side, volume, fill, order.sl, order.tp, order.comment)
            opened.client_order_id = order.client_order_id
            self._insert(opened)
            return position_id

        symbol = order.symbol
        pos = self._positions.get(symbol)
        if pos is None or pos.side is side:
            if reduce_only:
                raise _reject(parse.REDUCE_ONLY, f"there is no {side.opposite} position on {symbol} to reduce")
            if min_notional:
                _check_notional(inst, volume, fill)
            self._check_margin(inst, volume, market, released=ZERO)
            if pos is None:
                self._insert(
                    PaperPosition(
                        symbol, symbol, side, volume, fill, order.sl, order.tp, order.comment, order.client_order_id
                    )
                )
            else:
                self._grow(pos, order, volume, fill)
            return symbol
        if volume <= pos.volume:
            self._realize(pos, volume, fill)
            return symbol
        excess = volume - pos.volume
        if reduce_only:
            raise _reject(
                parse.REDUCE_ONLY, f"{_fmt(volume)} would flip the {_fmt(pos.volume)} {pos.side} position on {symbol}"
            )
        if min_notional:
            _check_notional(inst, excess, fill)
        self._check_margin(inst, excess, market, released=self._margin(inst, pos.volume, market))
        self._realize(pos, pos.volume, fill)
        self._insert(
            PaperPosition(symbol, symbol, side, excess, fill, order.sl, order.tp, order.comment, order.client_order_id)
        )
        return symbol

    def _close(self, intent: OrderIntent) -> PaperOrder:
        position_id = intent.position_id or (intent.symbol if self.netting else None)
        pos = self._positions.get(position_id) if position_id else None
        if pos is None:
            raise _reject(parse.POSITION_NOT_FOUND, f"position {position_id or '(none given)'} is not open")
        if intent.symbol and intent.symbol != pos.symbol:
            raise _reject(
                parse.POSITION_NOT_FOUND, f"position {pos.position_id} is on {pos.symbol}, not {intent.symbol}"
            )
        inst, market = self._lookup(pos.symbol)
        volume = intent.volume
        if not volume.is_finite() or volume <= 0:
            raise _reject(parse.INVALID_VOLUME, "the volume to close must be positive")
        if volume % inst.volume_step != 0:
            raise _reject(
                parse.INVALID_VOLUME,
                f"volume {_fmt(volume)} is not a multiple of the step {_fmt(inst.volume_step)} for {pos.symbol}",
            )
        if volume > pos.volume:
            raise _reject(
                parse.INVALID_VOLUME,
                f"cannot close {_fmt(volume)} of position {pos.position_id}, which holds {_fmt(pos.volume)}",
            )
        fill = self._fill_price(inst, intent, market)
        self._realize(pos, volume, fill)
        return PaperOrder(
            client_order_id=intent.client_order_id,
            kind=IntentKind.CLOSE,
            symbol=pos.symbol,
            side=pos.side.opposite,
            volume=volume,
            status=ReportStatus.CLOSED,
            venue_order_id=self._next_order_id(),
            comment=intent.comment,
            position_id=pos.position_id,
            filled_volume=volume,
            fill_price=fill,
        )

    def _modify(self, intent: OrderIntent) -> PaperOrder:
        if intent.position_id is None and intent.order_id is not None:
            return self._modify_pending(intent)
        position_id = intent.position_id or (intent.symbol if self.netting else None)
        pos = self._positions.get(position_id) if position_id else None
        if pos is None:
            raise _reject(parse.POSITION_NOT_FOUND, f"position {position_id or '(none given)'} is not open")
        inst, market = self._lookup(pos.symbol)
        sl = pos.sl if intent.sl is None else _level(intent.sl)
        tp = pos.tp if intent.tp is None else _level(intent.tp)
        _check_on_tick(inst, sl, "stop-loss")
        _check_on_tick(inst, tp, "take-profit")
        _check_stops(pos.side, market, sl, tp)
        pos.sl, pos.tp = sl, tp
        return PaperOrder(
            client_order_id=intent.client_order_id,
            kind=IntentKind.MODIFY,
            symbol=pos.symbol,
            side=pos.side,
            volume=ZERO,
            status=ReportStatus.MODIFIED,
            venue_order_id=self._next_order_id(),
            sl=sl,
            tp=tp,
            position_id=pos.position_id,
        )

    def _modify_pending(self, intent: OrderIntent) -> PaperOrder:
        order_id = intent.order_id or ""
        pending = self._pending.get(order_id)
        if pending is None:
            raise _reject(parse.ORDER_NOT_FOUND, f"pending order {order_id} does not exist")
        inst, _ = self._lookup(pending.symbol)
        price = pending.price if intent.price is None else intent.price
        if price is None or not price.is_finite() or price <= 0 or price % inst.tick_size != 0:
            raise _reject(parse.INVALID_PRICE, f"price {price} is not a valid price for {pending.symbol}")
        sl = pending.sl if intent.sl is None else _level(intent.sl)
        tp = pending.tp if intent.tp is None else _level(intent.tp)
        _check_on_tick(inst, sl, "stop-loss")
        _check_on_tick(inst, tp, "take-profit")
        _check_stops(pending.side, price, sl, tp)
        pending.price, pending.sl, pending.tp = price, sl, tp
        return PaperOrder(
            client_order_id=intent.client_order_id,
            kind=IntentKind.MODIFY,
            symbol=pending.symbol,
            side=pending.side,
            volume=ZERO,
            status=ReportStatus.MODIFIED,
            venue_order_id=pending.venue_order_id,
            price=price,
            sl=sl,
            tp=tp,
        )

    def _cancel(self, intent: OrderIntent) -> PaperOrder:
        order_id = intent.order_id or ""
        pending = self._pending.pop(order_id, None)
        if pending is None:
            raise _reject(parse.ORDER_NOT_FOUND, f"pending order {order_id or '(none given)'} does not exist")
        pending.status = ReportStatus.CANCELED
        pending.reason = "cancelled on request"
        return PaperOrder(
            client_order_id=intent.client_order_id,
            kind=IntentKind.CANCEL,
            symbol=pending.symbol,
            side=pending.side,
            volume=ZERO,
            status=ReportStatus.CANCELED,
            venue_order_id=pending.venue_order_id,
        )

    # ----------------------------------------------------------------- money

    def _margin(self, inst: Instrument, volume: Decimal, price: Decimal) -> Decimal:
        return volume * inst.contract_size * price * inst.quote_value / self.leverage

    def _check_margin(self, inst: Instrument, volume: Decimal, price: Decimal, *, released: Decimal) -> None:
        needed = self._margin(inst, volume, price)
        free = self.free_margin() + released
        if needed > free:
            raise _reject(
                parse.NO_MONEY,
                f"{_fmt(volume)} {inst.symbol} needs {_fmt(needed.quantize(CENT))} {self.currency} of margin; "
                f"{_fmt(max(free, ZERO).quantize(CENT))} is free",
            )

    def _realize(self, pos: PaperPosition, volume: Decimal, price: Decimal) -> None:
        inst = self._instruments[pos.symbol]
        pnl = pos.side.sign * (price - pos.open_price) * volume * inst.contract_size * inst.quote_value
        self.balance += pnl.quantize(CENT)
        pos.volume -= volume
        book = self._books[pos.symbol]
        book.add(-pos.side.sign, volume, pos.open_price)
        if pos.volume == 0:
            del self._positions[pos.position_id]
            if book.gross_volume == 0:
                # Start the next position on this symbol from exact zeros.
                del self._books[pos.symbol]

    def _insert(self, pos: PaperPosition) -> None:
        self._positions[pos.position_id] = pos
        book = self._books.get(pos.symbol)
        if book is None:
            book = self._books[pos.symbol] = _Book()
        book.add(pos.side.sign, pos.volume, pos.open_price)


def _check_volume(inst: Instrument, volume: Decimal) -> None:
    if not volume.is_finite() or volume <= 0:
        raise _reject(parse.INVALID_VOLUME, "the volume must be positive")
    if volume < inst.min_volume:
        raise _reject(
            parse.VOLUME_TOO_SMALL,
            f"volume {_fmt(volume)} is below the minimum {_fmt(inst.min_volume)} for {inst.symbol}",
        )
    if volume % inst.volume_step != 0:
        raise _reject(
            parse.INVALID_VOLUME,
            f"volume {_fmt(volume)} is not a multiple of the step {_fmt(inst.volume_step)} for {inst.symbol}",
        )
    if inst.max_volume is not None and volume > inst.max_volume:
        raise _reject(
            parse.VOLUME_TOO_LARGE,
            f"volume {_fmt(volume)} is above the maximum {_fmt(inst.max_volume)} for {inst.symbol}",
        )


def _check_notional(inst: Instrument, volume: Decimal, price: Decimal) -> None:
    if inst.min_notional is None:
        return
    notional = volume * inst.contract_size * price
    if notional < inst.min_notional:
        raise _reject(
            parse.NOTIONAL_TOO_SMALL,
            f"order value {_fmt(notional)} is below the minimum {_fmt(inst.min_notional)} for {inst.symbol}",
        )


def _check_on_tick(inst: Instrument, level: Decimal | None, what: str) -> None:
    if level is None:
        return
    if not level.is_finite() or level < 0 or level % inst.tick_size != 0:
        raise _reject(
            parse.INVALID_PRICE,
            f"{what} {level} is not a multiple of the tick {_fmt(inst.tick_size)} for {inst.symbol}",
        )


def _check_stops(side: Side, reference: Decimal, sl: Decimal | None, tp: Decimal | None) -> None:
    """A buy's stop-loss lies below ``reference`` and its take-profit above; a sell's the reverse."""
    if side is Side.BUY:
        bad_sl = sl is not None and sl >= reference
        bad_tp = tp is not None and tp <= reference
    else:
        bad_sl = sl is not None and sl <= reference
        bad_tp = tp is not None and tp >= reference
    if bad_sl:
        where = "below" if side is Side.BUY else "above"
        raise _reject(parse.INVALID_STOPS, f"a {side} stop-loss must be {where} {_fmt(reference)}, not {sl}")
    if bad_tp:
        where = "above" if side is Side.BUY else "below"
        raise _reject(parse.INVALID_STOPS, f"a {side} take-profit must be {where} {_fmt(reference)}, not {tp}")


def _stop_hit(pos: PaperPosition, price: Decimal) -> bool:
    if pos.side is Side.BUY:
        return (pos.sl is not None and price <= pos.sl) or (pos.tp is not None and price >= pos.tp)
    return (pos.sl is not None and price >= pos.sl) or (pos.tp is not None and price <= pos.tp)


def _crossed(order: PaperOrder, price: Decimal) -> bool:
    """True when ``price`` triggers the pending ``order``."""
    level = order.price
    if level is None:
        return False
    buy = order.side is Side.BUY
    if order.order_type is OrderType.LIMIT:
        return price <= level if buy else price >= level
    return price >= level if buy else price <= level
