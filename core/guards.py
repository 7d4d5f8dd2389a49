"""Guards a follower order must pass before it is sized and sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from core.enums import Side
from core.errors import Skip


@dataclass(frozen=True, slots=True)
class Guards:
    """Per-route limits. ``None`` means no limit; ``reverse`` copies every trade the other way."""

    max_open_positions: int | None = None
    allowed_symbols: frozenset[str] | None = None
    allowed_sides: frozenset[Side] | None = None
    max_signal_age: float | None = None
    max_price_deviation: Decimal | None = None
    reverse: bool = False

    def check_open(
        self,
        *,
        canonical: str,
        side: Side,
        open_positions: int,
        sent_at: datetime | None,
        now: datetime | None = None,
        signal_price: Decimal | None,
        market_price: Decimal | None,
    ) -> None:
        """Raise :class:`Skip` with the reason when a new position must not be opened."""
        if self.allowed_symbols is not None and canonical not in self.allowed_symbols:
            raise Skip(f"{canonical} is not among the route's allowed symbols")
        if self.allowed_sides is not None and side not in self.allowed_sides:
            raise Skip(f"{side.value} trades are not allowed on this route")
        if self.max_open_positions is not None and open_positions >= self.max_open_positions:
            raise Skip(
                f"account already holds {open_positions} open positions (route maximum {self.max_open_positions})"
            )
        self.check_age(sent_at, now)
        if (
            self.max_price_deviation is not None
            and signal_price is not None
            and market_price is not None
            and market_price > 0
        ):
            deviation = abs(signal_price - market_price) / market_price * 100
            if deviation > self.max_price_deviation:
                raise Skip(
                    f"signal price {signal_price} is {deviation:.2f}% away from the market {market_price}"
                    f" (route maximum {self.max_price_deviation}%)"
                )

    def check_age(self, sent_at: datetime | None, now: datetime | None = None) -> None:
        """Refuse a signal older than ``max_signal_age``; ``now`` defaults to the clock."""
        if self.max_signal_age is None or sent_at is None:
            return
        age = ((now or datetime.now(UTC)) - sent_at).total_seconds()
        if age > self.max_signal_age:
            raise Skip(f"signal is {age:.1f} s old (route maximum {self.max_signal_age:g} s)")
