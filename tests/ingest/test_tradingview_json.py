"""The JSON form of TradingView alerts: field names, strategy alerts, levels, ids and times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from core.enums import Action, LevelUnit, OrderType, Side, VolumeKind
from core.errors import ParseError
from core.signal import Level
from ingest.tradingview import AlertOptions, check_age, parse_alert

D = Decimal
TARGET = AlertOptions(mode="target")


def parse(data: dict | str, options: AlertOptions | None = None):
    body = data.encode() if isinstance(data, str) else orjson.dumps(data)
    return parse_alert(body, source="tv", received_ns=1, options=options).signal


def refused(data: dict | str, options: AlertOptions | None = None) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse(data, options)
    return info.value


@pytest.mark.parametrize(
    ("data", "action", "side"),
    [
        ({"action": "buy", "symbol": "EURUSD"}, Action.OPEN, Side.BUY),
        ({"side": "SELL", "ticker": "EURUSD"}, Action.OPEN, Side.SELL),
        ({"order_action": "buy", "ticker": "EURUSD"}, Action.OPEN, Side.BUY),
        ({"orderAction": "long", "symbol": "EURUSD"}, Action.OPEN, Side.BUY),
        ({"signal": "OpenShort", "pair": "EURUSD"}, Action.OPEN, Side.SELL),
        ({"action": "close", "side": "long", "symbol": "EURUSD"}, Action.CLOSE, Side.BUY),
        ({"action": "exit_short", "symbol": "EURUSD"}, Action.CLOSE, Side.SELL),
        ({"action": "close_all"}, Action.CLOSE_ALL, None),
        ({"action": "cancel_long", "symbol": "EURUSD"}, Action.CANCEL, Side.BUY),
    ],
)
def test_action_and_symbol_spellings(data, action, side):
    signal = parse(data)
    assert (signal.action, signal.side) == (action, side)
    assert signal.symbol == data.get("symbol", data.get("ticker", data.get("pair")))


@pytest.mark.parametrize("name", ["volume", "qty", "quantity", "contracts", "lots", "size", "amount"])
def test_volume_spellings_are_lots(name):
    signal = parse({"action": "buy", "symbol": "EURUSD", name: "0.25"})
    assert (signal.volume, signal.volume_kind) == (D("0.25"), VolumeKind.LOTS)


def test_other_volume_kinds_and_one_way_only():
    assert parse({"action": "buy", "symbol": "EURUSD", "risk": 1}).volume_kind is VolumeKind.RISK_PERCENT
    assert parse({"action": "buy", "symbol": "EURUSD", "units": 1000}).volume_kind is VolumeKind.UNITS
    assert parse({"action": "buy", "symbol": "BTCUSDT", "notional": 500}).volume_kind is VolumeKind.NOTIONAL
    error = refused({"action": "buy", "symbol": "EURUSD", "qty": 1, "risk": 1})
    assert error.status == 422 and error.field == "risk" and "one way" in error.reason


def test_levels_as_prices_and_as_distances():
    signal = parse({"action": "buy", "symbol": "EURUSD", "sl": 1.08, "tp": "1.09"})
    assert signal.sl == Level(D("1.08")) and signal.tp == Level(D("1.09"))
    signal = parse({"action": "buy", "symbol": "EURUSD", "sl_pips": 20, "tp_points": 400})
    assert signal.sl == Level(D(20), LevelUnit.PIPS) and signal.tp == Level(D(400), LevelUnit.POINTS)
    signal = parse({"action": "sell", "symbol": "EURUSD", "stopLoss": {"percent": 5}, "takeProfit": {"pips": 40}})
    assert signal.sl == Level(D(5), LevelUnit.PERCENT) and signal.tp == Level(D(40), LevelUnit.PIPS)
    signal = parse({"action": "buy", "symbol": "EURUSD", "sl": {"price": "1.07"}, "tp_percent": 2})
    assert signal.sl == Level(D("1.07")) and signal.tp == Level(D(2), LevelUnit.PERCENT)
    assert parse({"action": "buy", "symbol": "EURUSD", "sl": 0}).sl is None  # 0 = no stop


def test_level_problems_name_the_field():
    assert refused({"action": "buy", "symbol": "EURUSD", "sl": 1.08, "sl_pips": 20}).field == "slpips"
    error = refused({"action": "buy", "symbol": "EURUSD", "sl": {"pips": 20, "price": 1.08}})
    assert error.field == "sl" and "exactly one" in error.reason
    assert refused({"action": "buy", "symbol": "EURUSD", "sl": {"type": "trailing", "pips": 5}}).field == "sl.type"
    assert refused({"action": "buy", "symbol": "EURUSD", "sl_pips": -5}).status == 422


def test_pending_orders_need_a_price():
    signal = parse({"action": "buylimit", "symbol": "EURUSD", "price": 1.07})
    assert (signal.order_type, signal.price) == (OrderType.LIMIT, D("1.07"))
    assert parse({"action": "buy", "symbol": "X", "type": "stop", "price": 5}).order_type is OrderType.STOP
    assert refused({"action": "selllimit", "symbol": "EURUSD"}).field == "price"
    assert refused({"action": "buylimit", "symbol": "EURUSD", "price": 1, "type": "stop"}).field == "type"


def test_close_percentages():
    signal = parse({"action": "close", "symbol": "EURUSD", "percent": 40})
    assert (signal.action, signal.volume, signal.volume_kind) == (Action.CLOSE_PART, D("0.4"), VolumeKind.FRACTION)
    signal = parse({"direction": "close", "symbol": "ETH-PERP", "size": "50%"})
    assert (signal.action, signal.volume) == (Action.CLOSE_PART, D("0.5"))
    assert parse({"action": "close", "symbol": "EURUSD", "percent": 100}).action is Action.CLOSE
    assert refused({"action": "buy", "symbol": "EURUSD", "size": "50%"}).status == 422


def test_strategy_order_alert_in_order_mode():
    body = {
        "ticker": "DOGEUSDT",
        "time": "2020-09-06T01:44:17Z",
        "strategy": {"order_action": "sell", "order_contracts": 500, "order_price": 0.0027, "position_size": -500},
    }
    signal = parse(body)
    assert (signal.action, signal.side, signal.volume, signal.price) == (Action.OPEN, Side.SELL, D(500), D("0.0027"))
    assert signal.sent_at == datetime(2020, 9, 6, 1, 44, 17, tzinfo=UTC)


def test_target_mode_position_size_wins_over_order_action():
    body = {"ticker": "EURUSD", "action": "sell", "contracts": 1, "position_size": 2}
    signal = parse(body, TARGET)
    assert (signal.action, signal.volume, signal.volume_kind) == (Action.TARGET, D(2), VolumeKind.TARGET)
    assert signal.side is Side.BUY
    short = parse({"ticker": "EURUSD", "market_position": "short", "market_position_size": 3}, TARGET)
    assert (short.action, short.volume, short.side) == (Action.TARGET, D(-3), Side.SELL)
    flat = parse({"ticker": "EURUSD", "action": "sell", "market_position": "flat"}, TARGET)
    assert (flat.action, flat.volume, flat.side) == (Action.TARGET, D(0), None)
    # without a position the order action stands, even in target mode
    assert parse({"ticker": "EURUSD", "action": "buy"}, TARGET).action is Action.OPEN


def test_position_alone_is_a_target_in_order_mode_too():
    assert parse({"ticker": "EURUSD", "position_size": "-1.5"}).volume == D("-1.5")
    assert parse({"ticker": "EURUSD", "action": "target", "volume": -2}).volume == D(-2)
    error = refused({"ticker": "EURUSD", "market_position": "sideways"})
    assert error.field == "market_position"


def test_missing_or_unknown_action_is_named():
    error = refused({"symbol": "EURUSD", "volume": 1})
    assert (error.status, error.field) == (422, "action")
    error = refused({"action": "hold", "symbol": "EURUSD"})
    assert error.field == "action" and "'hold'" in error.reason
    error = refused({"action": "buy", "side": "sell", "symbol": "EURUSD"})
    assert error.field == "side" and "disagree" in error.reason
    assert refused({"action": "buy"}).field == "symbol"


def test_bad_json_and_non_objects():
    error = refused('{"action": "buy", "symbol": ')
    assert error.status == 400 and error.reason.startswith("malformed JSON")
    error = refused('[{"action": "buy"}, {"action": "sell"}]')
    assert error.status == 422 and "list of 2" in error.reason
    assert refused({"action": "buy", "symbol": "EURUSD", "volume": True}).field == "volume"
    assert refused({"action": "buy", "symbol": "EURUSD", "volume": "1e400"}).status == 422
    assert refused({"action": "buy", "symbol": "EURUSD", "Volume": 1, "volume": 2}).status == 422


def test_explicit_id_is_the_origin_id_and_content_hash_otherwise():
    assert parse({"action": "buy", "symbol": "EURUSD", "id": "alert-7"}).origin_id == "alert-7"
    one = parse({"action": "buy", "symbol": "EURUSD", "passphrase": "a"})
    spaced = parse('{ "symbol" : "EURUSD", "action": "buy", "passphrase": "b" }')
    other = parse({"action": "buy", "symbol": "EURUSD", "timenow": "2024-05-01T10:00:00Z"})
    assert one.origin_id == spaced.origin_id and one.origin_id and one.origin_id.startswith("h")
    assert other.origin_id != one.origin_id
    assert parse({"action": "buy", "symbol": "EURUSD"}, AlertOptions(dedupe="id")).origin_id is None
    assert refused({"action": "buy", "symbol": "EURUSD", "id": "x" * 200}).field == "id"


@pytest.mark.parametrize(
    "stamp", ["2024-05-01T10:00:00Z", "2024-05-01T12:00:00+02:00", 1714557600, "1714557600000", 1714557600000]
)
def test_sent_at_from_iso_or_epoch(stamp):
    assert parse({"action": "buy", "symbol": "EURUSD", "timenow": stamp}).sent_at == datetime(
        2024, 5, 1, 10, tzinfo=UTC
    )


def test_timenow_wins_over_bar_time_and_bad_times_are_named():
    signal = parse({"action": "buy", "symbol": "X", "time": "2024-01-01T00:00:00Z", "timenow": "2024-05-01T10:00Z"})
    assert signal.sent_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert refused({"action": "buy", "symbol": "X", "timenow": "yesterday"}).field == "timenow"


def test_max_age_refuses_old_alerts_and_names_age_and_limit():
    now = datetime(2024, 5, 1, 10, 1, tzinfo=UTC)
    signal = parse({"action": "buy", "symbol": "EURUSD", "timenow": "2024-05-01T10:00:00Z"})
    check_age(signal, AlertOptions(), now)  # no limit by default
    check_age(signal, AlertOptions(max_age=90), now)
    with pytest.raises(ParseError) as info:
        check_age(signal, AlertOptions(max_age=30), now)
    assert (info.value.status, info.value.field) == (422, "time")
    assert "60 s old" in info.value.reason and "30 s" in info.value.reason
    check_age(parse({"action": "buy", "symbol": "EURUSD"}), AlertOptions(max_age=1), now + timedelta(days=1))
