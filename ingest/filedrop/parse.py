"""Files dropped into a watched folder → signals, row by row.

:func:`parse_file` reads the bytes of one file and returns a :class:`ParsedFile`: every data row
becomes either a :class:`ParsedRow` holding a :class:`~core.signal.Signal` or a :class:`RowError`
with its line number and a reason; a file that holds no orders at all (a state snapshot, a trade
history report, a template, a symbol map) carries a file-level ``error`` instead. It never raises.

Formats, recognised by content (the file name's extension is only a hint):

- **CSV** with a header row; the delimiter is a comma, semicolon, tab or ``|``. Header names are
  matched case-insensitively and without spaces or punctuation (``Limit Price``, ``limit_price``
  and ``LmtPrice``-style spellings listed in :data:`COLUMNS`). A later row that looks like a header
  starts a new block with its own columns (Interactive Brokers basket files do this).
- **JSON**: one object, an array of objects, or ``{"orders": [...]}`` / ``{"signals": [...]}``,
  with the same field names as the CSV columns; JSON Lines (one object per line) too. A
  TradingView strategy alert body (``strategy.order_action`` …) and TradersPost signals
  (``takeProfit: {percent: 10}``) are read as orders.
- **NinjaTrader ATI order instruction files**: ``PLACE;account;instrument;action;qty;type;…``.
- **IPTRADE copier CSVs** (``timestamp,account_id,account_type,status,action,data,…`` with an
  unquoted JSON ``data`` cell): the master account's ``order`` rows are orders; heartbeats,
  configuration rows and slave rows are ignored rows.

Identity: a row's ``origin_id`` is the row's own ``id`` column when it has one, otherwise
``fd:{first 16 hex digits of the file's SHA-256}:{row number}``, so the same file read twice yields the
same ids and the router refuses the second reading.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from core.enums import Action, LevelUnit, OrderType, Side, VolumeKind
from core.errors import ParseError
from core.signal import Level, Signal

__all__ = [
    "COLUMNS",
    "MAX_ROWS",
    "ParsedFile",
    "ParsedRow",
    "RowError",
    "parse_file",
]

MAX_ID_LENGTH = 128
MAX_ROWS = 10_000
MAX_RAW = 2000
_LIMIT = Decimal("1e15")

# Canonical field → accepted column names, normalized (lower case, letters and digits only).
# The first name that is present with a value wins.
COLUMNS: dict[str, tuple[str, ...]] = {
    "action": ("action", "orderaction", "command", "cmd", "typename", "buysell", "direction"),
    "side": ("side",),
    "type": ("type",),
    "symbol": ("symbol", "ticker", "instrument", "pair", "market", "asset"),
    "volume": (
        "volume",
        "lots",
        "lot",
        "qty",
        "quantity",
        "contracts",
        "shares",
        "totalquantity",
        "ordercontracts",
        "amount",
    ),
    "units": ("units",),
    "notional": ("notional", "size"),
    "risk": ("risk", "riskpercent"),
    "percent": ("percent", "pct", "closepercent", "percentage"),
    "price": (
        "price",
        "limitprice",
        "lmtprice",
        "limit",
        "entry",
        "entryprice",
        "openprice",
        "priceopen",
        "signalprice",
        "orderprice",
    ),
    "stop_price": ("stopprice", "auxprice", "triggerprice"),
    "order_type": ("ordertype", "ordtype"),
    "sl": ("sl", "stoploss", "stop", "slprice"),
    "tp": ("tp", "takeprofit", "target", "tpprice", "profittarget"),
    "id": ("id", "orderid", "clientorderid", "clordid", "signalid", "alertid"),
    "position": ("ticket", "positionid", "positionref"),
    "comment": ("comment", "note", "label", "memo", "orderref"),
    "time": ("time", "timestamp", "datetime", "date", "sentat", "createdat"),
    "mode": ("mode",),
}

_ALIAS: dict[str, tuple[str, int]] = {
    alias: (canonical, rank) for canonical, aliases in COLUMNS.items() for rank, alias in enumerate(aliases)
}
_NUMBERED_TP = re.compile(r"^(?:tp|takeprofit|target)([1-9])$")

_ACTIONS: dict[str, tuple[Action, Side | None, OrderType | None]] = {
    "buy": (Action.OPEN, Side.BUY, None),
    "long": (Action.OPEN, Side.BUY, None),
    "sell": (Action.OPEN, Side.SELL, None),
    "short": (Action.OPEN, Side.SELL, None),
    "sellshort": (Action.OPEN, Side.SELL, None),
    "buylimit": (Action.OPEN, Side.BUY, OrderType.LIMIT),
    "selllimit": (Action.OPEN, Side.SELL, OrderType.LIMIT),
    "buystop": (Action.OPEN, Side.BUY, OrderType.STOP),
    "sellstop": (Action.OPEN, Side.SELL, OrderType.STOP),
    "open": (Action.OPEN, None, None),
    "entry": (Action.OPEN, None, None),
    "add": (Action.OPEN, None, None),
    "close": (Action.CLOSE, None, None),
    "exit": (Action.CLOSE, None, None),
    "flat": (Action.CLOSE, None, None),
    "closeposition": (Action.CLOSE, None, None),
    "closelong": (Action.CLOSE, Side.BUY, None),
    "exitlong": (Action.CLOSE, Side.BUY, None),
    "closebuy": (Action.CLOSE, Side.BUY, None),
    "closeshort": (Action.CLOSE, Side.SELL, None),
    "exitshort": (Action.CLOSE, Side.SELL, None),
    "closesell": (Action.CLOSE, Side.SELL, None),
    "closeall": (Action.CLOSE_ALL, None, None),
    "exitall": (Action.CLOSE_ALL, None, None),
    "flatten": (Action.CLOSE_ALL, None, None),
    "flattenall": (Action.CLOSE_ALL, None, None),
    "flatteneverything": (Action.CLOSE_ALL, None, None),
    "modify": (Action.MODIFY, None, None),
    "update": (Action.MODIFY, None, None),
    "cancel": (Action.CANCEL, None, None),
    "cancelorder": (Action.CANCEL, None, None),
    "reverse": (Action.REVERSE, None, None),
    "reverseposition": (Action.REVERSE, None, None),
}
_ACTION_WORDS = (
    "buy, sell, long, short, buy_limit, sell_limit, buy_stop, sell_stop, close, close_long, "
    "close_short, close_all, modify, cancel, reverse"
)

_SIDES = {"buy": Side.BUY, "long": Side.BUY, "b": Side.BUY, "sell": Side.SELL, "short": Side.SELL, "s": Side.SELL}

_ORDER_TYPES: dict[str, OrderType | None] = {
    "market": OrderType.MARKET,
    "mkt": OrderType.MARKET,
    "limit": OrderType.LIMIT,
    "lmt": OrderType.LIMIT,
    "stop": OrderType.STOP,
    "stp": OrderType.STOP,
    "stopmarket": OrderType.STOP,
    # Recognised, but with no equivalent on every venue: refused with a reason.
    "stoplimit": None,
    "stplmt": None,
    "mit": None,
    "trail": None,
    "trailingstop": None,
}

# Columns that only a report of past trades has; a file carrying one is not a list of orders.
_REPORT_COLUMNS = (
    "profit",
    "netpl",
    "pnl",
    "pl",
    "realizedpnl",
    "netprofit",
    "grossprofit",
    "cumulativepl",
    "runup",
    "drawdown",
    "closeprice",
    "closetime",
    "exitprice",
    "exittime",
    "swap",
)
_STATE_KEYS = ("sourceorders", "targetorders", "sourcepositions", "targetpositions", "positions", "openpositions")

_PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}|<[A-Z][A-Z0-9 _]*>")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
_LEVEL_TEXT = re.compile(r"^([+-]?[0-9.,]+)\s*(pips?|points?|pts?|%)?$", re.IGNORECASE)

_OIF_COMMANDS = (
    "PLACE",
    "CANCEL",
    "CANCELALLORDERS",
    "CHANGE",
    "CLOSEPOSITION",
    "CLOSESTRATEGY",
    "FLATTENEVERYTHING",
    "REVERSEPOSITION",
)
_IPTRADE_COLUMNS = ("accountid", "accounttype", "action", "data")


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that was not turned into a signal.

    ``line`` is the 1-based line of the file where the row starts (``None`` when unknown), ``row``
    the 1-based position among the file's data rows. ``ignored`` marks rows that are not orders by
    design (a heartbeat, a configuration line) rather than orders that could not be read.
    """

    line: int | None
    row: int
    reason: str
    field: str | None = None
    ignored: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"line": self.line, "row": self.row, "reason": self.reason}
        if self.field is not None:
            out["field"] = self.field
        return out


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """A row read as a signal."""

    line: int | None
    row: int
    signal: Signal


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """The reading of one file: its rows in order, or why the file as a whole holds no orders."""

    format: str
    sha256: str
    rows: tuple[ParsedRow | RowError, ...] = ()
    error: str | None = None
    ignored_columns: tuple[str, ...] = ()

    @property
    def signals(self) -> list[ParsedRow]:
        return [r for r in self.rows if isinstance(r, ParsedRow)]

    @property
    def errors(self) -> list[RowError]:
        return [r for r in self.rows if isinstance(r, RowError) and not r.ignored]

    @property
    def ignored(self) -> list[RowError]:
        return [r for r in self.rows if isinstance(r, RowError) and r.ignored]


