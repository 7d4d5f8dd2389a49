"""Account configuration for a Binance USDⓈ-M futures connector."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import ConfigError

LIVE_REST = "https://fapi.binance.com"
LIVE_WS_API = "wss://ws-fapi.binance.com/ws-fapi/v1"
LIVE_STREAM = "wss://fstream.binance.com"
DEMO_REST = "https://demo-fapi.binance.com"
DEMO_WS_API = "wss://testnet.binancefuture.com/ws-fapi/v1"
DEMO_STREAM = "wss://fstream.binancefuture.com"

_KNOWN_KEYS = frozenset(
    {
        "venue",
        "api_key",
        "api_secret",
        "base_url",
        "ws_url",
        "stream_url",
        "hedge_mode",
        "recv_window",
        "demo",
        "ws_orders",
        "instrument_refresh",
        "account_refresh",
        "request_timeout",
    }
)


@dataclass(frozen=True, slots=True)
class BinanceConfig:
    """One Binance USDⓈ-M futures account.

    ``base_url`` is the REST root, ``ws_url`` the WebSocket API endpoint used for order entry and
    ``stream_url`` the market/user-data stream root (used by the master-account source).
    ``hedge_mode`` must match the account's position mode on the venue (checked at start).
    ``ws_orders`` sends orders over the WebSocket API; REST is the fallback either way.
    Secrets are plain strings here and never appear in ``repr``.
    """

    name: str
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    base_url: str = LIVE_REST
    ws_url: str = LIVE_WS_API
    stream_url: str = LIVE_STREAM
    hedge_mode: bool = False
    recv_window: int = 5000
    demo: bool = False
    ws_orders: bool = True
    instrument_refresh: float = 300.0
    account_refresh: float = 5.0
    request_timeout: float = 10.0

    def path(self, key: str) -> str:
        """The configuration key path of ``key`` for error messages."""
        return f"accounts.{self.name}.{key}"

    @classmethod
    def from_mapping(cls, name: str, data: Mapping[str, Any]) -> BinanceConfig:
        """Build from one ``[accounts.NAME]`` table; errors name the offending key path."""

        def where(key: str) -> str:
            return f"accounts.{name}.{key}"

        unknown = sorted(set(data) - _KNOWN_KEYS)
        if unknown:
            raise ConfigError(f"unknown setting {unknown[0]!r}", where(unknown[0]))

        def text(key: str, default: str | None = None) -> str:
            value = data.get(key, default)
            if value is None:
                raise ConfigError("is required", where(key))
            if not isinstance(value, str) or not value.strip():
                raise ConfigError("must be a non-empty string", where(key))
            return value.strip()

        def url(key: str, default: str, schemes: tuple[str, ...]) -> str:
            value = text(key, default).rstrip("/")
            if not value.startswith(schemes):
                raise ConfigError(f"must start with {' or '.join(schemes)}", where(key))
            return value

        def flag(key: str, default: bool) -> bool:
            value = data.get(key, default)
            if not isinstance(value, bool):
                raise ConfigError("must be true or false", where(key))
            return value

        def number(key: str, default: float, low: float, high: float) -> float:
            value = data.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError("must be a number", where(key))
            if not low <= value <= high:
                raise ConfigError(f"must be between {low:g} and {high:g}", where(key))
            return float(value)

        venue = data.get("venue", "binance")
        if venue != "binance":
            raise ConfigError(f"venue {venue!r} is not binance", where("venue"))
        demo = flag("demo", False)
        recv_window = data.get("recv_window", 5000)
        if isinstance(recv_window, bool) or not isinstance(recv_window, int) or not 1 <= recv_window <= 60000:
            raise ConfigError("must be a whole number of milliseconds from 1 to 60000", where("recv_window"))
        return cls(
            name=name,
            api_key=text("api_key"),
            api_secret=text("api_secret"),
            base_url=url("base_url", DEMO_REST if demo else LIVE_REST, ("http://", "https://")),
            ws_url=url("ws_url", DEMO_WS_API if demo else LIVE_WS_API, ("ws://", "wss://")),
            stream_url=url("stream_url", DEMO_STREAM if demo else LIVE_STREAM, ("ws://", "wss://")),
            hedge_mode=flag("hedge_mode", False),
            recv_window=recv_window,
            demo=demo,
            ws_orders=flag("ws_orders", True),
            instrument_refresh=number("instrument_refresh", 300.0, 1.0, 86400.0),
            account_refresh=number("account_refresh", 5.0, 0.1, 3600.0),
            request_timeout=number("request_timeout", 10.0, 0.1, 120.0),
        )
