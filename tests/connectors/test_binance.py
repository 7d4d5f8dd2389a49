"""Binance USDⓈ-M connector against the loopback simulator (real HTTP and WebSocket)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import orjson
import pytest

from connectors.binance import auth, parse
from connectors.binance.config import BinanceConfig
from connectors.binance.connector import BinanceConnector
from connectors.binance.master import BinanceMaster
from core.connector import ConnectorState
from core.enums import Action, OrderType, Side, VolumeKind
from core.errors import ConfigError, OutcomeUnknown, RateLimited, TransientError, VenueRejected
from core.orders import IntentKind, OrderIntent, ReportStatus
from core.ratelimit import Limit, RateLimiter
from core.signal import Signal
from tests.connectors.now import outcome, refused_now, written_before_awaited
from tests.helpers import eventually, eventually_sync
from tests.venues.binance_sim import DEFAULT_API_KEY, DEFAULT_API_SECRET, BinanceSim

D = Decimal


@contextlib.asynccontextmanager
async def running(
    *, hedge: bool = False, sim_hedge: bool | None = None, secret: str = DEFAULT_API_SECRET, **config: Any
) -> AsyncIterator[tuple[BinanceSim, BinanceConnector]]:
    sim = BinanceSim(hedge_mode=hedge if sim_hedge is None else sim_hedge)
    await sim.start()
    try:
        connector = BinanceConnector(
            BinanceConfig(
                name="bn1",
                api_key=DEFAULT_API_KEY,
                api_secret=secret,
                base_url=sim.base_url,
                ws_url=sim.ws_url,
                stream_url=sim.stream_url,
                hedge_mode=hedge,
                **config,
            )
        )
        await connector.start()
        try:
            yield sim, connector
        finally:
            await connector.stop()
    finally:
        await sim.stop()


_seq = iter(range(10**9))


def cid() -> str:
    return f"cp{next(_seq):020d}"


def open_intent(volume: str, side: Side = Side.BUY, symbol: str = "BTCUSDT", **kw: Any) -> OrderIntent:
    return OrderIntent(IntentKind.OPEN, kw.pop("client_order_id", cid()), symbol, side, D(volume), **kw)


def close_intent(volume: str, side: Side = Side.BUY, symbol: str = "BTCUSDT", **kw: Any) -> OrderIntent:
    return OrderIntent(IntentKind.CLOSE, cid(), symbol, side, D(volume), **kw)


# -- signing (pure) -------------------------------------------------------------------------------

VECTOR_KEY = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83"
VECTOR_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
VECTOR_STRING = (
    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943"
)
VECTOR_DIGEST = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"


def test_signature_matches_published_vector() -> None:
    assert auth.sign(VECTOR_SECRET, VECTOR_STRING) == VECTOR_DIGEST


def test_signed_query_signs_the_bytes_sent_with_signature_last() -> None:
    params = [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("quantity", "1"), ("price", "9000")]
    params.append(("timeInForce", "GTC"))
    query = auth.signed_query(params, VECTOR_SECRET, 1591702613943, 5000)
    assert query == f"{VECTOR_STRING}&signature={VECTOR_DIGEST}"
    reordered = auth.signed_query(list(reversed(params)), VECTOR_SECRET, 1591702613943, 5000)
    assert not reordered.endswith(VECTOR_DIGEST)


def test_ws_signature_covers_sorted_params() -> None:
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.010"}
    signed = auth.sign_ws(dict(params), VECTOR_KEY, VECTOR_SECRET, 1700000000000, 5000)
    expected = auth.sign(
        VECTOR_SECRET,
        f"apiKey={VECTOR_KEY}&quantity=0.010&recvWindow=5000&side=BUY&symbol=BTCUSDT&timestamp=1700000000000&type=MARKET",
    )
    assert signed["signature"] == expected


# -- error mapping (pure) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, -1021, TransientError),
        (400, -1022, ConfigError),
        (401, -2015, ConfigError),
        (400, -1111, VenueRejected),
        (400, -2019, VenueRejected),
        (400, -2022, VenueRejected),
        (400, -4116, VenueRejected),
        (400, -4164, VenueRejected),
        (400, -4023, VenueRejected),
        (400, -9999, VenueRejected),
        (503, None, OutcomeUnknown),
        (503, -1000, OutcomeUnknown),
        (400, -1007, OutcomeUnknown),
        (429, -1003, RateLimited),
        (400, -1015, RateLimited),
        (418, -1003, parse.Banned),
    ],
)
def test_error_codes_map_to_typed_errors(status: int, code: int | None, kind: type[Exception]) -> None:
    error = parse.venue_error(status, code, "text is never read", account="bn1", retry_after=7.0)
    assert type(error) is kind
    if isinstance(error, RateLimited):
        assert error.retry_after == 7.0
    if isinstance(error, ConfigError):
        assert error.path.startswith("accounts.bn1.")


def test_unknown_outcome_before_send_is_transient() -> None:
    assert isinstance(parse.venue_error(503, None, "", sent=False), TransientError)


# -- config ---------------------------------------------------------------------------------------


def test_config_from_mapping_names_key_paths_and_hides_secrets() -> None:
    config = BinanceConfig.from_mapping("main", {"api_key": "K" * 10, "api_secret": "S" * 10, "hedge_mode": True})
    assert config.hedge_mode and config.base_url == "https://fapi.binance.com"
    assert "SSSSSSSSSS" not in repr(config) and "KKKKKKKKKK" not in repr(config)
    demo = BinanceConfig.from_mapping("d", {"api_key": "k", "api_secret": "s", "demo": True})
    assert demo.base_url == "https://demo-fapi.binance.com"
    with pytest.raises(ConfigError) as missing:
        BinanceConfig.from_mapping("main", {"api_key": "k"})
    assert missing.value.path == "accounts.main.api_secret"
    with pytest.raises(ConfigError) as bad_url:
        BinanceConfig.from_mapping("main", {"api_key": "k", "api_secret": "s", "ws_url": "http://x"})
    assert bad_url.value.path == "accounts.main.ws_url"
    with pytest.raises(ConfigError) as window:
        BinanceConfig.from_mapping("main", {"api_key": "k", "api_secret": "s", "recv_window": 70000})
    assert window.value.path == "accounts.main.recv_window"
    with pytest.raises(ConfigError) as typo:
        BinanceConfig.from_mapping("main", {"api_key": "k", "api_secret": "s", "hedge": True})
    assert typo.value.path == "accounts.main.hedge"


# -- against the simulator ------------------------------------------------------------------------


async def test_wrong_secret_is_refused_with_the_venues_code() -> None:
    with pytest.raises(ConfigError) as caught:
        async with running(secret="0" * 64):
            pass
    assert caught.value.path == "accounts.bn1.api_secret"
    assert "-1022" in str(caught.value)


async def test_position_mode_mismatch_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        async with running(hedge=False, sim_hedge=True):
            pass
    assert caught.value.path == "accounts.bn1.hedge_mode"


async def test_start_loads_instruments_account_and_prices() -> None:
    async with running() as (sim, bn):
        assert bn.state is ConnectorState.UP
        assert bn.venue_symbol("BTCUSDT-PERP") == "BTCUSDT"
        assert bn.venue_symbol("BTC/USDT:USDT") == "BTCUSDT"
        assert bn.venue_symbol("NOPEUSDT") is None
        btc = bn.instrument("BTCUSDT")
        assert btc is not None
        assert (btc.volume_step, btc.min_volume, btc.tick_size) == (D("0.001"), D("0.001"), D("0.1"))
        assert btc.max_volume == D("120")  # the market-order maximum is the smaller one
        assert btc.min_notional == D("100")
        assert bn.account().balance == D("100000")
        assert bn.last_price("BTCUSDT") == D("60000")
        names = {t.get_name() for t in asyncio.all_tasks()}
        assert "binance-instruments:bn1" in names and "binance-account:bn1" in names
    names = {t.get_name() for t in asyncio.all_tasks() if not t.done()}
    assert "binance-instruments:bn1" not in names


async def test_market_open_partial_close_and_full_close_over_ws() -> None:
    async with running() as (sim, bn):
        opened = await bn.submit(open_intent("0.010"))
        assert opened.status is ReportStatus.FILLED
        assert (opened.filled_volume, opened.fill_price) == (D("0.01"), D("60000"))
        assert opened.position_id == "BTCUSDT:BOTH"
        assert 0 < opened.t_wire_ns <= opened.t_ack_ns
        assert sim.order_requests == {"rest": 0, "ws": 1}
        [pos] = await bn.positions()
        assert (pos.side, pos.volume, pos.open_price) == (Side.BUY, D("0.01"), D("60000"))

        part = await bn.submit(close_intent("0.004", position_id=pos.position_id))
        assert part.status is ReportStatus.CLOSED and part.filled_volume == D("0.004")
        [pos] = await bn.positions()
        assert pos.volume == D("0.006")
        closing = sim.orders[int(part.venue_order_id or 0)]
        assert (closing["side"], closing["reduceOnly"]) == ("SELL", True)

        await bn.submit(close_intent("0", position_id=pos.position_id))
        assert await bn.positions() == []


async def test_sell_side_open_and_close_one_way() -> None:
    async with running() as (sim, bn):
        await bn.submit(open_intent("0.5", Side.SELL, "ETHUSDT"))
        [pos] = await bn.positions()
        assert (pos.side, pos.volume) == (Side.SELL, D("0.5"))
        report = await bn.submit(close_intent("0", Side.SELL, "ETHUSDT"))
        assert report.filled_volume == D("0.5")
        assert sim.orders[int(report.venue_order_id or 0)]["side"] == "BUY"
        assert await bn.positions() == []


async def test_hedge_mode_uses_position_side_without_reduce_only() -> None:
    async with running(hedge=True) as (sim, bn):
        assert bn.capabilities.hedging
        await bn.submit(open_intent("0.010", Side.BUY))
        await bn.submit(open_intent("0.020", Side.SELL))
        positions = {p.position_id: p for p in await bn.positions()}
        assert set(positions) == {"BTCUSDT:LONG", "BTCUSDT:SHORT"}
        assert positions["BTCUSDT:SHORT"].volume == D("0.02")
        report = await bn.submit(close_intent("0", Side.BUY, position_id="BTCUSDT:LONG"))
        order = sim.orders[int(report.venue_order_id or 0)]
        assert (order["side"], order["positionSide"]) == ("SELL", "LONG")
        assert [p.position_id for p in await bn.positions()] == ["BTCUSDT:SHORT"]
        assert -1106 not in sim.refused


async def test_rounding_to_the_instrument_and_filter_error_codes() -> None:
    async with running() as (sim, bn):
        btc = bn.instrument("BTCUSDT")
        assert btc is not None
        volume = btc.quantity(D("0.01799")).value
        assert str(volume) == "0.017"
        assert (await bn.submit(open_intent(str(volume)))).filled_volume == D("0.017")

        for intent, code in [
            (open_intent("0.0001"), -4023),  # off the 0.001 step: refused here, before the wire
            (open_intent("0.07", symbol="SOLUSDT"), -4023),  # off the 0.05 step
        ]:
            with pytest.raises(VenueRejected) as caught:
                await bn.submit(intent)
            assert caught.value.code == code, intent
        assert len(sim.arrivals) == 1

        instruments, bn._instruments = bn._instruments, {}  # not loaded: the venue's own filters refuse
        for intent, code in [
            (open_intent("0.0001"), -1111),  # finer than the quantity precision
            (open_intent("0.07", symbol="SOLUSDT"), -4023),
        ]:
            with pytest.raises(VenueRejected) as caught:
                await bn.submit(intent)
            assert caught.value.code == code, intent
        assert len(sim.arrivals) == 3
        bn._instruments = instruments

        cases = [
            (open_intent("0.001"), -4164),  # 60 USDT below the 100 USDT minimum notional
            (open_intent("100"), -2019),  # 6M notional on 100k at 20x
            (close_intent("0.01", symbol="ETHUSDT"), -2022),  # nothing to reduce
            (open_intent("0.01", order_type=OrderType.LIMIT, price=D("59000.05")), -4014),
        ]
        for intent, code in cases:
            with pytest.raises(VenueRejected) as caught:
                await bn.submit(intent)
            assert caught.value.code == code, intent


async def test_duplicate_client_id_is_refused_by_the_venue() -> None:
    async with running() as (sim, bn):
        intent = open_intent("0.010")
        await bn.submit(intent)
        with pytest.raises(VenueRejected) as caught:
            await bn.submit(intent)
        assert caught.value.code == parse.DUPLICATE_CLIENT_ID
        assert sum(1 for o in sim.orders.values() if o["clientOrderId"] == intent.client_order_id) == 1
        [pos] = await bn.positions()
        assert pos.volume == D("0.01")


@pytest.mark.parametrize("ws_orders", [True, False])
async def test_connection_dropped_after_send_is_unknown_then_reconciled(ws_orders: bool) -> None:
    async with running(ws_orders=ws_orders) as (sim, bn):
        sim.faults.drop_after_order = 1
        intent = open_intent("0.010")
        with pytest.raises(OutcomeUnknown):
            await bn.submit(intent)
        found = await bn.order_by_client_id(intent.client_order_id)
        assert found is not None and found.status is ReportStatus.FILLED
        assert found.filled_volume == D("0.01")
        # A blind resend is refused as a duplicate: the venue holds exactly one order.
        if ws_orders:
            await eventually(lambda: bn.client.ws_up)
        with pytest.raises(VenueRejected) as caught:
            await bn.submit(intent)
        assert caught.value.code == parse.DUPLICATE_CLIENT_ID
        assert [o["clientOrderId"] for o in sim.orders.values()] == [intent.client_order_id]


async def test_after_a_restart_a_close_is_found_on_the_symbol_it_was_sent_on() -> None:
    async with running() as (sim, bn):
        await bn.submit(open_intent("0.010"))
        close = close_intent("0.010")
        await bn.submit(close)
        assert await bn.positions() == []
        restarted = BinanceConnector(replace(bn.config, name="bn1-again"))
        await restarted.start()
        try:
            # No position and no memory of sending it: without the symbol it is looked for nowhere.
            assert await restarted.order_by_client_id(close.client_order_id) is None
            found = await restarted.order_by_client_id(close.client_order_id, "BTCUSDT")
            assert found is not None and found.filled_volume == D("0.01")
        finally:
            await restarted.stop()


async def test_5xx_is_unknown_and_reconciliation_finds_nothing() -> None:
    async with running(ws_orders=False) as (sim, bn):
        sim.faults.http_5xx = 1
        intent = open_intent("0.010")
        with pytest.raises(OutcomeUnknown):
            await bn.submit(intent)
        assert await bn.order_by_client_id(intent.client_order_id) is None
        assert (await bn.submit(intent)).status is ReportStatus.FILLED


async def test_429_and_418_answers() -> None:
    async with running() as (sim, bn):
        sim.faults.http_429 = 1
        with pytest.raises(RateLimited) as limited:
            await bn.submit(open_intent("0.010"))
        assert limited.value.retry_after > 5 and not isinstance(limited.value, parse.Banned)
        sim.faults.http_418 = 1
        with pytest.raises(parse.Banned):
            await bn.submit(open_intent("0.010"))
        before = dict(sim.order_requests)
        with pytest.raises(parse.Banned) as again:
            await bn.submit(open_intent("0.010"))
        assert again.value.retry_after > 0
        assert sim.order_requests == before  # refused locally while banned


async def test_reconnects_after_the_websocket_drops() -> None:
    states: list[ConnectorState] = []
    async with running() as (sim, bn):
        bn._listener = lambda name, state, reason: states.append(state)
        assert bn.client.ws is not None
        await sim.drop_ws_api()
        await eventually(lambda: bn.client.ws is not None and bn.client.ws.reconnects == 1 and bn.client.ws_up)
        assert states[-2:] == [ConnectorState.RECONNECTING, ConnectorState.UP]
        await bn.submit(open_intent("0.010"))
        assert sim.order_requests["ws"] == 1 and sim.order_requests["rest"] == 0


async def test_orders_fall_back_to_rest_when_the_websocket_is_down() -> None:
    async with running() as (sim, bn):
        assert bn.client.ws is not None
        await bn.client.ws.close()
        report = await bn.submit(open_intent("0.010"))
        assert report.status is ReportStatus.FILLED and report.t_wire_ns > 0
        assert sim.order_requests == {"rest": 1, "ws": 0}


async def test_rate_limiter_blocks_before_the_venue_refuses() -> None:
    async with running() as (sim, bn):
        reports = await asyncio.gather(*(bn.submit(open_intent("0.002")) for _ in range(300)))
        assert len(reports) == 300
        with pytest.raises(RateLimited) as caught:
            await bn.submit(open_intent("0.002"))
        assert caught.value.code == "local" and 0 < caught.value.retry_after <= 10
        assert len(sim.orders) == 300 and -1015 not in sim.refused


@pytest.mark.parametrize("skew_ms", [30_000, -30_000])
async def test_clock_offset_is_measured_and_applied(skew_ms: int) -> None:
    sim = BinanceSim()
    sim.faults.skew_ms = skew_ms
    await sim.start()
    try:
        config = BinanceConfig("bn1", DEFAULT_API_KEY, DEFAULT_API_SECRET, sim.base_url, sim.ws_url, sim.stream_url)
        bn = BinanceConnector(config)
        await bn.start()
        try:
            assert abs(bn.client.offset_ms - skew_ms) < 1000
            assert (await bn.submit(open_intent("0.010"))).status is ReportStatus.FILLED
            bn.client.offset_ms = 0  # without the offset the venue refuses the timestamp
            with pytest.raises(TransientError) as caught:
                await bn.submit(open_intent("0.010"))
            assert caught.value.code == -1021
            await eventually(lambda: abs(bn.client.offset_ms - skew_ms) < 1000)  # resynced after -1021
        finally:
            await bn.stop()
    finally:
        await sim.stop()


async def test_stop_loss_take_profit_modify_and_trigger() -> None:
    async with running() as (sim, bn):
        opened = await bn.submit(open_intent("0.010", sl=D("59000"), tp=D("62000")))
        [pos] = await bn.positions()
        assert (pos.sl, pos.tp) == (D("59000"), D("62000"))
        modified = await bn.submit(
            OrderIntent(IntentKind.MODIFY, cid(), "BTCUSDT", Side.BUY, sl=D("59500"), position_id=opened.position_id)
        )
        assert modified.status is ReportStatus.MODIFIED
        [pos] = await bn.positions()
        assert (pos.sl, pos.tp) == (D("59500"), D("62000"))
        assert sum(1 for a in sim.algos.values() if a["algoStatus"] == "NEW") == 2
        sim.set_price("BTCUSDT", D("59400"))
        assert await bn.positions() == []
        assert all(a["algoStatus"] != "NEW" for a in sim.algos.values())


async def test_limit_and_stop_entries_and_cancel() -> None:
    async with running() as (sim, bn):
        limit = await bn.submit(open_intent("0.010", order_type=OrderType.LIMIT, price=D("58000")))
        assert limit.status is ReportStatus.ACCEPTED and limit.filled_volume == 0
        stop = await bn.submit(open_intent("0.010", order_type=OrderType.STOP, price=D("61000")))
        assert stop.status is ReportStatus.ACCEPTED and (stop.venue_order_id or "").startswith("algo:")
        for report in (limit, stop):
            canceled = await bn.submit(
                OrderIntent(IntentKind.CANCEL, cid(), "BTCUSDT", Side.BUY, order_id=report.venue_order_id)
            )
            assert canceled.status is ReportStatus.CANCELED
        assert sim.orders[int(limit.venue_order_id or 0)]["status"] == "CANCELED"
        found = await bn.order_by_client_id(stop.client_order_id)
        assert found is not None and found.status is ReportStatus.CANCELED


# -- submit_now: the order on the wire before the call returns ------------------------------------


@pytest.mark.parametrize(
    ("order_type", "price", "status", "filled"),
    [
        (OrderType.MARKET, None, ReportStatus.FILLED, D("0.01")),
        (OrderType.LIMIT, D("58000"), ReportStatus.ACCEPTED, D("0")),
    ],
    ids=["market", "limit"],
)
async def test_submit_now_writes_the_order_before_returning_and_reports_as_submit_does(
    order_type: OrderType, price: Decimal | None, status: ReportStatus, filled: Decimal
) -> None:
    async with running() as (sim, bn):
        intent = open_intent("0.010", order_type=order_type, price=price)
        report = await written_before_awaited(bn.submit_now(intent), lambda: sim.arrivals)
        [arrival] = sim.arrivals
        assert (report.client_order_id, report.status, report.filled_volume) == (intent.client_order_id, status, filled)
        assert arrival["client_order_id"] == intent.client_order_id
        assert 0 < report.t_wire_ns <= arrival["arrived_ns"] <= report.t_ack_ns
        assert sim.order_requests == {"rest": 0, "ws": 1}
        # The same order through submit, under another id, gives the same report.
        again = await bn.submit(open_intent("0.010", order_type=order_type, price=price))
        assert outcome(again) == outcome(report)


async def test_submit_now_places_stop_loss_and_take_profit_after_the_entry() -> None:
    async with running() as (sim, bn):
        intent = open_intent("0.010", sl=D("59000"), tp=D("62000"))
        sent = bn.submit_now(intent)
        # The entry is on the wire; its protection waits for the entry's answer.
        report = await written_before_awaited(sent, lambda: sim.arrivals and not sim.algos)
        assert report.status is ReportStatus.FILLED and report.client_order_id == intent.client_order_id
        assert sorted(a["clientAlgoId"] for a in sim.algos.values()) == [
            f"{intent.client_order_id}-sl",
            f"{intent.client_order_id}-tp",
        ]
        [pos] = await bn.positions()
        assert (pos.volume, pos.sl, pos.tp) == (D("0.01"), D("59000"), D("62000"))


async def test_submit_now_raises_what_comes_before_the_send_and_sends_nothing() -> None:
    async with running() as (sim, bn):
        assert refused_now(bn, open_intent("0.010", symbol="WIDGETUSDT")) == "unknown_symbol"
        assert refused_now(bn, open_intent("0.010", order_type=OrderType.LIMIT)) == "no_price"
        bn.client.order_limiter = RateLimiter((Limit(1, 60.0, "one order a minute"),))
        await written_before_awaited(bn.submit_now(open_intent("0.010")), lambda: sim.arrivals)
        with pytest.raises(RateLimited) as limited:
            bn.submit_now(open_intent("0.010"))
        assert limited.value.code == "local"
        assert len(sim.arrivals) == 1 and sim.order_requests == {"rest": 0, "ws": 1}


async def test_sizes_binance_would_refuse_are_refused_before_the_wire_with_its_codes() -> None:
    async with running() as (sim, bn):
        assert refused_now(bn, open_intent("0.07", symbol="SOLUSDT")) == -4023
        with pytest.raises(VenueRejected) as off_step:
            await bn.submit(open_intent("0.07", symbol="SOLUSDT"))
        assert off_step.value.code == -4023
        assert "0.07 SOLUSDT is not a multiple of the step 0.05" in str(off_step.value)
        btc = bn.instrument("BTCUSDT")
        assert btc is not None and btc.max_volume == D("120")  # MARKET_LOT_SIZE's maximum
        assert refused_now(bn, open_intent("120.001")) == -4005
        bn._instruments["BTCUSDT"] = dataclasses.replace(btc, min_volume=D("0.005"))
        assert refused_now(bn, open_intent("0.004")) == -4004
        assert sim.arrivals == [] and sim.orders == {}
        assert sim.order_requests == {"rest": 0, "ws": 0}
        # MARKET_LOT_SIZE's maximum binds market orders only: a limit order's size is the venue's to judge.
        big_limit = open_intent("120.001", order_type=OrderType.LIMIT, price=D("50000"))
        with pytest.raises(VenueRejected) as by_the_venue:
            await written_before_awaited(bn.submit_now(big_limit), lambda: sim.arrivals)
        assert by_the_venue.value.code != -4005


async def test_a_websocket_answer_of_the_wrong_shape_is_an_unknown_outcome_and_codes_come_as_numbers() -> None:
    async with running() as (_sim, bn):
        with pytest.raises(OutcomeUnknown):
            bn.client._ws_result({"status": 200, "result": [{"orderId": 1}]}, 1, 2)
        with pytest.raises(VenueRejected) as rejected:
            bn.client._ws_result({"status": 400, "error": {"code": "-4023", "msg": "step"}}, 1, 2)
        assert rejected.value.code == -4023
        with pytest.raises(VenueRejected) as unnamed:
            bn.client._ws_result({"status": 400, "error": "bad"}, 1, 2)
        assert unnamed.value.code == 400  # the HTTP status stands in for a missing code


async def test_submit_now_leaves_to_submit_what_it_cannot_write_at_once() -> None:
    async with running() as (sim, bn):
        assert bn.submit_now(close_intent("0.010")) is None
        assert bn.submit_now(open_intent("0.010", order_type=OrderType.STOP, price=D("61000"))) is None
        assert bn.client.ws is not None
        await bn.client.ws.close()
        assert bn.submit_now(open_intent("0.010")) is None
        assert sim.arrivals == []
        assert (await bn.submit(open_intent("0.010"))).status is ReportStatus.FILLED
        assert sim.order_requests == {"rest": 1, "ws": 0}
    async with running(ws_orders=False) as (sim, bn):
        assert bn.submit_now(open_intent("0.010")) is None


async def test_without_a_reachable_transport_orders_go_through_aiohttps_writer() -> None:
    async with running() as (sim, bn):
        assert bn.client.ws is not None
        bn.client.ws._frames = None  # as if FrameWriter.of could not reach the transport
        assert bn.submit_now(open_intent("0.010")) is None
        report = await bn.submit(open_intent("0.010"))
        assert report.status is ReportStatus.FILLED and report.t_wire_ns > 0
        assert sim.order_requests == {"rest": 0, "ws": 1}


async def test_account_equity_follows_the_venue() -> None:
    async with running(account_refresh=0.05) as (sim, bn):
        await bn.submit(open_intent("1"))
        sim.set_price("BTCUSDT", D("61000"))
        await eventually(lambda: bn.account().equity == D("101000"))
        assert bn.account().balance == D("100000") and bn.account().open_positions == 1
        assert bn.last_price("BTCUSDT") == D("61000")


def test_simulator_runs_as_a_process_and_stamps_arrivals() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.venues.binance_sim", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        base = f"http://127.0.0.1:{port}"

        def post(path: str, body: dict[str, Any]) -> Any:
            req = urllib.request.Request(f"{base}{path}", data=orjson.dumps(body), method="POST")
            with urllib.request.urlopen(req, timeout=5) as resp:
                return orjson.loads(resp.read())

        assert post("/__sim/price", {"symbol": "BTCUSDT", "price": "65000"})["price"] == "65000"
        assert post("/__sim/fault", {"latency_ms": 1})["latency_ms"] == 1
        with urllib.request.urlopen(f"{base}/fapi/v1/time", timeout=5) as resp:
            server_time = orjson.loads(resp.read())["serverTime"]
        query = auth.signed_query(
            [
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "MARKET"),
                ("quantity", "0.010"),
                ("newClientOrderId", "cpx1"),
            ],
            DEFAULT_API_SECRET,
            server_time,
            5000,
        )
        req = urllib.request.Request(
            f"{base}/fapi/v1/order?{query}", method="POST", headers={"X-MBX-APIKEY": DEFAULT_API_KEY}
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert orjson.loads(resp.read())["clientOrderId"] == "cpx1"

        def arrivals() -> list[dict[str, Any]]:
            with urllib.request.urlopen(f"{base}/__sim/orders", timeout=5) as resp:
                return list(orjson.loads(resp.read()))

        [arrival] = eventually_sync(arrivals)
        assert arrival["client_order_id"] == "cpx1" and arrival["qty"] == "0.010" and arrival["arrived_ns"] > 0
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()


async def test_master_account_fills_become_signals() -> None:
    signals: list[Signal] = []
    async with running() as (sim, bn):
        await bn.submit(open_intent("0.010", Side.SELL, "ETHUSDT"))  # held before the master starts
        master = BinanceMaster(bn.config, signals.append)
        await master.start()
        try:
            opened = await bn.submit(open_intent("0.010"))
            await bn.submit(close_intent("0.004", position_id="BTCUSDT:BOTH"))
            await bn.submit(close_intent("0.006", position_id="BTCUSDT:BOTH"))
            await bn.submit(close_intent("0.005", Side.SELL, "ETHUSDT"))
            await eventually(lambda: len(signals) == 4)
        finally:
            await master.stop()
    first, part, full, eth = signals
    assert (first.action, first.side, first.volume, first.volume_kind) == (
        Action.OPEN,
        Side.BUY,
        D("0.01"),
        VolumeKind.UNITS,
    )
    assert first.position_ref == "binance:bn1:BTCUSDT:BOTH"
    assert first.origin_id is not None and first.origin_id.startswith(f"{opened.venue_order_id}:")
    assert first.price == D("60000")
    assert (part.action, part.side, part.volume, part.volume_kind) == (
        Action.CLOSE_PART,
        Side.BUY,
        D("0.4"),
        VolumeKind.FRACTION,
    )
    assert full.action is Action.CLOSE and full.position_ref == first.position_ref
    assert (eth.action, eth.side, eth.volume) == (Action.CLOSE_PART, Side.SELL, D("0.5"))
    assert len({s.origin_id for s in signals}) == 4


def _levels(signal: Signal) -> tuple[Decimal | None, Decimal | None]:
    return (signal.sl.value if signal.sl else None, signal.tp.value if signal.tp else None)


async def test_master_stop_loss_and_take_profit_changes_become_modify_signals() -> None:
    signals: list[Signal] = []
    async with running() as (sim, bn):
        await bn.submit(open_intent("0.010", Side.SELL, "ETHUSDT", sl=D("4000")))  # held before the master starts
        master = BinanceMaster(bn.config, signals.append)
        await master.start()
        try:
            # Levels found at the start are recorded, not sent.
            assert master.levels.copied == {("ETHUSDT", "BOTH"): (D("4000"), None)}
            # Stop and target placed with the entry: close-position algo orders after its fill, one
            # each, so two modifies.
            await bn.submit(open_intent("0.010", sl=D("55000"), tp=D("70000")))
            await eventually(lambda: len(signals) == 3)
            # The stop moved (the old algo order canceled, a new one placed): one modify.
            move = OrderIntent(
                IntentKind.MODIFY, cid(), "BTCUSDT", Side.BUY, D(0), position_id="BTCUSDT:BOTH", sl=D("57000")
            )
            await bn.submit(move)
            await eventually(lambda: len(signals) == 4)
            # A conditional order that opens (no close-position, not reduce-only) is no level.
            await bn.submit(open_intent("0.010", order_type=OrderType.STOP, price=D("65000")))
            # Closing: the position's stops are canceled with it, and nothing is modified.
            await bn.submit(close_intent("0.010", position_id="BTCUSDT:BOTH"))
            await eventually(lambda: len(signals) == 5)
            await eventually(
                lambda: all(
                    a["algoStatus"] != "NEW"
                    for a in sim.algos.values()
                    if a["closePosition"] and a["symbol"] == "BTCUSDT"
                )
            )
        finally:
            await master.stop()
    opened, stop, first, moved, closed = signals
    assert opened.action is Action.OPEN
    assert stop.action is Action.MODIFY and _levels(stop) == (D("55000"), None)
    assert first.action is Action.MODIFY and _levels(first) == (D("55000"), D("70000"))
    assert (first.side, first.symbol, first.position_ref) == (Side.BUY, "BTCUSDT", opened.position_ref)
    assert moved.action is Action.MODIFY and _levels(moved) == (D("57000"), D("70000"))
    assert closed.action is Action.CLOSE
    assert ("BTCUSDT", "BOTH") not in master.levels.copied


async def test_hedge_mode_stops_trading_against_the_position_are_levels() -> None:
    signals: list[Signal] = []
    master = BinanceMaster(BinanceConfig(name="m", api_key="k", api_secret="s"), signals.append, source="m")
    master.positions = {("BTCUSDT", "LONG"): D("0.01"), ("BTCUSDT", "SHORT"): D("-0.02")}

    def event(aid: int, side: str, ps: str, kind: str, trigger: str) -> dict[str, Any]:
        return {"at": "CONDITIONAL", "aid": aid, "o": kind, "s": "BTCUSDT", "S": side, "ps": ps, "X": "NEW",
                "tp": trigger, "cp": False, "R": False}  # fmt: skip

    # No reduce-only flag in hedge mode: selling LONG and buying SHORT is what closes.
    (long_stop,) = await master.handle_algo(event(1, "SELL", "LONG", "STOP_MARKET", "55000"))
    (short_tp,) = await master.handle_algo(event(2, "BUY", "SHORT", "TAKE_PROFIT_MARKET", "50000"))
    # Buying on LONG opens more: a stop entry, not a level; nor is a trigger of zero.
    assert await master.handle_algo(event(3, "BUY", "LONG", "STOP_MARKET", "70000")) == []
    assert await master.handle_algo(event(4, "SELL", "LONG", "STOP_MARKET", "0.00")) == []
    assert (long_stop.side, long_stop.position_ref, _levels(long_stop)) == (
        Side.BUY,
        "binance:m:BTCUSDT:LONG",
        (D("55000"), None),
    )
    assert (short_tp.side, short_tp.position_ref, _levels(short_tp)) == (
        Side.SELL,
        "binance:m:BTCUSDT:SHORT",
        (None, D("50000")),
    )


async def test_one_way_flip_copies_the_new_sides_stop_even_when_it_is_pushed_before_the_fill() -> None:
    signals: list[Signal] = []
    master = BinanceMaster(BinanceConfig(name="m", api_key="k", api_secret="s"), signals.append, source="m")
    master.positions = {("BTCUSDT", "BOTH"): D("0.01")}

    def algo(aid: int, side: str, trigger: str) -> dict[str, Any]:
        return {"e": "ALGO_UPDATE", "o": {"at": "CONDITIONAL", "aid": aid, "o": "STOP_MARKET", "s": "BTCUSDT",
                "S": side, "ps": "BOTH", "X": "NEW", "tp": trigger, "cp": True, "R": False}}  # fmt: skip

    (long_stop,) = await master.handle(algo(1, "SELL", "55000"))
    # The flip's stop (a buy: it guards the short to come) arrives first: not the long's level.
    assert await master.handle(algo(2, "BUY", "70000")) == []
    sell = {"s": "BTCUSDT", "S": "SELL", "l": "0.03", "L": "65000", "i": 9, "t": 1, "x": "TRADE", "ps": "BOTH"}
    closed, short, short_stop = await master.handle({"e": "ORDER_TRADE_UPDATE", "o": sell})
    assert _levels(long_stop) == (D("55000"), None)
    assert (closed.action, short.action, short.side, short.volume) == (Action.CLOSE, Action.OPEN, Side.SELL, D("0.02"))
    assert short_stop.action is Action.MODIFY and _levels(short_stop) == (D("70000"), None)
    assert (short_stop.side, short_stop.position_ref) == (Side.SELL, short.position_ref)