class _FileRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class _Context:
    source: str
    sha256: str
    received_ns: int
    ignored_columns: dict[str, None] = field(default_factory=dict)


# -- entry point ------------------------------------------------------------------------------


def parse_file(data: bytes, *, name: str = "", source: str, received_ns: int | None = None) -> ParsedFile:
    """Read one dropped file. Never raises: problems are row errors or the file's ``error``."""
    digest = hashlib.sha256(data).hexdigest()
    ctx = _Context(source, digest, received_ns if received_ns is not None else time.monotonic_ns())
    text = _decode(data)
    if text is None:
        return ParsedFile("binary", digest, error="not a text file (it contains NUL bytes)")
    stripped = text.strip()
    if not stripped:
        return ParsedFile("empty", digest, error="the file is empty")
    lower = name.lower()
    reader: Callable[[str, _Context], Iterator[ParsedRow | RowError]]
    if lower.endswith((".jsonl", ".ndjson")):
        fmt, reader = "jsonl", _jsonl_rows
    elif stripped[0] in "{[" or lower.endswith(".json"):
        fmt, reader = "json", _json_rows
    elif _looks_like_oif(stripped):
        fmt, reader = "oif", _oif_rows
    elif _is_iptrade(stripped):
        fmt, reader = "iptrade", _iptrade_rows
    else:
        fmt, reader = "csv", _csv_rows
    try:
        rows = tuple(reader(text, ctx))
    except _FileRefused as refused:
        return ParsedFile(fmt, digest, error=refused.reason, ignored_columns=tuple(ctx.ignored_columns))
    if not rows:
        return ParsedFile(fmt, digest, error="the file has no data rows", ignored_columns=tuple(ctx.ignored_columns))
    return ParsedFile(fmt, digest, rows, ignored_columns=tuple(ctx.ignored_columns))


