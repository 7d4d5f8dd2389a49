"""Plain-text TradingView alerts: PineConnector comma syntax, key=value pairs, placeholders, options."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.enums import Action, LevelUnit, OrderType, Side, VolumeKind
from core.errors import ConfigError, ParseError
from core.signal import Level
from ingest.tradingview import AlertOptions, parse_alert, read_alert

D = Decimal


def parse(text: str, options: AlertOptions | None = None):
    return parse_alert(text.encode(), source="tv", received_ns=1, options=options)


def refused(text: str, options: AlertOptions | None = None) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse(text, options)
    return info.value


def test_pineconnector_open_with_risk_and_pip_levels():
    parsed = parse('60123456789,buy,EURUSD,risk=1,sl=20,tp=40,comment="strategy 1"')
    signal = parsed.signal
    assert (signal.action, signal.side, signal.symbol) == (Action.OPEN, Side.BUY, "EURUSD")
    assert (signal.volume, signal.volume_kind) == (D(1), VolumeKind.RISK_PERCENT)
    assert signal.sl == Level(D(20), LevelUnit.PIPS) and signal.tp == Level(D(40), LevelUnit.PIPS)
    assert signal.comment == "strategy 1"
    assert parsed.license_id == "60123456789"
    assert signal.origin_id != "60123456789"  # the licence id is not the alert's id


def test_pineconnector_spaces_secret_and_explicit_parameters():
    parsed = parse("60123456789 , sell , EURUSD , vol_lots=1, secret=HappyTrader501, sl_price=1.1, tp_pct=2")
    signal = parsed.signal
    assert (signal.side, signal.volume, signal.volume_kind) == (Side.SELL, D(1), VolumeKind.LOTS)
    assert signal.sl == Level(D("1.1")) and signal.tp == Level(D(2), LevelUnit.PERCENT)
    assert parsed.passphrase == "HappyTrader501"


@pytest.mark.parametrize(
    ("command", "action", "side", "order_type"),
    [
        ("buylimit,EURUSD,price=1.05,risk=1", Action.OPEN, Side.BUY, OrderType.LIMIT),
        ("sellstop,EURUSD,price=1.05,risk=1", Action.OPEN, Side.SELL, OrderType.STOP),
        ("closelong,EURUSD", Action.CLOSE, Side.BUY, OrderType.MARKET),
        ("closeshort,EURUSD", Action.CLOSE, Side.SELL, OrderType.MARKET),
        ("closeall,EURUSD", Action.CLOSE_ALL, None, OrderType.MARKET),
        ("closeall", Action.CLOSE_ALL, None, OrderType.MARKET),
        ("cancellong,EURUSD", Action.CANCEL, Side.BUY, OrderType.MARKET),
        ("cancelshort,EURUSD", Action.CANCEL, Side.SELL, OrderType.MARKET),
        ("newsltplong,EURUSD,sl=10", Action.MODIFY, Side.BUY, OrderType.MARKET),
        ("newsltpshort,EURUSD,tp=15", Action.MODIFY, Side.SELL, OrderType.MARKET),
        ("long,US30.Cash,risk=1", Action.OPEN, Side.BUY, OrderType.MARKET),
        ("bearish,GBPJPY,risk=1", Action.OPEN, Side.SELL, OrderType.MARKET),
    ],
)
def test_pineconnector_commands(command, action, side, order_type):
    signal = parse(f"60123456789,{command}").signal
    assert (signal.action, signal.side, signal.order_type) == (action, side, order_type)


def test_pineconnector_without_licence_id():
    signal = parse("buy,EURUSD,vol_lots=0.2").signal
    assert (signal.side, signal.volume) == (Side.BUY, D("0.2"))


def test_pineconnector_source_options_change_units():
    options = AlertOptions.from_mapping({"pineconnector_targets": "price", "pineconnector_risk": "lots"})
    signal = parse("1,buy,EURUSD,risk=0.3,sl=1.08", options).signal
    assert (signal.volume, signal.volume_kind) == (D("0.3"), VolumeKind.LOTS)
    assert signal.sl == Level(D("1.08"))
    percent = AlertOptions.from_mapping({"pineconnector_targets": "percent"})
    assert parse("1,sell,BTCUSD,risk=1,sl=1", percent).signal.sl == Level(D(1), LevelUnit.PERCENT)


def test_pineconnector_problems_are_named():
    error = refused("60123456789,sell,GBPJPY,vol_dollar=50,sl_pips=20")
    assert (error.status, error.field) == (422, "vol_dollar") and "not supported" in error.reason
    error = refused("licenseid,eaon,eaon")
    assert error.field == "action" and "kill switch" in error.reason
    assert refused("60123456789,teleport,EURUSD").field == "action"
    assert refused("60123456789,buy,EURUSD,risk").status == 422
    assert refused("60123456789,buy,EURUSD,risk=1,risk=2").status == 422
    assert refused("60123456789,buylimit,EURUSD,risk=1").field == "price"
    assert refused("60123456789,newsltplong,EURUSD").field == "sl"


def test_key_value_forms():
    signal = parse("EXCHANGE=KUCOIN;SYMBOL=CRVUSDT;SIGNAL=sell;VOLUME=1.115;PRICE=0.9060").signal
    assert (signal.action, signal.side, signal.symbol, signal.volume) == (Action.OPEN, Side.SELL, "CRVUSDT", D("1.115"))
    signal = parse("signal=long,symbol=EURUSD,qty=2,entry_price=1.0850,sl_price=1.0800,tp_pips=30").signal
    assert (signal.side, signal.volume, signal.price) == (Side.BUY, D(2), D("1.0850"))
    assert signal.sl == Level(D("1.0800")) and signal.tp == Level(D(30), LevelUnit.PIPS)
    signal = parse("action=close\nsymbol=EURUSD\npercent=25\n").signal
    assert (signal.action, signal.volume) == (Action.CLOSE_PART, D("0.25"))
    parsed = parse("action=buy;symbol=EURUSD;passphrase=s3cret")
    assert parsed.passphrase == "s3cret"


def test_key_value_and_pineconnector_for_the_same_trade_share_the_content_id():
    kv = parse("action=closelong;symbol=GBPUSD").signal
    pc = parse("60123456789, closelong , GBPUSD").signal
    assert kv.origin_id == pc.origin_id


def test_unreadable_text_is_400_and_a_bare_command_names_the_symbol():
    error = refused("myKucoinA ETH/USDT buy 300$ x3")
    assert error.status == 400 and "PineConnector" in error.reason
    assert refused("action=buy;garbage").status == 400
    error = refused("buy")
    assert (error.status, error.field) == (422, "symbol")
    assert refused("").status == 400
    assert refused("   \n").status == 400


def test_space_separated_words_are_refused_with_the_two_forms_that_say_the_same():
    error = refused("sell XAUUSD risk=1 sl=2300 tp=2250")
    assert error.status == 400
    assert "separated by spaces ('sell XAUUSD risk=1 sl=2300 tp=2250')" in error.reason
    assert "sell,XAUUSD,risk=1" in error.reason and "action=sell;symbol=XAUUSD" in error.reason
    # A multi-word value is still a value, and a name that does not start with a command still
    # reads as a key.
    signal = parse("action=buy;symbol=EURUSD;comment=first leg").signal
    assert (signal.side, signal.symbol) == (Side.BUY, "EURUSD")
    assert refused("buy EURUSD=0.1").status == 400
    # Spaced field names that begin with a command word are still field names.
    signal = parse("action=close;symbol=EURUSD;close percent=50").signal
    assert (signal.action, signal.volume) == (Action.CLOSE_PART, Decimal("0.5"))


def test_key_value_pairs_separated_by_spaces_are_refused_with_the_separators_to_use():
    error = refused("action=sell symbol=EURUSD volume=0.1 id=a-7")
    assert (error.status, error.field) == (400, "action")
    assert "separated by spaces ('action=sell symbol=EURUSD volume=0.1 id=a-7')" in error.reason
    assert "action=sell;symbol=EURUSD;" in error.reason
    # The same pairs with a separator, and a quoted value that holds "name=", are read.
    signal = parse("action=sell;symbol=EURUSD;volume=0.1;id=a-7").signal
    assert (signal.side, signal.symbol, signal.volume) == (Side.SELL, "EURUSD", Decimal("0.1"))
    assert parse('action=buy;symbol=EURUSD;comment="grid b=2"').signal.comment == "grid b=2"


def test_placeholders_are_refused_naming_each_one():
    error = refused('{"action": "{{strategy.order.action}}", "symbol": "{{ticker}}", "price": {{close}}}')
    assert (error.status, error.field) == (422, "placeholders")
    for name in ("{{strategy.order.action}}", "{{ticker}}", "{{close}}"):
        assert name in error.reason
    assert "strategy" in error.reason
    error = refused("60123456789,{{strategy.order.action}},EURUSD,risk=1")
    assert error.field == "placeholders" and "{{strategy.order.action}}" in error.reason


def test_a_template_that_is_not_json_still_yields_its_passphrase():
    raw = read_alert(b'{"passphrase": "abc", "ticker": "{{ticker}}", "close": {{close}}}')
    assert raw.passphrase == "abc" and raw.placeholders == ("{{ticker}}", "{{close}}")


def test_body_encoding():
    assert parse("\ufeffaction=buy;symbol=EURUSD").signal.side is Side.BUY
    with pytest.raises(ParseError) as info:
        parse_alert(b"action=buy;symbol=\xff\xfe", source="tv")
    assert info.value.status == 400 and "UTF-8" in info.value.reason


def test_options_are_validated_with_their_path():
    with pytest.raises(ConfigError) as info:
        AlertOptions.from_mapping({"mode": "targets"}, "sources.tv")
    assert info.value.path == "sources.tv.mode"
    with pytest.raises(ConfigError) as info:
        AlertOptions.from_mapping({"max_age": -5}, "sources.tv")
    assert info.value.path == "sources.tv.max_age"
    with pytest.raises(ConfigError) as info:
        AlertOptions.from_mapping({"maxage": 5}, "sources.tv")
    assert info.value.path == "sources.tv.maxage"
    assert AlertOptions.from_mapping({"whatever": 1}, strict=False) == AlertOptions()
    assert AlertOptions.from_mapping({"max_age": "2.5"}).max_age == 2.5
