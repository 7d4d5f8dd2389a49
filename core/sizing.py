"""Sizing: how much each follower trades for one signal.

The route's mode turns the signal into a raw follower volume in the follower instrument's unit;
then the volume is rounded down to the step, the minimum is applied (skip, or bump when the route
says so) and the maximum (clamp, or split into several orders when the route says so). A non-zero
request that rounds to nothing is a :class:`~core.errors.Skip` with a reason, never a silent zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal
from enum import StrEnum
from typing import Final

from core.enums import VolumeKind
from core.errors import Skip
from core.instrument import ONE, ZERO, Instrument, round_down_to_step
from core.orders import AccountState
from core.records import Record


class SizingMode(StrEnum):
    FIXED = "fixed"
    MULTIPLIER = "multiplier"
    EQUITY_RATIO = "equity_ratio"
    BALANCE_RATIO = "balance_ratio"
    RISK_PERCENT = "risk_percent"
    NOTIONAL = "notional"


class MinPolicy(StrEnum):
    SKIP = "skip"
    BUMP = "bump"


class MaxPolicy(StrEnum):
    CLAMP = "clamp"
    SPLIT = "split"


@dataclass(frozen=True, slots=True)
class Sizing:
    """A route's sizing policy.

    ``factor`` scales multiplier and ratio modes (and a signal's own risk percent). Ratio modes
    compare the follower with the source's ``source_equity``/``source_balance``. ``fallback`` is
    used by risk sizing when the signal has no stop loss.
    """

    mode: SizingMode = SizingMode.MULTIPLIER
    factor: Decimal = ONE
    volume: Decimal | None = None
    risk_percent: Decimal | None = None
    notional: Decimal | None = None
    source_equity: Decimal | None = None
    source_balance: Decimal | None = None
    fallback: Sizing | None = None
    min_policy: MinPolicy = MinPolicy.SKIP
    max_volume: Decimal | None = None
    max_policy: MaxPolicy = MaxPolicy.CLAMP
    max_split_orders: int = 20


class SizeRequest(Record):
    """What sizing needs to know about the signal, already resolved for this follower."""

    FIELDS = ("volume", "volume_kind", "entry", "stop")
    __slots__ = FIELDS

    def __init__(
        self, volume: Decimal | None, volume_kind: VolumeKind, entry: Decimal | None, stop: Decimal | None
    ) -> None:
        self.volume: Final = volume
        self.volume_kind: Final = volume_kind
        self.entry: Final = entry
        self.stop: Final = stop


_SHOWN = Context(prec=12)


def _fmt(value: Decimal) -> str:
    """``value`` for a reason text: plain notation, at most 12 significant digits (a computed size
    such as 0.00408163265306 rather than its 28-digit quotient)."""
    return format(_SHOWN.plus(value).normalize(), "f")


def raw_volume(req: SizeRequest, sizing: Sizing, account: AccountState, inst: Instrument) -> Decimal:
    """The follower volume before rounding, or :class:`Skip` when it cannot be computed."""
    mode = sizing.mode
    if mode is SizingMode.FIXED:
        if sizing.volume is None:
            raise Skip("route sizing is fixed but names no volume")
        return sizing.volume
    if mode is SizingMode.NOTIONAL:
        if sizing.notional is None:
            raise Skip("route sizing is notional but names no amount")
        return _from_notional(sizing.notional, req.entry, inst)
    if mode is SizingMode.RISK_PERCENT or req.volume_kind is VolumeKind.RISK_PERCENT:
        if mode is SizingMode.RISK_PERCENT:
            percent = sizing.risk_percent
        else:
            percent = None if req.volume is None else req.volume * sizing.factor
        if percent is None:
            raise Skip("risk sizing needs a risk percent")
        if req.stop is None or req.entry is None:
            if sizing.fallback is not None:
                return raw_volume(req, sizing.fallback, account, inst)
            raise Skip("risk sizing needs a stop loss and an entry price; the signal has no stop loss")
        distance = abs(req.entry - req.stop)
        if distance == 0:
            raise Skip("stop loss equals the entry price; risk cannot be sized")
        return account.equity * percent / 100 / (distance * inst.value_per_price_unit)
    base = _source_lots(req, inst)
    if mode is SizingMode.MULTIPLIER:
        return base * sizing.factor
    if mode is SizingMode.EQUITY_RATIO:
        if not sizing.source_equity:
            raise Skip("equity-ratio sizing needs the source's equity (route sizing.source_equity)")
        return base * sizing.factor * account.equity / sizing.source_equity
    if not sizing.source_balance:
        raise Skip("balance-ratio sizing needs the source's balance (route sizing.source_balance)")
    return base * sizing.factor * account.balance / sizing.source_balance


def _source_lots(req: SizeRequest, inst: Instrument) -> Decimal:
    if req.volume is None:
        raise Skip("the signal carries no volume and the route sizes from it")
    kind = req.volume_kind
    if kind in (VolumeKind.LOTS, VolumeKind.CONTRACTS):
        return req.volume
    if kind is VolumeKind.UNITS:
        return req.volume / inst.contract_size
    if kind is VolumeKind.NOTIONAL:
        return _from_notional(req.volume, req.entry, inst)
    raise Skip(f"a {kind.value} volume cannot size an open")


def _from_notional(amount: Decimal, entry: Decimal | None, inst: Instrument) -> Decimal:
    if entry is None or entry <= 0:
        raise Skip("notional sizing needs a price and none is known")
    return amount / entry / inst.value_per_price_unit


def finalize(volume: Decimal, sizing: Sizing, inst: Instrument, entry: Decimal | None = None) -> tuple[Decimal, ...]:
    """Round ``volume`` down to step and apply min, max and min notional. Returns one or more orders."""
    if volume <= 0:
        raise Skip(f"sized volume {_fmt(volume)} is not positive")
    step = inst.volume_step
    rounded = round_down_to_step(volume, step)
    minimum = inst.min_order
    if rounded < minimum:
        if sizing.min_policy is not MinPolicy.BUMP:
            raise Skip(
                f"sized volume {_fmt(volume)} is below the minimum {_fmt(minimum)} of {inst.symbol}"
                f" (step {_fmt(inst.volume_step)}); the route does not bump to the minimum"
            )
        rounded = round_down_to_step(minimum, step)
        if rounded < minimum:
            rounded += step
    cap = _cap(sizing, inst)
    legs: tuple[Decimal, ...]
    if cap is not None and rounded > cap:
        if sizing.max_policy is MaxPolicy.SPLIT:
            legs = _split(rounded, cap, sizing.max_split_orders, inst)
        else:
            legs = (cap,)
    else:
        legs = (rounded,)
    if inst.min_notional is not None and entry is not None:
        smallest = min(legs) * entry * inst.value_per_price_unit
        if smallest < inst.min_notional:
            raise Skip(
                f"order value {_fmt(smallest)} is below {inst.symbol}'s minimum notional {_fmt(inst.min_notional)}"
            )
    return legs


def _cap(sizing: Sizing, inst: Instrument) -> Decimal | None:
    limit = sizing.max_volume
    if limit is None or (inst.max_volume is not None and inst.max_volume < limit):
        limit, cap = inst.max_volume, inst.max_order
    else:
        cap = round_down_to_step(limit, inst.volume_step)
    if limit is None or cap is None:
        return None
    if cap < inst.min_order:
        raise Skip(f"maximum volume {_fmt(limit)} is below the minimum of {inst.symbol}")
    return cap


def position_cap(sizing: Sizing, inst: Instrument) -> Decimal | None:
    """The largest position a target-position signal may ask for under ``sizing``: the route's
    ``max_volume`` when it clamps, that many times ``max_split_orders`` when it splits, None when the
    route sets no maximum.

    A target sizes the whole position, not one order: uncapped, a route that clamps each order at
    its maximum would take a position past it in steps, one clamped order per target signal. The
    instrument's own per-order maximum is not a position limit and does not cap a target.
    """
    if sizing.max_volume is None:
        return None
    cap = round_down_to_step(sizing.max_volume, inst.volume_step)
    if sizing.max_policy is MaxPolicy.CLAMP:
        return cap
    return cap * sizing.max_split_orders


def _split(total: Decimal, cap: Decimal, limit: int, inst: Instrument) -> tuple[Decimal, ...]:
    legs: list[Decimal] = []
    remaining = total
    while remaining >= cap and len(legs) < limit:
        legs.append(cap)
        remaining -= cap
    if remaining > ZERO and len(legs) < limit and remaining >= inst.min_order:
        legs.append(remaining)
    return tuple(legs)


def size_open(req: SizeRequest, sizing: Sizing, account: AccountState, inst: Instrument) -> tuple[Decimal, ...]:
    """Volumes to open for one follower (usually one; several when the route splits at the max)."""
    return finalize(raw_volume(req, sizing, account, inst), sizing, inst, req.entry)
