from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from core.enums import VolumeKind
from core.errors import Skip
from core.instrument import Instrument
from core.orders import AccountState
from core.sizing import MaxPolicy, MinPolicy, SizeRequest, Sizing, SizingMode, size_open

XAU = Instrument("XAUUSD", Decimal("0.01"), Decimal("0.01"), Decimal("0.01"), Decimal(50), Decimal(100), Decimal("0.1"))
BTC = Instrument("BTCUSDT", Decimal("0.001"), Decimal("0.001"), Decimal("0.1"), None, Decimal(1), None, Decimal(1),
                 Decimal(5))
ACCOUNT = AccountState(Decimal(10000), Decimal(12000))

volumes = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(500), places=4)
factors = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10), places=2)
instruments = st.sampled_from([XAU, BTC])


def req(volume, kind=VolumeKind.LOTS, entry=Decimal(2400), stop=None):
    return SizeRequest(volume, kind, entry, stop)


@given(volumes, factors, instruments, st.sampled_from(list(MinPolicy)), st.sampled_from(list(MaxPolicy)),
       st.one_of(st.none(), st.decimals(min_value=Decimal("0.01"), max_value=Decimal(20), places=2)))
def test_never_above_max_never_below_min_unless_skipped(volume, factor, inst, min_policy, max_policy, max_volume):
    sizing = Sizing(SizingMode.MULTIPLIER, factor=factor, min_policy=min_policy, max_policy=max_policy,
                    max_volume=max_volume)
    try:
        legs = size_open(req(volume, entry=Decimal(60000) if inst is BTC else Decimal(2400)), sizing, ACCOUNT, inst)
    except Skip as skip:
        assert skip.reason  # a skip always says why
        return
    caps = [c for c in (max_volume, inst.max_volume) if c is not None]
    for leg in legs:
        assert leg % inst.volume_step == 0
        assert leg >= inst.min_volume
        if caps:
            assert leg <= min(caps)
    if max_policy is MaxPolicy.CLAMP:
        assert len(legs) == 1
    if min_policy is MinPolicy.SKIP:
        assert sum(legs) <= volume * factor


@given(volumes, factors)
def test_sizing_is_idempotent_on_its_own_output(volume, factor):
    sizing = Sizing(SizingMode.MULTIPLIER, factor=factor)
    try:
        (first,) = size_open(req(volume), sizing, ACCOUNT, XAU)
    except Skip:
        return
    assert size_open(req(first), Sizing(), ACCOUNT, XAU) == (first,)


def test_below_minimum_is_skipped_with_reason_or_bumped():
    with pytest.raises(Skip, match=r"below the minimum 0\.01"):
        size_open(req(Decimal("0.004")), Sizing(), ACCOUNT, XAU)
    assert size_open(req(Decimal("0.004")), Sizing(min_policy=MinPolicy.BUMP), ACCOUNT, XAU) == (Decimal("0.01"),)


def test_a_skipped_size_is_shown_to_twelve_significant_digits():
    # A multiplier of 1/245 makes a quotient with 28 significant digits.
    with pytest.raises(Skip) as skipped:
        size_open(req(Decimal(1)), Sizing(factor=Decimal(1) / Decimal(245)), ACCOUNT, XAU)
    assert "sized volume 0.00408163265306 is below the minimum 0.01" in skipped.value.reason


def test_split_at_max():
    legs = size_open(req(Decimal("120.5")), Sizing(max_policy=MaxPolicy.SPLIT), ACCOUNT, XAU)
    assert legs == (Decimal("50.00"), Decimal("50.00"), Decimal("20.50"))


def test_modes():
    assert size_open(req(Decimal(1)), Sizing(SizingMode.FIXED, volume=Decimal("0.3")), ACCOUNT, XAU) == (
        Decimal("0.30"),)
    ratio = Sizing(SizingMode.EQUITY_RATIO, source_equity=Decimal(24000))
    assert size_open(req(Decimal(1)), ratio, ACCOUNT, XAU) == (Decimal("0.50"),)
    balance = Sizing(SizingMode.BALANCE_RATIO, factor=Decimal(2), source_balance=Decimal(40000))
    assert size_open(req(Decimal(1)), balance, ACCOUNT, XAU) == (Decimal("0.50"),)
    # 1% of 12000 equity = 120 risked over a 10.00 stop at 100 per 1.0 per lot → 0.12 lots
    risk = Sizing(SizingMode.RISK_PERCENT, risk_percent=Decimal(1))
    assert size_open(req(None, stop=Decimal(2390)), risk, ACCOUNT, XAU) == (Decimal("0.12"),)
    notional = Sizing(SizingMode.NOTIONAL, notional=Decimal(1000))
    assert size_open(req(None, entry=Decimal(60000)), notional, ACCOUNT, BTC) == (Decimal("0.016"),)
    units = size_open(req(Decimal(250), VolumeKind.UNITS), Sizing(), ACCOUNT, XAU)
    assert units == (Decimal("2.50"),)


def test_risk_without_stop_uses_fallback_or_skips():
    risk = Sizing(SizingMode.RISK_PERCENT, risk_percent=Decimal(1))
    with pytest.raises(Skip, match="stop loss"):
        size_open(req(None), risk, ACCOUNT, XAU)
    with_fallback = Sizing(SizingMode.RISK_PERCENT, risk_percent=Decimal(1),
                           fallback=Sizing(SizingMode.FIXED, volume=Decimal("0.02")))
    assert size_open(req(None), with_fallback, ACCOUNT, XAU) == (Decimal("0.02"),)


def test_signal_risk_percent_scales_with_follower_equity():
    legs = size_open(req(Decimal(1), VolumeKind.RISK_PERCENT, stop=Decimal(2390)), Sizing(), ACCOUNT, XAU)
    assert legs == (Decimal("0.12"),)


def test_min_notional():
    with pytest.raises(Skip, match="minimum notional"):
        size_open(req(Decimal("0.001"), entry=Decimal(1000)), Sizing(), ACCOUNT, BTC)


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal(100), places=2),
       st.decimals(min_value=Decimal("0.01"), max_value=Decimal(1), places=2))
def test_partial_close_proportional(position, fraction):
    qty = XAU.quantity(position)
    part = qty.fraction(fraction)
    assume(part.value > 0)
    assert part.value <= position * fraction
    assert position * fraction - part.value < XAU.volume_step
