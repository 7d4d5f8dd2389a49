"""Instruments and the ``Decimal`` value types bound to their step and tick."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation

ZERO = Decimal(0)
ONE = Decimal(1)


def round_down_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Round ``value`` toward zero to a whole multiple of ``step``, keeping the step's exponent."""
    if step <= 0:
        raise ValueError("step must be positive")
    try:
        # The remainder takes the dividend's sign, so this truncates toward zero, exactly.
        return (value - value % step).quantize(step)
    except InvalidOperation:  # a quotient past the context's precision: divide and round instead
        units = (value / step).to_integral_value(rounding=ROUND_DOWN)
        return (units * step).quantize(step)


def round_to_tick(value: Decimal, tick: Decimal) -> Decimal:
    """Round ``value`` to the nearest multiple of ``tick`` (half to even)."""
    if tick <= 0:
        raise ValueError("tick must be positive")
    units = (value / tick).to_integral_value(rounding=ROUND_HALF_EVEN)
    return (units * tick).quantize(tick)


def is_multiple(value: Decimal, step: Decimal) -> bool:
    return (value % step) == 0


@dataclass(frozen=True, slots=True)
class Instrument:
    """A venue's contract facts for one symbol.

    ``volume_*`` are in the venue's own volume unit (lots for forex and CFDs, base quantity for
    linear crypto, contracts for contract venues). ``contract_size`` is base units per volume unit,
    so one unit of volume moves ``contract_size * quote_value`` account currency per 1.0 of price.
    ``pip_size`` is the price distance of one pip; ``tick_size`` is also one point.
    """

    symbol: str
    volume_step: Decimal
    min_volume: Decimal
    tick_size: Decimal
    max_volume: Decimal | None = None
    contract_size: Decimal = ONE
    pip_size: Decimal | None = None
    quote_value: Decimal = ONE
    min_notional: Decimal | None = None
    min_order: Decimal = field(init=False, repr=False, compare=False)
    """The smallest order: ``min_volume``, and at least one step."""
    max_order: Decimal | None = field(init=False, repr=False, compare=False)
    """``max_volume`` rounded down to the step (None: no maximum)."""

    def __post_init__(self) -> None:
        if self.volume_step <= 0 or self.tick_size <= 0:
            raise ValueError(f"{self.symbol}: volume_step and tick_size must be positive")
        if self.min_volume < 0:
            raise ValueError(f"{self.symbol}: min_volume must not be negative")
        # Worked out once: sizing reads them for every follower order.
        object.__setattr__(self, "min_order", max(self.min_volume, self.volume_step))
        cap = None if self.max_volume is None else round_down_to_step(self.max_volume, self.volume_step)
        object.__setattr__(self, "max_order", cap)

    @property
    def pip(self) -> Decimal:
        """One pip in price; instruments without a declared pip use ten ticks."""
        return self.pip_size if self.pip_size is not None else self.tick_size * 10

    @property
    def value_per_price_unit(self) -> Decimal:
        """Account-currency value of a 1.0 price move for one unit of volume."""
        return self.contract_size * self.quote_value

    def quantity(self, value: Decimal) -> Quantity:
        """``value`` rounded down to the volume step."""
        return Quantity(round_down_to_step(value, self.volume_step), self.volume_step)

    def price(self, value: Decimal) -> Price:
        """``value`` rounded to the nearest tick."""
        return Price(round_to_tick(value, self.tick_size), self.tick_size)


@dataclass(frozen=True, slots=True, order=True)
class Quantity:
    """A volume that is a whole multiple of its instrument's step."""

    value: Decimal
    step: Decimal

    def __post_init__(self) -> None:
        if not is_multiple(self.value, self.step):
            raise ValueError(f"quantity {self.value} is not a multiple of step {self.step}")

    def __str__(self) -> str:
        return format(self.value, "f")

    def fraction(self, part: Decimal) -> Quantity:
        """``part`` (0..1) of this quantity, rounded down to the step."""
        return Quantity(round_down_to_step(self.value * part, self.step), self.step)


@dataclass(frozen=True, slots=True, order=True)
class Price:
    """A price that is a whole multiple of its instrument's tick."""

    value: Decimal
    tick: Decimal

    def __post_init__(self) -> None:
        if not is_multiple(self.value, self.tick):
            raise ValueError(f"price {self.value} is not a multiple of tick {self.tick}")

    def __str__(self) -> str:
        return format(self.value, "f")
