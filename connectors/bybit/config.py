"""Account configuration for a Bybit v5 linear (USDT perpetual) account."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import ConfigError

MAINNET = ("https://api.bybit.com", "wss://stream.bybit.com/v5/trade", "wss://stream.bybit.com/v5/private")
TESTNET = (
    "https://api-testnet.bybit.com",
    "wss://stream-testnet.bybit.com/v5/trade",
    "wss://stream-testnet.bybit.com/v5/private",
)
# Demo trading has REST and the private stream but no WebSocket order entry: orders go over REST.
DEMO = ("https://api-demo.bybit.com", "", "wss://stream-demo.bybit.com/v5/private")


@dataclass(frozen=True, slots=True)
class BybitConfig:
    """One Bybit account.

    ``base_url`` is the REST root, ``ws_url`` the WebSocket order-entry endpoint (``/v5/trade``; empty
    means orders go over REST) and ``private_ws_url`` the private stream (``/v5/private``).
    ``hedge_mode`` must match the account's position mode on the venue. Secrets are plain strings
    here (references are resolved by the caller) and never appear in ``repr``.
    """

    name: str
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    base_url: str = MAINNET[0]
    ws_url: str = MAINNET[1]
    private_ws_url: str = MAINNET[2]
    hedge_mode: bool = False
    recv_window: int = 5000
    testnet: bool = False
    demo: bool = False
    request_timeout: float = 5.0
    fill_wait: float = 1.0
    instrument_refresh: float = 900.0
    time_sync_interval: float = 60.0
    settle_coin: str = "USDT"

    @classmethod
    def from_mapping(cls, name: str, data: Mapping[str, Any]) -> BybitConfig:
        """Build and validate from a config table; errors name the key as ``accounts.NAME.key``."""
        base = f"accounts.{name}"
        known = {
            "venue",
            "api_key",
            "api_secret",
            "base_url",
            "ws_url",
            "private_ws_url",
            "hedge_mode",
            "recv_window",
            "testnet",
            "demo",
            "request_timeout",
            "fill_wait",
            "instrument_refresh",
            "time_sync_interval",
            "settle_coin",
        }
        for key in data:
            if key not in known:
                raise ConfigError(f"unknown key {key!r} for a bybit account", f"{base}.{key}")

        def text(key: str, required: bool = False, default: str = "") -> str:
            value = data.get(key, default)
            if not isinstance(value, str):
                raise ConfigError("must be a string", f"{base}.{key}")
            if required and not value:
                raise ConfigError("is required", f"{base}.{key}")
            return value

        def flag(key: str) -> bool:
            value = data.get(key, False)
            if not isinstance(value, bool):
                raise ConfigError("must be true or false", f"{base}.{key}")
            return value

        def number(key: str, default: float, low: float, high: float) -> float:
            value = data.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError("must be a number", f"{base}.{key}")
            if not low <= value <= high:
                raise ConfigError(f"must be between {low:g} and {high:g}", f"{base}.{key}")
            return float(value)

        testnet = flag("testnet")
        demo = flag("demo")
        if testnet and demo:
            raise ConfigError("testnet and demo cannot both be set", f"{base}.demo")
        urls = DEMO if demo else TESTNET if testnet else MAINNET
        base_url = text("base_url", default=urls[0]).rstrip("/")
        ws_url = text("ws_url", default=urls[1])
        private_ws_url = text("private_ws_url", default=urls[2])
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError("must be an http(s) URL", f"{base}.base_url")
        for key, url in (("ws_url", ws_url), ("private_ws_url", private_ws_url)):
            if url and not url.startswith(("ws://", "wss://")):
                raise ConfigError("must be a ws(s) URL", f"{base}.{key}")
        if not private_ws_url:
            raise ConfigError("is required", f"{base}.private_ws_url")
        return cls(
            name=name,
            api_key=text("api_key", required=True),
            api_secret=text("api_secret", required=True),
            base_url=base_url,
            ws_url=ws_url,
            private_ws_url=private_ws_url,
            hedge_mode=flag("hedge_mode"),
            recv_window=int(number("recv_window", 5000, 1, 60000)),
            testnet=testnet,
            demo=demo,
            request_timeout=number("request_timeout", 5.0, 0.05, 120),
            fill_wait=number("fill_wait", 1.0, 0, 30),
            instrument_refresh=number("instrument_refresh", 900.0, 1, 86400),
            time_sync_interval=number("time_sync_interval", 60.0, 1, 86400),
            settle_coin=text("settle_coin", default="USDT") or "USDT",
        )