def _lines(text: str) -> list[str]:
    """The file's lines split the way the CSV reader splits them, without their line ends."""
    return [line.rstrip("\r\n") for line in io.StringIO(text, newline="")]


def _decode(data: bytes) -> str | None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", "replace")
    elif data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8", "replace")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # MetaTrader and Excel write the Windows code page when not told otherwise.
            text = data.decode("cp1252", "replace")
    if "\x00" in text:
        return None
    return text.lstrip("\ufeff")


# -- field reading ----------------------------------------------------------------------------


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isascii() and ch.isalnum())


Fields = dict[str, tuple[str, Any]]  # canonical name → (column name as written, value)


def _fields(record: Mapping[str, Any], ctx: _Context) -> Fields:
    """Map a record's keys to canonical fields; note the keys that mean nothing to us."""
    found: dict[str, tuple[int, str, Any]] = {}
    for key, value in record.items():
        if not isinstance(key, str):
            continue
        norm = _norm(key)
        numbered = _NUMBERED_TP.match(norm)
        if numbered:
            canonical, rank = f"tp{numbered.group(1)}", 0
        elif norm in _ALIAS:
            canonical, rank = _ALIAS[norm]
        else:
            if key.strip():
                ctx.ignored_columns.setdefault(key.strip()[:64], None)
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        previous = found.get(canonical)
        if previous is None or rank < previous[0]:
            found[canonical] = (rank, key, value)
    return {canonical: (key, value) for canonical, (_, key, value) in found.items()}


def _text(fields: Fields, name: str) -> str | None:
    entry = fields.get(name)
    if entry is None:
        return None
    key, value = entry
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ParseError(f"{key!r} must be text, got {_kind(value)}", key)
    return str(value).strip()


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _number(key: str, value: object) -> Decimal:
    if isinstance(value, bool):
        raise ParseError(f"{key!r} must be a number, got true/false", key)
    number: Decimal | None
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int | float):
        number = Decimal(str(value))
    elif isinstance(value, str):
        text = value.strip()
        if "," in text:
            raise ParseError(f"{key!r} must be a number written with a decimal point, got {_show(value)}", key)
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = None
    else:
        number = None
    if number is None or not number.is_finite():
        raise ParseError(f"{key!r} must be a number, got {_show(value)}", key)
    if not -_LIMIT < number < _LIMIT:
        raise ParseError(f"{key!r} is out of range: {_show(value)}", key)
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -18:
        number = number.normalize()
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -18:
            raise ParseError(f"{key!r} has more than 18 decimal places: {_show(value)}", key)
    return number


def _decimal(fields: Fields, name: str) -> Decimal | None:
    entry = fields.get(name)
    return _number(*entry) if entry is not None else None


def _show(value: object) -> str:
    text = repr(value) if not isinstance(value, Decimal) else format(value, "f")
    return text if len(text) <= 40 else text[:37] + "..."


def _level(key: str, value: object, price: Decimal | None, side: Side | None, *, is_stop: bool) -> Level:
    """A stop or target: a price, ``30 pips``, ``20 points``, ``1.5%`` or a TradersPost object."""
    if isinstance(value, dict):
        parts = {_norm(k): v for k, v in value.items() if isinstance(k, str) and v is not None}
        if "percent" in parts:
            return _positive_level(key, _number(f"{key}.percent", parts["percent"]), LevelUnit.PERCENT)
        for name in ("limitprice", "stopprice", "price"):
            if name in parts:
                return _positive_level(key, _number(f"{key}.{name}", parts[name]), LevelUnit.PRICE)
        if "pips" in parts:
            return _positive_level(key, _number(f"{key}.pips", parts["pips"]), LevelUnit.PIPS)
        if "amount" in parts:
            amount = _number(f"{key}.amount", parts["amount"])
            if price is None or side is None:
                raise ParseError(f"{key}.amount is a distance from the entry; the row needs a price and a side", key)
            direction = -side.sign if is_stop else side.sign
            return _positive_level(key, price + direction * amount, LevelUnit.PRICE)
        raise ParseError(f"{key!r} needs percent, limitPrice, stopPrice, price, pips or amount", key)
    if isinstance(value, str):
        match = _LEVEL_TEXT.match(value.strip())
        if match is None:
            raise ParseError(f"{key!r} must be a price, 'N pips', 'N points' or 'N%', got {_show(value)}", key)
        number = _number(key, match.group(1))
        unit = (match.group(2) or "").lower()
        if unit.startswith("pip"):
            return _positive_level(key, number, LevelUnit.PIPS)
        if unit.startswith(("point", "pt")):
            return _positive_level(key, number, LevelUnit.POINTS)
        if unit == "%":
            return _positive_level(key, number, LevelUnit.PERCENT)
        return _positive_level(key, number, LevelUnit.PRICE)
    return _positive_level(key, _number(key, value), LevelUnit.PRICE)


