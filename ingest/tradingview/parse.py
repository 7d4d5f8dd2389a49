"""TradingView alert bodies → ``Signal``.

Three forms are read, whatever the request's content type says (TradingView sends ``text/plain``
for anything that is not valid JSON):

- JSON: ``{"action": "buy", "symbol": "EURUSD", "volume": 0.1, "sl_pips": 20, "id": "a-42"}``
  (see :mod:`ingest.tradingview.fields` for every field name);
- PineConnector: ``60123456789,buy,EURUSD,risk=1,sl=20,tp=40``;
- key=value: ``action=buy;symbol=EURUSD;volume=0.1``.

Reading happens in two steps so the edge can authenticate in between: :func:`read_alert` finds the
form, the fields and the passphrase (even in a body with unfilled ``{{placeholders}}``);
:func:`build_signal` refuses placeholders and interprets the fields. :func:`parse_alert` does both.
Every problem raises ``ParseError``: status 400 when the body cannot be read at all, 422 when it
can but does not make a signal, with ``field`` naming the part at fault.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.errors import ParseError
from core.signal import Signal
from ingest.tradingview.fields import interpret, passphrase_of
from ingest.tradingview.json_form import read_json
from ingest.tradingview.options import DEFAULT_OPTIONS, AlertOptions
from ingest.tradingview.placeholders import describe, find_placeholders, neutralize
from ingest.tradingview.text_form import read_text

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class ParsedAlert:
    """A parsed alert: the signal, and the credentials the body carried (checked by the edge)."""

    signal: Signal
    passphrase: str | None
    license_id: str | None = None


@dataclass(frozen=True, slots=True)
class RawAlert:
    """An alert read but not yet interpreted.

    ``form`` is ``json``, ``pineconnector`` or ``keyvalue``; ``fields`` has normalized keys;
    ``placeholders`` lists unfilled ``{{…}}`` (the fields were then read with them blanked).
    """

    form: str
    fields: dict[str, Any]
    text: str
    passphrase: str | None
    license_id: str | None = None
    placeholders: tuple[str, ...] = ()


def read_alert(body: bytes, options: AlertOptions = DEFAULT_OPTIONS) -> RawAlert:
    """Find the form, fields and credentials of ``body``; ``ParseError`` when it cannot be read."""
    if body.startswith(_BOM):
        body = body[len(_BOM) :]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"the body is not UTF-8 text (bad byte at offset {exc.start})", status=400) from None
    if not text.strip():
        raise ParseError("empty body: send the alert as JSON or text", status=400)
    found = find_placeholders(text)
    try:
        form, fields, license_id = _read(neutralize(text) if found else text, options)
    except ParseError:
        if found:
            raise ParseError(describe(found), "placeholders", 422) from None
        raise
    return RawAlert(form, fields, text, passphrase_of(fields), license_id, found)


def _read(text: str, options: AlertOptions) -> tuple[str, dict[str, Any], str | None]:
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        return "json", read_json(stripped), None
    return read_text(stripped, options)


def build_signal(raw: RawAlert, *, source: str, received_ns: int, options: AlertOptions = DEFAULT_OPTIONS) -> Signal:
    """Interpret a read alert; unfilled placeholders are refused (422, field ``placeholders``)."""
    if raw.placeholders:
        raise ParseError(describe(raw.placeholders), "placeholders", 422)
    return interpret(raw.fields, source=source, raw=raw.text, received_ns=received_ns, options=options)


def parse_alert(
    body: bytes, *, source: str, received_ns: int | None = None, options: AlertOptions | None = None
) -> ParsedAlert:
    """Parse one webhook body (any form). Raises ``ParseError`` (400 unreadable, 422 bad content)."""
    if received_ns is None:
        received_ns = time.monotonic_ns()
    opts = options or DEFAULT_OPTIONS
    raw = read_alert(body, opts)
    signal = build_signal(raw, source=source, received_ns=received_ns, options=opts)
    return ParsedAlert(signal, raw.passphrase, raw.license_id)


def check_age(signal: Signal, options: AlertOptions, now: datetime | None = None) -> None:
    """Refuse (422, field ``time``) a signal stamped longer ago than the source's ``max_age``."""
    if options.max_age is None or signal.sent_at is None:
        return
    age = ((now or datetime.now(UTC)) - signal.sent_at).total_seconds()
    if age > options.max_age:
        raise ParseError(
            f"the alert is {age:.0f} s old (sent {signal.sent_at.isoformat()}); "
            f"this source accepts alerts up to {options.max_age:g} s old",
            "time",
            422,
        )
