"""Paper accounts: the simulated market's rules, its configuration and its bookkeeping."""

from __future__ import annotations

import asyncio
from dataclasses import fields
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.paper import PaperConfig, PaperConnector, PaperVenue, parse
from connectors.paper.client import PaperVenueError
from connectors.paper.config import Mode
from connectors.paper.instruments import BUILTIN_INSTRUMENTS, DEFAULT_PRICES, quote_value_at
from core.connector import ConnectorState
from core.enums import OrderType, Side
from core.errors import ConfigError, TransientError, VenueRejected
from core.instrument import Instrument
from core.orders import IntentKind, OrderIntent, ReportStatus

D = Decimal


class Ids:
    """Fresh client order ids for one test."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"cp{self.n:020d}"


def opening(
    ids: Ids, symbol: str, side: Side, volume: str, *, order_type: OrderType = OrderType.MARKET, **kw: Any
) -> OrderIntent:
    return OrderIntent(
        kind=IntentKind.OPEN, client_order_id=ids(), symbol=symbol, side=side, volume=D(volume),
        order_type=order_type, **kw,
    )  # fmt: skip


def closing(ids: Ids, symbol: str, position_id: str | None, volume: str) -> OrderIntent:
    return OrderIntent(
        kind=IntentKind.CLOSE, client_order_id=ids(), symbol=symbol, side=Side.BUY, volume=D(volume),
        position_id=position_id,
    )  # fmt: skip


def paper(mode: Mode = "hedging", **kw: Any) -> PaperConnector:
    return PaperConnector(PaperConfig(name="paper-t", mode=mode, **kw))


async def started(connector: PaperConnector) -> PaperConnector:
    await connector.start()
    return connector


def reject_code(venue: PaperVenue, intent: OrderIntent) -> str:
    with pytest.raises(PaperVenueError) as raised:
        venue.execute(intent)
    return raised.value.code


# --------------------------------------------------------------------------- netting and hedging


async def test_netting_opposite_order_reduces_then_flips() -> None:
    ids = Ids()
    conn = await started(paper("netting"))
    first = await conn.submit(opening(ids, "EURUSD", Side.BUY, "0.10"))
    assert first.position_id == "EURUSD"

    reduced = await conn.submit(opening(ids, "EURUSD", Side.SELL, "0.04"))
    assert reduced.status is ReportStatus.FILLED and reduced.position_id == "EURUSD"
    [position] = await conn.positions()
    assert (position.side, position.volume) == (Side.BUY, D("0.06"))

    conn.sim.set_price("EURUSD", D("1.08600"))
    flipped = await conn.submit(opening(ids, "EURUSD", Side.SELL, "0.10"))
    assert flipped.position_id == "EURUSD"
    [position] = await conn.positions()
    assert (position.side, position.volume, position.open_price) == (Side.SELL, D("0.04"), D("1.08600"))
    # The flip realized the 0.06 lot long: 10 pips at 0.60 USD a pip.
    assert conn.account().balance == D("10006.00")

    await conn.submit(opening(ids, "EURUSD", Side.BUY, "0.04"))
    assert await conn.positions() == []


async def test_netting_same_side_adds_at_the_average_price() -> None:
    ids = Ids()
    conn = await started(paper("netting"))
    await conn.submit(opening(ids, "XAUUSD", Side.BUY, "1.00"))
    conn.sim.set_price("XAUUSD", D("2410.00"))
    await conn.submit(opening(ids, "XAUUSD", Side.BUY, "1.00"))
    [position] = await conn.positions()
    assert position.volume == D("2.00")
    assert position.open_price == D("2405.00")


async def test_netting_reduce_only_never_opens() -> None:
    ids = Ids()
    venue = PaperVenue(PaperConfig(name="n", mode="netting"))
    assert reject_code(venue, opening(ids, "EURUSD", Side.SELL, "0.10", reduce_only=True)) == parse.REDUCE_ONLY
    venue.execute(opening(ids, "EURUSD", Side.BUY, "0.10"))
    assert reject_code(venue, opening(ids, "EURUSD", Side.SELL, "0.20", reduce_only=True)) == parse.REDUCE_ONLY
    venue.execute(opening(ids, "EURUSD", Side.SELL, "0.10", reduce_only=True))
    assert venue.positions() == []


async def test_hedging_gives_every_open_its_own_position() -> None:
    ids = Ids()
    conn = await started(paper("hedging"))
    a = await conn.submit(opening(ids, "EURUSD", Side.BUY, "0.10", comment="lnk1"))
    b = await conn.submit(opening(ids, "EURUSD", Side.BUY, "0.20"))
    c = await conn.submit(opening(ids, "EURUSD", Side.SELL, "0.30"))
    assert [a.position_id, b.position_id, c.position_id] == ["P1", "P2", "P3"]
    positions = {p.position_id: p for p in await conn.positions()}
    assert positions["P1"].comment == "lnk1"
    assert (positions["P3"].side, positions["P3"].volume) == (Side.SELL, D("0.30"))
    assert conn.capabilities.hedging and not conn.capabilities.netting

    closed = await conn.submit(closing(ids, "EURUSD", "P2", "0.20"))
    assert closed.position_id == "P2"
    assert sorted(p.position_id for p in await conn.positions()) == ["P1", "P3"]


async def test_close_of_unknown_or_oversized_position_is_rejected() -> None:
    ids = Ids()
    conn = await started(paper())
    opened = await conn.submit(opening(ids, "EURUSD", Side.BUY, "0.10"))
    with pytest.raises(VenueRejected) as raised:
        await conn.submit(closing(ids, "EURUSD", "P99", "0.10"))
    assert raised.value.code == parse.POSITION_NOT_FOUND
    with pytest.raises(VenueRejected) as raised:
        await conn.submit(closing(ids, "EURUSD", opened.position_id, "0.11"))
    assert raised.value.code == parse.INVALID_VOLUME
    with pytest.raises(VenueRejected) as raised:
        await conn.submit(closing(ids, "EURUSD", opened.position_id, "0"))
    assert raised.value.code == parse.INVALID_VOLUME
    with pytest.raises(VenueRejected) as raised:
        await conn.submit(closing(ids, "GBPUSD", opened.position_id, "0.10"))
    assert raised.value.code == parse.POSITION_NOT_FOUND
    [position] = await conn.positions()
    assert position.volume == D("0.10")


# --------------------------------------------------------------------------- venue-like rejects


async def test_rejects_carry_the_venue_code_and_a_readable_reason() -> None:
    ids = Ids()
    conn = await started(paper())
    cases = [
        (opening(ids, "EURXYZ", Side.BUY, "0.10"), parse.UNKNOWN_SYMBOL),
        (opening(ids, "EURUSD", Side.BUY, "0.015"), parse.INVALID_VOLUME),
        (opening(ids, "EURUSD", Side.BUY, "0.001"), parse.VOLUME_TOO_SMALL),
        (opening(ids, "EURUSD", Side.BUY, "100.01"), parse.VOLUME_TOO_LARGE),
        (opening(ids, "EURUSD", Side.BUY, "-1"), parse.INVALID_VOLUME),
        (opening(ids, "EURUSD", Side.BUY, "0.10", sl=D("1.09000")), parse.INVALID_STOPS),
        (opening(ids, "EURUSD", Side.SELL, "0.10", tp=D("1.09000")), parse.INVALID_STOPS),
        (opening(ids, "EURUSD", Side.BUY, "0.10", sl=D("1.080001")), parse.INVALID_PRICE),
        (opening(ids, "EURUSD", Side.BUY, "0.10", order_type=OrderType.LIMIT), parse.INVALID_PRICE),
    ]
    for intent, code in cases:
        with pytest.raises(VenueRejected) as raised:
            await conn.submit(intent)
        assert raised.value.code == code, intent
        assert raised.value.reason and raised.value.reason != code
        assert await conn.order_by_client_id(intent.client_order_id) is None
    with pytest.raises(VenueRejected) as raised:
        await conn.submit(opening(ids, "EURUSD", Side.BUY, "0.015"))
    assert raised.value.reason == "volume 0.015 is not a multiple of the step 0.01 for EURUSD"
    assert await conn.positions() == []


async def test_insufficient_margin_is_rejected_and_changes_nothing() -> None:
    ids = Ids()
    conn = await started(paper(balance=D("1000")))
    # 1 lot EURUSD at 1.085 and 1:100 needs 1085 USD of margin.
    with pytest.raises(VenueRejected) as raised:
        await conn.submit(opening(ids, "EURUSD", Side.BUY, "1.00"))
    assert raised.value.code == parse.NO_MONEY
    assert "1085.00" in raised.value.reason
    assert await conn.positions() == []
    assert conn.account().balance == D("1000.00")

    ok = await conn.submit(opening(ids, "EURUSD", Side.BUY, "0.90"))
    assert ok.status is ReportStatus.FILLED
    assert conn.sim.used_margin() == D("976.5")


async def test_netting_flip_counts_the_margin_it_releases() -> None:
    ids = Ids()
    venue = PaperVenue(PaperConfig(name="n", mode="netting", balance=D("1500")))
    venue.execute(opening(ids, "EURUSD", Side.BUY, "1.00"))
    # The flip closes 1 lot (freeing 1085) and opens 1 lot the other way (needing 1085).
    venue.execute(opening(ids, "EURUSD", Side.SELL, "2.00"))
    [position] = venue.positions()
    assert (position.side, position.volume) == (Side.SELL, D("1.00"))
    assert reject_code(venue, opening(ids, "EURUSD", Side.BUY, "3.00")) == parse.NO_MONEY


async def test_minimum_notional_is_enforced_for_crypto() -> None:
    ids = Ids()
    btc = BUILTIN_INSTRUMENTS["BTCUSDT"]
    venue = PaperVenue(
        PaperConfig(name="c", instruments={"BTCUSDT": Instrument(**{**_facts(btc), "min_notional": D("100")})})
    )
    assert reject_code(venue, opening(ids, "BTCUSDT", Side.BUY, "0.001")) == parse.NOTIONAL_TOO_SMALL
    venue.execute(opening(ids, "BTCUSDT", Side.BUY, "0.002"))
    assert venue.positions()[0].volume == D("0.002")


def _facts(inst: Instrument) -> dict[str, Any]:
    return {f.name: getattr(inst, f.name) for f in fields(Instrument) if f.init}


async def test_stopped_account_refuses_orders_as_transient() -> None:
    ids = Ids()
    conn = await started(paper())
    await conn.stop()
    with pytest.raises(TransientError):
        await conn.submit(opening(ids, "EURUSD", Side.BUY, "0.10"))
    assert conn.sim.positions() == []


# --------------------------------------------------------------------------- money


async def test_realized_pnl_goes_to_balance() -> None:
    ids = Ids()
    conn = await started(paper(balance=D("10000")))
    opened = await conn.submit(opening(ids, "EURUSD", Side.BUY, "1.00"))
    conn.sim.set_price("EURUSD", D("1.08600"))
    await conn.submit(closing(ids, "EURUSD", opened.position_id, "0.40"))
    assert conn.account().balance == D("10040.00")
    await conn.submit(closing(ids, "EURUSD", opened.position_id, "0.60"))
    assert conn.account().balance == D("10100.00")
    assert conn.account().equity == D("10100.00")


async def test_usdjpy_profit_is_converted_to_dollars_at_the_close_price() -> None:
    ids = Ids()
    conn = await started(paper(balance=D("10000")))
    opened = await conn.submit(opening(ids, "USDJPY", Side.BUY, "1.00"))
    conn.sim.set_price("USDJPY", D("156.000"))
    instrument = conn.instrument("USDJPY")
    assert instrument is not None and instrument.quote_value == quote_value_at(instrument, D("156.000"))
    await conn.submit(closing(ids, "USDJPY", opened.position_id, "1.00"))
    # 1 lot × 100,000 × 1.000 JPY = 100,000 JPY = 641.03 USD at 156.
    assert conn.account().balance == D("10641.03")


async def test_equity_follows_the_price() -> None:
    ids = Ids()
    conn = await started(paper(balance=D("10000")))
    await conn.submit(opening(ids, "XAUUSD", Side.BUY, "1.00"))
    await conn.submit(opening(ids, "EURUSD", Side.SELL, "0.50"))
    conn.sim.set_price("XAUUSD", D("2410.00"))
    assert conn.account().equity == D("11000.00")
    conn.sim.set_price("EURUSD", D("1.08700"))
    account = conn.account()
    assert account.equity == D("10900.00")
    assert account.balance == D("10000.00")
    assert account.open_positions == 2


async def test_signal_fill_uses_the_signal_price_when_given() -> None:
    ids = Ids()
    conn = await started(paper(fill="signal"))
    report = await conn.submit(opening(ids, "EURUSD", Side.BUY, "0.10", signal_price=D("1.083214")))
    assert report.fill_price == D("1.08321")
    assert (await conn.positions())[0].open_price == D("1.08321")
    plain = await conn.submit(opening(ids, "EURUSD", Side.BUY, "0.10"))
    assert plain.fill_price == DEFAULT_PRICES["EURUSD"]

    static = await started(paper(fill="static"))
    report = await static.submit(opening(ids, "EURUSD", Side.BUY, "0.10", signal_price=D("1.08321")))
    assert report.fill_price == DEFAULT_PRICES["EURUSD"]


async def test_configured_prices_override_the_defaults() -> None:
    ids = Ids()
    conn = await started(paper(prices={"EURUSD": D("1.10000")}))
    assert conn.last_price("EURUSD") == D("1.10000")
    report = await conn.submit(opening(ids, "EURUSD", Side.BUY, "0.10"))
    assert report.fill_price == D("1.10000")
    assert conn.last_price("NOPE") is None


# --------------------------------------------------------------------------- pending orders, SL/TP


async def test_pending_limit_fills_when_the_price_crosses_it() -> None:
    ids = Ids()
    conn = await started(paper())
    intent = opening(ids, "EURUSD", Side.BUY, "0.10", order_type=OrderType.LIMIT, price=D("1.08000"))
    accepted = await conn.submit(intent)
    assert accepted.status is ReportStatus.ACCEPTED and accepted.position_id is None
    assert await conn.positions() == []

    conn.sim.set_price("EURUSD", D("1.08100"))
    assert await conn.positions() == []
    conn.sim.set_price("EURUSD", D("1.07990"))

    [position] = await conn.positions()
    assert (position.volume, position.open_price) == (D("0.10"), D("1.07990"))
    found = await conn.order_by_client_id(intent.client_order_id)
    assert found is not None
    assert (found.status, found.position_id) == (ReportStatus.FILLED, position.position_id)
    assert found.filled_volume == D("0.10")
    assert conn.sim.pending_orders() == []


async def test_a_partly_filled_order_rests_and_its_fills_make_one_position() -> None:
    ids = Ids()
    conn = await started(paper())
    first = opening(ids, "EURUSD", Side.BUY, "0.10", order_type=OrderType.LIMIT, price=D("1.08000"))
    order = await conn.submit(first)
    conn.sim.fill_part(order.venue_order_id or "", D("0.04"))
    found = await conn.order_by_client_id(first.client_order_id)
    assert found is not None and (found.status, found.filled_volume) == (ReportStatus.ACCEPTED, D("0.04"))
    conn.sim.set_price("EURUSD", D("1.07990"))  # the rest fills lower, into the same position
    [position] = await conn.positions()
    assert position.volume == D("0.10") and position.open_price == D("1.079940")
    found = await conn.order_by_client_id(first.client_order_id)
    assert found is not None and (found.status, found.filled_volume) == (ReportStatus.FILLED, D("0.10"))

    second = opening(ids, "EURUSD", Side.SELL, "0.10", order_type=OrderType.LIMIT, price=D("1.09000"))
    order = await conn.submit(second)
    conn.sim.fill_part(order.venue_order_id or "", D("0.03"))
    cancel = OrderIntent(IntentKind.CANCEL, ids(), "EURUSD", Side.SELL, order_id=order.venue_order_id)
    await conn.submit(cancel)
    found = await conn.order_by_client_id(second.client_order_id)
    assert found is not None and (found.status, found.filled_volume) == (ReportStatus.CANCELED, D("0.03"))
    assert sorted(p.volume for p in await conn.positions()) == [D("0.03"), D("0.10")]
    with pytest.raises(ValueError):
        conn.sim.fill_part(order.venue_order_id or "", D("0.01"))  # no longer resting


async def test_pending_stop_fills_on_a_breakout_and_can_be_cancelled() -> None:
    ids = Ids()
    conn = await started(paper())
    stop = await conn.submit(opening(ids, "XAUUSD", Side.SELL, "0.10", order_type=OrderType.STOP, price=D("2390.00")))
    other = await conn.submit(opening(ids, "XAUUSD", Side.BUY, "0.10", order_type=OrderType.STOP, price=D("2420.00")))
    cancel = OrderIntent(
        kind=IntentKind.CANCEL, client_order_id=ids(), symbol="XAUUSD", side=Side.BUY, order_id=other.venue_order_id
    )
    cancelled = await conn.submit(cancel)
    assert cancelled.status is ReportStatus.CANCELED

    conn.sim.set_price("XAUUSD", D("2430.00"))
    assert await conn.positions() == []
    conn.sim.set_price("XAUUSD", D("2385.00"))
    [position] = await conn.positions()
    assert (position.side, position.open_price) == (Side.SELL, D("2385.00"))
    assert stop.status is ReportStatus.ACCEPTED

    with pytest.raises(VenueRejected) as raised:
        await conn.submit(OrderIntent(IntentKind.CANCEL, ids(), "XAUUSD", Side.BUY, order_id=other.venue_order_id))
    assert raised.value.code == parse.ORDER_NOT_FOUND


async def test_pending_order_without_margin_at_trigger_is_cancelled_with_a_reason() -> None:
    ids = Ids()
    conn = await started(paper(balance=D("1500")))
    intent = opening(ids, "EURUSD", Side.BUY, "1.00", order_type=OrderType.LIMIT, price=D("1.08000"))
    await conn.submit(intent)
    await conn.submit(opening(ids, "EURUSD", Side.BUY, "1.00"))
    conn.sim.set_price("EURUSD", D("1.08000"))
    order = conn.sim.order(intent.client_order_id)
    assert order is not None and order.status is ReportStatus.CANCELED and "margin" in order.reason
    assert len(await conn.positions()) == 1


async def test_modify_keeps_on_none_removes_on_zero_and_stop_loss_closes() -> None:
    ids = Ids()
    conn = await started(paper(balance=D("10000")))
    opened = await conn.submit(opening(ids, "EURUSD", Side.BUY, "1.00", sl=D("1.08000"), tp=D("1.09000")))

    def modify(**kw: Any) -> OrderIntent:
        return OrderIntent(IntentKind.MODIFY, ids(), "EURUSD", Side.BUY, position_id=opened.position_id, **kw)

    report = await conn.submit(modify(sl=D("1.08200")))
    assert report.status is ReportStatus.MODIFIED and report.position_id == opened.position_id
    [position] = await conn.positions()
    assert (position.sl, position.tp) == (D("1.08200"), D("1.09000"))

    await conn.submit(modify(tp=D(0)))
    [position] = await conn.positions()
    assert (position.sl, position.tp) == (D("1.08200"), None)

    with pytest.raises(VenueRejected) as raised:
        await conn.submit(modify(sl=D("1.08600")))
    assert raised.value.code == parse.INVALID_STOPS

    conn.sim.set_price("EURUSD", D("1.08300"))
    assert len(await conn.positions()) == 1
    conn.sim.set_price("EURUSD", D("1.08150"))
    assert await conn.positions() == []
    assert conn.account().balance == D("9650.00")


# --------------------------------------------------------------------------- connector surface


async def test_zero_latency_never_yields_and_latency_does() -> None:
    ids = Ids()
    for latency, expect_yield in ((0, False), (200, True)):
        conn = await started(paper(latency_us=latency))
        ran = asyncio.Event()
        waiter = asyncio.get_running_loop().call_soon(ran.set)
        report = await conn.submit(opening(ids, "EURUSD", Side.BUY, "0.10"))
        assert ran.is_set() is expect_yield
        assert report.t_wire_ns <= report.t_ack_ns
        found = await conn.order_by_client_id(report.client_order_id)
        assert found == report
        waiter.cancel()


async def test_state_listener_and_venue_symbols() -> None:
    seen: list[tuple[str, ConnectorState]] = []
    conn = PaperConnector(PaperConfig(name="pa"), on_state=lambda name, state, _reason: seen.append((name, state)))
    assert conn.state is ConnectorState.DOWN
    await conn.start()
    await conn.stop()
    assert seen == [("pa", ConnectorState.UP), ("pa", ConnectorState.DOWN)]
    assert conn.venue == "paper"
    assert conn.venue_symbol("EURUSD") == "EURUSD"
    assert conn.venue_symbol("BTCUSDT-PERP") == "BTCUSDT"
    assert conn.venue_symbol("DOGEUSDT-PERP") is None


def test_builtin_instruments_carry_real_steps() -> None:
    eur, jpy, xau, btc = (BUILTIN_INSTRUMENTS[s] for s in ("EURUSD", "USDJPY", "XAUUSD", "BTCUSDT"))
    assert (eur.volume_step, eur.min_volume, eur.max_volume, eur.contract_size) == (
        D("0.01"), D("0.01"), D("100"), D("100000"),
    )  # fmt: skip
    assert (eur.tick_size, eur.pip, jpy.tick_size, jpy.pip) == (D("0.00001"), D("0.0001"), D("0.001"), D("0.01"))
    assert (xau.contract_size, xau.tick_size, xau.pip) == (D("100"), D("0.01"), D("0.1"))
    assert (btc.volume_step, btc.tick_size, btc.min_notional) == (D("0.001"), D("0.1"), D("5"))
    assert jpy.quote_value == (1 / DEFAULT_PRICES["USDJPY"]).quantize(D("1e-12"))
    assert eur.quote_value == 1
    assert set(BUILTIN_INSTRUMENTS) == set(DEFAULT_PRICES)
    for symbol, price in DEFAULT_PRICES.items():
        assert price % BUILTIN_INSTRUMENTS[symbol].tick_size == 0, symbol


def test_every_code_maps_to_a_rejection_with_a_reason() -> None:
    for code in parse.ERRORS:
        error = parse.venue_error(code)
        assert isinstance(error, VenueRejected)
        assert error.code == code and error.reason == parse.REASONS[code]
    error = parse.venue_error(parse.NO_MONEY, "needs 5 USD")
    assert error.reason == "needs 5 USD"
    assert isinstance(parse.venue_error("SOMETHING_NEW"), VenueRejected)


# --------------------------------------------------------------------------- configuration


def test_config_from_mapping_reads_a_full_account() -> None:
    config = PaperConfig.from_mapping(
        "paper-a",
        {
            "venue": "paper",
            "balance": "2500.50",
            "leverage": 30,
            "mode": "netting",
            "fill": "signal",
            "latency_us": 150,
            "prices": {"EURUSD": "1.09000", "EURGBP": 0.855},
            "instruments": {
                "EURUSD": {"min_volume": "0.10"},
                "EURGBP": {"volume_step": "0.01", "min_volume": "0.01", "tick_size": "0.00001", "quote_value": "1.27"},
            },
        },
    )
    assert (config.balance, config.leverage, config.mode, config.fill, config.latency_us) == (
        D("2500.50"), D(30), "netting", "signal", 150,
    )  # fmt: skip
    assert config.prices == {"EURUSD": D("1.09000"), "EURGBP": D("0.855")}
    eur = config.all_instruments()["EURUSD"]
    assert (eur.min_volume, eur.volume_step) == (D("0.10"), D("0.01"))
    assert config.all_instruments()["EURGBP"].quote_value == D("1.27")
    venue = PaperVenue(config)
    assert venue.price("EURGBP") == D("0.855")


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"mode": "both"}, "accounts.paper-a.mode"),
        ({"fill": "best"}, "accounts.paper-a.fill"),
        ({"balance": "lots"}, "accounts.paper-a.balance"),
        ({"balance": -1}, "accounts.paper-a.balance"),
        ({"leverage": 0}, "accounts.paper-a.leverage"),
        ({"leverage": True}, "accounts.paper-a.leverage"),
        ({"currency": "EUR"}, "accounts.paper-a.currency"),
        ({"latency_us": 1.5}, "accounts.paper-a.latency_us"),
        ({"latency_us": -1}, "accounts.paper-a.latency_us"),
        ({"leverge": 10}, "accounts.paper-a.leverge"),
        ({"prices": {"EURUSD": "nan"}}, "accounts.paper-a.prices.EURUSD"),
        ({"prices": ["EURUSD"]}, "accounts.paper-a.prices"),
        ({"instruments": {"EURUSD": {"lot": "1"}}}, "accounts.paper-a.instruments.EURUSD.lot"),
        ({"instruments": {"EURUSD": {"volume_step": "0"}}}, "accounts.paper-a.instruments.EURUSD.volume_step"),
        ({"instruments": {"NEW1": {"volume_step": "1"}}}, "accounts.paper-a.instruments.NEW1"),
        (
            {"instruments": {"NEW1": {"volume_step": "1", "min_volume": "1", "tick_size": "1"}}},
            "accounts.paper-a.prices.NEW1",
        ),
    ],
)
def test_config_errors_name_the_key_path(data: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as raised:
        PaperConfig.from_mapping("paper-a", data)
    assert raised.value.path == path


def test_config_rejects_bad_values_built_directly() -> None:
    with pytest.raises(ValueError):
        PaperConfig(name="x", mode="both")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        PaperConfig(name="x", leverage=D(0))


# --------------------------------------------------------------------------- properties

SYMBOLS = ("EURUSD", "USDJPY", "XAUUSD", "BTCUSDT")

operations = st.lists(
    st.one_of(
        st.tuples(st.just("open"), st.sampled_from(SYMBOLS), st.sampled_from(Side), st.integers(1, 300)),
        st.tuples(st.just("close"), st.integers(0, 20), st.integers(1, 300)),
        st.tuples(st.just("price"), st.sampled_from(SYMBOLS), st.integers(-3000, 3000)),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(mode=st.sampled_from(["netting", "hedging"]), ops=operations)
def test_any_sequence_keeps_the_books_consistent(mode: Mode, ops: list[tuple[Any, ...]]) -> None:
    venue = PaperVenue(PaperConfig(name="prop", mode=mode, balance=D("50000")))
    exposure = dict.fromkeys(SYMBOLS, D(0))
    n = 0
    for op in ops:
        n += 1
        cid = f"cp{n:020d}"
        before = (venue.balance, venue.positions())
        equity_before = venue.equity()
        try:
            if op[0] == "open":
                _, symbol, side, steps = op
                volume = steps * BUILTIN_INSTRUMENTS[symbol].volume_step
                venue.execute(OrderIntent(IntentKind.OPEN, cid, symbol, side, volume))
                exposure[symbol] += side.sign * volume
            elif op[0] == "close":
                _, index, steps = op
                positions = venue.positions()
                if not positions:
                    continue
                target = positions[index % len(positions)]
                volume = steps * BUILTIN_INSTRUMENTS[target.symbol].volume_step
                pid = target.position_id
                venue.execute(OrderIntent(IntentKind.CLOSE, cid, target.symbol, target.side, volume, position_id=pid))
                exposure[target.symbol] -= target.side.sign * volume
            else:
                _, symbol, ticks = op
                tick = BUILTIN_INSTRUMENTS[symbol].tick_size
                price = venue.price(symbol)
                assert price is not None
                venue.set_price(symbol, max(tick, price + ticks * tick))
        except PaperVenueError:
            assert (venue.balance, venue.positions()) == before

        positions = venue.positions()
        for position in positions:
            step = BUILTIN_INSTRUMENTS[position.symbol].volume_step
            assert position.volume > 0 and position.volume % step == 0
        for symbol in SYMBOLS:
            held = sum((p.side.sign * p.volume for p in positions if p.symbol == symbol), D(0))
            assert held == exposure[symbol]
        if mode == "netting":
            assert [p.position_id for p in positions] == [p.symbol for p in positions]
            assert len({p.symbol for p in positions}) == len(positions)
        assert venue.balance % D("0.01") == 0
        if op[0] != "price":
            # Trading at the market price moves value between balance and open P&L, never more
            # than the cent rounding of the (at most two) realizations.
            assert abs(venue.equity() - equity_before) <= D("0.01")

        unrealized = D(0)
        for p in positions:
            inst = BUILTIN_INSTRUMENTS[p.symbol]
            price = venue.price(p.symbol)
            assert price is not None
            value = inst.contract_size * quote_value_at(inst, price)
            unrealized += p.side.sign * (price - p.open_price) * p.volume * value
        # Netting averages are exact to 28 digits, so the sums may differ far below a cent.
        assert abs(venue.unrealized_pnl() - unrealized) < D("1e-12")
        assert venue.equity() == venue.balance + venue.unrealized_pnl()