def _positive_level(key: str, value: Decimal, unit: LevelUnit) -> Level:
    if value < 0 or (unit is LevelUnit.PRICE and value == 0):
        raise ParseError(f"{key!r} must be positive, got {format(value, 'f')}", key)
    return Level(value, unit)


def _time(fields: Fields) -> datetime | None:
    entry = fields.get("time")
    if entry is None:
        return None
    key, value = entry
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) >= 9:
        value = int(value.strip())
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        seconds = float(value)
        if 1e11 < seconds < 1e14:  # milliseconds
            seconds /= 1000
        if not 0 < seconds < 1e11:
            raise ParseError(f"{key!r} is not a plausible epoch time: {_show(value)}", key)
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str):
        text = value.strip()
        candidate = text.replace(".", "-", 2) if re.match(r"^\d{4}\.\d{2}\.\d{2}", text) else text
        if candidate.endswith(("Z", "z")):
            candidate = candidate[:-1] + "+00:00"
        try:
            stamp = datetime.fromisoformat(candidate)
        except ValueError:
            stamp = None
        if stamp is not None:
            return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)
    raise ParseError(
        f"{key!r} must be an ISO-8601 time (2024-01-15T10:30:00Z), 'YYYY.MM.DD HH:MM:SS' or epoch seconds, "
        f"got {_show(value)}",
        key,
    )


def _side_word(key: str, text: str) -> Side:
    side = _SIDES.get(_norm(text))
    if side is None:
        raise ParseError(f"unknown side {text!r} in {key!r}; use buy or sell", key)
    return side


# -- one record → Signal ----------------------------------------------------------------------


