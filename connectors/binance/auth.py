"""Request signing for Binance USDⓈ-M futures (pure functions).

REST: ``signature = hex(HMAC-SHA256(secret, query string + body exactly as sent))`` appended last.
WebSocket API: the same digest over every parameter except ``signature``, sorted by name and
joined as ``k=v&…``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import quote

_SAFE = "-_.~"


def sign(secret: str | bytes, payload: str | bytes) -> str:
    """Hex HMAC-SHA256 of ``payload`` under ``secret``."""
    key = secret.encode() if isinstance(secret, str) else secret
    data = payload.encode() if isinstance(payload, str) else payload
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def encode(params: Iterable[tuple[str, str]]) -> str:
    """``k=v&…`` in the given order, values percent-encoded the way they are sent."""
    return "&".join(f"{k}={quote(v, safe=_SAFE)}" for k, v in params)


def signed_query(
    params: Iterable[tuple[str, str]], secret: str | bytes, timestamp_ms: int, recv_window: int | None
) -> str:
    """The full query string for a signed REST request: params, recvWindow, timestamp, signature."""
    query = encode(params)
    tail = f"recvWindow={recv_window}&timestamp={timestamp_ms}" if recv_window else f"timestamp={timestamp_ms}"
    query = f"{query}&{tail}" if query else tail
    return f"{query}&signature={sign(secret, query)}"


def ws_payload(params: Mapping[str, str]) -> str:
    """The string a WebSocket API request signs: params except ``signature``, sorted, ``k=v&…``."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")


def sign_ws(
    params: dict[str, str], api_key: str, secret: str | bytes, timestamp_ms: int, recv_window: int | None
) -> dict[str, str]:
    """Add ``apiKey``, ``timestamp``, ``recvWindow`` and ``signature`` to WebSocket API params (in place)."""
    params["apiKey"] = api_key
    params["timestamp"] = str(timestamp_ms)
    if recv_window:
        params["recvWindow"] = str(recv_window)
    params["signature"] = sign(secret, ws_payload(params))
    return params
