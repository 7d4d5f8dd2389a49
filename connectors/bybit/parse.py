"""Bybit v5 JSON into core types, and the one mapping from Bybit ``retCode`` to typed errors.

The codes come from Bybit's v5 error-code page (bybit-exchange.github.io/docs/v5/error) and the
WebSocket order-entry guideline. They are matched by number only, never by message text.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from core.enums import OrderType, Side
from core.errors import ConfigError, OutcomeUnknown, RateLimited, TransientError, VenueError, VenueRejected
from core.instrument import Instrument
from core.orders import AccountState, ExecutionReport, Position, ReportStatus, VenueOrder

CATEGORY = "linear"

# retCode -> (error class, what it means). Anything not listed with a non-zero code is a rejection.
RET_CODES: dict[int, tuple[type[Exception], str]] = {
    # the request surely did not act: safe to send again
    10002: (TransientError, "request timestamp outside the receive window"),
    10019: (TransientError, "WebSocket trade service restarting; new requests refused"),
    20006: (TransientError, "duplicate reqId on the WebSocket"),
    # the venue may have acted: reconcile by orderLinkId
    10000: (OutcomeUnknown, "server timeout"),
    10016: (OutcomeUnknown, "server error"),
    # too many requests
    10006: (RateLimited, "too many visits: API rate limit exceeded"),
    10018: (RateLimited, "IP rate limit exceeded"),
    10429: (RateLimited, "system-level frequency protection"),
    20003: (RateLimited, "too many requests on this WebSocket session"),
    429: (RateLimited, "trading service under high load"),
    # credentials and permissions: the operator must act
    10003: (ConfigError, "API key invalid (or wrong environment: mainnet, testnet, demo)"),
    10004: (ConfigError, "signature invalid: check the API secret"),
    10005: (ConfigError, "API key lacks the required permission"),
    10007: (ConfigError, "user authentication failed"),
    10009: (ConfigError, "IP banned"),
    10010: (ConfigError, "request IP not bound to this API key"),
    33004: (ConfigError, "API key expired"),
    # clear refusals
    10001: (VenueRejected, "request parameter error"),
    10029: (VenueRejected, "symbol not allowed"),
    110001: (VenueRejected, "order does not exist"),
    110003: (VenueRejected, "order price outside the allowed range"),
    110004: (VenueRejected, "wallet balance insufficient"),
    110006: (VenueRejected, "assets cannot cover the position margin"),
    110007: (VenueRejected, "available balance insufficient"),
    110008: (VenueRejected, "order already completed or cancelled"),
    110009: (VenueRejected, "too many stop orders"),
    110010: (VenueRejected, "order already cancelled"),
    110012: (VenueRejected, "available balance insufficient"),
    110017: (VenueRejected, "reduce-only rule not satisfied: no position to reduce"),
    110020: (VenueRejected, "too many active orders"),
    110044: (VenueRejected, "available margin insufficient"),
    110045: (VenueRejected, "wallet balance insufficient"),
    110072: (VenueRejected, "orderLinkId is a duplicate"),
    110079: (TransientError, "order is being processed; try again"),
    110094: (VenueRejected, "order notional value below the minimum"),
}
DUPLICATE_ORDER_LINK_ID = 110072
TIMESTAMP_OUT_OF_WINDOW = 10002


def error_for(
    code: int,
    message: str,
    *,
    reset_ms: int | None = None,
    now_ms: int | None = None,
    account: str = "",
) -> Exception:
    """The typed error for a non-zero ``retCode``.

    ``reset_ms`` is ``X-Bapi-Limit-Reset-Timestamp`` when the venue sent one; a rate limit then
    waits until that moment.
    """
    kind, meaning = RET_CODES.get(code, (VenueRejected, "refused by Bybit"))
    reason = f"{meaning}: {message}" if message else meaning
    if kind is RateLimited:
        retry_after = 1.0
        if reset_ms is not None:
            now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
            retry_after = max(0.05, (reset_ms - now) / 1000)
        return RateLimited(reason, code, retry_after=retry_after)
    if kind is ConfigError:
        return ConfigError(f"{reason} (Bybit retCode {code})", f"accounts.{account}.api_key" if account else "api_key")
    assert issubclass(kind, VenueError)
    return kind(reason, code)


def error_for_http(status: int, body: str = "", *, reset_ms: int | None = None, now_ms: int | None = None) -> Exception:
    """The typed error for an HTTP status that carries no ``retCode``.

    5xx: the request may have been processed, so the outcome is unknown. 429 and 403 (Bybit's IP
    limit): rate limited. Other 4xx: nothing was acted on.
    """
    snippet = body[:200]
    if status >= 500:
        return OutcomeUnknown(f"HTTP {status} from Bybit {snippet}".strip(), status)
    if status in (403, 429):
        retry_after = 1.0
        if reset_ms is not None:
            now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
            retry_after = max(0.05, (reset_ms - now) / 1000)
        elif status == 403:
            retry_after = 60.0
        return RateLimited(f"HTTP {status}: request rate limited or IP banned", status, retry_after=retry_after)
    if status == 401:
        return ConfigError(f"HTTP 401 from Bybit: key missing or wrong {snippet}".strip(), "api_key")
    return VenueRejected(f"HTTP {status} from Bybit {snippet}".strip(), status)


def reset_timestamp(headers: Mapping[str, str] | None) -> int | None:
    """``X-Bapi-Limit-Reset-Timestamp`` as milliseconds, when present and numeric."""
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == "x-bapi-limit-reset-timestamp":
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    return None


def dec(value: Any) -> Decimal | None:
    """Bybit's numeric strings as ``Decimal``; empty strings and zeros where "none" is meant are None."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def dec0(value: Any) -> Decimal:
    parsed = dec(value)
    return parsed if parsed is not None else Decimal(0)


