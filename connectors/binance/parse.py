"""Binance USDⓈ-M JSON → Copier types, and the one mapping from venue error codes to typed errors."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from core.enums import OrderType, Side
from core.errors import (
    ConfigError,
    CopierError,
    OutcomeUnknown,
    RateLimited,
    TransientError,
    VenueError,
    VenueRejected,
)
from core.instrument import Instrument
from core.orders import AccountState, ExecutionReport, Position, ReportStatus, VenueOrder

ZERO = Decimal(0)


class Banned(RateLimited):
    """The venue banned this IP (HTTP 418): nothing may be sent until ``retry_after`` has passed."""


class Fate(Enum):
    """What a venue error code means for the caller."""

    REJECTED = "rejected"
    TRANSIENT = "transient"
    RATE_LIMITED = "rate_limited"
    UNKNOWN = "unknown"
    CONFIG = "config"


# The one table from venue error code to consequence; message text is never consulted.
ERROR_CODES: dict[int, tuple[Fate, str]] = {
    -1000: (Fate.UNKNOWN, ""),  # unknown error while processing the request
    -1001: (Fate.UNKNOWN, ""),  # internal error; unable to process, outcome unclear
    -1003: (Fate.RATE_LIMITED, ""),  # too many requests
    -1007: (Fate.UNKNOWN, ""),  # backend timeout: execution status unknown
    -1008: (Fate.TRANSIENT, ""),  # server overloaded, request not processed
    -1015: (Fate.RATE_LIMITED, ""),  # too many new orders
    -1021: (Fate.TRANSIENT, ""),  # timestamp outside recvWindow: resync clock, retry
    -1022: (Fate.CONFIG, "api_secret"),  # signature not valid
    -1102: (Fate.REJECTED, ""),  # mandatory parameter missing
    -1106: (Fate.REJECTED, ""),  # parameter sent when not required
    -1111: (Fate.REJECTED, ""),  # precision over the maximum
    -1116: (Fate.REJECTED, ""),  # invalid order type
    -1121: (Fate.REJECTED, ""),  # invalid symbol
    -2010: (Fate.REJECTED, ""),  # new order rejected
    -2013: (Fate.REJECTED, ""),  # order does not exist
    -2014: (Fate.CONFIG, "api_key"),  # API key format invalid
    -2015: (Fate.CONFIG, "api_key"),  # invalid API key, IP or permissions
    -2019: (Fate.REJECTED, ""),  # margin is insufficient
    -2021: (Fate.REJECTED, ""),  # order would immediately trigger
    -2022: (Fate.REJECTED, ""),  # reduce-only order rejected
    -4003: (Fate.REJECTED, ""),  # quantity less than or equal to zero
    -4004: (Fate.REJECTED, ""),  # quantity below minimum
    -4005: (Fate.REJECTED, ""),  # quantity above maximum
    -4014: (Fate.REJECTED, ""),  # price not a multiple of tick size
    -4023: (Fate.REJECTED, ""),  # quantity not a multiple of step size
    -4061: (Fate.CONFIG, "hedge_mode"),  # position side does not match the account's mode
    -4116: (Fate.REJECTED, ""),  # duplicate client order id
    -4130: (Fate.REJECTED, ""),  # a close-position stop in this direction already exists
    -4164: (Fate.REJECTED, ""),  # notional below minimum
}

DUPLICATE_CLIENT_ID = -4116
BELOW_MINIMUM = -4004
ABOVE_MAXIMUM = -4005
OFF_STEP = -4023
ORDER_NOT_FOUND = -2013
TIMESTAMP_OUTSIDE_WINDOW = -1021


def venue_error(
    http_status: int,
    code: int | None,
    message: str,
    *,
    account: str = "",
    retry_after: float | None = None,
    sent: bool = True,
) -> CopierError:
    """The typed error for one failed venue answer.

    HTTP status decides first where it is unambiguous (418 ban, 429 rate limit, 5xx unknown when
    the request was sent); otherwise the venue code is looked up in :data:`ERROR_CODES`. A 4xx
    with an unlisted code is a rejection: the venue answered and did not act.
    """
    reason = message or f"HTTP {http_status}"
    if http_status == 418:
        return Banned(reason, code=code if code is not None else 418, retry_after=retry_after or 120.0)
    if http_status == 429:
        return RateLimited(reason, code=code if code is not None else 429, retry_after=retry_after or 1.0)
    fate: Fate | None = None
    key = ""
    if code is not None and code in ERROR_CODES:
        fate, key = ERROR_CODES[code]
    elif http_status >= 500:
        fate = Fate.UNKNOWN
    elif code is None and http_status < 400:
        fate = Fate.UNKNOWN
    else:
        fate = Fate.REJECTED
    if http_status >= 500 and fate is Fate.REJECTED:
        fate = Fate.UNKNOWN
    if fate is Fate.UNKNOWN and not sent:
        fate = Fate.TRANSIENT
    shown = code if code is not None else http_status
    if fate is Fate.REJECTED:
        return VenueRejected(reason, code=shown)
    if fate is Fate.TRANSIENT:
        return TransientError(reason, code=shown)
    if fate is Fate.RATE_LIMITED:
        return RateLimited(reason, code=shown, retry_after=retry_after or 1.0)
    if fate is Fate.CONFIG:
        return ConfigError(f"venue refused credentials or settings: {reason} (code {shown})", _path(account, key))
    return OutcomeUnknown(reason, code=shown)


def _path(account: str, key: str) -> str:
    return f"accounts.{account}.{key}" if account else key


def error_code(error: BaseException) -> int | None:
    """The numeric venue code carried by ``error``, if any."""
    if isinstance(error, VenueError) and isinstance(error.code, int):
        return error.code
    return None


def dec(value: Any) -> Decimal:
    """A venue number (string or number) as ``Decimal`` without trailing fractional zeros."""
    if isinstance(value, Decimal):
        return value
    text = str(value)
    if "." in text and "e" not in text.lower():
        text = text.rstrip("0").rstrip(".") or "0"
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc


def fmt(value: Decimal) -> str:
    """A ``Decimal`` as the venue expects it on the wire: plain digits, no exponent."""
    return format(value, "f")


def instrument(symbol: Mapping[str, Any]) -> Instrument:
    """One ``exchangeInfo`` symbol as an :class:`Instrument` (volumes in base quantity).

    ``LOT_SIZE`` and ``MARKET_LOT_SIZE`` are merged conservatively: the coarser step, the larger
    minimum and the smaller maximum, so a volume valid here is valid for either order type.
    """
    filters = {f["filterType"]: f for f in symbol.get("filters", ())}
    lot = filters.get("LOT_SIZE")
    if lot is None:
        raise ValueError(f"{symbol.get('symbol')}: no LOT_SIZE filter")
    step, min_qty, max_qty = dec(lot["stepSize"]), dec(lot["minQty"]), dec(lot["maxQty"])
    market = filters.get("MARKET_LOT_SIZE")
    if market is not None:
        m_step = dec(market["stepSize"])
        if m_step > step:
            step = m_step
        min_qty = max(min_qty, dec(market["minQty"]))
        m_max = dec(market["maxQty"])
        if m_max > 0:
            max_qty = min(max_qty, m_max)
    tick = dec(filters["PRICE_FILTER"]["tickSize"]) if "PRICE_FILTER" in filters else Decimal("0.01")
    notional = filters.get("MIN_NOTIONAL")
    return Instrument(
        symbol=symbol["symbol"],
        volume_step=step,
        min_volume=min_qty,
        tick_size=tick,
        max_volume=max_qty if max_qty > 0 else None,
        min_notional=dec(notional["notional"]) if notional is not None else None,
    )


def instruments(exchange_info: Mapping[str, Any]) -> dict[str, Instrument]:
    """Tradable perpetual and delivery contracts of an ``exchangeInfo`` answer, by symbol."""
    out: dict[str, Instrument] = {}
    for symbol in exchange_info.get("symbols", ()):
        if symbol.get("status", "TRADING") != "TRADING":
            continue
        try:
            out[symbol["symbol"]] = instrument(symbol)
        except (KeyError, ValueError):
            continue
    return out


def position_id(symbol: str, position_side: str) -> str:
    """Copier's id for a Binance position: one per symbol and position side."""
    return f"{symbol}:{position_side}"