def _signal(fields: Fields, ctx: _Context, *, line: int | None, row: int, raw: str) -> Signal:
    """Read one record's canonical fields as a signal; raises ``ParseError`` naming the column."""
    order_type: OrderType | None = None
    action_key: str | None = None
    action_text: str | None = None
    for candidate in ("action", "type"):
        text = _text(fields, candidate)
        if text is None:
            continue
        if candidate == "type" and _norm(text) in _ORDER_TYPES:
            order_type = _order_type(fields["type"][0], text)
            continue
        if action_text is None:
            action_key, action_text = fields[candidate][0], text
    side_text = _text(fields, "side")
    side_key = fields["side"][0] if "side" in fields else "side"
    if action_text is None and side_text is not None:
        action_key, action_text, side_text = side_key, side_text, None
    if action_text is None or action_key is None:
        raise ParseError("no action: give an 'action' (or side/direction/type) column", "action")
    mapped = _ACTIONS.get(_norm(action_text))
    if mapped is None:
        raise ParseError(f"unknown action {action_text!r} in {action_key!r}; use {_ACTION_WORDS}", action_key)
    action, side, implied_type = mapped
    if side_text is not None:
        hinted = _side_word(side_key, side_text)
        if side is not None and hinted is not side:
            raise ParseError(f"{action_key!r} says {action_text!r} but {side_key!r} says {side_text!r}", side_key)
        side = hinted
    mode = _text(fields, "mode")
    if mode is not None:
        if _norm(mode) == "reverse" and action is Action.OPEN:
            action = Action.REVERSE
        elif _norm(mode) not in ("", "normal", "default"):
            raise ParseError(f"unsupported mode {mode!r}; only 'reverse' is understood", fields["mode"][0])
    if action in (Action.OPEN, Action.REVERSE) and side is None:
        raise ParseError(f"action {action_text!r} needs a side (buy or sell)", side_key)

    explicit_type = _text(fields, "order_type")
    if explicit_type is not None:
        order_type = _order_type(fields["order_type"][0], explicit_type)
    if implied_type is not None:
        if order_type not in (None, OrderType.MARKET, implied_type):
            raise ParseError(f"{action_text!r} contradicts order type {order_type}", "order_type")
        order_type = implied_type
    order_type = order_type or OrderType.MARKET

    symbol = _text(fields, "symbol")
    position = _text(fields, "position")
    if symbol is not None and (len(symbol) > 64 or not any(ch.isalnum() for ch in symbol)):
        raise ParseError(f"{fields['symbol'][0]!r} is not a symbol: {_show(symbol)}", fields["symbol"][0])
    if not symbol and action is not Action.CLOSE_ALL and not (position and action is not Action.OPEN):
        raise ParseError("missing symbol (column 'symbol', 'ticker' or 'instrument')", "symbol")

    price = _decimal(fields, "price")
    stop_price = _decimal(fields, "stop_price")
    for key, value in (("price", price), ("stop_price", stop_price)):
        if value is not None and value <= 0:
            raise ParseError(f"{fields[key][0]!r} must be positive, got {format(value, 'f')}", fields[key][0])
    if order_type is OrderType.STOP and stop_price is not None:
        price = stop_price
    if order_type is not OrderType.MARKET and price is None:
        raise ParseError(f"a {order_type.value} order needs a price", "price")

    volume, volume_kind = _volume(fields, action)
    percent = _decimal(fields, "percent")
    if percent is not None and volume is not None and volume_kind is VolumeKind.FRACTION:
        raise ParseError("give either a percent or a size, not both", fields["percent"][0])
    if percent is not None:
        if not Decimal(0) < percent <= Decimal(100):
            raise ParseError(f"percent must be between 0 and 100, got {format(percent, 'f')}", fields["percent"][0])
        if action is not Action.CLOSE:
            raise ParseError("a percent applies to a close", fields["percent"][0])
        volume, volume_kind = percent / 100, VolumeKind.FRACTION
    if action is Action.CLOSE and volume is not None:
        if volume_kind is VolumeKind.FRACTION and volume >= 1:
            volume, volume_kind = None, VolumeKind.LOTS
        else:
            action = Action.CLOSE_PART
    if action in (Action.OPEN, Action.REVERSE) and volume is not None and volume <= 0:
        raise ParseError(f"the volume must be positive, got {format(volume, 'f')}", "volume")

    sl_entry, sls = fields.get("sl"), None
    if sl_entry is not None:
        sls = _level(sl_entry[0], sl_entry[1], price, side, is_stop=True)
    tps: list[Level] = []
    numbered = sorted((name for name in fields if _NUMBERED_TP.match(name) or name == "tp"), key=_tp_order)
    for name in numbered:
        key, value = fields[name]
        tps.append(_level(key, value, price, side, is_stop=False))
    if action is Action.MODIFY and sls is None and not tps:
        raise ParseError("modify needs a stop loss or a take profit", "sl")

    origin = _text(fields, "id")
    if origin is not None and len(origin) > MAX_ID_LENGTH:
        raise ParseError(f"the id is longer than {MAX_ID_LENGTH} characters", fields["id"][0])
    comment = _text(fields, "comment")
    return Signal(
        source=ctx.source,
        action=action,
        symbol=symbol or None,
        side=side,
        order_type=order_type,
        volume=volume,
        volume_kind=volume_kind,
        price=price,
        sl=sls,
        tps=tuple(tps),
        comment=comment[:256] if comment else None,
        position_ref=position or None,
        origin_id=origin or f"fd:{ctx.sha256[:16]}:{row}",
        sent_at=_time(fields),
        raw=raw[:MAX_RAW],
        received_ns=ctx.received_ns,
    )


def _tp_order(name: str) -> int:
    return 0 if name == "tp" else int(name[2:])


def _order_type(key: str, text: str) -> OrderType:
    norm = _norm(text)
    if norm not in _ORDER_TYPES:
        raise ParseError(f"unknown order type {text!r} in {key!r}; use market, limit or stop", key)
    found = _ORDER_TYPES[norm]
    if found is None:
        raise ParseError(f"order type {text!r} is not supported; use market, limit or stop", key)
    return found


def _volume(fields: Fields, action: Action) -> tuple[Decimal | None, VolumeKind]:
    given = [name for name in ("volume", "units", "notional", "risk") if name in fields]
    if len(given) > 1:
        names = ", ".join(repr(fields[name][0]) for name in given)
        raise ParseError(f"give one size, not several ({names})", fields[given[1]][0])
    if not given:
        return None, VolumeKind.LOTS
    name = given[0]
    key, value = fields[name]
    if name == "notional" and isinstance(value, str) and value.strip().endswith("%"):
        # tradingview-alerts-processor: "size": "50%" on a close closes half.
        percent = _number(key, value.strip()[:-1])
        if action is not Action.CLOSE or not Decimal(0) < percent <= Decimal(100):
            raise ParseError(f"{key!r} as a percentage must be between 0 and 100 and on a close", key)
        return percent / 100, VolumeKind.FRACTION
    number = _number(key, value)
    kind = {
        "volume": VolumeKind.LOTS,
        "units": VolumeKind.UNITS,
        "notional": VolumeKind.NOTIONAL,
        "risk": VolumeKind.RISK_PERCENT,
    }[name]
    if number < 0:
        raise ParseError(f"{key!r} must not be negative, got {format(number, 'f')}", key)
    if number == 0:
        if action in (Action.OPEN, Action.REVERSE):
            raise ParseError(f"{key!r} must be positive, got 0", key)
        return None, VolumeKind.LOTS
    return number, kind


def _checked(fields: Fields, ctx: _Context, *, line: int | None, row: int, raw: str) -> ParsedRow | RowError:
    try:
        return ParsedRow(line, row, _signal(fields, ctx, line=line, row=row, raw=raw))
    except ParseError as exc:
        return RowError(line, row, exc.reason, exc.field)


