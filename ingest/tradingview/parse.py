"""TradingView alert bodies → ``Signal``.

The JSON form::

    {"action": "buy", "symbol": "EURUSD", "volume": 0.1, "price": 1.085, "sl": 1.08, "tp": 1.09,
     "id": "alert-42", "passphrase": "…"}

``action`` is one of buy, sell, close, close_long, close_short, modify; ``symbol`` may be spelled
``ticker``; ``volume`` may be spelled ``contracts`` or ``qty``; ``percent`` turns a close into a
partial close of that share of the position. Every problem raises ``ParseError`` naming the field.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from core.enums import Action, LevelUnit, OrderType, Side, VolumeKind
from core.errors import ParseError
from core.signal import Level, Signal

MAX_ID_LENGTH = 128

_ACTIONS: dict[str, tuple[Action, Side | None]] = {
    "buy": (Action.OPEN, Side.BUY),
    "sell": (Action.OPEN, Side.SELL),
    "long": (Action.OPEN, Side.BUY),
    "short": (Action.OPEN, Side.SELL),
    "close": (Action.CLOSE, None),
    "exit": (Action.CLOSE, None),
    "close_long": (Action.CLOSE, Side.BUY),
    "close_short": (Action.CLOSE, Side.SELL),
    "close_all": (Action.CLOSE_ALL, None),
    "modify": (Action.MODIFY, None),
}

_ORDER_TYPES = {"market": OrderType.MARKET, "limit": OrderType.LIMIT, "stop": OrderType.STOP}


@dataclass(frozen=True, slots=True)
class ParsedAlert:
    signal: Signal
    passphrase: str | None


def parse_alert(body: bytes, *, source: str, received_ns: int | None = None) -> ParsedAlert:
    """Parse one webhook body. Raises ``ParseError`` (status 400 for bad JSON, 422 for bad content)."""
    if received_ns is None:
        received_ns = time.monotonic_ns()
    text = body.strip()
    if not text:
        raise ParseError("empty body: send the alert as JSON", status=400)
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"malformed JSON: {exc}", status=400) from None
    if not isinstance(data, dict):
        raise ParseError(f"the alert must be a JSON object, not {type(data).__name__}", status=422)
    return ParsedAlert(parse_fields(data, source=source, raw=body, received_ns=received_ns), _text(data, "passphrase"))


def parse_fields(data: dict[str, Any], *, source: str, raw: bytes, received_ns: int) -> Signal:
    action_text = _text(data, "action")
    if action_text is None:
        raise ParseError("missing field 'action' (buy, sell, close, close_long, close_short or modify)", "action", 422)
    mapped = _ACTIONS.get(action_text.strip().lower())
    if mapped is None:
        raise ParseError(
            f"unknown action {action_text!r}; use buy, sell, close, close_long, close_short or modify", "action", 422
        )
    action, side = mapped
    symbol = _text(data, "symbol", "ticker")
    if not symbol and action is not Action.CLOSE_ALL:
        raise ParseError("missing field 'symbol' (or 'ticker')", "symbol", 422)
    volume = _decimal(data, "volume", "contracts", "qty")
    if volume is not None and volume <= 0 and action is Action.OPEN:
        raise ParseError(f"volume must be positive, got {volume}", "volume", 422)
    volume_kind = VolumeKind.LOTS
    percent = _decimal(data, "percent")
    if percent is not None:
        if not Decimal(0) < percent <= Decimal(100):
            raise ParseError(f"percent must be between 0 and 100, got {percent}", "percent", 422)
        if action is Action.CLOSE and percent < 100:
            action, volume, volume_kind = Action.CLOSE_PART, percent / 100, VolumeKind.FRACTION
    order_type = OrderType.MARKET
    type_text = _text(data, "order_type", "type")
    if type_text is not None:
        found = _ORDER_TYPES.get(type_text.strip().lower())
        if found is None:
            raise ParseError(f"unknown order type {type_text!r}; use market, limit or stop", "order_type", 422)
        order_type = found
    price = _decimal(data, "price")
    if order_type is not OrderType.MARKET and price is None:
        raise ParseError(f"a {order_type.value} order needs 'price'", "price", 422)
    sl = _decimal(data, "sl")
    tp = _decimal(data, "tp")
    if action is Action.MODIFY and sl is None and tp is None:
        raise ParseError("modify needs 'sl' or 'tp'", "sl", 422)
    origin = _text(data, "id")
    if origin is not None and len(origin) > MAX_ID_LENGTH:
        raise ParseError(f"'id' is longer than {MAX_ID_LENGTH} characters", "id", 422)
    return Signal(
        source=source,
        action=action,
        symbol=symbol.strip() if symbol else None,
        side=side,
        order_type=order_type,
        volume=volume,
        volume_kind=volume_kind,
        price=price,
        sl=Level(sl, LevelUnit.PRICE) if sl is not None else None,
        tps=(Level(tp, LevelUnit.PRICE),) if tp is not None else (),
        comment=_text(data, "comment"),
        origin_id=origin,
        raw=raw.decode("utf-8", "replace"),
        received_ns=received_ns,
    )


def _text(data: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ParseError(f"field {name!r} must be text, got {type(value).__name__}", name, 422)
    return None


def _decimal(data: dict[str, Any], *names: str) -> Decimal | None:
    for name in names:
        value = data.get(name)
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            raise ParseError(f"field {name!r} must be a number, got a boolean", name, 422)
        try:
            number = Decimal(str(value).strip()) if isinstance(value, str | int | float) else None
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise ParseError(f"field {name!r} must be a number, got {value!r}", name, 422)
        return number
    return None
