"""Bybit v5 request signing (pure functions).

REST: ``hex(HMAC-SHA256(secret, timestamp + api_key + recv_window + payload))`` where the payload is
the query string of a GET or the raw JSON body of a POST, exactly as sent. WebSocket auth signs
``"GET/realtime" + expires``.
"""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, message: str) -> str:
    """Hex HMAC-SHA256 of ``message`` under ``secret``."""
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def rest_signature(secret: str, timestamp_ms: int, api_key: str, recv_window: int, payload: str) -> str:
    """The ``X-BAPI-SIGN`` value for one REST request."""
    return sign(secret, f"{timestamp_ms}{api_key}{recv_window}{payload}")


def rest_headers(api_key: str, secret: str, timestamp_ms: int, recv_window: int, payload: str) -> dict[str, str]:
    """The four authentication headers for one REST request."""
    return {
        "X-BAPI-API-KEY": api_key,
        "X-BAPI-SIGN": rest_signature(secret, timestamp_ms, api_key, recv_window, payload),
        "X-BAPI-TIMESTAMP": str(timestamp_ms),
        "X-BAPI-RECV-WINDOW": str(recv_window),
    }


def ws_auth_signature(secret: str, expires_ms: int) -> str:
    """Signature for the WebSocket ``auth`` op."""
    return sign(secret, f"GET/realtime{expires_ms}")


def ws_auth_message(api_key: str, secret: str, expires_ms: int) -> dict[str, object]:
    """The complete WebSocket ``auth`` request."""
    return {"op": "auth", "args": [api_key, expires_ms, ws_auth_signature(secret, expires_ms)]}


def timestamp_within_window(timestamp_ms: int, server_ms: int, recv_window: int) -> bool:
    """Bybit's acceptance rule: ``server - recv_window <= timestamp < server + 1000``."""
    return server_ms - recv_window <= timestamp_ms < server_ms + 1000
