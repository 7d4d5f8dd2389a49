"""Bybit connector against the loopback Bybit venue: signing, wire format, errors, faults, recovery."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
import pytest

from connectors.bybit import BybitConfig, BybitConnector, auth, parse
from connectors.bybit.client import BybitRest, Clock
from core.connector import ConnectorState
from core.enums import OrderType, Side
from core.errors import ConfigError, OutcomeUnknown, RateLimited, TransientError, VenueRejected
from core.orders import IntentKind, OrderIntent, ReportStatus, client_order_id
from tests.connectors.now import outcome, refused_now, written_before_awaited
from tests.helpers import eventually
from tests.venues.bybit_sim import API_KEY, API_SECRET, BybitSim, SimInstrument


def cid(tag: str, leg: int = 0) -> str:
    return client_order_id("bybit-test", tag, "route", leg)


def config_for(sim: BybitSim, **overrides: Any) -> BybitConfig:
    values: dict[str, Any] = {
        "name": "acct",
        "api_key": sim.api_key,
        "api_secret": sim.api_secret,
        "base_url": sim.base_url,
        "ws_url": sim.ws_url,
        "private_ws_url": sim.private_ws_url,
        "hedge_mode": sim.hedge_mode,
        "fill_wait": 2.0,
        "request_timeout": 2.0,
    }
    values.update(overrides)
    return BybitConfig(**values)


@asynccontextmanager
async def venue(sim: BybitSim | None = None, **overrides: Any) -> AsyncIterator[tuple[BybitSim, BybitConnector]]:
    sim = sim or BybitSim()
    await sim.start()
    connector = BybitConnector(config_for(sim, **overrides))
    try:
        await connector.start()
        yield sim, connector
    finally:
        await connector.stop()
        await sim.stop()


def buy(tag: str, volume: str = "0.010", symbol: str = "BTCUSDT", **kw: Any) -> OrderIntent:
    return OrderIntent(IntentKind.OPEN, cid(tag), symbol, kw.pop("side", Side.BUY), Decimal(volume), **kw)


def creates(sim: BybitSim) -> int:
    return sum(1 for method, path in sim.requests if path == "/v5/order/create")


# ---------------------------------------------------------------------- signing


def hmac_sha256_by_hand(key: bytes, message: bytes) -> str:
    """RFC 2104 spelled out with the bare hash, independent of the ``hmac`` module."""
    block = 64
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + message).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in key) + inner).hexdigest()


def test_rest_signature_matches_an_independent_hmac() -> None:
    body = '{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":"0.010"}'
    parts = ["1700000000123", "my-key", "5000", body]
    expected = hmac_sha256_by_hand(b"my-secret", "".join(parts).encode())
    assert auth.rest_signature("my-secret", 1700000000123, "my-key", 5000, body) == expected
    headers = auth.rest_headers("my-key", "my-secret", 1700000000123, 5000, "category=linear&symbol=BTCUSDT")
    assert headers["X-BAPI-SIGN"] == hmac_sha256_by_hand(
        b"my-secret", b"1700000000123my-key5000category=linear&symbol=BTCUSDT"
    )
    assert (headers["X-BAPI-API-KEY"], headers["X-BAPI-TIMESTAMP"], headers["X-BAPI-RECV-WINDOW"]) == (
        "my-key",
        "1700000000123",
        "5000",
    )
    # a secret longer than one block is hashed first
    long_secret = "s" * 100
    assert auth.sign(long_secret, "x") == hmac_sha256_by_hand(long_secret.encode(), b"x")


def test_websocket_auth_signs_get_realtime_and_expiry() -> None:
    message = auth.ws_auth_message("k", "sec", 1662350400000)
    assert message["op"] == "auth"
    assert message["args"] == ["k", 1662350400000, hmac_sha256_by_hand(b"sec", b"GET/realtime1662350400000")]


def test_receive_window_rule() -> None:
    server = 1_000_000
    assert auth.timestamp_within_window(server - 5000, server, 5000)
    assert not auth.timestamp_within_window(server - 5001, server, 5000)
    assert auth.timestamp_within_window(server + 999, server, 5000)
    assert not auth.timestamp_within_window(server + 1000, server, 5000)


async def test_venue_refuses_a_wrong_signature_with_10004() -> None:
    sim = BybitSim()
    await sim.start()
    try:
        async with aiohttp.ClientSession() as session:
            query = "accountType=UNIFIED"
            headers = auth.rest_headers(sim.api_key, "not-the-secret", sim.now_ms(), 5000, query)
            async with session.get(f"{sim.base_url}/v5/account/wallet-balance?{query}", headers=headers) as r:
                assert (await r.json())["retCode"] == 10004
            headers = auth.rest_headers(sim.api_key, sim.api_secret, sim.now_ms(), 5000, query)
            async with session.get(f"{sim.base_url}/v5/account/wallet-balance?{query}", headers=headers) as r:
                assert (await r.json())["retCode"] == 0
    finally:
        await sim.stop()


async def test_wrong_secret_fails_start_with_a_config_error() -> None:
    sim = BybitSim()
    await sim.start()
    connector = BybitConnector(config_for(sim, api_secret="wrong"))
    try:
        with pytest.raises(ConfigError) as raised:
            await connector.start()
        assert "10004" in str(raised.value)
        assert connector.state is ConnectorState.DOWN
    finally:
        await connector.stop()
        await sim.stop()


# ---------------------------------------------------------------------- clock


async def test_clock_offset_from_the_venue_is_applied_to_signed_requests() -> None:
    sim = BybitSim(time_offset_ms=-30_000)  # the venue runs 30 s behind us
    async with venue(sim) as (sim, connector):
        assert abs(connector.clock.offset_ms + 30_000) < 1_000
        report = await connector.submit(buy("clock"))
        assert report.status is ReportStatus.FILLED
        # the same request signed with the local clock falls outside the window
        unsynced = BybitRest(connector.config, Clock())
        await unsynced.open()
        try:
            with pytest.raises(TransientError) as raised:
                await unsynced.request("GET", "/v5/account/wallet-balance", {"accountType": "UNIFIED"})
            assert raised.value.code == parse.TIMESTAMP_OUT_OF_WINDOW
        finally:
            await unsynced.close()


async def test_clock_drift_after_start_is_resynced_and_the_order_sent_once() -> None:
    async with venue() as (sim, connector):
        sim.time_offset_ms = 20_000
        report = await connector.submit(buy("drift"))
        assert report.status is ReportStatus.FILLED
        assert abs(connector.clock.offset_ms - 20_000) < 1_000
        assert sum(1 for o in sim.orders.values() if o["orderLinkId"] == cid("drift")) == 1
        assert 10002 in sim.refusals


# ---------------------------------------------------------------------- orders on the wire


async def test_market_open_goes_over_the_trade_socket_and_fills_at_mark() -> None:
    async with venue() as (sim, connector):
        sim.set_price("BTCUSDT", Decimal("61000"))
        report = await connector.submit(buy("ws-open"))
        assert report.status is ReportStatus.FILLED
        assert report.fill_price == Decimal("61000")
        assert report.filled_volume == Decimal("0.010")
        assert report.position_id == "BTCUSDT:0"
        assert creates(sim) == 0  # nothing went over REST
        order = sim.orders[cid("ws-open")]
        assert order["qty"] == "0.010" and order["positionIdx"] == 0 and order["reduceOnly"] is False
        arrivals = [a for a in sim.arrivals if a.client_order_id == cid("ws-open")]
        assert len(arrivals) == 1 and report.t_wire_ns <= arrivals[0].arrived_ns <= report.t_ack_ns


async def test_rest_is_the_fallback_when_no_trade_socket_is_configured() -> None:
    async with venue(ws_url="") as (sim, connector):
        report = await connector.submit(buy("rest-open"))
        assert report.status is ReportStatus.FILLED
        assert creates(sim) == 1


# ---------------------------------------------------------------------- submit_now


@pytest.mark.parametrize(
    ("order_type", "price", "status", "filled"),
    [
        (OrderType.MARKET, None, ReportStatus.FILLED, Decimal("0.010")),
        (OrderType.LIMIT, Decimal("59000"), ReportStatus.ACCEPTED, Decimal(0)),
    ],
    ids=["market", "limit"],
)
async def test_submit_now_writes_the_order_before_returning_and_reports_as_submit_does(
    order_type: OrderType, price: Decimal | None, status: ReportStatus, filled: Decimal
) -> None:
    async with venue() as (sim, connector):
        intent = buy("now", order_type=order_type, price=price, sl=Decimal("55000"))
        report = await written_before_awaited(connector.submit_now(intent), lambda: sim.arrivals)
        [arrival] = sim.arrivals
        assert (report.client_order_id, report.status, report.filled_volume) == (intent.client_order_id, status, filled)
        assert (arrival.client_order_id, arrival.qty) == (intent.client_order_id, "0.010")
        assert 0 < report.t_wire_ns <= arrival.arrived_ns <= report.t_ack_ns
        assert sim.orders[cid("now")]["stopLoss"] == "55000.00"  # in the same order.create
        assert creates(sim) == 0 and connector._waiters == {}
        # The same order through submit, under another id, gives the same report.
        again = await connector.submit(buy("then", order_type=order_type, price=price, sl=Decimal("55000")))
        assert outcome(again) == outcome(report)


async def test_submit_now_raises_what_comes_before_the_send_and_sends_nothing() -> None:
    async with venue() as (sim, connector):
        assert refused_now(connector, buy("off-step", volume="0.0015")) == "local:step"
        assert refused_now(connector, buy("unlisted", symbol="NOPEUSDT")) == "local:symbol"
        assert refused_now(connector, buy("no-price", order_type=OrderType.LIMIT)) == "local:price"
        for n in range(10):
            await connector.submit(buy(f"burst-{n}", volume="0.001"))
        with pytest.raises(RateLimited) as limited:
            connector.submit_now(buy("burst-10", volume="0.001"))
        assert limited.value.code == "local"
        assert [a.client_order_id for a in sim.arrivals] == [cid(f"burst-{n}") for n in range(10)]
        assert connector._waiters == {}


async def test_submit_now_after_clock_drift_resyncs_and_sends_once_more() -> None:
    async with venue() as (sim, connector):
        sim.time_offset_ms = 20_000
        report = await written_before_awaited(connector.submit_now(buy("drift-now")), lambda: sim.arrivals)
        assert report.status is ReportStatus.FILLED
        assert sim.refusals == [10002] and len(sim.arrivals) == 2
        assert sum(1 for o in sim.orders.values() if o["orderLinkId"] == cid("drift-now")) == 1


async def test_submit_now_leaves_to_submit_what_it_cannot_write_at_once() -> None:
    async with venue() as (sim, connector):
        assert connector.submit_now(buy("stop", order_type=OrderType.STOP, price=Decimal("62000"))) is None
        close = OrderIntent(IntentKind.CLOSE, cid("close"), "BTCUSDT", Side.BUY, Decimal("0.010"))
        assert connector.submit_now(close) is None
        assert connector.trade is not None
        await connector.trade.close()
        assert connector.submit_now(buy("down")) is None
        assert sim.arrivals == []
        assert (await connector.submit(buy("down"))).status is ReportStatus.FILLED
        assert creates(sim) == 1
    async with venue(ws_url="") as (sim, connector):
        assert connector.submit_now(buy("no-socket")) is None


async def test_without_a_reachable_transport_orders_go_through_aiohttps_writer() -> None:
    async with venue() as (sim, connector):
        assert connector.trade is not None
        connector.trade._frames = None  # as if FrameWriter.of could not reach the transport
        assert connector.submit_now(buy("unwritable")) is None
        report = await connector.submit(buy("unwritable"))
        assert report.status is ReportStatus.FILLED and report.t_wire_ns > 0
        assert creates(sim) == 0


async def test_hedge_mode_uses_position_idx_and_closes_each_side() -> None:
    async with venue(BybitSim(hedge_mode=True)) as (sim, connector):
        long = await connector.submit(buy("h-long"))
        short = await connector.submit(buy("h-short", side=Side.SELL))
        assert (long.position_id, short.position_id) == ("BTCUSDT:1", "BTCUSDT:2")
        assert sim.orders[cid("h-short")]["positionIdx"] == 2
        closed = await connector.submit(
            OrderIntent(
                IntentKind.CLOSE, cid("h-close"), "BTCUSDT", Side.SELL, Decimal("0.004"), position_id="BTCUSDT:2"
            )
        )
        assert closed.status is ReportStatus.CLOSED
        sent = sim.orders[cid("h-close")]
        assert (sent["side"], sent["positionIdx"], sent["reduceOnly"]) == ("Buy", 2, True)
        volumes = {p.position_id: p.volume for p in await connector.positions()}
        assert volumes == {"BTCUSDT:1": Decimal("0.010"), "BTCUSDT:2": Decimal("0.006")}


async def test_close_is_an_opposite_reduce_only_order_in_one_way_mode() -> None:
    async with venue() as (sim, connector):
        opened = await connector.submit(buy("ow-open", side=Side.SELL))
        closed = await connector.submit(
            OrderIntent(
                IntentKind.CLOSE,
                cid("ow-close"),
                "BTCUSDT",
                Side.SELL,
                Decimal("0.010"),
                position_id=opened.position_id,
            )
        )
        assert closed.status is ReportStatus.CLOSED and closed.filled_volume == Decimal("0.010")
        sent = sim.orders[cid("ow-close")]
        assert (sent["side"], sent["positionIdx"], sent["reduceOnly"]) == ("Buy", 0, True)
        assert await connector.positions() == []


async def test_limit_order_rests_and_cancels_and_stop_order_triggers() -> None:
    async with venue() as (sim, connector):
        limit = await connector.submit(
            buy("limit", order_type=OrderType.LIMIT, price=Decimal("59000.04"), sl=Decimal("55000"))
        )
        assert limit.status is ReportStatus.ACCEPTED and limit.filled_volume == 0
        sent = sim.orders[cid("limit")]
        assert (sent["orderType"], sent["price"], sent["stopLoss"]) == ("Limit", "59000.00", "55000.00")
        canceled = await connector.submit(
            OrderIntent(IntentKind.CANCEL, cid("limit-cancel"), "BTCUSDT", Side.BUY, order_id=limit.venue_order_id)
        )
        assert canceled.status is ReportStatus.CANCELED
        assert sim.orders[cid("limit")]["orderStatus"] == "Cancelled"

        stop = await connector.submit(buy("stop", order_type=OrderType.STOP, price=Decimal("62000")))
        assert stop.status is ReportStatus.ACCEPTED
        sent = sim.orders[cid("stop")]
        assert (sent["triggerPrice"], sent["triggerDirection"], sent["orderStatus"]) == ("62000.00", 1, "Untriggered")
        sim.set_price("BTCUSDT", Decimal("62000"))

        found = await connector.order_by_client_id(cid("stop"))  # the venue filled it as the price crossed
        assert found is not None and found.status is ReportStatus.FILLED and found.fill_price == Decimal("62000")


async def test_modify_moves_sl_and_tp_through_trading_stop() -> None:
    async with venue() as (sim, connector):
        opened = await connector.submit(buy("mod-open"))
        report = await connector.submit(
            OrderIntent(
                IntentKind.MODIFY, cid("mod"), "BTCUSDT", Side.BUY, position_id=opened.position_id,
                sl=Decimal("58000"), tp=Decimal("65000"),
            )
        )  # fmt: skip
        assert report.status is ReportStatus.MODIFIED
        assert ("POST", "/v5/position/trading-stop") in sim.requests
        [position] = await connector.positions()
        assert (position.sl, position.tp) == (Decimal("58000"), Decimal("65000"))


async def test_account_and_positions_follow_the_private_stream() -> None:
    async with venue() as (sim, connector):
        assert connector.account().balance == Decimal("100000")
        await connector.submit(buy("acct"))
        sim.set_price("BTCUSDT", Decimal("70000"))  # +10000 * 0.010 = +100 unrealised
        await connector.submit(buy("acct-2", volume="0.001"))
        await eventually(lambda: connector.account().equity == Decimal("100100"))
        assert connector.last_price("BTCUSDT") == Decimal("70000")
        assert connector.account().open_positions == 1


# ---------------------------------------------------------------------- rounding and symbols


async def test_rounding_and_symbols() -> None:
    async with venue() as (sim, connector):
        assert connector.venue_symbol("BTCUSDT-PERP") == "BTCUSDT"
        assert connector.venue_symbol("BTCUSDT") == "BTCUSDT"
        assert connector.venue_symbol("NOPEUSDT-PERP") is None
        instrument = connector.instrument("BTCUSDT")
        assert instrument is not None
        assert (instrument.volume_step, instrument.min_volume, instrument.tick_size) == (
            Decimal("0.001"),
            Decimal("0.001"),
            Decimal("0.10"),
        )
        assert instrument.min_notional == Decimal("5")
        # Decimal exponents never reach the wire: 1E+1 SOL goes out as "10.0"
        await connector.submit(buy("sol", volume="1E+1", symbol="SOLUSDT"))
        assert sim.orders[cid("sol")]["qty"] == "10.0"
        # prices are rounded to the tick before they are sent
        await connector.submit(buy("tick", order_type=OrderType.LIMIT, price=Decimal("59123.456")))
        assert sim.orders[cid("tick")]["price"] == "59123.50"
        with pytest.raises(VenueRejected) as raised:
            await connector.submit(buy("off-step", volume="0.0015"))
        assert raised.value.code == "local:step"
        assert cid("off-step") not in sim.orders


# ---------------------------------------------------------------------- errors


def test_error_codes_map_to_types() -> None:
    cases = {
        10001: VenueRejected,
        10002: TransientError,
        10006: RateLimited,
        10016: OutcomeUnknown,
        110003: VenueRejected,
        110007: VenueRejected,
        110017: VenueRejected,
        110072: VenueRejected,
        110094: VenueRejected,
        999999: VenueRejected,
    }
    for code, kind in cases.items():
        error = parse.error_for(code, "x")
        assert type(error) is kind, code
        assert getattr(error, "code", None) == code
    assert isinstance(parse.error_for(10003, "x", account="a"), ConfigError)
    assert parse.error_for(10004, "x", account="a").path == "accounts.a.api_key"  # type: ignore[attr-defined]
    limited = parse.error_for(10006, "x", reset_ms=10_750, now_ms=10_000)
    assert isinstance(limited, RateLimited) and limited.retry_after == pytest.approx(0.75)
    assert isinstance(parse.error_for_http(503), OutcomeUnknown)
    assert isinstance(parse.error_for_http(429), RateLimited)


async def test_venue_refusals_raise_typed_errors_and_leave_nothing() -> None:
    sim = BybitSim(balance=Decimal("1000"))
    sim.instruments["BTCUSDT"] = SimInstrument(
        "BTCUSDT", Decimal("0.001"), Decimal("0.001"), Decimal("100"), Decimal("0.10"), Decimal("100")
    )
    async with venue(sim) as (sim, connector):
        cases = [
            (buy("too-big", volume="1.000"), 110007),  # 60000 notional / 10x > 1000 available
            (buy("tiny", volume="0.001"), 110094),  # 60 USDT below the 100 USDT minimum notional
            (buy("band", order_type=OrderType.LIMIT, price=Decimal("30000")), 110003),
            (buy("reduce", reduce_only=True), 110017),
        ]
        for intent, code in cases:
            with pytest.raises(VenueRejected) as raised:
                await connector.submit(intent)
            assert raised.value.code == code
            assert intent.client_order_id not in sim.orders
        assert await connector.positions() == []


async def test_duplicate_order_link_id_is_refused_by_the_venue() -> None:
    async with venue() as (sim, connector):
        await connector.submit(buy("dup"))
        with pytest.raises(VenueRejected) as raised:
            await connector.submit(buy("dup"))
        assert raised.value.code == parse.DUPLICATE_ORDER_LINK_ID
        assert 110072 in sim.refusals
        assert len(sim.orders) == 1


# ---------------------------------------------------------------------- faults


@pytest.mark.parametrize("ws", [True, False], ids=["websocket", "rest"])
async def test_drop_after_send_is_unknown_then_reconciled_without_a_duplicate(ws: bool) -> None:
    overrides: dict[str, Any] = {} if ws else {"ws_url": ""}
    async with venue(**overrides) as (sim, connector):
        sim.faults.drop_after_order_next = 1
        intent = buy("dropped")
        with pytest.raises(OutcomeUnknown):
            await connector.submit(intent)
        found = await connector.order_by_client_id(intent.client_order_id)
        assert found is not None and found.status is ReportStatus.FILLED
        assert found.filled_volume == Decimal("0.010")
        # a resend with the same id cannot double the trade
        if ws:
            await eventually(lambda: connector.trade is not None and connector.trade.up)
        with pytest.raises(VenueRejected):
            await connector.submit(intent)
        assert sum(1 for o in sim.orders.values() if o["orderLinkId"] == intent.client_order_id) == 1
        [position] = await connector.positions()
        assert position.volume == Decimal("0.010")


async def test_no_answer_on_the_socket_is_outcome_unknown() -> None:
    async with venue(request_timeout=0.3) as (sim, connector):
        sim.faults.ws_silent_next = 1
        with pytest.raises(OutcomeUnknown):
            await connector.submit(buy("silent"))
        found = await connector.order_by_client_id(cid("silent"))
        assert found is not None and found.status is ReportStatus.FILLED


async def test_http_5xx_is_outcome_unknown_and_reconciliation_finds_nothing() -> None:
    async with venue(ws_url="") as (sim, connector):
        sim.faults.http_5xx_next = 1
        with pytest.raises(OutcomeUnknown):
            await connector.submit(buy("five"))
        assert await connector.order_by_client_id(cid("five")) is None
        report = await connector.submit(buy("five"))
        assert report.status is ReportStatus.FILLED


async def test_reconnects_after_the_venue_drops_the_sockets() -> None:
    states: list[ConnectorState] = []
    async with venue() as (sim, connector):
        connector.on_state = lambda _name, state, _why: states.append(state)
        assert connector.trade is not None
        await sim.drop_sockets()
        await eventually(lambda: connector.trade is not None and connector.trade.connects == 2 and connector.trade.up)
        await eventually(lambda: connector.stream.connects == 2 and connector.state is ConnectorState.UP)
        assert ConnectorState.RECONNECTING in states
        report = await connector.submit(buy("after-reconnect"))
        assert report.status is ReportStatus.FILLED
        assert creates(sim) == 0  # back on the socket, and the fill came over the new private stream


# ---------------------------------------------------------------------- rate limits


async def test_local_limiter_refuses_before_the_venue_does() -> None:
    async with venue() as (sim, connector):
        for n in range(10):
            await connector.submit(buy(f"burst-{n}", volume="0.001"))
        with pytest.raises(RateLimited) as raised:
            await connector.submit(buy("burst-10", volume="0.001"))
        assert raised.value.code == "local"
        assert 0 < raised.value.retry_after <= 1.0
        assert 10006 not in sim.refusals
        assert cid("burst-10") not in sim.orders


async def test_an_order_the_trade_socket_could_not_write_counts_once_against_the_limit() -> None:
    async with venue() as (sim, connector):
        for n in range(9):
            await connector.submit(buy(f"nine-{n}", volume="0.001"))
        assert connector.trade is not None and connector.trade.ws is not None
        connector.trade.ws._writer.transport.close()  # closing; the reader has not seen it yet
        assert connector.trade.writable
        # The socket write fails (nothing sent) and the order goes over REST: the tenth of ten
        # per second, not an eleventh that the local limiter would refuse.
        report = await connector.submit(buy("tenth", volume="0.001"))
        assert report.status is ReportStatus.FILLED
        assert cid("tenth") in sim.orders


async def test_venue_rate_limit_uses_the_reset_timestamp() -> None:
    async with venue(BybitSim(orders_per_second=2), ws_url="") as (sim, connector):
        await connector.submit(buy("v-1", volume="0.001"))
        await connector.submit(buy("v-2", volume="0.001"))
        with pytest.raises(RateLimited) as raised:
            await connector.submit(buy("v-3", volume="0.001"))
        assert raised.value.code == 10006
        assert 0 < raised.value.retry_after <= 1.05
        assert cid("v-3") not in sim.orders


# ---------------------------------------------------------------------- background refresh and config


async def test_instrument_refresh_runs_in_a_named_task_and_survives_failures(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "connectors.bybit")
    async with venue(instrument_refresh=0.02) as (sim, connector):
        names = {task.get_name() for task in connector._tasks}
        assert "bybit:acct:instruments" in names
        sim.faults.http_5xx_next = 1
        await eventually(lambda: connector.last_refresh_error is not None)
        assert "instrument refresh failed" in caplog.text
        sim.instruments["XRPUSDT"] = SimInstrument(
            "XRPUSDT", Decimal("1"), Decimal("1"), Decimal("100000"), Decimal("0.0001"), Decimal("5")
        )
        sim.prices["XRPUSDT"] = Decimal("0.5")
        await eventually(lambda: connector.instrument("XRPUSDT") is not None)
        await eventually(lambda: connector.last_price("XRPUSDT") == Decimal("0.5"))
    assert connector._tasks == []


def test_config_from_mapping_validates_and_hides_secrets() -> None:
    config = BybitConfig.from_mapping("main", {"api_key": "KEY123", "api_secret": "SECRET456", "testnet": True})
    assert config.base_url == "https://api-testnet.bybit.com"
    assert config.ws_url.endswith("/v5/trade") and config.private_ws_url.endswith("/v5/private")
    assert "SECRET456" not in repr(config) and "KEY123" not in repr(config)
    demo = BybitConfig.from_mapping("d", {"api_key": "k", "api_secret": "s", "demo": True})
    assert demo.ws_url == ""  # no WebSocket order entry on demo trading
    with pytest.raises(ConfigError) as raised:
        BybitConfig.from_mapping("main", {"api_key": "k"})
    assert raised.value.path == "accounts.main.api_secret"
    with pytest.raises(ConfigError) as raised:
        BybitConfig.from_mapping("main", {"api_key": "k", "api_secret": "s", "recv_window": "fast"})
    assert raised.value.path == "accounts.main.recv_window"
    with pytest.raises(ConfigError) as raised:
        BybitConfig.from_mapping("main", {"api_key": "k", "api_secret": "s", "base_url": "ftp://x"})
    assert raised.value.path == "accounts.main.base_url"
    with pytest.raises(ConfigError) as raised:
        BybitConfig.from_mapping("main", {"api_key": "k", "api_secret": "s", "hedge": True})
    assert raised.value.path == "accounts.main.hedge"


def test_parsers_read_bybit_records() -> None:
    raw = orjson.loads(
        b'{"symbol":"ETHUSDT","positionIdx":2,"side":"Sell","size":"1.50","avgPrice":"3000.5",'
        b'"takeProfit":"","stopLoss":"3100","markPrice":"2990"}'
    )
    position = parse.position_from(raw)
    assert position is not None
    assert (position.position_id, position.side, position.volume, position.tp, position.sl) == (
        "ETHUSDT:2",
        Side.SELL,
        Decimal("1.50"),
        None,
        Decimal("3100"),
    )
    assert parse.position_from({"symbol": "ETHUSDT", "positionIdx": 0, "side": "", "size": "0"}) is None
    with pytest.raises(VenueRejected):
        parse.report_from_order({"orderStatus": "Rejected", "orderLinkId": "x"}, 1, 2)
    assert parse.split_position_id("BTCUSDT:1") == ("BTCUSDT", 1)
    assert parse.split_position_id("BTCUSDT") is None


# ---------------------------------------------------------------------- master account source


async def test_master_turns_fills_into_open_partial_close_and_close_signals() -> None:
    from connectors.bybit.master import BybitMaster
    from core.enums import Action, VolumeKind
    from core.signal import Signal

    signals: list[Signal] = []
    async with venue() as (_sim, connector):
        master = BybitMaster(connector.config, signals.append)
        await master.start()
        try:
            opened = await connector.submit(buy("m-open"))
            await eventually(lambda: len(signals) == 1)
            await connector.submit(
                OrderIntent(
                    IntentKind.CLOSE,
                    cid("m-part"),
                    "BTCUSDT",
                    Side.BUY,
                    Decimal("0.004"),
                    position_id=opened.position_id,
                )
            )
            await eventually(lambda: len(signals) == 2)
            await connector.submit(
                OrderIntent(
                    IntentKind.MODIFY,
                    cid("m-mod"),
                    "BTCUSDT",
                    Side.BUY,
                    position_id=opened.position_id,
                    sl=Decimal("50000"),
                )
            )
            await eventually(lambda: len(signals) == 3)
            await connector.submit(
                OrderIntent(
                    IntentKind.CLOSE,
                    cid("m-close"),
                    "BTCUSDT",
                    Side.BUY,
                    Decimal("0.006"),
                    position_id=opened.position_id,
                )
            )
            await eventually(lambda: len(signals) == 4)
        finally:
            await master.stop()
    first, part, modify, last = signals
    assert (first.action, first.side, first.volume, first.symbol) == (
        Action.OPEN,
        Side.BUY,
        Decimal("0.010"),
        "BTCUSDT-PERP",
    )
    assert first.position_ref == "bybit:acct:BTCUSDT:0"
    assert first.origin_id is not None and first.origin_id.startswith(opened.venue_order_id or "?")
    assert (part.action, part.volume_kind, part.volume) == (Action.CLOSE_PART, VolumeKind.FRACTION, Decimal("0.4"))
    assert modify.action is Action.MODIFY and modify.sl is not None and modify.sl.value == Decimal("50000")
    assert last.action is Action.CLOSE and last.position_ref == first.position_ref
    assert len({s.origin_id for s in signals}) == 4


# ---------------------------------------------------------------------- simulator as a process


def test_simulator_runs_as_its_own_process() -> None:
    import subprocess
    import sys
    import urllib.request

    from tests.helpers import eventually_sync

    process = subprocess.Popen(
        [sys.executable, "-m", "tests.venues.bybit_sim", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]),
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        base = f"http://127.0.0.1:{port}"

        def post(path: str, body: dict[str, Any]) -> Any:
            request = urllib.request.Request(base + path, data=orjson.dumps(body), method="POST")
            with urllib.request.urlopen(request, timeout=5) as response:
                return orjson.loads(response.read())

        assert post("/__sim/price", {"symbol": "BTCUSDT", "price": "65000"})["ok"]
        assert post("/__sim/fault", {"latency_ms": 1})["ok"]
        with urllib.request.urlopen(base + "/v5/market/tickers?category=linear", timeout=5) as response:
            prices = {t["symbol"]: t["markPrice"] for t in orjson.loads(response.read())["result"]["list"]}
        assert prices["BTCUSDT"] == "65000"

        def orders() -> Any:
            with urllib.request.urlopen(base + "/__sim/orders", timeout=5) as response:
                return orjson.loads(response.read())

        assert orders() == []
        body = orjson.dumps(
            {
                "category": "linear",
                "symbol": "BTCUSDT",
                "side": "Buy",
                "orderType": "Market",
                "qty": "0.010",
                "positionIdx": 0,
                "orderLinkId": cid("process"),
            }
        )
        timestamp = int(__import__("time").time() * 1000)
        headers = {
            **auth.rest_headers(API_KEY, API_SECRET, timestamp, 5000, body.decode()),
            "Content-Type": "application/json",
        }
        request = urllib.request.Request(base + "/v5/order/create", data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert orjson.loads(response.read())["retCode"] == 0
        [stamp] = eventually_sync(orders)
        assert (stamp["client_order_id"], stamp["symbol"], stamp["side"], stamp["qty"]) == (
            cid("process"),
            "BTCUSDT",
            "Buy",
            "0.010",
        )
        assert stamp["arrived_ns"] > 0
    finally:
        process.terminate()
        process.wait(timeout=5)
