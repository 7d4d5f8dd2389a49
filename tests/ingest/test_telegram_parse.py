"""The Telegram post parser: one case per form a channel writes, and fuzzing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.enums import Action, LevelUnit, OrderType, Side, VolumeKind
from core.errors import ParseError
from core.signal import Level, Signal
from ingest.telegram.parse import TelegramParseOptions, parse_post, parse_post_all

D = Decimal


def read(text: str, **kw: object) -> Signal:
    return parse_post(text, source="tg", chat_id=-100777, message_id=55, **kw)  # type: ignore[arg-type]


def refused(text: str, **kw: object) -> str:
    with pytest.raises(ParseError) as info:
        read(text, **kw)
    return info.value.reason


def prices(sig: Signal) -> tuple[Decimal | None, Decimal | None, list[Decimal]]:
    return sig.price, sig.sl.value if sig.sl else None, [tp.value for tp in sig.tps]


# -- opening signals ---------------------------------------------------------------------------------


def test_one_line_signal_with_ids_and_refs() -> None:
    sig = read("EURGBP sell 0.8612 sl 0.8650 tp 0.8570")
    assert (sig.action, sig.symbol, sig.side, sig.order_type) == (Action.OPEN, "EURGBP", Side.SELL, OrderType.MARKET)
    assert prices(sig) == (D("0.8612"), D("0.8650"), [D("0.8570")])
    assert sig.origin_id == "tg:-100777:55" and sig.position_ref == "tg:-100777:55"
    assert sig.source == "tg" and sig.raw.startswith("EURGBP")


def test_aliases_and_pair_spellings() -> None:
    assert read("Silver buy 24.10 SL 23.80 TP 24.60").symbol == "XAGUSD"
    assert read("Buy Aud / Cad 0.9050 sl 0.9010 tp 0.9100").symbol == "AUDCAD"
    assert read("#NZDJPY short 88.40 stop 88.90 target 87.60").symbol == "NZDJPY"
    assert read("DOW sell 39100 SL 39250 TP 38800").symbol == "US30"
    assert read("nasdaq buy 18000 sl 17900 tp 18200").symbol == "NAS100"
    assert read("XAU/USD long 2010 SL 2000 TP 2030").symbol == "XAUUSD"
    assert read("BTC long 64000 SL 62000 TP 68000").symbol == "BTCUSDT"


def test_aliases_are_overridable() -> None:
    options = TelegramParseOptions(aliases={"GOLD": "GOLD.m"})
    assert read("gold buy 2010 sl 2000 tp 2030", options=options).symbol == "GOLD.m"


def test_market_words_without_price() -> None:
    sig = read("SELL GOLD NOW")
    assert (sig.symbol, sig.side, sig.order_type, sig.price, sig.sl, sig.tps) == (
        "XAUUSD",
        Side.SELL,
        OrderType.MARKET,
        None,
        None,
        (),
    )


def test_cmp_keeps_the_quoted_price() -> None:
    sig = read("USDCAD buy at CMP 1.3620 SL 1.3580 TP 1.3700")
    assert sig.order_type is OrderType.MARKET and sig.price == D("1.3620")


def test_zone_price_is_the_edge_met_first() -> None:
    buy = read("XAUUSD BUY 2311 - 2315\nSL 2305\nTP 2322")
    assert buy.price_range == (D(2311), D(2315)) and buy.price == D(2315)
    sell = read("XAUUSD SELL 2315 - 2311\nSL 2320\nTP 2305")
    assert sell.price_range == (D(2311), D(2315)) and sell.price == D(2311)


def test_abbreviated_zone_end() -> None:
    assert read("Gold sell now 2455-58 sl 2462 tp 2448").price_range == (D(2455), D(2458))
    assert read("EURJPY buy 162.40/45 sl 162.00 tp 163.00").price_range == (D("162.40"), D("162.45"))


def test_limit_and_stop_orders() -> None:
    limit = read("GBPUSD buy limit 1.2500 sl 1.2450 tp 1.2600")
    assert limit.order_type is OrderType.LIMIT and limit.side is Side.BUY and limit.price == D("1.2500")
    stop = read("USDJPY Sell Stop @ 150.10\nSL 150.60\nTP 149.20")
    assert stop.order_type is OrderType.STOP and stop.side is Side.SELL
    assert "needs a price" in refused("EURUSD buy limit now, sl 1.0800")


@pytest.mark.parametrize(
    "stop_line",
    [
        "SL 1.0950",
        "S/L: 1.0950",
        "S.L - 1.0950",
        "Stop 1.0950",
        "Stop loss @ 1.0950",
        "StopLoss 1.0950",
        "SL :- 1.0950",
        "sl..1.0950",
        "STOP LOSS\n1.0950",
        "❌ Sl ➡️ 1.0950",
        "Stop Lose 1.0950",
    ],
)
def test_every_way_of_writing_the_stop(stop_line: str) -> None:
    sig = read(f"EURUSD BUY 1.1000\n{stop_line}\nTP 1.1050")
    assert sig.sl == Level(D("1.0950"))


@pytest.mark.parametrize(
    "targets",
    [
        "TP1 1.1050\nTP2 1.1100\nTP3 1.1150",
        "Target1# 1.1050\ntarget2# 1.1100\ntarget3#1.1150",
        "TP 1: 1.1050\nTP 2: 1.1100\nTP 3: 1.1150",
        "Take profit 1.1050 & 1.1100 & 1.1150",
        "🎯 TP1: 1.1050\n✅ TP2: 1.1100\n📈 TP3: 1.1150",
        ":small_orange_diamond:TP1:- 1.1050\n:small_orange_diamond:TP2:- 1.1100\n:small_orange_diamond:TP3:- 1.1150",
        "T.P 1\n1.1050\nT.P 2\n1.1100\nT.P 3\n1.1150",
        "Targets: 1.1050 - 1.1100 - 1.1150",
        "TP: 1.1050 / 1.1100 / 1.1150",
    ],
)
def test_several_targets(targets: str) -> None:
    sig = read(f"EURUSD buy now 1.1000\nSL 1.0950\n{targets}")
    assert [tp.value for tp in sig.tps] == [D("1.1050"), D("1.1100"), D("1.1150")]


def test_decorations_and_markdown() -> None:
    sig = read("🔥🔥 **XAUUSD** 🟢 __BUY__ NOW 🟢\n**Entry:** 2330.5\n**SL:** 2322\n**TP1:** 2336 ✅\n🔒 TP2: open")
    assert prices(sig) == (D("2330.5"), D(2322), [D(2336)])


def test_runner_target_adds_nothing() -> None:
    sig = read("Gold buy now 2300-2296\nsl 2290\ntp 2306\ntp 2312\ntp: open")
    assert [tp.value for tp in sig.tps] == [D(2306), D(2312)]


def test_distances_in_pips() -> None:
    sig = read("GBPJPY sell 191.20\nSL 40 pips\nTP 80 pips")
    assert sig.sl == Level(D(40), LevelUnit.PIPS)
    assert sig.tps == (Level(D(80), LevelUnit.PIPS),)


def test_emoji_marked_levels_are_read_by_position() -> None:
    sig = read("#EURCAD Buy 1.4800 🔻 1.4740 🔹 1.4860 🔹 1.4920")
    assert prices(sig) == (D("1.4800"), D("1.4740"), [D("1.4860"), D("1.4920")])


def test_numbers_that_are_not_prices_are_skipped() -> None:
    sig = read(
        "Signal no. 41\n2024.03.05 10:15 EURAUD sell H4 @ 1.6550\nSL 1.6610 (60 pips) risk 2%\n"
        "TP 1.6450 +100 pips\nlot size 0.05"
    )
    assert prices(sig) == (D("1.6550"), D("1.6610"), [D("1.6450")])
    assert sig.volume == D("0.05") and sig.volume_kind is VolumeKind.LOTS


def test_symbol_glued_to_side_and_price_glued_to_labels() -> None:
    sig = read("GBPCHFSELL 1.1320\nSL1.1360\nTP1.1270")
    assert (sig.symbol, sig.side) == ("GBPCHF", Side.SELL)
    assert prices(sig) == (D("1.1320"), D("1.1360"), [D("1.1270")])


def test_persian_digits_and_words() -> None:
    sig = read("فروش طلا @ ۲۳۱۰\nحد ضرر: ۲۳۱۸\nتی پی: ۲۳۰۰، ۲۲۹۰")
    assert (sig.symbol, sig.side) == ("XAUUSD", Side.SELL)
    assert prices(sig) == (D(2310), D(2318), [D(2300), D(2290)])


def test_crypto_pairs() -> None:
    sig = read("BYBIT\nSOL/USDT LONG\nLeverage 10x\nEntry: 142.5\nTargets: 145 - 148 - 152\nStop: 138")
    assert (sig.symbol, sig.side, sig.price) == ("SOLUSDT", Side.BUY, D("142.5"))
    assert [tp.value for tp in sig.tps] == [D(145), D(148), D(152)]
    coin = read("Binance futures\nPair: LINK SHORT\nEntry: 14.20\nSL: 14.90\nTarget 1: 13.80")
    assert coin.symbol == "LINKUSDT"


def test_at_most_six_targets() -> None:
    targets = "\n".join(f"TP {2010 + 5 * i}" for i in range(8))
    sig = read(f"XAUUSD BUY 2005\nSL 1995\n{targets}")
    assert len(sig.tps) == 6


# -- refusals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Good morning everyone, NFP today, trade safe", "not a signal"),
        ("", "empty"),
        ("buy now @ 1.2000 sl 1.1950 tp 1.2050", "no symbol"),
        ("EURUSD sell 1.0900 SL 1.0950 TP 1.0990", "target"),
        ("EURUSD buy 1.0900 SL 1.0950 TP 1.0990", "stop-loss"),
        ("GBPUSD buy 1.2700 SL ??? TP 1.2800", "no value"),
        ("AUDUSD buy 0.6600 TP 0.6700", "no stop-loss"),
        ("EURCHF buy 96.50 SL 96.30 TP 97.00", "pips"),
        ("USDJPY buy limit 150.00 (0.01 lot)\nUSDJPY buy limit 149.00 (0.02 lot)\nSL 148 TP 152", "ladder"),
        ("GBPJPY could be a nice buy around 190.00 if it holds, SL 189 TP 192", "conditional"),
        ("SL hit on gold, next one soon", "stop-loss was hit"),
        ("TP2 reached ✅ congrats", "target was hit"),
        ("If it breaks 2400 we close everything", "conditional"),
    ],
)
def test_refused_with_a_reason(text: str, words: str) -> None:
    assert words in refused(text)


def test_targets_without_stop_can_be_allowed() -> None:
    sig = read("AUDUSD buy 0.6600 TP 0.6700", options=TelegramParseOptions(require_stop_with_targets=False))
    assert sig.sl is None and sig.tps == (Level(D("0.6700")),)


# -- management ---------------------------------------------------------------------------------------


def test_reply_close_half() -> None:
    sig = read("close half now 💰", reply_to=40)
    assert sig.action is Action.CLOSE_PART
    assert (sig.volume, sig.volume_kind) == (D("0.5"), VolumeKind.FRACTION)
    assert sig.position_ref == "tg:-100777:40" and sig.origin_id == "tg:-100777:55"


def test_close_a_percentage() -> None:
    assert read("Close 30% here", reply_to=40).volume == D("0.3")


def test_close_and_close_all() -> None:
    assert read("Close now", reply_to=40).action is Action.CLOSE
    everything = read("Close all trades!")
    assert everything.action is Action.CLOSE_ALL and everything.position_ref is None
    by_symbol = read("#ETH/USDT closed due to reversal ⚠️")
    assert (by_symbol.action, by_symbol.symbol) == (Action.CLOSE, "ETHUSDT")


def test_break_even() -> None:
    for text in ("Move SL to breakeven", "move sl to BE", "Trade is risk free now", "set break even"):
        sig = read(text, reply_to=40)
        assert sig.action is Action.MODIFY and sig.sl == Level(D(0), LevelUnit.PIPS), text
        assert sig.position_ref == "tg:-100777:40"


def test_move_stop_to_a_price() -> None:
    sig = read("move your stop loss to 2318.5", reply_to=40)
    assert sig.action is Action.MODIFY and sig.sl == Level(D("2318.5"))


def test_target_hit_reply_closes_a_fraction() -> None:
    sig = read("TP1 hit ✅ +40 pips", reply_to=40)
    assert sig.action is Action.CLOSE_PART and sig.volume == D("0.5")
    custom = TelegramParseOptions(tp_hit_close_fraction=D("0.3"))
    assert read("Close TP1 here", reply_to=40, options=custom).volume == D("0.3")
    off = TelegramParseOptions(tp_hit_close_fraction=None)
    assert "information only" in refused("TP1 hit ✅", reply_to=40, options=off)


def test_cancel_pending() -> None:
    sig = read("Cancel the buy limit, price ran away", reply_to=40)
    assert sig.action is Action.CANCEL and sig.position_ref == "tg:-100777:40"


def test_compound_post_gives_two_signals() -> None:
    sigs = parse_post_all(
        "Taking partials here and moving SL to entry", source="tg", chat_id=1, message_id=9, reply_to=3
    )
    assert [s.action for s in sigs] == [Action.CLOSE_PART, Action.MODIFY]
    assert [s.origin_id for s in sigs] == ["tg:1:9", "tg:1:9#2"]
    assert all(s.position_ref == "tg:1:3" for s in sigs)


def test_reply_with_levels_completes_an_alert() -> None:
    sig = read("SL 2290\nTP1 2310\nTP2 2320", reply_to=40)
    assert sig.action is Action.MODIFY and sig.sl == Level(D(2290))
    assert [tp.value for tp in sig.tps] == [D(2310), D(2320)]
    assert "not a signal" in refused("SL 2290\nTP1 2310")


# -- fuzzing ------------------------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "buy",
        "sell",
        "BUY NOW",
        "gold",
        "EURUSD",
        "XAU/USD",
        "sl",
        "SL:",
        "tp",
        "TP1",
        "TP2:",
        "@",
        "-",
        "/",
        "1.2345",
        "2350",
        "2350-2345",
        "  ",
        "\n",
        "🎯",
        "✅",
        ":x:",
        "**",
        "close",
        "half",
        "move sl to be",
        "pips",
        "%",
        "if",
        "cancel",
        "limit",
        "stop",
        "0",
        ".5",
        "1 2345",
        "??",
        "۱۲۳",
        "خرید",
        "#",
        "(",
    ]
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(_PIECES, max_size=14).map(" ".join), st.one_of(st.none(), st.integers(1, 10**6)))
def test_fuzz_pieces_signal_or_parse_error(text: str, reply_to: int | None) -> None:
    try:
        sigs = parse_post_all(text, source="f", chat_id=1, message_id=2, reply_to=reply_to)
    except ParseError as exc:
        assert exc.reason
        return
    assert sigs and all(isinstance(s, Signal) for s in sigs)
    for s in sigs:
        if s.action is Action.OPEN:
            assert s.symbol and s.side is not None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.one_of(st.none(), st.integers(1, 10**6)))
def test_fuzz_any_text_signal_or_parse_error(text: str, reply_to: int | None) -> None:
    try:
        parse_post(text, source="f", chat_id=1, message_id=2, reply_to=reply_to)
    except ParseError:
        pass
