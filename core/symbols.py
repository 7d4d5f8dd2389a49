"""Canonical symbol names, aliases, and each account's mapping to its venue's names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

DEFAULT_ALIASES: Mapping[str, str] = {
    "GOLD": "XAUUSD",
    "XAU": "XAUUSD",
    "SILVER": "XAGUSD",
    "XAG": "XAGUSD",
    "DOW": "US30",
    "DJ30": "US30",
    "DJI": "US30",
    "NASDAQ": "NAS100",
    "US100": "NAS100",
    "NDX": "NAS100",
    "SPX": "US500",
    "SP500": "US500",
    "BITCOIN": "BTCUSDT",
    "BTC": "BTCUSDT",
    "BTCUSD": "BTCUSDT",
    "ETH": "ETHUSDT",
    "ETHUSD": "ETHUSDT",
}

# TradingView marks perpetuals with ".P" and names exchanges with "EXCHANGE:".
_STRIP_SUFFIXES = ("-PERP", "_PERP", ".PERP", "PERP", ".P")


class SymbolTable:
    """Turns whatever a source wrote (``OANDA:XAU/USD``, ``gold``, ``BTCUSDT.P``) into a canonical name."""

    def __init__(self, aliases: Mapping[str, str] | None = None) -> None:
        merged = dict(DEFAULT_ALIASES)
        for alias, canonical in (aliases or {}).items():
            merged[self._squash(alias)] = canonical.upper()
        self._aliases = merged
        self._cache: dict[str, str] = {}

    @staticmethod
    def _squash(raw: str) -> str:
        text = raw.strip().upper()
        if ":" in text:
            text = text.rsplit(":", 1)[1]
        for ch in "/ _":
            text = text.replace(ch, "")
        return text

    def canonical(self, raw: str) -> str:
        cached = self._cache.get(raw)
        if cached is not None:
            return cached
        text = self._squash(raw)
        result = self._aliases.get(text)
        if result is None:
            for suffix in _STRIP_SUFFIXES:
                if text.endswith(suffix) and len(text) > len(suffix) + 2:
                    text = text[: -len(suffix)]
                    break
            result = self._aliases.get(text, text)
        if len(self._cache) < 10_000:
            self._cache[raw] = result
        return result


class _VenueSymbols(Protocol):
    def venue_symbol(self, canonical: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class AccountSymbols:
    """One account's way from canonical names to its venue's names.

    An explicit map entry wins; otherwise prefix and suffix are added (``EURUSD`` → ``EURUSD.m``);
    otherwise the connector's own translation (``BTCUSDT`` → ``BTC-USDT-SWAP`` on OKX) is used.
    """

    explicit: Mapping[str, str] = field(default_factory=dict)
    prefix: str = ""
    suffix: str = ""

    def resolve(self, canonical: str, venue: _VenueSymbols) -> str | None:
        mapped = self.explicit.get(canonical)
        if mapped is not None:
            return mapped
        if self.prefix or self.suffix:
            return f"{self.prefix}{canonical}{self.suffix}"
        return venue.venue_symbol(canonical)

    def merged(self, other: Mapping[str, str]) -> AccountSymbols:
        """A copy whose explicit map also holds ``other`` (``other`` wins)."""
        if not other:
            return self
        return AccountSymbols({**self.explicit, **other}, self.prefix, self.suffix)
