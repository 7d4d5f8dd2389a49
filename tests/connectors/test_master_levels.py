"""The SL/TP bookkeeping the OKX and Binance masters share: what counts as a change to copy."""

from __future__ import annotations

from decimal import Decimal

from connectors.master_levels import MasterLevels

D = Decimal
BTC = ("BTCUSDT", "BOTH")
ETH = ("ETHUSDT", "BOTH")


def test_the_newest_live_order_gives_each_level_and_a_level_taken_off_is_not_a_change() -> None:
    levels = MasterLevels()
    levels.update("a1", BTC, D(55000), None, live=True)
    assert levels.changed(BTC, held=False) is None  # not held: nothing to copy yet
    assert levels.changed(BTC, held=True) == (D(55000), None)
    assert levels.changed(BTC, held=True) is None  # the same again
    levels.update("a2", BTC, None, D(70000), live=True)
    assert levels.changed(BTC, held=True) == (D(55000), D(70000))
    # Replaced by cancel-then-place: the stop's disappearance is no change, the new one is.
    levels.update("a1", BTC, D(55000), None, live=False)
    assert levels.changed(BTC, held=True) is None
    levels.update("a3", BTC, D(57000), None, live=True)
    assert levels.changed(BTC, held=True) == (D(57000), D(70000))
    # Another position's orders do not count.
    levels.update("e1", ETH, D(3000), None, live=True)
    assert levels.current(BTC) == (D(57000), D(70000))


def test_a_position_gone_takes_its_orders_and_copied_levels_with_it() -> None:
    levels = MasterLevels()
    levels.update("a1", BTC, D(55000), None, live=True)
    assert levels.changed(BTC, held=True) == (D(55000), None)
    levels.position_gone(BTC)
    assert levels.current(BTC) == (None, None) and BTC not in levels.copied
    levels.update("a2", BTC, None, D(70000), live=True)
    assert levels.changed(BTC, held=True) == (None, D(70000))  # the old stop is not carried over


def test_a_snapshot_records_first_sightings_and_returns_changes_made_while_away() -> None:
    levels = MasterLevels()
    first = levels.resync([("a1", BTC, D(55000), None), ("e1", ETH, None, D(3500))], held=[BTC])
    assert first == [] and levels.copied == {BTC: (D(55000), None)}
    again = levels.resync([("a9", BTC, D(56000), None)], held=[BTC])
    assert again == [(BTC, (D(56000), None))]
    assert levels.resync([], held=[]) == [] and levels.copied == {}