def _refuse_templates(text: str, line: int | None) -> None:
    found = _PLACEHOLDER.search(text)
    if found is not None:
        where = f"line {line}" if line is not None else "the file"
        raise _FileRefused(
            f"a template with unfilled placeholders ({found.group(0)} on {where}); nothing in it was executed"
        )


# -- CSV --------------------------------------------------------------------------------------


def _delimiter(line: str) -> str:
    counts = {d: 0 for d in ",;\t|"}
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str], str]]:
    """(first line, cells, raw text) of each CSV record."""
    lines = _lines(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    start = 1
    try:
        for cells in reader:
            end = reader.line_num
            yield start, cells, "\n".join(lines[start - 1 : end])
            start = end + 1
    except csv.Error as exc:
        raise _FileRefused(f"not readable as CSV near line {start}: {exc}") from None


def _is_header(cells: list[str]) -> bool:
    names = [_norm(c) for c in cells if c.strip()]
    if not names or any(_is_number(c) for c in cells if c.strip()):
        return False
    known = {_ALIAS[n][0] for n in names if n in _ALIAS}
    return bool(known & {"action", "side", "type"}) and len(known) >= 2


def _is_number(text: str) -> bool:
    try:
        Decimal(text.strip())
    except InvalidOperation:
        return False
    return True


def _refuse_non_orders(header: list[str]) -> None:
    names = [_norm(c) for c in header]
    shown = ", ".join(c.strip() for c in header if c.strip())[:200]
    if "trade" in names and "signal" in names and any(n in names for n in _REPORT_COLUMNS):
        raise _FileRefused("a TradingView Strategy Tester 'List of trades' export: a report of past trades, not orders")
    report = next((c.strip() for c, n in zip(header, names, strict=True) if n in _REPORT_COLUMNS), None)
    if report is not None:
        raise _FileRefused(f"a trade history report (it has a {report!r} column), not orders; nothing was executed")
    if "mastersymbol" in names or "slavesymbol" in names:
        raise _FileRefused(
            "a symbol mapping table (master symbol → follower symbol), not orders; put symbol maps in the "
            "account's configuration"
        )
    known = {_ALIAS[n][0] for n in names if n in _ALIAS}
    if not known & {"action", "side", "type"}:
        raise _FileRefused(f"no action column in the header ({shown}); name one 'action' (or side, direction, type)")


def _csv_rows(text: str, ctx: _Context) -> Iterator[ParsedRow | RowError]:
    first = next((line for line in _lines(text) if line.strip()), "")
    header: list[str] | None = None
    row = 0
    delimiter = _delimiter(first)
    for line, cells, raw in _records(text, delimiter):
        if not any(c.strip() for c in cells):
            continue
        if delimiter != ",":
            # Where the comma is not the delimiter it is the decimal separator (European spreadsheets).
            cells = [c.replace(",", ".") if _DECIMAL_COMMA.match(c.strip()) else c for c in cells]
        starts_new_block = _is_header(cells)
        if cells[0].lstrip().startswith("#") and not starts_new_block:
            continue  # a comment line
        if header is None or starts_new_block:
            _refuse_non_orders(cells)
            header = cells
            continue
        row += 1
        if row > MAX_ROWS:
            raise _FileRefused(f"more than {MAX_ROWS} rows; split the file")
        _refuse_templates(raw, line)
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            yield RowError(line, row, f"the row has {len(cells)} cells but the header has {len(header)}")
            continue
        record = dict(zip(header, cells, strict=False))
        yield _checked(_fields(record, ctx), ctx, line=line, row=row, raw=raw)
    if header is None:
        raise _FileRefused("no header row")


def _is_iptrade(text: str) -> bool:
    first = next((line for line in _lines(text) if line.strip()), "")
    return {_norm(c) for c in first.split(",")} >= set(_IPTRADE_COLUMNS)


def _iptrade_rows(text: str, ctx: _Context) -> Iterator[ParsedRow | RowError]:
    """IPTRADE copier rows: the ``data`` cell is an unquoted JSON object, so cells are cut around it."""
    lines = _lines(text)
    first = next(i for i, line in enumerate(lines) if line.strip())
    header = [_norm(c) for c in lines[first].split(",")]
    data_at = header.index("data")
    after = len(header) - data_at - 1
    row = 0
    for index, raw in enumerate(lines[first + 1 :], start=first + 2):
        if not raw.strip():
            continue
        row += 1
        if row > MAX_ROWS:
            raise _FileRefused(f"more than {MAX_ROWS} rows; split the file")
        head = raw.split(",", data_at)
        rest = head.pop() if len(head) > data_at else ""
        tail = rest.rsplit(",", after) if after else [rest]
        if len(head) != data_at or len(tail) != after + 1:
            yield RowError(index, row, f"the row does not have the {len(header)} IPTRADE columns")
            continue
        cells = dict(zip(header, [*head, *tail], strict=True))
        kind = cells["action"].strip().lower()
        if kind != "order":
            what = {"ping": "a heartbeat", "config": "a configuration row"}.get(kind, f"a {kind[:20]!r} row")
            yield RowError(index, row, f"{what}, not an order", "action", ignored=True)
            continue
        role = cells["accounttype"].strip().lower()
        if role != "master":
            master = cells.get("masterid", "").strip()
            whose = f" of master {master[:40]}'s order" if master and master.upper() != "NULL" else ""
            yield RowError(
                index,
                row,
                f"a {role[:20] or 'non-master'} account's copy{whose}; only master rows are orders",
                "account_type",
                ignored=True,
            )
            continue
        try:
            data = json.loads(cells["data"], parse_float=Decimal)
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):
            yield RowError(index, row, "the data cell is not a JSON object", "data")
            continue
        account = cells["accountid"].strip()
        # A close row reports the realised profit; that is information, not part of the order.
        record: dict[str, Any] = {k: v for k, v in data.items() if _norm(str(k)) not in _REPORT_COLUMNS}
        ticket = data.get("ticket")
        if ticket is not None and not isinstance(ticket, bool | dict | list):
            record["ticket"] = f"{account}:{ticket}" if account else str(ticket)
        if "timestamp" in cells:
            record["timestamp"] = cells["timestamp"]
        yield _checked(_fields(record, ctx), ctx, line=index, row=row, raw=raw)