def split_position_id(pid: str) -> tuple[str, str]:
    """``BTCUSDT:LONG`` → (``BTCUSDT``, ``LONG``); a bare symbol means the one-way ``BOTH`` side."""
    symbol, _, side = pid.partition(":")
    return symbol, (side or "BOTH")


def position(risk: Mapping[str, Any]) -> Position | None:
    """One ``positionRisk`` entry as a :class:`Position`, or None when it is flat."""
    amount = dec(risk["positionAmt"])
    if amount == 0:
        return None
    ps = risk.get("positionSide", "BOTH")
    if ps == "LONG":
        side = Side.BUY
    elif ps == "SHORT":
        side = Side.SELL
    else:
        side = Side.BUY if amount > 0 else Side.SELL
    return Position(
        position_id=position_id(risk["symbol"], ps),
        symbol=risk["symbol"],
        side=side,
        volume=abs(amount),
        open_price=dec(risk.get("entryPrice", "0")),
    )


def account(info: Mapping[str, Any]) -> AccountState:
    """``GET /fapi/v3/account`` as :class:`AccountState` (wallet balance and margin balance)."""
    positions = info.get("positions") or ()
    open_count = sum(1 for p in positions if dec(p.get("positionAmt", "0")) != 0)
    return AccountState(
        balance=dec(info.get("totalWalletBalance", "0")),
        equity=dec(info.get("totalMarginBalance", info.get("totalWalletBalance", "0"))),
        currency="USDT",
        open_positions=open_count,
    )


