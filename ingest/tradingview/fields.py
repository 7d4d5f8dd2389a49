"""Alert fields → ``Signal``: the vocabulary every TradingView form shares.

Each form (JSON, PineConnector, key=value) is first read into a flat mapping whose keys are
*normalized*: lower case with everything but letters and digits removed, so ``order_action``,
``orderAction`` and ``order-action`` are one field. :func:`interpret` reads that mapping.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from core.enums import Action, LevelUnit, OrderType, Side, VolumeKind
from core.errors import ParseError
from core.signal import Level, Signal
from ingest.tradingview.options import AlertOptions

MAX_ID_LENGTH = 128

#: Fields that authenticate; never part of the signal or of its content hash.
AUTH_KEYS = ("passphrase", "token", "secret", "key")

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")

_BUY, _SELL = Side.BUY, Side.SELL
_O, _C, _M, _X, _A = Action.OPEN, Action.CLOSE, Action.MODIFY, Action.CANCEL, Action.CLOSE_ALL

#: Normalized action word → (action, side, order type implied by the word).
ACTIONS: dict[str, tuple[Action, Side | None, OrderType | None]] = {
    **dict.fromkeys(("buy", "long", "bull", "bullish", "openlong", "enterlong", "longentry"), (_O, _BUY, None)),
    **dict.fromkeys(("sell", "short", "bear", "bearish", "openshort", "entershort", "shortentry"), (_O, _SELL, None)),
    "buylimit": (_O, _BUY, OrderType.LIMIT),
    "selllimit": (_O, _SELL, OrderType.LIMIT),
    "buystop": (_O, _BUY, OrderType.STOP),
    "sellstop": (_O, _SELL, OrderType.STOP),
    **dict.fromkeys(("close", "exit", "flat", "closeposition"), (_C, None, None)),
    **dict.fromkeys(("closelong", "exitlong", "longexit"), (_C, _BUY, None)),
    **dict.fromkeys(("closeshort", "exitshort", "shortexit"), (_C, _SELL, None)),
    **dict.fromkeys(("closeall", "exitall"), (_A, None, None)),
    **dict.fromkeys(("modify", "newsltp", "update"), (_M, None, None)),
    **dict.fromkeys(("newsltplong", "modifylong"), (_M, _BUY, None)),
    **dict.fromkeys(("newsltpshort", "modifyshort"), (_M, _SELL, None)),
    **dict.fromkeys(("cancel", "cancelall"), (_X, None, None)),
    "cancellong": (_X, _BUY, None),
    "cancelshort": (_X, _SELL, None),
    **dict.fromkeys(("target", "position"), (Action.TARGET, None, None)),
}
ACTION_WORDS = (
    "buy, sell, buylimit, selllimit, buystop, sellstop, close, close_long, close_short, close_all, "
    "modify, cancel, target"
)

ACTION_KEYS = ("action", "orderaction", "signal", "direction")
SYMBOL_KEYS = ("symbol", "ticker", "pair", "instrument")
PRICE_KEYS = ("price", "entry", "entryprice", "orderprice", "limitprice", "signalprice")
TYPE_KEYS = ("ordertype", "type")
ID_KEYS = ("id", "alertid", "signalid")
TIME_KEYS = ("timenow", "timestamp", "time")
PERCENT_KEYS = ("percent", "closepercent")

#: Size fields by how their value is read; an alert may use one family only.
VOLUME_KEYS: tuple[tuple[VolumeKind, tuple[str, ...]], ...] = (
    (
        VolumeKind.LOTS,
        ("volume", "qty", "quantity", "contracts", "lots", "vollots", "size", "amount", "ordercontracts"),
    ),
    (VolumeKind.UNITS, ("units",)),
    (VolumeKind.NOTIONAL, ("notional",)),
    (VolumeKind.RISK_PERCENT, ("risk", "riskpercent")),
)

_P, _PIPS, _PTS, _PCT = LevelUnit.PRICE, LevelUnit.PIPS, LevelUnit.POINTS, LevelUnit.PERCENT
#: Level fields: key → unit (None: a number is a price, an object names its unit).
LEVEL_KEYS: dict[str, dict[str, LevelUnit | None]] = {
    "sl": {
        "sl": None,
        "stoploss": None,
        "slprice": _P,
        "stoplossprice": _P,
        "slpips": _PIPS,
        "stoplosspips": _PIPS,
        "slpoints": _PTS,
        "slpercent": _PCT,
        "slpct": _PCT,
    },
    "tp": {
        "tp": None,
        "takeprofit": None,
        "tpprice": _P,
        "takeprofitprice": _P,
        "tppips": _PIPS,
        "takeprofitpips": _PIPS,
        "tppoints": _PTS,
        "tppercent": _PCT,
        "tppct": _PCT,
    },
}
_LEVEL_UNITS = {"price": _P, "pips": _PIPS, "pip": _PIPS, "points": _PTS, "point": _PTS, "percent": _PCT, "pct": _PCT}
_FIXED_LEVEL_TYPES = ("", "stop", "limit", "fixed", "market")

#: Numbers outside 1e-12 … 1e15 are refused: no price or size is that small or large.
_MIN_EXP, _MAX_EXP = -12, 15


def normalize_key(key: str) -> str:
    """``Order_Action`` → ``orderaction``."""
    return _NOT_ALNUM.sub("", key.lower())


def normalize_keys(data: Mapping[str, Any]) -> dict[str, Any]:
    """Normalize every key; two keys that normalize alike are an error naming both."""
    out: dict[str, Any] = {}
    names: dict[str, str] = {}
    for name, value in data.items():
        key = normalize_key(name)
        if not key:
            continue
        if key in out and out[key] != value:
            raise ParseError(f"fields {names[key]!r} and {name!r} say different things", name, 422)
        out[key] = value
        names.setdefault(key, name)
    return out


def passphrase_of(fields: Mapping[str, Any]) -> str | None:
    """The token the alert carries, if any (``passphrase``, ``token``, ``secret`` or ``key``)."""
    for name in AUTH_KEYS:
        value = fields.get(name)
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    return None


def content_id(fields: Mapping[str, Any]) -> str:
    """A stable id from the alert's content without its passphrase: equal alerts share it."""
    content = {k: v for k, v in fields.items() if k not in AUTH_KEYS}
    try:
        encoded = orjson.dumps(content, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        encoded = repr(sorted(content.items(), key=lambda item: item[0])).encode()
    return "h" + hashlib.blake2b(encoded, digest_size=12).hexdigest()


def interpret(fields: Mapping[str, Any], *, source: str, raw: str, received_ns: int, options: AlertOptions) -> Signal:
    """Read normalized ``fields`` as one signal; every problem is a ``ParseError`` naming the field."""
    action_key, action_text = _first_text(fields, ACTION_KEYS)
    side_text = _text(fields, "side")
    if action_text is None and side_text is not None:
        action_key, action_text, side_text = "side", side_text, None
    mapped = None
    if action_text is not None:
        mapped = ACTIONS.get(normalize_key(action_text))
        if mapped is None:
            raise ParseError(f"unknown action {action_text!r}; use {ACTION_WORDS}", action_key, 422)
    target = None
    if mapped is None or mapped[0] is Action.TARGET or options.mode == "target":
        target = _target(fields)
    if target is not None and (mapped is None or mapped[0] is Action.TARGET or options.mode == "target"):
        return _target_signal(fields, target, source=source, raw=raw, received_ns=received_ns, options=options)
    if mapped is None:
        raise ParseError(
            f"missing field 'action' (or 'side', 'order_action', 'signal'): use {ACTION_WORDS}; "
            "or send a strategy position as 'position_size' or 'market_position'",
            "action",
            422,
        )
    action, side, implied_type = mapped
    if action is Action.TARGET:
        return _target_signal(fields, None, source=source, raw=raw, received_ns=received_ns, options=options)
    if side_text is not None:
        given = ACTIONS.get(normalize_key(side_text))
        given_side = given[1] if given is not None and given[0] is Action.OPEN else None
        if given_side is None:
            raise ParseError(f"side must be buy/long or sell/short, not {side_text!r}", "side", 422)
        if side is None and action is not Action.OPEN:
            side = given_side
        elif side is not given_side:
            raise ParseError(f"action {action_text!r} and side {side_text!r} disagree", "side", 422)
    symbol = _symbol(fields, required=action is not Action.CLOSE_ALL)
    order_type = _order_type(fields, implied_type)
    price = _positive(fields, PRICE_KEYS)
    if order_type is not OrderType.MARKET and price is None:
        raise ParseError(f"a {order_type.value} order needs 'price'", "price", 422)
    volume, kind, volume_key = _volume(fields)
    percent_key, percent = _first_decimal(fields, PERCENT_KEYS)
    if kind is VolumeKind.FRACTION:
        percent_key, percent, volume = volume_key, volume, None
    if percent is not None:
        if action is not Action.CLOSE:
            raise ParseError(f"a percentage ({percent}%) can size only a close", percent_key, 422)
        if not Decimal(0) < percent <= Decimal(100):
            raise ParseError(f"percent must be between 0 and 100, got {percent}", percent_key, 422)
        if percent < 100:
            action, volume, kind = Action.CLOSE_PART, percent / 100, VolumeKind.FRACTION
        else:
            volume, kind = None, VolumeKind.LOTS
    if volume is not None and volume <= 0 and action is Action.OPEN:
        raise ParseError(f"volume must be positive, got {volume}", volume_key, 422)
    if volume is not None and volume <= 0 and action is Action.CLOSE:
        volume = None
    if volume is not None and action is Action.CLOSE:
        action = Action.CLOSE_PART
    sl = _level(fields, "sl")
    tp = _level(fields, "tp")
    if action is Action.MODIFY and sl is None and tp is None:
        raise ParseError("modify needs a stop loss or a take profit ('sl', 'tp', 'sl_pips', …)", "sl", 422)
    return Signal(
        source=source,
        action=action,
        symbol=symbol,
        side=side,
        order_type=order_type,
        volume=volume,
        volume_kind=kind,
        price=price,
        sl=sl,
        tps=(tp,) if tp is not None else (),
        comment=_text(fields, "comment"),
        origin_id=_origin(fields, options),
        sent_at=sent_at(fields),
        raw=raw,
        received_ns=received_ns,
    )


def _target_signal(
    fields: Mapping[str, Any],
    target: Decimal | None,
    *,
    source: str,
    raw: str,
    received_ns: int,
    options: AlertOptions,
) -> Signal:
    if target is None:
        _key, target = _first_decimal(fields, VOLUME_KEYS[0][1])
        if target is None:
            raise ParseError("a target needs the signed position size ('position_size' or 'volume')", "volume", 422)
    side = Side.BUY if target > 0 else Side.SELL if target < 0 else None
    sl = _level(fields, "sl")
    tp = _level(fields, "tp")
    return Signal(
        source=source,
        action=Action.TARGET,
        symbol=_symbol(fields, required=True),
        side=side,
        volume=target,
        volume_kind=VolumeKind.TARGET,
        price=_positive(fields, PRICE_KEYS),
        sl=sl,
        tps=(tp,) if tp is not None else (),
        comment=_text(fields, "comment"),
        origin_id=_origin(fields, options),
        sent_at=sent_at(fields),
        raw=raw,
        received_ns=received_ns,
    )


def _target(fields: Mapping[str, Any]) -> Decimal | None:
    """The strategy's signed position: ``position_size``, else ``market_position`` with its size."""
    size = _decimal(fields, "positionsize")
    if size is not None:
        return size
    position = _text(fields, "marketposition")
    if position is None:
        return None
    word = position.strip().lower()
    if word == "flat":
        return Decimal(0)
    if word not in ("long", "short"):
        raise ParseError(f"market_position must be long, short or flat, not {position!r}", "market_position", 422)
    amount = _decimal(fields, "marketpositionsize")
    if amount is None:
        return None
    return abs(amount) if word == "long" else -abs(amount)


def _symbol(fields: Mapping[str, Any], *, required: bool) -> str | None:
    _key, symbol = _first_text(fields, SYMBOL_KEYS)
    symbol = symbol.strip() if symbol else None
    if not symbol:
        if required:
            raise ParseError("missing field 'symbol' (or 'ticker')", "symbol", 422)
        return None
    if len(symbol) > 64 or not symbol.isprintable():
        raise ParseError(f"symbol {symbol[:64]!r} is not a symbol", "symbol", 422)
    return symbol


def _order_type(fields: Mapping[str, Any], implied: OrderType | None) -> OrderType:
    key, text = _first_text(fields, TYPE_KEYS)
    if text is None or not text.strip():
        return implied or OrderType.MARKET
    try:
        given = OrderType(text.strip().lower())
    except ValueError:
        raise ParseError(f"unknown order type {text!r}; use market, limit or stop", key, 422) from None
    if implied is not None and given is not implied:
        raise ParseError(f"order type {text!r} contradicts the action's {implied.value}", key, 422)
    return given


def _volume(fields: Mapping[str, Any]) -> tuple[Decimal | None, VolumeKind, str | None]:
    found: list[tuple[VolumeKind, str]] = []
    for kind, keys in VOLUME_KEYS:
        for key in keys:
            if _present(fields.get(key)):
                found.append((kind, key))
                break
    if not found:
        return None, VolumeKind.LOTS, None
    if len(found) > 1:
        names = " and ".join(f"'{key}'" for _kind, key in found)
        raise ParseError(f"give the size one way: {names} both set it", found[1][1], 422)
    kind, key = found[0]
    value = fields[key]
    if isinstance(value, str) and value.strip().endswith("%") and kind is VolumeKind.LOTS:
        percent = _number(value.strip()[:-1], key)
        return percent, VolumeKind.FRACTION, key
    return _number(value, key), kind, key


def _level(fields: Mapping[str, Any], which: str) -> Level | None:
    found = [(key, unit) for key, unit in LEVEL_KEYS[which].items() if _present(fields.get(key))]
    if not found:
        return None
    name = "stop loss" if which == "sl" else "take profit"
    if len(found) > 1:
        raise ParseError(f"give the {name} one way, not as {' and '.join(k for k, _ in found)}", found[1][0], 422)
    key, unit = found[0]
    value = fields[key]
    if isinstance(value, dict):
        if unit is not None:
            raise ParseError(f"{key!r} must be a number", key, 422)
        unit, value, key = _level_object(value, key, name)
    number = _number(value, key)
    if number < 0:
        raise ParseError(f"the {name} {number} is negative", key, 422)
    if number == 0:
        return None
    return Level(number, unit or LevelUnit.PRICE)


def _level_object(value: dict[Any, Any], key: str, name: str) -> tuple[LevelUnit, Any, str]:
    parts = normalize_keys({str(k): v for k, v in value.items()})
    kind = parts.pop("type", "")
    if not isinstance(kind, str) or kind.strip().lower() not in _FIXED_LEVEL_TYPES:
        raise ParseError(f"a {kind!r} {name} is not supported; send a fixed level", f"{key}.type", 422)
    units = [(k, _LEVEL_UNITS[k]) for k in parts if k in _LEVEL_UNITS and _present(parts[k])]
    unknown = [k for k in parts if k not in _LEVEL_UNITS]
    if unknown:
        raise ParseError(f"unknown {name} field {unknown[0]!r}; use price, pips, points or percent", key, 422)
    if len(units) != 1:
        raise ParseError(f"the {name} object needs exactly one of price, pips, points or percent", key, 422)
    sub, unit = units[0]
    return unit, parts[sub], f"{key}.{sub}"


def _origin(fields: Mapping[str, Any], options: AlertOptions) -> str | None:
    key, origin = _first_text(fields, ID_KEYS)
    if origin is not None and origin.strip():
        origin = origin.strip()
        if len(origin) > MAX_ID_LENGTH:
            raise ParseError(f"'{key}' is longer than {MAX_ID_LENGTH} characters", key, 422)
        return origin
    return content_id(fields) if options.dedupe == "content" else None


def sent_at(fields: Mapping[str, Any]) -> datetime | None:
    """When the alert was sent: ``timenow``, ``timestamp`` or ``time`` as ISO-8601 or epoch s/ms."""
    for key in TIME_KEYS:
        value = fields.get(key)
        if not _present(value):
            continue
        when = _parse_time(value)
        if when is None or not 2000 <= when.year <= 2200:
            raise ParseError(f"{key!r} must be an ISO-8601 time or epoch seconds/milliseconds, not {value!r}", key, 422)
        return when
    return None


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            number: float = float(text)
        except ValueError:
            try:
                when = datetime.fromisoformat(text)
                return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
            except (ValueError, OverflowError):
                return None
    elif isinstance(value, int | float):
        number = float(value)
    else:
        return None
    if not 0 < number < 1e14:
        return None
    if number > 1e11:
        number /= 1000
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _text(fields: Mapping[str, Any], key: str) -> str | None:
    value = fields.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ParseError(f"field {key!r} must be text, got {_type_name(value)}", key, 422)


def _first_text(fields: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str | None, str | None]:
    for key in keys:
        if _present(fields.get(key)):
            return key, _text(fields, key)
    return None, None


def _decimal(fields: Mapping[str, Any], key: str) -> Decimal | None:
    value = fields.get(key)
    return _number(value, key) if _present(value) else None


def _first_decimal(fields: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Decimal | None]:
    for key in keys:
        if _present(fields.get(key)):
            return key, _number(fields[key], key)
    return None, None


def _positive(fields: Mapping[str, Any], keys: tuple[str, ...]) -> Decimal | None:
    key, number = _first_decimal(fields, keys)
    if number is not None and number <= 0:
        raise ParseError(f"{key!r} must be a positive price, got {number}", key, 422)
    return number


def _number(value: Any, key: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ParseError(f"field {key!r} must be a number, got {_type_name(value)}", key, 422)
    try:
        number = Decimal(value.strip().replace(" ", "") if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise ParseError(f"field {key!r} must be a number, got {value!r}", key, 422) from None
    if not number.is_finite():
        raise ParseError(f"field {key!r} must be a finite number, got {value!r}", key, 422)
    if number and not _MIN_EXP <= number.adjusted() <= _MAX_EXP:
        raise ParseError(f"field {key!r} is out of range: {value!r}", key, 422)
    return number


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return type(value).__name__
