"""Built-in instruments and default prices for paper accounts.

The contract facts follow what retail venues commonly publish: forex in lots of 100,000 units of
the base currency with a 0.01 lot step, metals and index CFDs in lots, and linear crypto perpetuals in
base quantity.

Paper accounts are kept in US dollars. Most built-in symbols are quoted in USD (or USDT, valued 1:1),
so their ``quote_value`` is 1. Pairs whose *base* is USD (USDJPY, USDCHF, USDCAD) are quoted in
another currency: one unit of quote currency is worth ``1 / price`` dollars, so their
``quote_value`` depends on the price. :func:`quote_value_at` computes it; the built-in
:class:`~core.instrument.Instrument` carries the value at the default price, and the paper venue
refreshes it whenever the price moves.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from core.instrument import Instrument

D = Decimal

#: Quote currencies valued by ``1 / price`` when the pair's base is USD.
_INVERSE_QUOTES = frozenset({"JPY", "CHF", "CAD", "SEK", "NOK", "MXN", "ZAR", "TRY", "HKD", "SGD", "CNH", "PLN"})

#: Significant digits kept for a price-dependent ``quote_value``.
_QUOTE_VALUE_DIGITS = D("1e-12")


def _fx(symbol: str, tick: str, pip: str) -> Instrument:
    return Instrument(
        symbol=symbol,
        volume_step=D("0.01"),
        min_volume=D("0.01"),
        max_volume=D("100"),
        tick_size=D(tick),
        pip_size=D(pip),
        contract_size=D("100000"),
    )


def _cfd(symbol: str, *, step: str, contract: str, tick: str, pip: str, max_volume: str = "100") -> Instrument:
    return Instrument(
        symbol=symbol,
        volume_step=D(step),
        min_volume=D(step),
        max_volume=D(max_volume),
        tick_size=D(tick),
        pip_size=D(pip),
        contract_size=D(contract),
    )


def _perp(symbol: str, *, step: str, tick: str, max_volume: str, min_notional: str = "5") -> Instrument:
    return Instrument(
        symbol=symbol,
        volume_step=D(step),
        min_volume=D(step),
        max_volume=D(max_volume),
        tick_size=D(tick),
        contract_size=D(1),
        min_notional=D(min_notional),
    )


def inverse_quoted(symbol: str) -> bool:
    """True when ``symbol`` is a USD-based pair quoted in another currency (``USDJPY``)."""
    return symbol[:3] == "USD" and symbol[3:6] in _INVERSE_QUOTES


def quote_value_at(instrument: Instrument, price: Decimal) -> Decimal:
    """USD value of one unit of ``instrument``'s quote currency at ``price``.

    For USD-based pairs that is ``1 / price`` (at USDJPY 155.000 one yen is worth 0.00645… USD);
    for every other instrument it is the instrument's own, fixed ``quote_value``.
    """
    if inverse_quoted(instrument.symbol) and price > 0:
        return (1 / price).quantize(_QUOTE_VALUE_DIGITS)
    return instrument.quote_value


DEFAULT_PRICES: dict[str, Decimal] = {
    "EURUSD": D("1.08500"),
    "GBPUSD": D("1.27000"),
    "USDJPY": D("155.000"),
    "USDCHF": D("0.90000"),
    "USDCAD": D("1.37000"),
    "XAUUSD": D("2400.00"),
    "XAGUSD": D("30.000"),
    "US30": D("39000.0"),
    "NAS100": D("18000.0"),
    "BTCUSDT": D("60000.0"),
    "ETHUSDT": D("3000.00"),
}
"""Static price per built-in symbol, used when the account configures none."""

_BASE: tuple[Instrument, ...] = (
    _fx("EURUSD", "0.00001", "0.0001"),
    _fx("GBPUSD", "0.00001", "0.0001"),
    _fx("USDJPY", "0.001", "0.01"),
    _fx("USDCHF", "0.00001", "0.0001"),
    _fx("USDCAD", "0.00001", "0.0001"),
    _cfd("XAUUSD", step="0.01", contract="100", tick="0.01", pip="0.1"),
    _cfd("XAGUSD", step="0.01", contract="5000", tick="0.001", pip="0.01"),
    _cfd("US30", step="0.1", contract="1", tick="0.1", pip="1", max_volume="500"),
    _cfd("NAS100", step="0.1", contract="1", tick="0.1", pip="1", max_volume="500"),
    _perp("BTCUSDT", step="0.001", tick="0.1", max_volume="1000"),
    _perp("ETHUSDT", step="0.001", tick="0.01", max_volume="10000"),
)

BUILTIN_INSTRUMENTS: dict[str, Instrument] = {
    inst.symbol: replace(inst, quote_value=quote_value_at(inst, DEFAULT_PRICES[inst.symbol])) for inst in _BASE
}
"""Built-in instruments by symbol; ``quote_value`` of USD-based pairs is taken at the default price."""