_STATUS = {
    "NEW": ReportStatus.ACCEPTED,
    "PARTIALLY_FILLED": ReportStatus.FILLED,
    "FILLED": ReportStatus.FILLED,
    "CANCELED": ReportStatus.CANCELED,
    "EXPIRED": ReportStatus.CANCELED,
    "EXPIRED_IN_MATCH": ReportStatus.CANCELED,
    "REJECTED": ReportStatus.CANCELED,
}

_ALGO_STATUS = {
    "NEW": ReportStatus.ACCEPTED,
    "TRIGGERING": ReportStatus.ACCEPTED,
    "TRIGGERED": ReportStatus.FILLED,
    "FINISHED": ReportStatus.FILLED,
    "CANCELED": ReportStatus.CANCELED,
    "EXPIRED": ReportStatus.CANCELED,
    "REJECTED": ReportStatus.CANCELED,
}


def order_report(order: Mapping[str, Any], t_wire_ns: int, t_ack_ns: int, *, closing: bool = False) -> ExecutionReport:
    """An order answer (``POST``/``GET /fapi/v1/order`` or ``order.place``) as an :class:`ExecutionReport`."""
    filled = dec(order.get("executedQty", "0"))
    avg = dec(order.get("avgPrice", "0"))
    status = _STATUS.get(order.get("status", "NEW"), ReportStatus.ACCEPTED)
    if closing and status is ReportStatus.FILLED:
        status = ReportStatus.CLOSED
    return ExecutionReport(
        client_order_id=order.get("clientOrderId", ""),
        status=status,
        venue_order_id=str(order["orderId"]) if "orderId" in order else None,
        position_id=position_id(order["symbol"], order.get("positionSide", "BOTH")) if "symbol" in order else None,
        filled_volume=filled,
        fill_price=avg if avg > 0 else None,
        t_wire_ns=t_wire_ns,
        t_ack_ns=t_ack_ns,
    )


ALGO_PREFIX = "algo:"


def algo_report(order: Mapping[str, Any], t_wire_ns: int, t_ack_ns: int) -> ExecutionReport:
    """An algo (conditional) order answer as an :class:`ExecutionReport`; its id is ``algo:<algoId>``."""
    filled = dec(order.get("executedQty") or "0")
    avg = dec(order.get("avgPrice") or "0")
    return ExecutionReport(
        client_order_id=order.get("clientAlgoId", ""),
        status=_ALGO_STATUS.get(order.get("algoStatus", "NEW"), ReportStatus.ACCEPTED),
        venue_order_id=f"{ALGO_PREFIX}{order['algoId']}" if "algoId" in order else None,
        position_id=position_id(order["symbol"], order.get("positionSide", "BOTH")) if "symbol" in order else None,
        filled_volume=filled,
        fill_price=avg if avg > 0 else None,
        t_wire_ns=t_wire_ns,
        t_ack_ns=t_ack_ns,
    )


