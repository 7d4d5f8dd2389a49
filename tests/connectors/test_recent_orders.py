"""``recent_orders`` beyond the shared contract: Binance's choice of symbols, and paging through more
orders than one answer holds at OKX and Bybit. Orders are put on the simulators directly (another
program trading the account), so the connector has no memory of them."""

from __future__ import annotations

import time
from decimal import Decimal

from connectors.binance import BinanceConfig, BinanceConnector
from connectors.bybit import BybitConfig, BybitConnector
from connectors.okx import OkxConfig, OkxConnector
from connectors.okx.parse import ALGO_ORDER_PREFIX
from core.enums import OrderType, Side
from core.orders import CLIENT_ID_PREFIX, ReportStatus, client_order_id
from tests.venues.binance_sim import DEFAULT_API_KEY, DEFAULT_API_SECRET, BinanceSim
from tests.venues.bybit_sim import BybitSim
from tests.venues.okx_sim import API_KEY, API_SECRET, PASSPHRASE, OkxSim


def cid(tag: str, leg: int = 0) -> str:
    return client_order_id("recent", tag, "route", leg)


def an_hour_ago() -> int:
    return time.time_ns() // 1_000_000 - 3_600_000


async def test_binance_asks_the_history_of_symbols_with_a_position_an_open_order_or_a_hint():
    async with BinanceSim() as sim:
        def place(symbol: str, side: str, client_id: str, **extra: str) -> None:
            sim.new_order({"symbol": symbol, "side": side, "type": "MARKET", "quantity": "0.010",
                           "positionSide": "BOTH", "newClientOrderId": client_id, **extra})

        place("BTCUSDT", "BUY", cid("held"))  # a position is open on BTCUSDT
        place("ETHUSDT", "BUY", cid("flat-open"))
        place("ETHUSDT", "SELL", cid("flat-close"), reduceOnly="true")  # ETHUSDT is flat again
        sim.new_order({"symbol": "SOLUSDT", "side": "BUY", "type": "LIMIT", "price": "100", "quantity": "1",
                       "positionSide": "BOTH", "timeInForce": "GTC", "newClientOrderId": cid("resting")})
        connector = BinanceConnector(BinanceConfig(
            name="recent", api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET, base_url=sim.base_url,
            ws_url=sim.ws_url, stream_url=sim.stream_url))
        await connector.start()
        try:
            unhinted = {o.client_order_id for o in await connector.recent_orders(CLIENT_ID_PREFIX, an_hour_ago())}
            assert unhinted == {cid("held"), cid("resting")}

            hinted = await connector.recent_orders(CLIENT_ID_PREFIX, an_hour_ago(), ["ETHUSDT", "NOTLISTED"])
            by_id = {o.client_order_id: o for o in hinted}
            assert set(by_id) == {cid("held"), cid("resting"), cid("flat-open"), cid("flat-close")}
            assert by_id[cid("flat-close")].reduce_only and by_id[cid("flat-close")].status is ReportStatus.CLOSED
            assert by_id[cid("resting")].status is ReportStatus.ACCEPTED
            assert by_id[cid("resting")].price == Decimal("100") and by_id[cid("resting")].filled_volume == 0
        finally:
            await connector.stop()