def price_or_none(value: Any) -> Decimal | None:
    """A price field where ``"0"`` or ``""`` means "not set" (Bybit's SL/TP convention)."""
    parsed = dec(value)
    return parsed if parsed else None


def instrument_from(item: Mapping[str, Any]) -> Instrument:
    """``/v5/market/instruments-info`` list item → :class:`Instrument` (base-coin quantities)."""
    lot = item.get("lotSizeFilter") or {}
    price = item.get("priceFilter") or {}
    step = dec(lot.get("qtyStep"))
    tick = dec(price.get("tickSize"))
    if step is None or tick is None:
        raise ValueError(f"instrument {item.get('symbol')!r} lacks qtyStep or tickSize")
    return Instrument(
        symbol=str(item["symbol"]),
        volume_step=step,
        min_volume=dec0(lot.get("minOrderQty")),
        tick_size=tick,
        max_volume=dec(lot.get("maxOrderQty")),
        contract_size=Decimal(1),
        min_notional=dec(lot.get("minNotionalValue")),
    )


def position_id(symbol: str, position_idx: int) -> str:
    """Bybit has no position ids: a linear position is named by symbol and ``positionIdx``."""
    return f"{symbol}:{position_idx}"


def split_position_id(value: str) -> tuple[str, int] | None:
    symbol, sep, idx = value.rpartition(":")
    if not sep or not symbol or idx not in ("0", "1", "2"):
        return None
    return symbol, int(idx)


def side_from(value: str) -> Side | None:
    if value == "Buy":
        return Side.BUY
    if value == "Sell":
        return Side.SELL
    return None


def side_to(side: Side) -> str:
    return "Buy" if side is Side.BUY else "Sell"


def position_from(item: Mapping[str, Any]) -> Position | None:
    """``/v5/position/list`` (or ``position`` stream) item → :class:`Position`; flat slots → None."""
    size = dec0(item.get("size"))
    side = side_from(str(item.get("side", "")))
    if size == 0 or side is None:
        return None
    idx = int(item.get("positionIdx", 0) or 0)
    symbol = str(item["symbol"])
    return Position(
        position_id=position_id(symbol, idx),
        symbol=symbol,
        side=side,
        volume=size,
        open_price=dec0(item.get("avgPrice") or item.get("entryPrice")),
        sl=price_or_none(item.get("stopLoss")),
        tp=price_or_none(item.get("takeProfit")),
    )


