"""Binance USDⓈ-M connector micro-benchmarks.

``encode_sign``: one OPEN intent to the bytes of a signed ``order.place`` frame (WebSocket API) and
to a signed REST query string. ``round_trip``: one market order through ``submit`` to the in-process
loopback venue and back, over the WebSocket API and over REST; the wire-to-ack time is also reported
from the reports' own stamps.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
from decimal import Decimal
from typing import Any

import orjson
import pytest

from connectors.binance import BinanceConfig, BinanceConnector, auth
from core.enums import Side
from core.orders import IntentKind, OrderIntent, client_order_id
from core.ratelimit import Limit, RateLimiter
from tests.venues.binance_sim import DEFAULT_API_KEY, DEFAULT_API_SECRET, BinanceSim

INTENT = OrderIntent(IntentKind.OPEN, client_order_id("bench", "1", "r", 0), "BTCUSDT", Side.BUY, Decimal("0.010"))
CONNECTOR = BinanceConnector(BinanceConfig("bench", DEFAULT_API_KEY, DEFAULT_API_SECRET))
SECRET = DEFAULT_API_SECRET.encode()


def encode_and_sign() -> tuple[bytes, str]:
    params, _algo = CONNECTOR.order_params(
        INTENT.symbol, INTENT.side, "BOTH", INTENT.volume, INTENT.client_order_id, order_type=INTENT.order_type
    )
    ws_params = auth.sign_ws(dict(params), DEFAULT_API_KEY, SECRET, 1700000000000, 5000)
    frame = orjson.dumps({"id": "1", "method": "order.place", "params": ws_params})
    query = auth.signed_query(params, SECRET, 1700000000000, 5000)
    return frame, query


def test_binance_encode_and_sign(benchmark: Any) -> None:
    frame, query = benchmark(encode_and_sign)
    assert b'"quantity":"0.010"' in frame and len(query.rsplit("signature=", 1)[1]) == 64


@pytest.mark.parametrize("ws_orders", [True, False], ids=["ws", "rest"])
def test_binance_submit_round_trip(benchmark: Any, ws_orders: bool) -> None:
    loop = asyncio.new_event_loop()
    sim = BinanceSim(balance=Decimal("10000000000"), order_limits=((10**9, 1.0),))
    loop.run_until_complete(sim.start())
    connector = BinanceConnector(
        BinanceConfig(
            "bench",
            DEFAULT_API_KEY,
            DEFAULT_API_SECRET,
            base_url=sim.base_url,
            ws_url=sim.ws_url,
            stream_url=sim.stream_url,
            ws_orders=ws_orders,
            account_refresh=3600,
        )
    )
    loop.run_until_complete(connector.start())
    # The venue's 300 orders per 10 s would stop a benchmark early; lift it for the measurement.
    connector.client.order_limiter = RateLimiter((Limit(10**9, 1.0, "benchmark"),))
    connector.client.weight_limiter = RateLimiter((Limit(10**9, 1.0, "benchmark"),))
    counter = itertools.count()
    wire_to_ack: list[int] = []

    def one() -> None:
        intent = OrderIntent(
            IntentKind.OPEN, client_order_id("bench", str(next(counter)), "r", 0), "BTCUSDT", Side.BUY, Decimal("0.002")
        )
        report = loop.run_until_complete(connector.submit(intent))
        wire_to_ack.append(report.t_ack_ns - report.t_wire_ns)

    try:
        benchmark(one)
    finally:
        loop.run_until_complete(connector.stop())
        loop.run_until_complete(sim.stop())
        loop.close()
    path = "ws" if ws_orders else "rest"
    benchmark.extra_info["wire_to_ack_median_us"] = statistics.median(wire_to_ack) / 1000
    benchmark.extra_info["wire_to_ack_p99_us"] = sorted(wire_to_ack)[int(len(wire_to_ack) * 0.99)] / 1000
    print(f"\nbinance {path} wire->ack median {statistics.median(wire_to_ack) / 1000:.0f} us over {len(wire_to_ack)}")
