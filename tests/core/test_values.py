from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.enums import LevelUnit, Side
from core.instrument import Instrument, Price, Quantity, round_down_to_step, round_to_tick
from core.signal import Level

steps = st.sampled_from([Decimal("0.01"), Decimal("0.001"), Decimal("1"), Decimal("0.1"), Decimal("0.25")])
amounts = st.decimals(min_value=0, max_value=100000, allow_nan=False, allow_infinity=False, places=6)

EURUSD = Instrument("EURUSD", Decimal("0.01"), Decimal("0.01"), Decimal("0.00001"), Decimal(100),
                    Decimal(100000), Decimal("0.0001"))


@given(amounts, steps)
def test_round_down_is_on_step_below_and_idempotent(value, step):
    rounded = round_down_to_step(value, step)
    assert rounded % step == 0
    assert rounded <= value
    assert value - rounded < step
    assert round_down_to_step(rounded, step) == rounded


@given(amounts, steps)
def test_round_to_tick_is_nearest(value, tick):
    rounded = round_to_tick(value, tick)
    assert rounded % tick == 0
    assert abs(rounded - value) <= tick / 2
    assert round_to_tick(rounded, tick) == rounded


def test_value_types_refuse_off_step():
    with pytest.raises(ValueError):
        Quantity(Decimal("0.015"), Decimal("0.01"))
    with pytest.raises(ValueError):
        Price(Decimal("1.000001"), Decimal("0.00001"))
    assert str(EURUSD.quantity(Decimal("0.129"))) == "0.12"
    assert EURUSD.quantity(Decimal("0.5")).fraction(Decimal("0.33")).value == Decimal("0.16")


def test_levels_resolve_against_side():
    entry = Decimal("1.08500")
    sl = Level(Decimal(20), LevelUnit.PIPS)
    assert sl.resolve(entry, Side.BUY, is_stop=True, instrument=EURUSD) == Decimal("1.08300")
    assert sl.resolve(entry, Side.SELL, is_stop=True, instrument=EURUSD) == Decimal("1.08700")
    tp = Level(Decimal(40), LevelUnit.POINTS)
    assert tp.resolve(entry, Side.BUY, is_stop=False, instrument=EURUSD) == Decimal("1.08540")
    pct = Level(Decimal(1), LevelUnit.PERCENT)
    assert pct.resolve(Decimal("100.00000"), Side.BUY, is_stop=True, instrument=EURUSD) == Decimal("99.00000")
    assert Level(Decimal(5), LevelUnit.PIPS).resolve(None, Side.BUY, is_stop=True, instrument=EURUSD) is None
    assert Level(Decimal("1.234567")).resolve(None, Side.BUY, is_stop=True, instrument=EURUSD) == Decimal("1.23457")