# -- JSON -------------------------------------------------------------------------------------

_DECODER = json.JSONDecoder(parse_float=Decimal)


def _json_rows(text: str, ctx: _Context) -> Iterator[ParsedRow | RowError]:
    try:
        items = list(_json_items(text))
    except RecursionError:
        raise _FileRefused("the JSON is nested too deeply") from None
    return _json_records(items, ctx)


def _jsonl_rows(text: str, ctx: _Context) -> Iterator[ParsedRow | RowError]:
    try:
        items = list(_json_lines(text))
    except RecursionError:
        raise _FileRefused("the JSON is nested too deeply") from None
    return _json_records(items, ctx)


def _json_records(items: list[tuple[int, Any, str]], ctx: _Context) -> Iterator[ParsedRow | RowError]:
    if len(items) > MAX_ROWS:
        raise _FileRefused(f"more than {MAX_ROWS} rows; split the file")
    for row, (line, item, raw) in enumerate(items, start=1):
        _refuse_templates(raw, line)
        if isinstance(item, _NotJson):
            yield RowError(line, row, f"not JSON: {item.reason}")
            continue
        if not isinstance(item, dict):
            yield RowError(line, row, f"each order must be a JSON object, not {_kind(item)}")
            continue
        record = _flatten_strategy(item)
        report = next((k for k in record if isinstance(k, str) and _norm(k) in _REPORT_COLUMNS), None)
        if report is not None:
            yield RowError(line, row, f"a record of a past trade (it has {report!r}), not an order", report)
            continue
        yield _checked(_fields(record, ctx), ctx, line=line, row=row, raw=raw)


@dataclass(frozen=True, slots=True)
class _NotJson:
    reason: str


def _json_items(text: str) -> Iterator[tuple[int, Any, str]]:
    """(line, element, its text) of each order in a JSON document or a JSON Lines file."""
    start = len(text) - len(text.lstrip())
    first_line = _lines(text[start:])[0]
    try:
        document, end = _DECODER.raw_decode(text, start)
    except ValueError as exc:
        raise _FileRefused(f"malformed JSON: {exc}") from None
    if text[end:].strip():
        if isinstance(document, dict) and end - start <= len(first_line):
            yield from _json_lines(text)
            return
        raise _FileRefused(f"malformed JSON: more data after the value that ends on line {_line_of(text, end)}")
    if isinstance(document, dict):
        if not _has_action(document):
            inner_key = next(
                (k for k in document if isinstance(k, str) and _norm(k) in ("orders", "signals", "alerts")), None
            )
            if inner_key is not None and isinstance(document[inner_key], list):
                found = re.search(re.escape(json.dumps(inner_key)) + r"\s*:\s*\[", text)
                if found is None:  # the key was written with escapes
                    raise _FileRefused(f"cannot locate the {inner_key!r} list in the text")
                yield from _walk_array(text, found.end() - 1)
                return
            _refuse_object(document)
        yield _line_of(text, start), document, text[start:end]
        return
    if isinstance(document, list):
        if not document:
            raise _FileRefused("the JSON array is empty")
        yield from _walk_array(text, start)
        return
    raise _FileRefused(f"the JSON holds {_kind(document)}, not an order or a list of orders")


def _walk_array(text: str, offset: int) -> Iterator[tuple[int, Any, str]]:
    """The elements of the JSON array that opens at ``offset``, each with its line and text."""
    position = offset + 1
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text) or text[position] == "]":
            return
        item, end = _DECODER.raw_decode(text, position)
        yield _line_of(text, position), item, text[position:end]
        position = end


def _json_lines(text: str) -> Iterator[tuple[int, Any, str]]:
    for index, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        try:
            yield index, json.loads(line, parse_float=Decimal), line
        except (ValueError, RecursionError) as exc:
            yield index, _NotJson(str(exc) if isinstance(exc, ValueError) else "nested too deeply"), line


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _has_action(record: Mapping[Any, Any]) -> bool:
    for key, value in record.items():
        if not isinstance(key, str):
            continue
        canonical = _ALIAS.get(_norm(key), ("", 0))[0]
        if canonical in ("action", "side", "type"):
            return True
        if _norm(key) == "strategy" and isinstance(value, dict) and "orderaction" in {_norm(str(k)) for k in value}:
            return True
    return False


