"""The one rule every master source uses to turn a fill into follower signals."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from connectors.master_fills import MasterFill, fill_signals
from core.enums import Action, Side
from core.signal import Signal

D = Decimal


FILL = MasterFill(source="m", symbol="BTCUSDT", price=None, position_ref="m:BTCUSDT", origin_id="o", raw="")


def kinds(signals: list[Signal]) -> list[tuple[Action, Side | None, Decimal | None]]:
    return [(s.action, s.side, s.volume) for s in signals]


def test_open_grow_reduce_close_and_flip() -> None:
    assert fill_signals(D(0), D("0.5"), FILL)[1][0].action is Action.OPEN
    after, signals = fill_signals(D("0.5"), D("0.25"), FILL)
    assert after == D("0.75") and kinds(signals) == [(Action.OPEN, Side.BUY, D("0.25"))]
    after, signals = fill_signals(D("0.8"), D("-0.2"), FILL)
    assert after == D("0.6") and kinds(signals) == [(Action.CLOSE_PART, Side.BUY, D("0.25"))]
    after, signals = fill_signals(D("-0.4"), D("0.4"), FILL)
    assert after == 0 and kinds(signals) == [(Action.CLOSE, Side.SELL, None)]
    after, signals = fill_signals(D("-0.4"), D("1.0"), FILL)
    assert after == D("0.6") and kinds(signals) == [(Action.CLOSE, Side.SELL, None), (Action.OPEN, Side.BUY, D("0.6"))]
    assert [s.origin_id for s in signals] == ["o:close", "o:open"]


def test_a_reducing_fill_never_opens() -> None:
    assert fill_signals(D(0), D("-0.3"), FILL, reducing=True) == (D(0), [])
    after, signals = fill_signals(D("0.2"), D("-0.5"), FILL, reducing=True)
    assert after == 0 and kinds(signals) == [(Action.CLOSE, Side.BUY, None)]


amounts = st.decimals(min_value=D("-5"), max_value=D("5"), places=3, allow_nan=False).filter(lambda d: d != 0)


@given(before=st.one_of(st.just(D(0)), amounts), delta=amounts)
def test_the_tracked_position_follows_the_fill(before: Decimal, delta: Decimal) -> None:
    after, signals = fill_signals(before, delta, FILL)
    assert after == before + delta
    opened = sum((s.volume or 0) * (1 if s.side is Side.BUY else -1) for s in signals if s.action is Action.OPEN)
    if before == 0 or (before > 0) == (delta > 0):
        assert opened == delta
    elif after != 0 and (after > 0) != (before > 0):
        assert opened == after
    else:
        assert opened == 0
