"""Bybit connector micro-benchmarks.

``encode_sign``: one OPEN intent to the bytes of an ``order.create`` frame (WebSocket) and to a
signed REST body with its headers. ``round_trip``: one market order through ``submit`` to the
in-process loopback venue and back (socket write, venue ack, fill on the private stream); the
wire-to-ack time is also reported from the reports' own stamps.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
from decimal import Decimal
from typing import Any

import orjson

from connectors.bybit import BybitConfig, BybitConnector, auth
from connectors.bybit.connector import order_create_args
from core.enums import Side
from core.instrument import Instrument
from core.orders import IntentKind, OrderIntent, client_order_id
from core.ratelimit import Limit, RateLimiter
from tests.venues.bybit_sim import BybitSim

BTC = Instrument(
    "BTCUSDT", Decimal("0.001"), Decimal("0.001"), Decimal("0.10"), Decimal("100"), min_notional=Decimal(5)
)
INTENT = OrderIntent(IntentKind.OPEN, client_order_id("bench", "1", "r", 0), "BTCUSDT", Side.BUY, Decimal("0.010"))


def encode_and_sign() -> tuple[bytes, bytes, dict[str, str]]:
    args = order_create_args(INTENT, BTC, hedge_mode=False)
    frame = orjson.dumps(
        {
            "reqId": "a1",
            "header": {"X-BAPI-TIMESTAMP": "1700000000000", "X-BAPI-RECV-WINDOW": "5000"},
            "op": "order.create",
            "args": [args],
        }
    )
    body = orjson.dumps(args)
    headers = auth.rest_headers("key", "secret", 1700000000000, 5000, body.decode())
    return frame, body, headers


def test_bybit_encode_and_sign(benchmark: Any) -> None:
    frame, _body, headers = benchmark(encode_and_sign)
    assert b'"qty":"0.010"' in frame and len(headers["X-BAPI-SIGN"]) == 64


def test_bybit_submit_round_trip(benchmark: Any) -> None:
    loop = asyncio.new_event_loop()
    sim = BybitSim(balance=Decimal("10000000000"), orders_per_second=10**9)
    loop.run_until_complete(sim.start())
    connector = BybitConnector(
        BybitConfig(
            name="bench",
            api_key=sim.api_key,
            api_secret=sim.api_secret,
            base_url=sim.base_url,
            ws_url=sim.ws_url,
            private_ws_url=sim.private_ws_url,
        )
    )
    loop.run_until_complete(connector.start())
    # the venue's 10 orders/s would stop a benchmark after ten rounds; lift it for the measurement
    unlimited = (Limit(10**9, 1.0, "benchmark"),)
    connector.rest.order_limiters = {op: RateLimiter(unlimited) for op in connector.rest.order_limiters}
    counter = itertools.count()
    wire_to_ack: list[int] = []

    def one() -> None:
        intent = OrderIntent(
            IntentKind.OPEN, client_order_id("bench", str(next(counter)), "r", 0), "BTCUSDT", Side.BUY, Decimal("0.001")
        )
        report = loop.run_until_complete(connector.submit(intent))
        wire_to_ack.append(report.t_ack_ns - report.t_wire_ns)

    try:
        benchmark(one)
    finally:
        loop.run_until_complete(connector.stop())
        loop.run_until_complete(sim.stop())
        loop.close()
    benchmark.extra_info["wire_to_ack_median_us"] = statistics.median(wire_to_ack) / 1000
    benchmark.extra_info["wire_to_ack_p99_us"] = sorted(wire_to_ack)[int(len(wire_to_ack) * 0.99)] / 1000
    print(f"\nbybit wire->ack median {statistics.median(wire_to_ack) / 1000:.0f} us over {len(wire_to_ack)} orders")