async def test_binance_lists_stop_entries_waiting_triggered_and_canceled_but_not_position_sl_tp():
    """A stop entry is a conditional (algo) order at Binance under its ``clientAlgoId``; once it
    triggers, the order it places has a client id of the venue's and is found by ``actualOrderId``."""
    async with BinanceSim() as sim:
        mark = sim.marks["BTCUSDT"]

        def stop_entry(client_id: str, trigger: Decimal, **extra: str) -> dict:
            return sim.new_algo({"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "BUY", "type": "STOP_MARKET",
                                 "positionSide": "BOTH", "quantity": "0.020", "triggerPrice": str(trigger),
                                 "clientAlgoId": client_id, **extra})

        stop_entry(cid("stop-live"), mark + 1000)
        fired = stop_entry(cid("stop-fired"), mark + 200)
        gone = stop_entry(cid("stop-canceled"), mark + 3000)
        gone.update(algoStatus="CANCELED")
        stop_entry("other2", mark + 2000)  # another program's
        old = stop_entry(cid("stop-old-fill"), mark + 300)
        lost = stop_entry(cid("stop-lost-fill"), mark + 400)
        # A stop-limit entry whose limit order, once triggered, rests below the market.
        resting = stop_entry(cid("stop-limit-rests"), mark + 100, type="STOP", price=str(mark - 100),
                             timeInForce="GTC")
        sim.set_price("BTCUSDT", mark + 500)  # triggers four: three market buys of 0.020, one limit buy
        # One placed order is out of the history asked for (found by its id), one is gone.
        sim.orders[int(old["actualOrderId"])]["time"] = an_hour_ago() - 3_600_000
        del sim.orders[int(lost["actualOrderId"])]
        sim.new_algo({"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET",
                      "positionSide": "BOTH", "closePosition": "true", "triggerPrice": str(mark - 5000),
                      "clientAlgoId": cid("position-sl")})
        connector = BinanceConnector(BinanceConfig(
            name="recent", api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET, base_url=sim.base_url,
            ws_url=sim.ws_url, stream_url=sim.stream_url))
        await connector.start()
        try:
            found = {o.client_order_id: o for o in await connector.recent_orders(CLIENT_ID_PREFIX, an_hour_ago())}
            assert set(found) == {cid(t) for t in ("stop-live", "stop-fired", "stop-canceled", "stop-old-fill",
                                                   "stop-lost-fill", "stop-limit-rests")}  # fmt: skip
            by_id = found[cid("stop-old-fill")]
            assert (by_id.status, by_id.filled_volume, by_id.venue_order_id) == (
                ReportStatus.FILLED, Decimal("0.02"), old["actualOrderId"])  # fmt: skip
            # Binance drops only orders that ended without a fill: one it no longer has never filled.
            purged = found[cid("stop-lost-fill")]
            assert (purged.status, purged.filled_volume, purged.venue_order_id) == (
                ReportStatus.CANCELED, 0, lost["actualOrderId"])  # fmt: skip
            assert sim.algos[resting["algoId"]]["algoStatus"] == "TRIGGERED"
            rests = found[cid("stop-limit-rests")]
            assert (rests.status, rests.order_type, rests.price, rests.filled_volume, rests.venue_order_id) == (
                ReportStatus.ACCEPTED, OrderType.LIMIT, mark - 100, 0, resting["actualOrderId"])  # fmt: skip
            live, filled = found[cid("stop-live")], found[cid("stop-fired")]
            assert live.status is ReportStatus.ACCEPTED and live.order_type is OrderType.STOP
            assert live.price == mark + 1000 and live.filled_volume == 0 and live.volume == Decimal("0.02")
            assert live.venue_order_id is not None and live.venue_order_id.startswith("algo:")
            assert filled.status is ReportStatus.FILLED and filled.filled_volume == Decimal("0.02")
            assert filled.venue_order_id == fired["actualOrderId"] and filled.average_price == mark + 500
            assert not filled.reduce_only and filled.position_id == "BTCUSDT:BOTH"
            assert found[cid("stop-canceled")].status is ReportStatus.CANCELED
            # The venue id of the waiting one is what a cancel of its adopted link uses.
            assert sim.algos[int(live.venue_order_id.removeprefix("algo:"))]["clientAlgoId"] == cid("stop-live")
        finally:
            await connector.stop()


async def test_okx_pages_through_pending_orders_and_history():
    async with OkxSim(order_limit=(10_000, 2.0)) as sim:
        arrived = time.monotonic_ns()
        for n in range(130):
            sim.place({"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "1",
                       "clOrdId": cid("filled", n)}, arrived)
        for n in range(105):
            sim.place({"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "limit", "sz": "1",
                       "px": "50000", "clOrdId": cid("resting", n)}, arrived)
        sim.place({"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "1",
                   "clOrdId": "other1"}, arrived)
        connector = OkxConnector(OkxConfig(
            name="recent", api_key=API_KEY, api_secret=API_SECRET, passphrase=PASSPHRASE, base_url=sim.base_url,
            ws_url=sim.ws_url))
        await connector.start()
        try:
            found = await connector.recent_orders(CLIENT_ID_PREFIX, an_hour_ago())
        finally:
            await connector.stop()
        statuses = [o.status for o in found]
        assert len(found) == 235 and len({o.client_order_id for o in found}) == 235
        assert statuses.count(ReportStatus.FILLED) == 130 and statuses.count(ReportStatus.ACCEPTED) == 105
        assert all(o.volume == Decimal("0.01") and o.side is Side.BUY for o in found)
        assert [o.time_ms for o in found] == sorted(o.time_ms for o in found)