def _refuse_object(document: Mapping[Any, Any]) -> None:
    keys = [str(k) for k in document]
    norms = {_norm(k) for k in keys}
    if norms & set(_STATE_KEYS):
        raise _FileRefused(
            "a saved state of orders and positions (a copier's or terminal's snapshot), not instructions; "
            "nothing was executed"
        )
    shown = ", ".join(keys[:10]) + (", …" if len(keys) > 10 else "")
    raise _FileRefused(f"no 'action' field (or side, direction, type) in the JSON object; its keys are: {shown}")


def _flatten_strategy(item: dict[str, Any]) -> dict[str, Any]:
    """A TradingView strategy alert body: the order is in ``strategy``; its position fields tell a close."""
    strategy = next((v for k, v in item.items() if isinstance(k, str) and _norm(k) == "strategy"), None)
    if not isinstance(strategy, dict) or _has_action({k: v for k, v in item.items() if _norm(str(k)) != "strategy"}):
        return item
    s = {_norm(str(k)): v for k, v in strategy.items()}
    if "orderaction" not in s:
        return item
    out: dict[str, Any] = {
        k: v for k, v in item.items() if _norm(str(k)) not in ("strategy", "passphrase", "bar", "exchange")
    }
    position = str(s.get("marketposition") or "").strip().lower()
    previous = str(s.get("prevmarketposition") or "").strip().lower()
    if position == "flat" and previous in ("long", "short"):
        out["action"] = "close_long" if previous == "long" else "close_short"
    elif previous in ("long", "short") and position in ("long", "short") and previous != position:
        out["action"], out["mode"] = position, "reverse"
        out["volume"] = s.get("marketpositionsize", s.get("ordercontracts"))
    else:
        out["action"] = s["orderaction"]
        out["volume"] = s.get("ordercontracts")
    if "orderprice" in s:
        out["price"] = s["orderprice"]
    # TradingView's order id is the strategy's entry name, reused by every trade: a label, not an id.
    if s.get("orderid") is not None and "comment" not in out:
        out["comment"] = str(s["orderid"])
    return out


# -- NinjaTrader order instruction files ------------------------------------------------------


def _looks_like_oif(text: str) -> bool:
    first = _lines(text)[0].strip()
    return ";" in first and first.split(";", 1)[0].strip().upper() in _OIF_COMMANDS


_OIF_FIELDS = (
    "command",
    "account",
    "instrument",
    "action",
    "qty",
    "ordertype",
    "limit",
    "stop",
    "tif",
    "oco",
    "orderid",
    "strategy",
    "strategyid",
)


def _oif_rows(text: str, ctx: _Context) -> Iterator[ParsedRow | RowError]:
    row = 0
    for line, raw in enumerate(_lines(text), start=1):
        if not raw.strip():
            continue
        row += 1
        if row > MAX_ROWS:
            raise _FileRefused(f"more than {MAX_ROWS} rows; split the file")
        _refuse_templates(raw, line)
        cells = dict(zip(_OIF_FIELDS, (c.strip() for c in raw.split(";")), strict=False))
        command = cells.get("command", "").upper()
        for price in ("limit", "stop"):
            if cells.get(price) in ("0", "0.0"):
                cells[price] = ""
        record: dict[str, Any] = {"symbol": cells.get("instrument", "")}
        if command in ("PLACE", "REVERSEPOSITION"):
            record.update(
                side=cells.get("action", ""),
                action="reverse" if command == "REVERSEPOSITION" else "open",
                qty=cells.get("qty", ""),
                ordertype=cells.get("ordertype", ""),
                limitprice=cells.get("limit", ""),
                stopprice=cells.get("stop", ""),
                orderid=cells.get("orderid", ""),
                ticket=cells.get("orderid", ""),
            )
            if not record["side"]:
                yield RowError(line, row, f"{command} needs an action (BUY or SELL)", "action")
                continue
        elif command == "CLOSEPOSITION":
            record["action"] = "close"
        elif command == "FLATTENEVERYTHING":
            record = {"action": "close_all"}
        elif command == "CANCEL":
            if not cells.get("orderid"):
                yield RowError(line, row, "CANCEL needs the order id", "orderid")
                continue
            record = {"action": "cancel", "ticket": cells["orderid"]}
        else:
            reason = {
                "CHANGE": "changing a working order's price or quantity is not supported; cancel and place again",
                "CANCELALLORDERS": "cancelling every working order is not supported; cancel by order id",
                "CLOSESTRATEGY": "strategies are not tracked; close by instrument (CLOSEPOSITION)",
            }.get(command, f"unknown command {command!r}")
            yield RowError(line, row, reason, "command")
            continue
        if record.get("ordertype", "").upper() == "STOPMARKET":
            record["ordertype"] = "stop"
        yield _checked(_fields(record, ctx), ctx, line=line, row=row, raw=raw)