def venue_algo_order(algo: Mapping[str, Any], actual: Mapping[str, Any] | None) -> VenueOrder | None:
    """One stop entry of ``GET /fapi/v1/openAlgoOrders`` or ``/fapi/v1/allAlgoOrders`` as a
    :class:`VenueOrder` under its ``clientAlgoId``: STOP at its trigger price, ``algo:<algoId>``
    while it waits; once triggered, it is the order it placed (``actual``, its ``actualOrderId`` in
    ``allOrders``, whose own client id is the venue's): that order's status, fill, venue id, type
    and price, so a triggered stop-limit entry still resting is a LIMIT at its limit price.

    Binance keeps an order with a fill for 90 days and drops one that ended without a fill after
    3 days; within the 7 days adoption looks back, a placed order the venue no longer has
    (``actual`` None while ``actualOrderId`` is set) ended without a fill, and the entry is listed
    as canceled.

    A close-position order is a position's stop-loss or take-profit, not an order of a signal of
    its own: None, as for a side or status it does not know.
    """
    side = parse_side(algo.get("side"))
    status = _ALGO_STATUS.get(str(algo.get("algoStatus", "")))
    if side is None or status is None or "symbol" not in algo or is_true(algo.get("closePosition")):
        return None
    trigger = dec(str(algo.get("triggerPrice") or "0"))
    volume = dec(str(algo.get("quantity") or "0"))
    filled, average = ZERO, None
    venue_id: str | None = f"{ALGO_PREFIX}{algo.get('algoId', '')}"
    order_type, price = OrderType.STOP, (trigger if trigger > 0 else None)
    placed = venue_order(actual) if actual is not None else None
    placed_id = str(algo.get("actualOrderId") or "")
    if placed is not None:
        status, filled, average = placed.status, placed.filled_volume, placed.average_price
        venue_id, order_type, price = placed.venue_order_id, placed.order_type, placed.price
    elif placed_id:
        status, venue_id = ReportStatus.CANCELED, placed_id
    elif status is ReportStatus.FILLED:
        # Triggered without the placed order's id: the fill as far as the algo order itself says.
        filled = dec(str(algo.get("executedQty") or "0"))
        avg = dec(str(algo.get("avgPrice") or "0"))
        average = avg if avg > 0 else None
    ps = str(algo.get("positionSide") or "BOTH")
    closing = _closing(algo, ps, side)
    if closing and status is ReportStatus.FILLED:
        status = ReportStatus.CLOSED
    return VenueOrder(
        client_order_id=str(algo.get("clientAlgoId", "")),
        symbol=str(algo["symbol"]),
        side=side,
        volume=volume,
        filled_volume=filled,
        status=status,
        venue_order_id=venue_id,
        position_id=position_id(str(algo["symbol"]), ps),
        average_price=average,
        time_ms=int(algo.get("createTime") or algo.get("updateTime") or 0),
        reduce_only=closing,
        order_type=order_type,
        price=price,
    )


_SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}


def parse_side(value: object) -> Side | None:
    """A Binance side (``BUY``/``SELL``), or None for anything else."""
    return _SIDES.get(str(value))


def is_true(value: object) -> bool:
    """A Binance boolean, sent as JSON ``true`` or as the string ``"true"``."""
    return value is True or str(value).lower() == "true"


def _closing(order: Mapping[str, Any], position_side: str, side: Side) -> bool:
    """Whether an order closes or reduces: reduce-only, close-position, or in hedge mode trading
    against its position side."""
    return (
        is_true(order.get("reduceOnly"))
        or is_true(order.get("closePosition"))
        or (position_side, side) in (("LONG", Side.SELL), ("SHORT", Side.BUY))
    )


_VENUE_ORDER_STATUS = {
    "NEW": ReportStatus.ACCEPTED,
    "PARTIALLY_FILLED": ReportStatus.ACCEPTED,
    "FILLED": ReportStatus.FILLED,
    "CANCELED": ReportStatus.CANCELED,
    "EXPIRED": ReportStatus.CANCELED,
    "EXPIRED_IN_MATCH": ReportStatus.CANCELED,
}


def venue_order(order: Mapping[str, Any]) -> VenueOrder | None:
    """One order of ``GET /fapi/v1/openOrders`` or ``/fapi/v1/allOrders`` as a :class:`VenueOrder`.

    A partially filled order still rests (ACCEPTED); rejected orders, which never existed, are None.
    """
    status = _VENUE_ORDER_STATUS.get(str(order.get("status", "")))
    side = parse_side(order.get("side"))
    if status is None or side is None or "symbol" not in order:
        return None
    ps = str(order.get("positionSide", "BOTH"))
    closing = _closing(order, ps, side)
    if closing and status is ReportStatus.FILLED:
        status = ReportStatus.CLOSED
    limit = str(order.get("origType") or order.get("type", "")) == "LIMIT"
    price = dec(order.get("price") or "0")
    avg = dec(order.get("avgPrice") or "0")
    return VenueOrder(
        client_order_id=str(order.get("clientOrderId", "")),
        symbol=str(order["symbol"]),
        side=side,
        volume=dec(order.get("origQty") or "0"),
        filled_volume=dec(order.get("executedQty") or "0"),
        status=status,
        venue_order_id=str(order["orderId"]) if "orderId" in order else None,
        position_id=position_id(str(order["symbol"]), ps),
        average_price=avg if avg > 0 else None,
        time_ms=int(order.get("time") or order.get("updateTime") or 0),
        reduce_only=closing,
        order_type=OrderType.LIMIT if limit else OrderType.MARKET,
        price=price if limit and price > 0 else None,
    )
