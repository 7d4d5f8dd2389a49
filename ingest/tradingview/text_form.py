"""Plain-text forms: PineConnector's comma syntax and ``key=value`` pairs.

PineConnector: ``LicenseID,command,symbol,name=value,…`` (spaces around commas allowed)::

    60123456789,buy,EURUSD,risk=1,sl=20,tp=40
    60123456789,closelong,EURUSD

The licence id identifies a PineConnector customer, not the alert; it is kept only to be checked
against the source's token when the source says ``pineconnector_license = "token"``. A bare
``sl=``/``tp=`` is a distance in pips (PineConnector's default target type) unless the source's
``pineconnector_targets`` says otherwise; ``sl_pips=``, ``sl_price=``, ``sl_pct=`` (and ``tp_…``)
are explicit. ``risk=`` is a percent of equity lost at the stop unless ``pineconnector_risk =
"lots"``; ``vol_lots=`` is lots.

Key=value: ``action=buy;symbol=EURUSD;volume=0.1`` — pairs separated by ``;``, new lines or, when
there is neither, commas. Keys are the JSON form's field names, in any case.
"""

from __future__ import annotations

import re
from typing import Any

from core.enums import LevelUnit
from core.errors import ParseError
from ingest.tradingview.fields import ACTIONS, normalize_key
from ingest.tradingview.options import AlertOptions

#: PineConnector commands that run the PineConnector EA itself, which Copier does not have.
EA_COMMANDS = frozenset({"eaon", "eaoff", "closealleaoff", "closeallon", "closealloff"})

_UNIT_SUFFIX = {unit: unit.value for unit in LevelUnit}
_EXPLICIT_LEVELS = {
    f"{level}{unit}": f"{level}{canon}"
    for level in ("sl", "tp")
    for unit, canon in (
        ("pips", "pips"),
        ("price", "price"),
        ("pct", "percent"),
        ("percent", "percent"),
        ("points", "points"),
    )
}
_KV_LINES = re.compile(r"[;\r\n]+")
#: A space, then ``name=``, inside a value: pairs separated by spaces (``action=buy symbol=EURUSD``).
_SPACED_PAIR = re.compile(r"\s[A-Za-z_][\w ]*=")
_COMMANDS = frozenset(ACTIONS) | EA_COMMANDS
_LICENSE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_COMMAND = re.compile(r"[A-Za-z_]{2,24}")


def read_text(text: str, options: AlertOptions) -> tuple[str, dict[str, Any], str | None]:
    """(form name, normalized fields, PineConnector licence id) of a text alert."""
    stripped = text.strip()
    parts = [part.strip() for part in stripped.split(",")]
    if len(parts) >= 2 and _looks_like_pineconnector(parts[0], parts[1]):
        fields, license_id = _pineconnector(parts, options)
        return "pineconnector", fields, license_id
    if "=" in stripped:
        return "keyvalue", _keyvalue(stripped), None
    word = normalize_key(stripped)
    if word in ACTIONS:
        raise ParseError(f"the alert says {stripped!r} but names no symbol", "symbol", 422)
    raise ParseError(
        "unreadable alert: send JSON, PineConnector text (ID,buy,EURUSD,risk=1) or key=value pairs "
        "(action=buy;symbol=EURUSD)",
        status=400,
    )


def _looks_like_pineconnector(first: str, second: str) -> bool:
    if "=" in first or "=" in second:
        return False
    known = normalize_key(first) in _COMMANDS or normalize_key(second) in _COMMANDS
    return known or bool(_LICENSE.fullmatch(first) and _COMMAND.fullmatch(second))


def _pineconnector(parts: list[str], options: AlertOptions) -> tuple[dict[str, Any], str | None]:
    first, second = normalize_key(parts[0]), normalize_key(parts[1])
    if first in ACTIONS and second not in ACTIONS:
        license_id, command, rest = None, parts[0], parts[1:]
    else:
        license_id, command, rest = parts[0] or None, parts[1], parts[2:]
    word = normalize_key(command)
    if word in EA_COMMANDS:
        raise ParseError(
            f"PineConnector command {command!r} switches the PineConnector EA; Copier has none "
            "(use the kill switch to stop new trades)",
            "action",
            422,
        )
    if word not in ACTIONS:
        raise ParseError(f"unknown PineConnector command {command!r}", "action", 422)
    fields: dict[str, Any] = {"action": word}
    if rest and "=" not in rest[0]:
        fields["symbol"] = rest[0]
        rest = rest[1:]
    for part in rest:
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise ParseError(f"unexpected {part!r}: PineConnector parameters are name=value", part[:40], 422)
        key = _pc_key(normalize_key(name), name.strip(), options)
        if key in fields:
            raise ParseError(f"{name.strip()!r} is given twice", name.strip(), 422)
        fields[key] = _unquote(value)
    return fields, license_id


def _pc_key(key: str, name: str, options: AlertOptions) -> str:
    if key == "risk":
        return "volume" if options.pineconnector_risk == "lots" else "risk"
    if key == "vollots":
        return "volume"
    if key.startswith("vol"):
        raise ParseError(f"PineConnector parameter {name!r} is not supported; size with risk= or vol_lots=", name, 422)
    if key in ("sl", "tp"):
        return key + _UNIT_SUFFIX[options.pineconnector_targets]
    if key in _EXPLICIT_LEVELS:
        return _EXPLICIT_LEVELS[key]
    if name.lower().startswith(("sl_", "tp_")):
        raise ParseError(
            f"PineConnector parameter {name!r} is not supported; use sl_pips, sl_price or sl_pct", name, 422
        )
    return key


def _keyvalue(text: str) -> dict[str, Any]:
    pieces = _KV_LINES.split(text) if _KV_LINES.search(text) else text.split(",")
    fields: dict[str, Any] = {}
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        name, sep, value = piece.partition("=")
        key = normalize_key(name)
        if not sep or not key:
            raise ParseError(
                f"cannot read {piece[:60]!r} as key=value (pairs are separated by ';', ',' or new lines)", status=400
            )
        words = name.split()
        # "sell XAUUSD risk" or "buy EURUSD", not a spaced field name such as "close percent".
        spaced = len(words) > 2 or (len(words) == 2 and words[1].isupper())
        if spaced and normalize_key(words[0]) in _COMMANDS:
            raise ParseError(_spaced_words(words, piece), status=400)
        if key in fields:
            raise ParseError(f"{name.strip()!r} is given twice", name.strip(), 422)
        unquoted = _unquote(value)
        if unquoted == value.strip() and _SPACED_PAIR.search(unquoted):
            shown = piece if len(piece) <= 60 else piece[:60] + "…"
            raise ParseError(
                f"the key=value pairs are separated by spaces ({shown!r}); separate them with ';', ',' or "
                f"new lines ({';'.join(piece.split()[:2])};…)",
                name.strip(),
                400,
            )
        fields[key] = unquoted
    return fields


def _spaced_words(words: list[str], text: str) -> str:
    """The error for ``sell XAUUSD risk=1 sl=2300``: words separated by spaces, a form with no
    agreed meaning for ``sl=`` (pips in PineConnector's, a price in key=value pairs)."""
    command, symbol = words[0], words[1] if len(words) > 2 else "SYMBOL"
    shown = text if len(text) <= 40 else text[:40] + "…"
    return (
        f"the alert's parts are separated by spaces ({shown!r}); separate them with "
        f"commas as PineConnector does ({command},{symbol},risk=1,sl=20 — sl/tp in pips) or send "
        f"key=value pairs (action={command.lower()};symbol={symbol};sl_price=…)"
    )


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value
