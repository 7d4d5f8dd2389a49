"""Configuration of one OKX v5 account (USDT-margined perpetual swaps).

In the TOML file an OKX account looks like::

    [accounts.okx-main]
    venue = "okx"
    api_key = "env:OKX_KEY"
    api_secret = "env:OKX_SECRET"
    passphrase = "env:OKX_PASSPHRASE"
    demo = false                 # true sends ``x-simulated-trading: 1`` (OKX demo trading)
    hedge_mode = false           # must match the account's position mode at OKX
    td_mode = "cross"            # or "isolated"
    # base_url = "https://www.okx.com"
    # ws_url = "wss://ws.okx.com:8443/ws/v5/private"

``env:`` references are resolved by the caller before :meth:`OkxConfig.from_mapping` sees them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from core.errors import ConfigError

DEFAULT_BASE_URL = "https://www.okx.com"
DEFAULT_WS_URL = "wss://ws.okx.com:8443/ws/v5/private"
DEMO_WS_URL = "wss://wspap.okx.com:8443/ws/v5/private"
TD_MODES: tuple[str, ...] = ("cross", "isolated")

_KEYS = frozenset(
    {
        "api_key",
        "api_secret",
        "passphrase",
        "base_url",
        "ws_url",
        "hedge_mode",
        "td_mode",
        "demo",
        "request_timeout",
        "fill_wait",
        "refresh_interval",
    }
)


@dataclass(frozen=True, slots=True)
class OkxConfig:
    """One OKX account.

    ``hedge_mode`` is what the operator expects the account's position mode to be
    (``long_short_mode``); the connector checks it against the venue at start. ``request_timeout``
    bounds one request's answer; after it the outcome of an order is unknown. ``fill_wait`` is how
    long ``submit`` waits for a market order's fill on the private stream after the venue's ack.
    ``refresh_interval`` is the period of the background refresh of instruments, balance and clock.
    Secrets never appear in ``repr``.
    """

    name: str
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    passphrase: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    ws_url: str = DEFAULT_WS_URL
    hedge_mode: bool = False
    td_mode: str = "cross"
    demo: bool = False
    request_timeout: float = 5.0
    fill_wait: float = 1.0
    refresh_interval: float = 300.0

    def __post_init__(self) -> None:
        if self.td_mode not in TD_MODES:
            raise ValueError(f"td_mode must be one of {', '.join(TD_MODES)}, not {self.td_mode!r}")

    @classmethod
    def from_mapping(
        cls,
        name: str,
        data: Mapping[str, Any],
        *,
        prefix: str = "accounts",
        ignore: Iterable[str] = ("venue",),
    ) -> OkxConfig:
        """Validate an account table; errors are :class:`ConfigError` naming the key path
        (``accounts.NAME.base_url``). Unknown keys are errors, except those in ``ignore``."""
        base = f"{prefix}.{name}" if prefix else name
        if not isinstance(data, Mapping):
            raise ConfigError("must be a table", base)
        skipped = frozenset(ignore)
        for key in data:
            if key not in _KEYS and key not in skipped:
                raise ConfigError(f"unknown option {key!r} for an OKX account", f"{base}.{key}")

        def secret(key: str) -> str:
            value = data.get(key)
            if not isinstance(value, str) or not value:
                raise ConfigError("is required (a non-empty string)", f"{base}.{key}")
            if value.startswith("env:"):
                raise ConfigError("environment reference was not resolved", f"{base}.{key}")
            return value

        def flag(key: str, default: bool) -> bool:
            value = data.get(key, default)
            if not isinstance(value, bool):
                raise ConfigError("must be true or false", f"{base}.{key}")
            return value

        def seconds(key: str, default: float) -> float:
            value = data.get(key, default)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError("must be a number of seconds", f"{base}.{key}")
            if not math.isfinite(value) or value <= 0:
                raise ConfigError("must be above 0", f"{base}.{key}")
            return float(value)

        demo = flag("demo", False)
        base_url = _url(data.get("base_url", DEFAULT_BASE_URL), f"{base}.base_url", ("http", "https"))
        ws_default = DEMO_WS_URL if demo else DEFAULT_WS_URL
        ws_url = _url(data.get("ws_url", ws_default), f"{base}.ws_url", ("ws", "wss"))
        td_mode = data.get("td_mode", "cross")
        if td_mode not in TD_MODES:
            raise ConfigError(f"must be one of {', '.join(TD_MODES)}, not {td_mode!r}", f"{base}.td_mode")
        return cls(
            name=name,
            api_key=secret("api_key"),
            api_secret=secret("api_secret"),
            passphrase=secret("passphrase"),
            base_url=base_url,
            ws_url=ws_url,
            hedge_mode=flag("hedge_mode", False),
            td_mode=td_mode,
            demo=demo,
            request_timeout=seconds("request_timeout", 5.0),
            fill_wait=seconds("fill_wait", 1.0),
            refresh_interval=seconds("refresh_interval", 300.0),
        )


def _url(value: object, path: str, schemes: tuple[str, ...]) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError("must be a URL", path)
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        raise ConfigError(f"must be a {' or '.join(s + '://' for s in schemes)} URL, not {value!r}", path)
    return value.rstrip("/")
