"""The filedrop parser: CSV, JSON, NinjaTrader OIF and IPTRADE files → signals or row errors."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from core.enums import Action, LevelUnit, OrderType, Side, VolumeKind
from core.signal import Level
from ingest.filedrop import ParsedRow, RowError, parse_file

D = Decimal


def parse(text: str | bytes, name: str = "orders.csv"):
    data = text.encode() if isinstance(text, str) else text
    return parse_file(data, name=name, source="drop")


def only_signal(text: str, name: str = "orders.csv"):
    result = parse(text, name)
    assert result.error is None, result.error
    assert len(result.rows) == 1 and isinstance(result.rows[0], ParsedRow), result.rows
    return result.rows[0].signal


def test_csv_header_names_are_case_and_punctuation_insensitive():
    text = (
        "Side,Ticker,Lots,Limit Price,Stop Loss,Take Profit,Order ID,Comment,Order Type\n"
        "BUY,EURUSD,0.25,1.0850,1.0800,1.0950,ord-1,breakout,LIMIT\n"
    )
    signal = only_signal(text)
    assert signal.action is Action.OPEN and signal.side is Side.BUY
    assert signal.symbol == "EURUSD" and signal.order_type is OrderType.LIMIT
    assert signal.volume == D("0.25") and signal.volume_kind is VolumeKind.LOTS
    assert signal.price == D("1.0850")
    assert signal.sl == Level(D("1.0800")) and signal.tps == (Level(D("1.0950")),)
    assert signal.origin_id == "ord-1" and signal.comment == "breakout"
    assert signal.source == "drop"


def test_semicolon_file_with_decimal_commas_and_distance_levels():
    text = "action;symbol;volume;sl;tp1;tp2;tp3\nsell;XAUUSD;0,5;30 pips;1.5%;40 points;2400,5\n"
    signal = only_signal(text)
    assert signal.side is Side.SELL and signal.volume == D("0.5")
    assert signal.sl == Level(D(30), LevelUnit.PIPS)
    assert signal.tps == (Level(D("1.5"), LevelUnit.PERCENT), Level(D(40), LevelUnit.POINTS), Level(D("2400.5")))


def test_bad_rows_carry_their_line_and_good_rows_still_parse():
    text = (
        "action,symbol,qty,price,type\n"
        "buy,EURUSD,0.1,,market\n"
        "hold,EURUSD,0.1,,market\n"
        "buy,EURUSD,lots,,market\n"
        "\n"
        "buy,GBPUSD,0.2,,limit\n"
        'sell,"US30",1,,market\n'
    )
    result = parse(text)
    assert result.error is None
    kinds = [(r.line, type(r).__name__) for r in result.rows]
    assert kinds == [(2, "ParsedRow"), (3, "RowError"), (4, "RowError"), (6, "RowError"), (7, "ParsedRow")]
    errors = {e.line: e for e in result.errors}
    assert "unknown action 'hold'" in errors[3].reason and errors[3].field == "action"
    assert errors[4].field == "qty" and "must be a number" in errors[4].reason
    assert errors[6].reason == "a limit order needs a price"
    assert [r.row for r in result.rows] == [1, 2, 3, 4, 5]


def test_a_quoted_cell_spanning_lines_keeps_later_line_numbers_right():
    text = 'action,symbol,volume,comment\nbuy,EURUSD,0.1,"first\nsecond"\nsell,EURUSD,x,\n'
    result = parse(text)
    assert isinstance(result.rows[0], ParsedRow) and result.rows[0].signal.comment == "first\nsecond"
    assert isinstance(result.rows[1], RowError) and result.rows[1].line == 4


def test_a_new_header_row_starts_a_block_with_its_own_columns():
    text = (
        "Action,Quantity,Symbol,OrderType\n"
        "BUY,100,IBM,MKT\n"
        "Action,Quantity,Symbol,OrderType,LmtPrice\n"
        "SELL,50,GE,LMT,18.98\n"
    )
    result = parse(text)
    market, limit = (r.signal for r in result.signals)
    assert market.order_type is OrderType.MARKET and market.volume == 100
    assert limit.order_type is OrderType.LIMIT and limit.price == D("18.98") and limit.side is Side.SELL
    assert "SecType" not in result.ignored_columns


def test_unknown_columns_are_ignored_and_listed():
    result = parse("Action,Quantity,Symbol,Exchange,Currency\nBUY,1,EURUSD,SMART,USD\n")
    assert len(result.signals) == 1 and result.ignored_columns == ("Exchange", "Currency")


@pytest.mark.parametrize(
    ("row", "action", "side", "volume", "kind"),
    [
        ("close,EURUSD,,", Action.CLOSE, None, None, VolumeKind.LOTS),
        ("close,EURUSD,,50", Action.CLOSE_PART, None, D("0.5"), VolumeKind.FRACTION),
        ("close,EURUSD,,100", Action.CLOSE, None, None, VolumeKind.LOTS),
        ("close,EURUSD,0.3,", Action.CLOSE_PART, None, D("0.3"), VolumeKind.LOTS),
        ("close_long,EURUSD,,", Action.CLOSE, Side.BUY, None, VolumeKind.LOTS),
        ("close_all,,,", Action.CLOSE_ALL, None, None, VolumeKind.LOTS),
        ("sell_stop,EURUSD,0.1,", Action.OPEN, Side.SELL, D("0.1"), VolumeKind.LOTS),
    ],
)
def test_close_and_compound_actions(row, action, side, volume, kind):
    text = "action,symbol,volume,percent,price\n" + row + ",1.08\n"
    signal = only_signal(text)
    assert (signal.action, signal.side, signal.volume, signal.volume_kind) == (action, side, volume, kind)
    if row.startswith("sell_stop"):
        assert signal.order_type is OrderType.STOP and signal.price == D("1.08")


def test_action_with_a_side_column_and_conflicts():
    result = parse(
        "action,side,symbol,volume\nopen,sell,EURUSD,1\nclose,buy,EURUSD,\nbuy,sell,EURUSD,1\nopen,,EURUSD,1\n"
    )
    open_sell, close_buy = (r.signal for r in result.signals)
    assert open_sell.action is Action.OPEN and open_sell.side is Side.SELL
    assert close_buy.action is Action.CLOSE and close_buy.side is Side.BUY
    assert [e.line for e in result.errors] == [4, 5]
    assert "says 'buy'" in result.errors[0].reason and "needs a side" in result.errors[1].reason


def test_type_column_is_an_order_type_or_an_action_by_its_value():
    result = parse("type,symbol,lot,price\nBUY,EURUSD,0.1,\nlimit,EURUSD,0.1,1.07\n")
    assert result.signals[0].signal.side is Side.BUY
    assert isinstance(result.rows[1], RowError) and "no action" in result.rows[1].reason


def test_size_kinds_are_exclusive_and_typed():
    result = parse(
        "action,symbol,units,notional,risk\nbuy,EURUSD,10000,,\nbuy,EURUSD,,500,\nbuy,EURUSD,,,1\nbuy,EURUSD,1,2,\n"
    )
    kinds = [r.signal.volume_kind for r in result.signals]
    assert kinds == [VolumeKind.UNITS, VolumeKind.NOTIONAL, VolumeKind.RISK_PERCENT]
    assert result.errors[0].line == 5 and "one size" in result.errors[0].reason


def test_origin_ids_come_from_the_content_hash_and_row_or_the_id_column():
    text = "action,symbol,volume,id\nbuy,EURUSD,0.1,\nbuy,EURUSD,0.1,mine-7\nbuy,EURUSD,0.1,\n"
    first, again, other = parse(text), parse(text), parse(text + "sell,EURUSD,0.1,\n")
    ids = [r.signal.origin_id for r in first.signals]
    assert ids == [f"fd:{first.sha256[:16]}:1", "mine-7", f"fd:{first.sha256[:16]}:3"]
    assert [r.signal.origin_id for r in again.signals] == ids
    assert other.signals[0].signal.origin_id != ids[0]


def test_time_columns_become_sent_at():
    result = parse(
        "action,symbol,volume,time\nbuy,EURUSD,1,2024-01-15T10:30:00Z\nbuy,EURUSD,1,2024.01.15 10:30:00\n"
        "buy,EURUSD,1,1705314600\nbuy,EURUSD,1,15/01/2024\n"
    )
    stamps = {r.signal.sent_at.isoformat() for r in result.signals}
    assert stamps == {"2024-01-15T10:30:00+00:00"}
    assert len(result.signals) == 3 and result.errors[0].field == "time"


def test_encodings_bom_cp1252_and_utf16():
    body = "action,symbol,volume,comment\nbuy,EURUSD,1,café\n"
    for data in (b"\xef\xbb\xbf" + body.encode(), body.encode("cp1252"), body.encode("utf-16")):
        signal = only_signal(data)
        assert signal.comment == "café" and signal.symbol == "EURUSD"


@pytest.mark.parametrize(
    ("text", "name", "reason"),
    [
        ("", "a.csv", "the file is empty"),
        ("\x00\x01binary", "a.csv", "NUL"),
        ("symbol,volume\nEURUSD,1\n", "a.csv", "no action column"),
        ("Ticket,Symbol,Type,Volume,Profit\n1,EURUSD,buy,1,10\n", "a.csv", "trade history report"),
        ('"Trade #","Type","Signal","Price","Net P&L"\n1,Long,Entry,100,0\n', "a.csv", "List of trades"),
        ("master_symbol,slave_symbol,slave_lot\nXAUUSD,XAUUSDm,1\n", "a.csv", "symbol mapping"),
        ('{"source_orders": {}, "target_positions": {}}', "a.json", "saved state"),
        ('{"symbol": "EURUSD"}', "a.json", "no 'action' field"),
        ('{"action": "buy"', "a.json", "malformed JSON"),
        ("[]", "a.json", "empty"),
        ("42", "a.json", "not an order"),
        ('{"action": "buy", "symbol": "{{ticker}}"}', "a.json", "template"),
        ("action,symbol\nbuy,EURUSD\nsell,<SYMBOL>\n", "a.csv", "<SYMBOL> on line 3"),
        ("action,symbol\n", "a.csv", "no data rows"),
    ],
)
def test_files_that_are_not_orders_are_refused_as_a_whole(text, name, reason):
    result = parse(text, name)
    assert result.error is not None and reason in result.error
    assert result.rows == ()


def test_json_object_array_wrapper_and_lines():
    one = only_signal('{"action": "buy", "symbol": "EURUSD", "volume": 0.1, "sl": "1.0800"}', "a.json")
    assert one.volume == D("0.1") and one.sl == Level(D("1.0800"))
    array = parse('[\n {"action": "buy", "symbol": "EURUSD"},\n {"action": "fly"},\n 7\n]', "a.json")
    assert [type(r).__name__ for r in array.rows] == ["ParsedRow", "RowError", "RowError"]
    assert [r.line for r in array.rows] == [2, 3, 4]
    wrapped = parse('{"orders": [\n{"side": "sell", "ticker": "GBPUSD", "qty": "2"}\n]}', "a.json")
    assert wrapped.signals[0].signal.side is Side.SELL and wrapped.signals[0].line == 2
    lines = parse(
        '{"action": "buy", "symbol": "EURUSD"}\nnot json\n{"action": "sell", "symbol": "EURUSD"}\n', "a.jsonl"
    )
    assert lines.format == "jsonl" and [r.line for r in lines.signals] == [1, 3]
    assert lines.errors[0].line == 2 and lines.errors[0].reason.startswith("not JSON")


def test_json_values_must_have_the_right_type():
    result = parse('[{"action": true, "symbol": "X"}, {"action": "buy", "symbol": "X", "volume": [1]}]', "a.json")
    assert [e.field for e in result.errors] == ["action", "volume"]


def test_traderspost_levels_and_amount_distances():
    body = {
        "ticker": "AMD",
        "action": "buy",
        "signalPrice": 143.12,
        "quantity": 1,
        "takeProfit": {"percent": 10},
        "stopLoss": {"type": "stop", "amount": 2.5},
    }
    signal = only_signal(json.dumps(body), "tp.json")
    assert signal.price == D("143.12") and signal.volume == 1
    assert signal.tps == (Level(D(10), LevelUnit.PERCENT),)
    assert signal.sl == Level(D("140.62"))


def test_tradingview_strategy_payload_reads_open_close_and_reverse():
    def payload(action, position, previous, contracts=3, size=3):
        return json.dumps(
            {
                "passphrase": "x",
                "ticker": "BTCUSDT",
                "strategy": {
                    "order_action": action,
                    "order_contracts": contracts,
                    "order_price": 60000.5,
                    "order_id": "Long",
                    "market_position": position,
                    "market_position_size": size,
                    "prev_market_position": previous,
                },
            }
        )

    opened = only_signal(payload("buy", "long", "flat"), "tv.json")
    assert (opened.action, opened.side, opened.volume, opened.comment) == (Action.OPEN, Side.BUY, 3, "Long")
    assert opened.origin_id.startswith("fd:")  # the strategy's order name is not an id
    closed = only_signal(payload("sell", "flat", "long"), "tv.json")
    assert (closed.action, closed.side) == (Action.CLOSE, Side.BUY)
    reversed_ = only_signal(payload("sell", "short", "long", contracts=6, size=3), "tv.json")
    assert (reversed_.action, reversed_.side, reversed_.volume) == (Action.REVERSE, Side.SELL, 3)


def test_alerts_processor_size_is_notional_and_percent_closes():
    result = parse(
        '[{"direction": "long", "symbol": "ETH-PERP", "size": "50"},'
        ' {"direction": "close", "symbol": "ETH-PERP", "size": "25%"},'
        ' {"direction": "short", "symbol": "ETH-PERP", "size": "50", "mode": "reverse"}]',
        "a.json",
    )
    opened, partial, reverse = (r.signal for r in result.signals)
    assert opened.volume_kind is VolumeKind.NOTIONAL and opened.volume == 50
    assert partial.action is Action.CLOSE_PART and partial.volume == D("0.25")
    assert reverse.action is Action.REVERSE and reverse.side is Side.SELL
    assert len({s.origin_id for s in (opened, partial, reverse)}) == 3


def test_ninjatrader_order_instruction_lines():
    text = (
        "PLACE;Sim101;NQ 12-24;BUY;1;MARKET;;;DAY;;;;\n"
        "PLACE;Sim101;MNQM6;SELL;2;LIMIT;30315.25;0;GTC;;ord9;;\n"
        "CANCEL;;;;;;;;;;ord9;;\n"
        "CLOSEPOSITION;Sim101;NQ 12-24;;;;;;;;;;\n"
        "CHANGE;;;;2;;30300;;;;ord9;;\n"
        "FLATTENEVERYTHING;;;;;;;;;;;;\n"
    )
    result = parse(text, "oif1.txt")
    assert result.format == "oif"
    place, limit, cancel, close, flatten = (r.signal for r in result.signals)
    assert (place.symbol, place.side, place.volume, place.order_type) == ("NQ 12-24", Side.BUY, 1, OrderType.MARKET)
    assert (limit.order_type, limit.price, limit.origin_id, limit.position_ref) == (
        OrderType.LIMIT,
        D("30315.25"),
        "ord9",
        "ord9",
    )
    assert (cancel.action, cancel.position_ref) == (Action.CANCEL, "ord9")
    assert (close.action, close.symbol) == (Action.CLOSE, "NQ 12-24")
    assert flatten.action is Action.CLOSE_ALL and flatten.symbol is None
    assert result.errors[0].line == 5 and "not supported" in result.errors[0].reason


def test_iptrade_rows_master_orders_only_and_tickets_link_the_close():
    text = (
        "timestamp,account_id,account_type,status,action,data,master_id,platform\n"
        "2024-01-15T10:30:00Z,M1,master,online,ping,{},,MT4\n"
        '2024-01-15T10:30:02Z,M1,master,online,order,{"symbol":"EURUSD","type":"BUY","lot":0.1,"ticket":7},,MT4\n'
        '2024-01-15T10:30:03Z,S1,slave,online,order,{"symbol":"EURUSD","type":"BUY","lot":0.1},M1,MT5\n'
        '2024-01-15T10:30:05Z,M1,master,online,order,{"symbol":"EURUSD","type":"CLOSE","ticket":7,"profit":1.5},,MT4\n'
        "2024-01-15T10:30:06Z,M1,master,online,order,{broken,,MT4\n"
    )
    result = parse(text)
    assert result.format == "iptrade"
    opened, closed = (r.signal for r in result.signals)
    assert (opened.action, opened.side, opened.volume) == (Action.OPEN, Side.BUY, D("0.1"))
    assert closed.action is Action.CLOSE and closed.position_ref == opened.position_ref == "M1:7"
    assert opened.sent_at is not None and opened.sent_at.minute == 30
    assert [(r.line, r.ignored) for r in result.rows if isinstance(r, RowError)] == [(2, True), (4, True), (6, False)]
    assert "heartbeat" in result.ignored[0].reason and "master M1" in result.ignored[1].reason


def test_a_comma_is_a_decimal_separator_only_where_it_is_not_the_delimiter():
    result = parse('action,symbol,volume\nbuy,EURUSD,"1,500"\n')
    assert result.errors[0].field == "volume" and "decimal point" in result.errors[0].reason
    assert only_signal("action\tsymbol\tvolume\nbuy\tEURUSD\t1,5\n").volume == D("1.5")
