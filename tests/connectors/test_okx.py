"""OKX connector against the loopback OKX venue: signing, contracts on the wire, error codes,
faults and recovery, rate limits, clock offset, configuration."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.okx import OkxConfig, OkxConnector, parse
from connectors.okx.auth import Signer, iso_timestamp, rest_headers, rest_signature, ws_login_args
from core.connector import ConnectorState
from core.enums import OrderType, Side
from core.errors import ConfigError, OutcomeUnknown, RateLimited, TransientError, VenueRejected
from core.orders import IntentKind, OrderIntent, ReportStatus, client_order_id
from tests.connectors.now import refused_now, written_before_awaited
from tests.helpers import eventually, eventually_sync
from tests.venues.okx_sim import API_KEY, API_SECRET, PASSPHRASE, OkxSim, Refusal, SimSwap

ROOT = Path(__file__).resolve().parents[2]


def cid(tag: str, leg: int = 0) -> str:
    return client_order_id("okx-test", tag, "route", leg)


def config_for(sim: OkxSim, **overrides: Any) -> OkxConfig:
    values: dict[str, Any] = {
        "name": "acct",
        "api_key": API_KEY,
        "api_secret": API_SECRET,
        "passphrase": PASSPHRASE,
        "base_url": sim.base_url,
        "ws_url": sim.ws_url,
        "hedge_mode": sim.pos_mode == "long_short_mode",
        "demo": sim.demo,
        "fill_wait": 2.0,
        "request_timeout": 2.0,
    }
    values.update(overrides)
    return OkxConfig(**values)


@asynccontextmanager
async def venue(sim: OkxSim | None = None, **overrides: Any) -> AsyncIterator[tuple[OkxSim, OkxConnector]]:
    sim = sim or OkxSim()
    await sim.start()
    on_state = overrides.pop("on_state", None)
    connector = OkxConnector(config_for(sim, **overrides), on_state=on_state)
    try:
        await connector.start()
        yield sim, connector
    finally:
        await connector.stop()
        await sim.stop()


def buy(tag: str, volume: str = "0.0100", symbol: str = "BTC-USDT-SWAP", **kw: Any) -> OrderIntent:
    return OrderIntent(IntentKind.OPEN, cid(tag), symbol, kw.pop("side", Side.BUY), Decimal(volume), **kw)


def orders_at_sim(sim: OkxSim, client_order_id: str) -> int:
    return sum(1 for order in sim.orders.values() if order["clOrdId"] == client_order_id)


# -- signatures -----------------------------------------------------------------------------


def _independent_sign(secret: str, prehash: str) -> str:
    digest = hmac.new(bytes(secret, "utf-8"), bytes(prehash, "utf-8"), hashlib.sha256).digest()
    return base64.standard_b64encode(digest).decode("ascii")


def test_rest_signature_matches_a_second_computation() -> None:
    secret = "22582BD0CFF14C41EDBF1AB98506286D"
    stamp = "2020-12-08T09:08:57.715Z"
    body = '{"instId":"BTC-USDT-SWAP","tdMode":"cross","side":"buy","ordType":"market","sz":"2"}'
    cases = [
        ("GET", "/api/v5/account/balance?ccy=BTC", ""),
        ("POST", "/api/v5/trade/order", body),
    ]
    for method, path, payload in cases:
        expected = _independent_sign(secret, stamp + method + path + payload)
        assert rest_signature(secret, stamp, method, path, payload.encode()) == expected
        assert Signer(secret).rest(stamp, method.lower(), path, payload.encode()) == expected
    # The signature covers every part: change any and it changes.
    base = rest_signature(secret, stamp, "POST", "/api/v5/trade/order", body.encode())
    assert rest_signature(secret, stamp, "POST", "/api/v5/trade/order", body.encode() + b" ") != base
    assert rest_signature(secret, "2020-12-08T09:08:57.716Z", "POST", "/api/v5/trade/order", body.encode()) != base
    assert rest_signature(secret + "x", stamp, "POST", "/api/v5/trade/order", body.encode()) != base


def test_ws_login_signature_and_timestamp_format() -> None:
    secret = "22582BD0CFF14C41EDBF1AB98506286D"
    args = ws_login_args(Signer(secret), "key", "pass", "1538054050")
    assert args == {
        "apiKey": "key",
        "passphrase": "pass",
        "timestamp": "1538054050",
        "sign": _independent_sign(secret, "1538054050GET/users/self/verify"),
    }
    assert iso_timestamp(1607418537715) == "2020-12-08T09:08:57.715Z"
    assert iso_timestamp(1607418537005) == "2020-12-08T09:08:57.005Z"


def test_simulator_verifies_the_connector_signature_and_refuses_a_wrong_one() -> None:
    sim = OkxSim()
    signer = Signer(API_SECRET)
    stamp = iso_timestamp(sim.now_ms())
    body = b'{"instId":"BTC-USDT-SWAP"}'
    headers = rest_headers(signer, API_KEY, PASSPHRASE, stamp, "POST", "/api/v5/trade/order", body)
    sim.check_rest_auth("POST", "/api/v5/trade/order", headers, body)
    with pytest.raises(Refusal) as tampered:
        sim.check_rest_auth("POST", "/api/v5/trade/order", headers, body.replace(b"BTC", b"ETH"))
    assert (tampered.value.code, tampered.value.status) == ("50113", 401)
    wrong = rest_headers(Signer("other"), API_KEY, PASSPHRASE, stamp, "POST", "/api/v5/trade/order", body)
    with pytest.raises(Refusal) as refused:
        sim.check_rest_auth("POST", "/api/v5/trade/order", wrong, body)
    assert refused.value.code == "50113"
    old = rest_headers(signer, API_KEY, PASSPHRASE, iso_timestamp(sim.now_ms() - 31_000), "GET", "/x", b"")
    with pytest.raises(Refusal) as expired:
        sim.check_rest_auth("GET", "/x", old, b"")
    assert expired.value.code == "50102"
    sim.check_ws_login(ws_login_args(signer, API_KEY, PASSPHRASE, str(sim.now_ms() // 1000)))
    with pytest.raises(Refusal) as login:
        sim.check_ws_login(ws_login_args(Signer("other"), API_KEY, PASSPHRASE, str(sim.now_ms() // 1000)))
    assert login.value.code == "60007"


async def test_wrong_secret_fails_start_with_a_config_error() -> None:
    async with OkxSim() as sim:
        connector = OkxConnector(config_for(sim, api_secret="not-the-secret"))
        with pytest.raises(ConfigError) as raised:
            await connector.start()
        assert "60007" in str(raised.value)
        assert raised.value.path == "accounts.acct"
        assert connector.state is ConnectorState.DOWN


async def test_wrong_secret_on_rest_is_code_50113() -> None:
    async with venue() as (_sim, connector):
        connector.client._signer = Signer("not-the-secret")
        with pytest.raises(ConfigError) as raised:
            await connector.client.request("GET", "/api/v5/account/balance")
        assert "50113" in str(raised.value)


async def test_demo_trading_header_is_sent_when_configured() -> None:
    async with venue(OkxSim(demo=True)) as (_sim, connector):
        report = await connector.submit(buy("demo"))
        assert report.status is ReportStatus.FILLED
    async with OkxSim(demo=True) as sim:
        live = OkxConnector(config_for(sim, demo=False))
        with pytest.raises(ConfigError) as raised:
            await live.start()
        assert "50101" in str(raised.value)


# -- contracts on the wire ------------------------------------------------------------------


def test_swap_spec_converts_base_quantity_to_contracts() -> None:
    row = SimSwap("XRP-USDT-SWAP", ct_val="10", lot_sz="1", min_sz="3", tick_sz="0.0001", ct_mult="10").row()
    spec = parse.swap_spec(row)
    assert spec is not None
    assert spec.base_per_contract == Decimal(100)
    assert spec.instrument.volume_step == Decimal(100)
    assert spec.instrument.min_volume == Decimal(300)
    assert spec.instrument.max_volume == Decimal(1_000_000)
    assert spec.instrument.contract_size == 1
    assert spec.to_contracts(Decimal(1250)) == Decimal(12)  # rounded down, never off step
    assert spec.to_base(Decimal(12)) == Decimal(1200)
    btc = parse.swap_spec(SimSwap("BTC-USDT-SWAP", ct_val="0.01", lot_sz="0.01", min_sz="0.01", tick_sz="0.1").row())
    assert btc is not None
    assert btc.instrument.volume_step == Decimal("0.0001")
    assert str(btc.to_contracts(Decimal("0.0123"))) == "1.23"
    assert (
        parse.swap_spec(
            SimSwap("BTC-USD-SWAP", ct_val="100", lot_sz="1", min_sz="1", tick_sz="0.1", ct_type="inverse").row()
        )
        is None
    )


async def test_orders_go_out_in_contracts_and_come_back_in_base_quantity() -> None:
    async with venue() as (sim, connector):
        assert connector.venue_symbol("BTCUSDT") == "BTC-USDT-SWAP"
        assert connector.venue_symbol("ETHUSDT-PERP") == "ETH-USDT-SWAP"
        assert connector.venue_symbol("DOGEUSDT") is None
        assert connector.instrument("BTC-USD-SWAP") is None  # inverse swaps are not offered
        eth = connector.instrument("ETHUSDT")
        assert eth is not None and (eth.volume_step, eth.min_volume) == (Decimal("0.1"), Decimal("0.1"))

        report = await connector.submit(buy("eth", "0.3", "ETH-USDT-SWAP"))
        assert report.status is ReportStatus.FILLED
        assert report.filled_volume == Decimal("0.3")
        btc = await connector.submit(buy("btc", "0.0123"))
        assert btc.filled_volume == Decimal("0.0123")
        assert [(a["symbol"], a["qty"]) for a in sim.arrivals] == [("ETH-USDT-SWAP", "3"), ("BTC-USDT-SWAP", "1.23")]
        assert sim.positions[("ETH-USDT-SWAP", "net")]["qty"] == Decimal(3)

        volumes = {p.symbol: p.volume for p in await connector.positions()}
        assert volumes == {"ETH-USDT-SWAP": Decimal("0.3"), "BTC-USDT-SWAP": Decimal("0.0123")}


async def test_off_step_and_below_minimum_are_refused_before_the_wire() -> None:
    async with venue() as (sim, connector):
        with pytest.raises(VenueRejected) as off_step:
            await connector.submit(buy("off", "0.35", "ETH-USDT-SWAP"))
        assert off_step.value.code == "51121"
        with pytest.raises(VenueRejected) as below:
            await connector.submit(buy("tiny", "0.00005"))
        assert below.value.code in ("51121", "51020")
        assert sim.arrivals == []


async def test_contracts_follow_each_orders_own_size_and_instrument() -> None:
    """The connector keeps the last size it worked out; the next order's own size and instrument
    decide whether that answer applies."""
    async with venue() as (sim, connector):
        await connector.submit(buy("first", "0.3", "ETH-USDT-SWAP"))
        with pytest.raises(VenueRejected) as off_step:
            await connector.submit(buy("off", "0.35", "ETH-USDT-SWAP"))
        assert off_step.value.code == "51121"
        await connector.submit(buy("again", "0.3", "ETH-USDT-SWAP"))
        await connector.submit(buy("other", "0.3"))
        assert [(a["symbol"], a["qty"]) for a in sim.arrivals] == [
            ("ETH-USDT-SWAP", "3"),
            ("ETH-USDT-SWAP", "3"),
            ("BTC-USDT-SWAP", "30.00"),
        ]


async def test_simulator_enforces_okx_size_filters_and_duplicates() -> None:
    swaps = (SimSwap("SOL-USDT-SWAP", ct_val="1", lot_sz="1", min_sz="5", tick_sz="0.01", max_mkt_sz="100"),)
    async with OkxSim(swaps=swaps) as sim:
        sim.set_price("SOL-USDT-SWAP", "150")
        connector = OkxConnector(config_for(sim))
        await connector.client.start()
        try:

            async def order(sz: str, tag: str) -> Any:
                body = {"instId": "SOL-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "market"}
                body.update(sz=sz, clOrdId=cid(tag))
                answer = await connector.client.request("POST", "/api/v5/trade/order", body=body, write=True)
                return parse.order_error(answer)

            codes = {}
            for sz, tag in (("5.5", "lot"), ("3", "min"), ("101", "max"), ("5", "ok"), ("6", "ok")):
                error = await order(sz, tag)
                codes[tag] = getattr(error, "code", None)
            assert codes == {"lot": "51121", "min": "51020", "max": "51202", "ok": "51016"}
            assert orders_at_sim(sim, cid("ok")) == 1
            assert sim.positions[("SOL-USDT-SWAP", "net")]["qty"] == Decimal(5)
        finally:
            await connector.client.close()


# -- error codes ----------------------------------------------------------------------------


def test_error_codes_map_to_typed_errors() -> None:
    expected = {
        "51000": VenueRejected,
        "51008": VenueRejected,
        "51016": VenueRejected,
        "51121": VenueRejected,
        "51020": VenueRejected,
        "50011": RateLimited,
        "50102": TransientError,
        "50001": OutcomeUnknown,
        "50013": OutcomeUnknown,
        "50111": ConfigError,
        "50113": ConfigError,
        "99999": VenueRejected,
    }
    for code, kind in expected.items():
        error = parse.venue_error(code, "", account="acct")
        assert type(error) is kind, code
        if isinstance(error, VenueRejected):
            assert error.code == code and error.reason
    limited = parse.venue_error("50011")
    assert isinstance(limited, RateLimited) and limited.retry_after > 0

    assert isinstance(parse.http_error(503, None, read_only=False), OutcomeUnknown)
    assert isinstance(parse.http_error(502, None, read_only=True), TransientError)
    assert isinstance(
        parse.http_error(429, {"code": "50011", "msg": "Too Many Requests"}, read_only=False), RateLimited
    )
    auth = parse.http_error(401, {"code": "50113", "msg": "Invalid Sign"}, read_only=True, account="acct")
    assert isinstance(auth, ConfigError) and auth.path == "accounts.acct"

    failed = {"code": "1", "msg": "", "data": [{"clOrdId": "x", "ordId": "", "sCode": "51008", "sMsg": "Insufficient"}]}
    rejected = parse.order_error(failed)
    assert isinstance(rejected, VenueRejected) and rejected.code == "51008" and rejected.reason == "Insufficient"
    assert parse.order_error({"code": "0", "msg": "", "data": [{"ordId": "1", "sCode": "0", "sMsg": ""}]}) is None
    assert isinstance(parse.order_error({"code": "50011", "msg": "", "data": []}), RateLimited)


async def test_insufficient_margin_is_a_rejection_with_the_venue_code() -> None:
    async with venue() as (sim, connector):
        with pytest.raises(VenueRejected) as raised:
            await connector.submit(buy("big", "40"))
        assert raised.value.code == "51008"
        assert sim.positions == {}


async def test_http_5xx_is_unknown_for_writes_and_transient_for_reads() -> None:
    async with venue() as (sim, connector):
        sim.fail_next = 1
        with pytest.raises(TransientError):
            await connector.client.request("GET", "/api/v5/account/balance")
        sim.fail_next = 1
        body = {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "1"}
        with pytest.raises(OutcomeUnknown):
            await connector.client.request("POST", "/api/v5/trade/order", body=body, write=True)


# -- faults and recovery --------------------------------------------------------------------


async def test_reconnects_after_the_websocket_drops() -> None:
    states: list[ConnectorState] = []
    async with venue(on_state=lambda name, state, detail: states.append(state)) as (sim, connector):
        assert connector.client.ws_ready
        await sim.drop_sockets()
        await eventually(lambda: ConnectorState.RECONNECTING in states)
        await eventually(lambda: connector.client.ws_ready and connector.state is ConnectorState.UP)

        report = await connector.submit(buy("after-reconnect"))
        assert report.status is ReportStatus.FILLED
        assert "POST /api/v5/trade/order" not in sim.requests  # it went over the WebSocket
        assert states[-1] is ConnectorState.UP


async def test_order_whose_websocket_drops_after_send_is_unknown_then_found() -> None:
    async with venue() as (sim, connector):
        sim.drop_next = 1
        intent = buy("dropped")
        with pytest.raises(OutcomeUnknown):
            await connector.submit(intent)

        found = await connector.order_by_client_id(intent.client_order_id)
        assert found is not None
        assert found.status is ReportStatus.FILLED
        assert found.filled_volume == intent.volume
        assert orders_at_sim(sim, intent.client_order_id) == 1

        # A blind resend would be refused by the venue, not doubled.
        await eventually(lambda: connector.client.ws_ready)
        with pytest.raises(VenueRejected) as raised:
            await connector.submit(intent)
        assert raised.value.code == "51016"
        assert orders_at_sim(sim, intent.client_order_id) == 1
        assert sim.positions[("BTC-USDT-SWAP", "net")]["qty"] == Decimal(1)


async def test_order_whose_rest_connection_drops_after_send_is_unknown_then_found() -> None:
    async with venue() as (sim, connector):
        sim.drop_next = 1
        body = {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "sell", "ordType": "market"}
        body.update(sz="2", clOrdId=cid("rest-drop"))
        with pytest.raises(OutcomeUnknown):
            await connector.client.request("POST", "/api/v5/trade/order", body=body, write=True)
        found = await connector.order_by_client_id(cid("rest-drop"))  # not sent by submit: searched
        assert found is not None and found.status is ReportStatus.FILLED
        assert found.filled_volume == Decimal("0.02")
        assert orders_at_sim(sim, cid("rest-drop")) == 1


async def test_orders_fall_back_to_rest_when_the_websocket_is_down() -> None:
    async with OkxSim() as sim:
        connector = OkxConnector(config_for(sim))
        await connector.start()
        try:
            await connector.client._drop_ws("test")  # as if the socket had just closed
            report = await connector.submit(buy("fallback"))
            assert report.status is ReportStatus.FILLED
            assert "POST /api/v5/trade/order" in sim.requests
        finally:
            await connector.stop()


async def test_submit_now_writes_the_order_before_returning() -> None:
    async with venue() as (sim, connector):
        intent = buy("now", "0.0123")
        report = await written_before_awaited(connector.submit_now(intent), lambda: sim.arrivals)
        [arrival] = sim.arrivals
        assert (report.client_order_id, report.status, report.filled_volume) == (
            intent.client_order_id,
            ReportStatus.FILLED,
            Decimal("0.0123"),
        )
        assert (arrival["client_order_id"], arrival["qty"]) == (intent.client_order_id, "1.23")
        assert 0 < report.t_wire_ns <= arrival["arrived_ns"] <= report.t_ack_ns
        assert "POST /api/v5/trade/order" not in sim.requests


async def test_submit_now_raises_an_off_step_size_and_leaves_a_down_socket_to_submit() -> None:
    async with venue() as (sim, connector):
        assert refused_now(connector, buy("off", "0.35", "ETH-USDT-SWAP")) == "51121"
        assert connector.submit_now(buy("stop", order_type=OrderType.STOP, price=Decimal("62000"))) is None
        await connector.client._drop_ws("test")  # as if the socket had just closed
        assert connector.submit_now(buy("down")) is None
        assert sim.arrivals == []


async def test_without_a_reachable_transport_orders_go_through_aiohttps_writer() -> None:
    async with venue() as (sim, connector):
        connector.client._frames = None  # as if FrameWriter.of could not reach the transport
        assert connector.submit_now(buy("unwritable")) is None
        report = await connector.submit(buy("unwritable"))
        assert report.status is ReportStatus.FILLED and report.t_wire_ns > 0
        assert [arrival["client_order_id"] for arrival in sim.arrivals] == [cid("unwritable")]
        assert "POST /api/v5/trade/order" not in sim.requests  # over the WebSocket, not REST


# -- rate limits and clock ------------------------------------------------------------------


async def test_rate_limiter_refuses_before_the_venue_does() -> None:
    async with venue() as (sim, connector):
        for i in range(60):
            await connector.submit(buy(f"burst{i}", "0.0001"))
        with pytest.raises(RateLimited) as raised:
            await connector.submit(buy("burst60", "0.0001"))
        assert raised.value.code == "local"
        assert 0 < raised.value.retry_after <= 2.0
        assert len(sim.arrivals) == 60
        assert sim.rate_limited == 0
        # Another instrument has its own budget at OKX, and here.
        report = await connector.submit(buy("other", "0.1", "ETH-USDT-SWAP"))
        assert report.status is ReportStatus.FILLED


async def test_venue_rate_limit_answer_is_rate_limited() -> None:
    async with venue() as (sim, connector):
        body = {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "0.01"}
        for i in range(60):
            await connector.client.request(
                "POST", "/api/v5/trade/order", body={**body, "clOrdId": cid("v", i)}, write=True
            )
        with pytest.raises(RateLimited) as raised:
            await connector.client.request(
                "POST", "/api/v5/trade/order", body={**body, "clOrdId": cid("v", 60)}, write=True
            )
        assert raised.value.code == "50011"
        assert sim.rate_limited == 1


async def test_clock_offset_is_measured_and_applied() -> None:
    sim = OkxSim()
    sim.clock_offset_ms = 120_000  # the venue's clock is two minutes ahead of ours
    async with venue(sim) as (_, connector):
        assert abs(connector.client.clock_offset_ms - 120_000) < 1_000
        assert (await connector.submit(buy("clock"))).status is ReportStatus.FILLED
        connector.client.clock_offset_ms = 0
        with pytest.raises(TransientError) as raised:
            await connector.client.request("GET", "/api/v5/account/balance")
        assert raised.value.code == "50102"
        await connector.client.sync_clock()
        await connector.client.request("GET", "/api/v5/account/balance")


# -- orders beyond market opens -------------------------------------------------------------


async def test_hedge_mode_opens_both_sides_and_closes_each() -> None:
    async with venue(OkxSim(pos_mode="long_short_mode")) as (sim, connector):
        long = await connector.submit(buy("long"))
        short = await connector.submit(buy("short", side=Side.SELL))
        assert (long.position_id, short.position_id) == ("BTC-USDT-SWAP:long", "BTC-USDT-SWAP:short")
        assert {o["posSide"] for o in sim.orders.values()} == {"long", "short"}

        intent = OrderIntent(
            IntentKind.CLOSE,
            cid("close-short"),
            "BTC-USDT-SWAP",
            Side.SELL,
            Decimal("0.0040"),
            position_id=short.position_id,
        )
        closed = await connector.submit(intent)
        assert closed.status is ReportStatus.CLOSED
        last = list(sim.orders.values())[-1]
        assert (last["side"], last["posSide"], last["sz"], last["reduceOnly"]) == ("buy", "short", "0.4", "false")
        volumes = {p.position_id: p.volume for p in await connector.positions()}
        assert volumes == {"BTC-USDT-SWAP:long": Decimal("0.0100"), "BTC-USDT-SWAP:short": Decimal("0.0060")}


async def test_net_mode_close_is_reduce_only_and_close_all_uses_the_position() -> None:
    async with venue() as (sim, connector):
        opened = await connector.submit(buy("net"))
        closed = await connector.submit(
            OrderIntent(IntentKind.CLOSE, cid("close-all"), "BTC-USDT-SWAP", Side.BUY, position_id=opened.position_id)
        )
        assert closed.status is ReportStatus.CLOSED and closed.filled_volume == Decimal("0.0100")
        last = list(sim.orders.values())[-1]
        assert (last["side"], last["reduceOnly"], last["sz"]) == ("sell", "true", "1")
        assert await connector.positions() == []
        with pytest.raises(VenueRejected) as raised:
            await connector.submit(
                OrderIntent(IntentKind.CLOSE, cid("close-none"), "BTC-USDT-SWAP", Side.BUY, Decimal("0.01"))
            )
        assert raised.value.code == "51169"


async def test_limit_order_rests_amends_and_cancels() -> None:
    async with venue() as (sim, connector):
        placed = await connector.submit(buy("limit", order_type=OrderType.LIMIT, price=Decimal("60000.04")))
        assert placed.status is ReportStatus.ACCEPTED and placed.venue_order_id
        order = sim.orders[placed.venue_order_id]
        assert (order["state"], order["px"]) == ("live", "60000")  # rounded to the 0.1 tick

        amended = await connector.submit(
            OrderIntent(
                IntentKind.MODIFY,
                cid("amend"),
                "BTC-USDT-SWAP",
                Side.BUY,
                price=Decimal("61000"),
                order_id=placed.venue_order_id,
            )
        )
        assert amended.status is ReportStatus.MODIFIED and order["px"] == "61000"
        canceled = await connector.submit(
            OrderIntent(IntentKind.CANCEL, cid("cancel"), "BTC-USDT-SWAP", Side.BUY, order_id=placed.venue_order_id)
        )
        assert canceled.status is ReportStatus.CANCELED and order["state"] == "canceled"
        found = await connector.order_by_client_id(placed.client_order_id)
        assert found is not None and found.status is ReportStatus.CANCELED


async def test_stop_entry_is_an_algo_order_that_triggers_and_cancels() -> None:
    async with venue() as (sim, connector):
        stop = await connector.submit(
            buy("stop", order_type=OrderType.STOP, price=Decimal("66000"), sl=Decimal("64000"))
        )
        assert stop.status is ReportStatus.ACCEPTED and stop.venue_order_id and stop.venue_order_id.startswith("algo:")
        found = await connector.order_by_client_id(stop.client_order_id)
        assert found is not None and found.venue_order_id == stop.venue_order_id

        sim.set_price("BTC-USDT-SWAP", "66100")
        positions = await connector.positions()
        assert [(p.volume, p.sl) for p in positions] == [(Decimal("0.0100"), Decimal("64000"))]

        second = await connector.submit(buy("stop2", order_type=OrderType.STOP, price=Decimal("70000")))
        canceled = await connector.submit(
            OrderIntent(IntentKind.CANCEL, cid("cancel2"), "BTC-USDT-SWAP", Side.BUY, order_id=second.venue_order_id)
        )
        assert canceled.status is ReportStatus.CANCELED
        assert sim.algos[(second.venue_order_id or "").removeprefix("algo:")]["state"] == "canceled"


async def test_modify_keeps_the_other_level_and_the_stop_loss_closes_at_the_venue() -> None:
    async with venue() as (sim, connector):
        opened = await connector.submit(buy("sltp", sl=Decimal("60000"), tp=Decimal("70000")))
        modify = OrderIntent(
            IntentKind.MODIFY,
            cid("sltp", 1),
            "BTC-USDT-SWAP",
            Side.BUY,
            position_id=opened.position_id,
            sl=Decimal("62000"),
        )
        assert (await connector.submit(modify)).status is ReportStatus.MODIFIED
        [position] = await connector.positions()
        assert (position.sl, position.tp) == (Decimal("62000"), Decimal("70000"))
        assert len([a for a in sim.algos.values() if a["state"] == "live"]) == 1

        sim.set_price("BTC-USDT-SWAP", "61900")
        await eventually(lambda: connector.account().open_positions == 0)
        assert await connector.positions() == []
        # 0.01 BTC bought at 65000 and stopped out at 61900.
        await eventually(lambda: connector.account().balance == Decimal(100_000) - Decimal(31))


# -- lifecycle and configuration ------------------------------------------------------------


async def test_position_mode_mismatch_is_a_config_error() -> None:
    async with OkxSim(pos_mode="long_short_mode") as sim:
        connector = OkxConnector(config_for(sim, hedge_mode=False))
        with pytest.raises(ConfigError) as raised:
            await connector.start()
        assert raised.value.path == "accounts.acct.hedge_mode"
        assert connector.state is ConnectorState.DOWN


async def test_background_refresh_is_a_named_task_that_picks_up_new_instruments() -> None:
    async with venue(refresh_interval=0.02) as (sim, connector):
        names = {task.get_name() for task in asyncio.all_tasks()}
        assert "okx:acct:refresh" in names
        sim.swaps["SOL-USDT-SWAP"] = SimSwap("SOL-USDT-SWAP", ct_val="1", lot_sz="1", min_sz="1", tick_sz="0.01")
        await eventually(lambda: connector.instrument("SOLUSDT") is not None)
    assert "okx:acct:refresh" not in {task.get_name() for task in asyncio.all_tasks()}


def test_config_from_mapping_names_the_key_and_hides_secrets() -> None:
    data = {"venue": "okx", "api_key": "k", "api_secret": "s3cr3t", "passphrase": "p4ss", "demo": True}
    config = OkxConfig.from_mapping("main", data)
    assert config.demo and config.ws_url.startswith("wss://wspap.okx.com")
    assert "s3cr3t" not in repr(config) and "p4ss" not in repr(config)
    bad = [
        ({**data, "base_url": "ftp://x"}, "accounts.main.base_url"),
        ({**data, "td_mode": "cash"}, "accounts.main.td_mode"),
        ({**data, "hedge_mode": "yes"}, "accounts.main.hedge_mode"),
        ({k: v for k, v in data.items() if k != "passphrase"}, "accounts.main.passphrase"),
        ({**data, "api_secret": "env:OKX_SECRET"}, "accounts.main.api_secret"),
        ({**data, "colour": "red"}, "accounts.main.colour"),
    ]
    for mapping, path in bad:
        with pytest.raises(ConfigError) as raised:
            OkxConfig.from_mapping("main", mapping)
        assert raised.value.path == path


def test_simulator_runs_as_its_own_process() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.venues.okx_sim", "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        base = f"http://127.0.0.1:{port}"

        def post(path: str, payload: dict[str, Any]) -> Any:
            request = urllib.request.Request(base + path, data=json.dumps(payload).encode(), method="POST")
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.loads(response.read())

        assert (
            eventually_sync(lambda: post("/__sim/price", {"symbol": "BTC-USDT-SWAP", "price": "70000"}))["price"]
            == "70000"
        )
        assert post("/__sim/fault", {"latency_ms": 1})["latency_ms"] == 1
        with urllib.request.urlopen(base + "/__sim/orders", timeout=5) as response:
            assert json.loads(response.read()) == []
    finally:
        proc.terminate()
        proc.wait(timeout=10)
