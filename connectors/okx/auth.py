"""OKX v5 request signing (pure functions).

REST: ``OK-ACCESS-SIGN = base64(HMAC-SHA256(secret, timestamp + METHOD + path_with_query + body))``
with ``timestamp`` in ISO-8601 UTC with milliseconds, the same string sent in
``OK-ACCESS-TIMESTAMP``. WebSocket login signs ``seconds + "GET" + "/users/self/verify"`` with
``seconds`` the Unix time in (whole) seconds, as a string.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

WS_VERIFY_PATH = "/users/self/verify"


def iso_timestamp(epoch_ms: int) -> str:
    """``2020-12-08T09:08:57.715Z`` for milliseconds since the Unix epoch."""
    seconds, millis = divmod(epoch_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class Signer:
    """HMAC-SHA256 keyed once with the API secret; each signature copies the keyed state."""

    __slots__ = ("_mac",)

    def __init__(self, secret: str) -> None:
        self._mac = hmac.new(secret.encode(), digestmod=hashlib.sha256)

    def sign(self, prehash: bytes) -> str:
        """base64 of the HMAC-SHA256 of ``prehash``."""
        mac = self._mac.copy()
        mac.update(prehash)
        return base64.b64encode(mac.digest()).decode()

    def rest(self, timestamp: str, method: str, path_with_query: str, body: bytes = b"") -> str:
        """``OK-ACCESS-SIGN`` for one REST request; ``body`` is exactly the bytes sent."""
        return self.sign((timestamp + method.upper() + path_with_query).encode() + body)

    def ws_login(self, timestamp_seconds: str) -> str:
        """The ``sign`` of a WebSocket ``login`` op."""
        return self.sign((timestamp_seconds + "GET" + WS_VERIFY_PATH).encode())


def rest_signature(secret: str, timestamp: str, method: str, path_with_query: str, body: bytes = b"") -> str:
    """One-off form of :meth:`Signer.rest`."""
    return Signer(secret).rest(timestamp, method, path_with_query, body)


def rest_headers(
    signer: Signer,
    api_key: str,
    passphrase: str,
    timestamp: str,
    method: str,
    path_with_query: str,
    body: bytes = b"",
    *,
    demo: bool = False,
) -> dict[str, str]:
    """The four ``OK-ACCESS-*`` headers (and the demo-trading header when ``demo``)."""
    headers = {
        "OK-ACCESS-KEY": api_key,
        "OK-ACCESS-SIGN": signer.rest(timestamp, method, path_with_query, body),
        "OK-ACCESS-TIMESTAMP": timestamp,
        "OK-ACCESS-PASSPHRASE": passphrase,
        "Content-Type": "application/json",
    }
    if demo:
        headers["x-simulated-trading"] = "1"
    return headers


def ws_login_args(signer: Signer, api_key: str, passphrase: str, timestamp_seconds: str) -> dict[str, str]:
    """One entry of the ``login`` op's ``args``."""
    return {
        "apiKey": api_key,
        "passphrase": passphrase,
        "timestamp": timestamp_seconds,
        "sign": signer.ws_login(timestamp_seconds),
    }
