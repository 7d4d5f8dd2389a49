"""Configuration of one paper account.

In the TOML file a paper account looks like::

    [accounts.paper-a]
    venue = "paper"
    balance = "10000"
    leverage = 100
    mode = "hedging"        # or "netting"
    fill = "static"         # or "signal": fill at the signal's price when it has one
    latency_us = 0          # simulated venue round trip; 0 answers without awaiting
    prices = { EURUSD = "1.09000" }

    [accounts.paper-a.instruments.EURUSD]   # optional: override or add contract facts
    volume_step = "0.01"
    min_volume = "0.01"

Numbers may be written as strings (preferred: exact) or TOML numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from connectors.paper.instruments import BUILTIN_INSTRUMENTS, DEFAULT_PRICES
from core.errors import ConfigError
from core.instrument import Instrument

Mode = Literal["netting", "hedging"]
Fill = Literal["static", "signal"]

MODES: tuple[str, ...] = ("netting", "hedging")
FILLS: tuple[str, ...] = ("static", "signal")

_KEYS = frozenset({"balance", "currency", "leverage", "mode", "fill", "prices", "instruments", "latency_us"})
_INSTRUMENT_KEYS = frozenset(
    f.name for f in fields(Instrument) if f.init and f.name != "symbol"
)  # volume_step, min_volume, tick_size, max_volume, contract_size, pip_size, quote_value, min_notional
_REQUIRED_FOR_NEW = ("volume_step", "min_volume", "tick_size")


@dataclass(frozen=True, slots=True)
class PaperConfig:
    """One simulated account.

    ``prices`` overrides the built-in static price per symbol; ``instruments`` overrides or adds
    contract facts (merged over the built-ins). ``latency_us`` is the simulated time between an
    order leaving the connector and the venue acting on it. Paper accounts are valued in USD.
    """

    name: str
    balance: Decimal = Decimal("10000")
    currency: str = "USD"
    leverage: Decimal = Decimal(100)
    mode: Mode = "hedging"
    fill: Fill = "static"
    prices: Mapping[str, Decimal] = field(default_factory=dict)
    instruments: Mapping[str, Instrument] = field(default_factory=dict)
    latency_us: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.fill not in FILLS:
            raise ValueError(f"fill must be one of {', '.join(FILLS)}, not {self.fill!r}")
        if self.leverage <= 0:
            raise ValueError("leverage must be positive")
        if self.latency_us < 0:
            raise ValueError("latency_us must not be negative")

    def all_instruments(self) -> dict[str, Instrument]:
        """Built-in instruments with this account's overrides applied."""
        merged = dict(BUILTIN_INSTRUMENTS)
        merged.update(self.instruments)
        return merged

    def all_prices(self) -> dict[str, Decimal]:
        """Built-in default prices with this account's overrides applied."""
        merged = dict(DEFAULT_PRICES)
        merged.update(self.prices)
        return merged

    @classmethod
    def from_mapping(
        cls,
        name: str,
        data: Mapping[str, Any],
        *,
        prefix: str = "accounts",
        ignore: Iterable[str] = ("venue",),
    ) -> PaperConfig:
        """Validate an account table from the configuration file.

        ``ignore`` lists keys that belong to the caller (the account's ``venue`` and the like);
        any other unknown key is an error, so a misspelt option is never silently dropped.
        Errors are :class:`~core.errors.ConfigError` naming the key path, e.g.
        ``accounts.paper-a.mode``.
        """
        base = f"{prefix}.{name}" if prefix else name
        if not isinstance(data, Mapping):
            raise ConfigError("must be a table", base)
        skipped = frozenset(ignore)
        for key in data:
            if key not in _KEYS and key not in skipped:
                raise ConfigError(f"unknown option {key!r} for a paper account", f"{base}.{key}")

        balance = _decimal(data.get("balance", "10000"), f"{base}.balance", minimum=Decimal(0), strict=False)
        leverage = _decimal(data.get("leverage", 100), f"{base}.leverage", minimum=Decimal(0), strict=True)

        currency = data.get("currency", "USD")
        if currency != "USD":
            raise ConfigError("paper accounts are kept in USD", f"{base}.currency")

        mode = data.get("mode", "hedging")
        if mode not in MODES:
            raise ConfigError(f"must be one of {', '.join(MODES)}, not {mode!r}", f"{base}.mode")
        fill = data.get("fill", "static")
        if fill not in FILLS:
            raise ConfigError(f"must be one of {', '.join(FILLS)}, not {fill!r}", f"{base}.fill")

        latency = data.get("latency_us", 0)
        if isinstance(latency, bool) or not isinstance(latency, int) or latency < 0:
            raise ConfigError("must be a whole number of microseconds, 0 or more", f"{base}.latency_us")

        instruments = _instruments(data.get("instruments", {}), f"{base}.instruments")

        raw_prices = data.get("prices", {})
        if not isinstance(raw_prices, Mapping):
            raise ConfigError("must be a table of symbol = price", f"{base}.prices")
        prices = {
            str(symbol): _decimal(value, f"{base}.prices.{symbol}", minimum=Decimal(0), strict=True)
            for symbol, value in raw_prices.items()
        }
        for symbol in instruments:
            if symbol not in prices and symbol not in DEFAULT_PRICES:
                raise ConfigError("no price for this symbol: add it under prices", f"{base}.prices.{symbol}")

        return cls(
            name=name,
            balance=balance,
            leverage=leverage,
            mode=mode,
            fill=fill,
            prices=prices,
            instruments=instruments,
            latency_us=latency,
        )


def _decimal(value: object, path: str, *, minimum: Decimal | None = None, strict: bool = False) -> Decimal:
    """``value`` as a finite Decimal; with ``minimum``, at least (``strict``: above) it."""
    if isinstance(value, bool):
        raise ConfigError("must be a number", path)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError("must be a finite number", path)
        value = str(value)
    if not isinstance(value, (str, int, Decimal)):
        raise ConfigError("must be a number", path)
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError):
        raise ConfigError(f"{value!r} is not a number", path) from None
    if not number.is_finite():
        raise ConfigError("must be a finite number", path)
    if minimum is not None:
        if strict and number <= minimum:
            raise ConfigError(f"must be above {minimum}", path)
        if not strict and number < minimum:
            raise ConfigError(f"must be {minimum} or more", path)
    return number


def _instruments(raw: object, path: str) -> dict[str, Instrument]:
    if not isinstance(raw, Mapping):
        raise ConfigError("must be a table of symbol tables", path)
    result: dict[str, Instrument] = {}
    for symbol, table in raw.items():
        here = f"{path}.{symbol}"
        if not isinstance(table, Mapping):
            raise ConfigError("must be a table of contract facts", here)
        values: dict[str, Decimal | None] = {}
        for key, value in table.items():
            if key not in _INSTRUMENT_KEYS:
                raise ConfigError(f"unknown instrument fact {key!r}", f"{here}.{key}")
            values[key] = _decimal(value, f"{here}.{key}", minimum=Decimal(0), strict=key != "min_volume")
        builtin = BUILTIN_INSTRUMENTS.get(str(symbol))
        try:
            if builtin is not None:
                result[str(symbol)] = replace(builtin, **values)  # type: ignore[arg-type]
            else:
                missing = [key for key in _REQUIRED_FOR_NEW if key not in values]
                if missing:
                    raise ConfigError(f"a new instrument needs {', '.join(missing)}", here)
                result[str(symbol)] = Instrument(symbol=str(symbol), **values)  # type: ignore[arg-type]
        except ValueError as exc:
            raise ConfigError(str(exc), here) from None
    return result