def account_from(item: Mapping[str, Any], open_positions: int = 0) -> AccountState:
    """``/v5/account/wallet-balance`` (or ``wallet`` stream) item → :class:`AccountState` in USD."""
    return AccountState(
        balance=dec0(item.get("totalWalletBalance")),
        equity=dec0(item.get("totalEquity")),
        currency="USD",
        open_positions=open_positions,
    )


FILLED_STATES = frozenset({"Filled"})
CANCELED_STATES = frozenset({"Cancelled", "PartiallyFilledCanceled", "Deactivated"})
REJECTED_STATES = frozenset({"Rejected"})
OPEN_STATES = frozenset({"New", "PartiallyFilled", "Untriggered", "Triggered", "Created"})


def report_from_order(item: Mapping[str, Any], t_wire_ns: int, t_ack_ns: int) -> ExecutionReport:
    """An order record (REST ``/v5/order/*`` or the ``order`` stream) → :class:`ExecutionReport`.

    A Bybit order that exists but was rejected by the matching engine becomes
    :class:`VenueRejected` (raised), so a report always describes an order that exists.
    """
    status_text = str(item.get("orderStatus", ""))
    if status_text in REJECTED_STATES:
        raise VenueRejected(f"order rejected by Bybit: {item.get('rejectReason', '')}", "Rejected")
    filled = dec0(item.get("cumExecQty"))
    if status_text in FILLED_STATES:
        status = ReportStatus.FILLED
    elif status_text in CANCELED_STATES:
        status = ReportStatus.CANCELED
    else:
        status = ReportStatus.ACCEPTED
    symbol = str(item.get("symbol", ""))
    idx = int(item.get("positionIdx", 0) or 0)
    return ExecutionReport(
        client_order_id=str(item.get("orderLinkId", "")),
        status=status,
        venue_order_id=str(item["orderId"]) if item.get("orderId") else None,
        position_id=position_id(symbol, idx) if symbol else None,
        filled_volume=filled,
        fill_price=price_or_none(item.get("avgPrice")) if filled else None,
        t_wire_ns=t_wire_ns,
        t_ack_ns=t_ack_ns,
    )


def is_final(item: Mapping[str, Any]) -> bool:
    state = str(item.get("orderStatus", ""))
    return state in FILLED_STATES or state in CANCELED_STATES or state in REJECTED_STATES


def venue_order(item: Mapping[str, Any]) -> VenueOrder | None:
    """One order of ``/v5/order/realtime`` or ``/v5/order/history`` as a :class:`VenueOrder`.

    Orders the matching engine rejected never existed and are None; a conditional order that has
    not triggered rests (ACCEPTED).
    """
    state = str(item.get("orderStatus", ""))
    side = side_from(str(item.get("side", "")))
    if side is None or state in REJECTED_STATES:
        return None
    if state in FILLED_STATES:
        status = ReportStatus.FILLED
    elif state in CANCELED_STATES:
        status = ReportStatus.CANCELED
    else:
        status = ReportStatus.ACCEPTED
    idx = int(item.get("positionIdx", 0) or 0)
    reduce_only = item.get("reduceOnly") in (True, "true", "True")
    closing = reduce_only or (idx == 1 and side is Side.SELL) or (idx == 2 and side is Side.BUY)
    if closing and status is ReportStatus.FILLED:
        status = ReportStatus.CLOSED
    filled = dec0(item.get("cumExecQty"))
    symbol = str(item.get("symbol", ""))
    limit = str(item.get("orderType", "")) == "Limit"
    return VenueOrder(
        client_order_id=str(item.get("orderLinkId", "")),
        symbol=symbol,
        side=side,
        volume=dec0(item.get("qty")),
        filled_volume=filled,
        status=status,
        venue_order_id=str(item["orderId"]) if item.get("orderId") else None,
        position_id=position_id(symbol, idx) if symbol else None,
        average_price=price_or_none(item.get("avgPrice")) if filled else None,
        time_ms=int(dec0(item.get("createdTime"))),
        reduce_only=closing,
        order_type=OrderType.LIMIT if limit else OrderType.MARKET,
        price=price_or_none(item.get("price")) if limit else None,
    )
