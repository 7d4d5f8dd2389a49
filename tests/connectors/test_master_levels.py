"""The SL/TP bookkeeping the OKX and Binance masters share: what counts as a change to copy."""

from __future__ import annotations

from decimal import Decimal

from connectors.master_levels import MasterLevels, guarded
from core.enums import Action, Side
from core.signal import Signal

D = Decimal
BTC = ("BTCUSDT", "BOTH")
ETH = ("ETHUSDT", "BOTH")


def test_the_newest_live_order_gives_each_level_and_a_level_taken_off_is_not_a_change() -> None:
    levels = MasterLevels()
    levels.update("a1", BTC, D(55000), None, live=True)
    assert levels.changed(BTC, held=0) is None  # not held: nothing to copy yet
    assert levels.changed(BTC, held=D(1)) == (D(55000), None)
    assert levels.changed(BTC, held=D(1)) is None  # the same again
    levels.update("a2", BTC, None, D(70000), live=True)
    assert levels.changed(BTC, held=D(1)) == (D(55000), D(70000))
    # Replaced by cancel-then-place: the stop's disappearance is no change, the new one is.
    levels.update("a1", BTC, D(55000), None, live=False)
    assert levels.changed(BTC, held=D(1)) is None
    levels.update("a3", BTC, D(57000), None, live=True)
    assert levels.changed(BTC, held=D(1)) == (D(57000), D(70000))
    # Another position's orders do not count.
    levels.update("e1", ETH, D(3000), None, live=True)
    assert levels.current(BTC) == (D(57000), D(70000))


def test_a_position_gone_takes_its_orders_and_copied_levels_with_it() -> None:
    levels = MasterLevels()
    levels.update("a1", BTC, D(55000), None, live=True)
    assert levels.changed(BTC, held=D(1)) == (D(55000), None)
    levels.position_gone(BTC)
    assert levels.current(BTC) == (None, None) and BTC not in levels.copied
    levels.update("a2", BTC, None, D(70000), live=True)
    assert levels.changed(BTC, held=D(1)) == (None, D(70000))  # the old stop is not carried over


def test_a_snapshot_records_first_sightings_and_returns_changes_made_while_away() -> None:
    levels = MasterLevels()
    first = levels.resync(
        [("a1", BTC, D(55000), None, None), ("e1", ETH, None, D(3500), None)], held={BTC: D(1), ETH: D(0)}
    )
    assert first == [] and levels.copied == {BTC: (D(55000), None)}
    again = levels.resync([("a9", BTC, D(56000), None, None)], held={BTC: D(1)})
    assert again == [(BTC, (D(56000), None))]
    assert levels.resync([], held={}) == [] and levels.copied == {}


def test_a_one_way_flip_keeps_the_new_sides_orders_placed_before_its_fill() -> None:
    levels = MasterLevels()
    opened = Signal("m", Action.OPEN, symbol="BTCUSDT", side=Side.SELL)
    closed = Signal("m", Action.CLOSE, symbol="BTCUSDT", side=Side.BUY)
    # Long 1 with a sell stop that guards it.
    levels.update("long-sl", BTC, D(55000), None, live=True, guards=guarded(Side.SELL))
    assert levels.changed(BTC, held=D(1)) == (D(55000), None)
    # The flip's entry carries a stop above the price; its algo order is pushed before the fill.
    levels.update("short-sl", BTC, D(70000), None, live=True, guards=guarded(Side.BUY))
    # While the master is still long, the short's stop is not the long's.
    assert levels.changed(BTC, held=D(1)) is None and levels.current(BTC, Side.BUY) == (D(55000), None)
    # The fill turns the position to short 1: the long's stop goes, the short's is copied.
    assert levels.after_fill(BTC, [closed, opened], held=D(-1)) == (D(70000), None)
    assert levels.current(BTC) == (D(70000), None)
    # Going flat drops the orders that guarded the side closed (the venue cancels them).
    levels.update("spare", BTC, None, D(50000), live=True, guards=guarded(Side.BUY))
    assert levels.after_fill(BTC, [Signal("m", Action.CLOSE, symbol="BTCUSDT", side=Side.SELL)], held=0) is None
    assert levels.current(BTC) == (None, None) and BTC not in levels.copied


def test_a_flip_filled_in_two_trades_through_flat_keeps_the_new_sides_stop() -> None:
    levels = MasterLevels()
    levels.update("long-sl", BTC, D(55000), None, live=True, guards=guarded(Side.SELL))
    assert levels.changed(BTC, held=D(1)) == (D(55000), None)
    levels.update("short-sl", BTC, D(70000), None, live=True, guards=guarded(Side.BUY))
    # The first trade closes the long exactly, the second opens the short.
    assert levels.after_fill(BTC, [Signal("m", Action.CLOSE, symbol="BTCUSDT", side=Side.BUY)], held=0) is None
    assert levels.current(BTC) == (D(70000), None)
    opened = Signal("m", Action.OPEN, symbol="BTCUSDT", side=Side.SELL)
    assert levels.after_fill(BTC, [opened], held=D(-1)) == (D(70000), None)