async def test_okx_lists_stop_entries_live_and_triggered_but_not_position_sl_tp():
    """A stop entry is an algo order at OKX, listed apart from the others; once it triggers, the
    order it places carries the stop entry's ``algoClOrdId`` and no ``clOrdId`` of its own."""
    async with OkxSim() as sim:
        mark = sim.prices["BTC-USDT-SWAP"]

        def stop_entry(client_id: str, trigger: Decimal) -> None:
            sim.place_algo({"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "trigger",
                            "sz": "2", "triggerPx": str(trigger), "orderPx": "-1", "algoClOrdId": client_id})

        stop_entry(cid("stop-live"), mark + 1000)
        stop_entry(cid("stop-fired"), mark + 200)
        stop_entry("other2", mark + 2000)  # another program's
        sim.set_price("BTC-USDT-SWAP", mark + 500)  # triggers the second: a market buy
        sim.place_algo({"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "sell", "ordType": "conditional",
                        "sz": "1", "slTriggerPx": str(mark - 5000), "algoClOrdId": cid("position-sl")})
        connector = OkxConnector(OkxConfig(
            name="recent", api_key=API_KEY, api_secret=API_SECRET, passphrase=PASSPHRASE, base_url=sim.base_url,
            ws_url=sim.ws_url))
        await connector.start()
        try:
            found = {o.client_order_id: o for o in await connector.recent_orders(CLIENT_ID_PREFIX, an_hour_ago())}
            assert set(found) == {cid("stop-live"), cid("stop-fired")}
            live, fired = found[cid("stop-live")], found[cid("stop-fired")]
            assert live.status is ReportStatus.ACCEPTED and live.order_type is OrderType.STOP
            assert live.price == mark + 1000 and live.filled_volume == 0 and live.volume == Decimal("0.02")
            assert live.venue_order_id is not None and live.venue_order_id.startswith(ALGO_ORDER_PREFIX)
            assert fired.status is ReportStatus.FILLED and fired.filled_volume == Decimal("0.02")
            assert fired.venue_order_id is not None and not fired.venue_order_id.startswith(ALGO_ORDER_PREFIX)
            # The venue id of the live one is what a cancel of its adopted link uses.
            algo_id = live.venue_order_id.removeprefix(ALGO_ORDER_PREFIX)
            assert sim.algos[algo_id]["algoClOrdId"] == cid("stop-live")
        finally:
            await connector.stop()


async def test_bybit_pages_with_the_cursor():
    sim = BybitSim()
    await sim.start()
    try:
        for n in range(60):
            sim.create({"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market",
                        "qty": "0.001", "orderLinkId": cid("filled", n)})
        for n in range(55):
            sim.create({"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
                        "qty": "0.001", "price": "59000", "orderLinkId": cid("resting", n)})
        sim.create({"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market",
                    "qty": "0.001", "orderLinkId": "someone-else"})
        connector = BybitConnector(BybitConfig(
            name="recent", api_key=sim.api_key, api_secret=sim.api_secret, base_url=sim.base_url,
            ws_url=sim.ws_url, private_ws_url=sim.private_ws_url))
        await connector.start()
        try:
            found = await connector.recent_orders(CLIENT_ID_PREFIX, an_hour_ago())
        finally:
            await connector.stop()
    finally:
        await sim.stop()
    statuses = [o.status for o in found]
    assert len(found) == 115 and len({o.client_order_id for o in found}) == 115
    assert statuses.count(ReportStatus.FILLED) == 60 and statuses.count(ReportStatus.ACCEPTED) == 55
    assert {o.price for o in found if o.status is ReportStatus.ACCEPTED} == {Decimal("59000")}
