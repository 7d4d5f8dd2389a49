"""The JSON form: one object per alert, field names as traders spell them.

A nested ``"strategy": {...}`` object (the widely copied strategy template) is read as if its
fields were at the top level; a top-level field wins over a nested one.
"""

from __future__ import annotations

from typing import Any

import orjson

from core.errors import ParseError
from ingest.tradingview.fields import normalize_keys


def read_json(text: str) -> dict[str, Any]:
    """Normalized fields of a JSON alert. ``ParseError`` 400 for bad JSON, 422 for a non-object."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"malformed JSON: {exc}", status=400) from None
    if isinstance(data, list):
        raise ParseError(f"one alert carries one signal: send a JSON object, not a list of {len(data)}", status=422)
    if not isinstance(data, dict):
        raise ParseError(f"the alert must be a JSON object, not {type(data).__name__}", status=422)
    fields = normalize_keys(data)
    nested = fields.get("strategy")
    if isinstance(nested, dict):
        for key, value in normalize_keys({str(k): v for k, v in nested.items()}).items():
            fields.setdefault(key, value)
    return fields
