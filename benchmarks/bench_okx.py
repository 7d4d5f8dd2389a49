"""OKX connector micro-benchmarks.

``encode_and_sign``: one OPEN intent to the bytes of a WebSocket ``order`` op, and the same order as
a signed REST body with its ``OK-ACCESS-*`` headers (pure, no I/O). ``submit_round_trip``: one
market order through ``submit`` to the in-process loopback venue and back (WebSocket write, venue
ack, fill on the ``orders`` channel); the wire-to-ack time is also reported from the reports' stamps.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
from decimal import Decimal
from typing import Any

import orjson

from connectors.okx import OkxConfig, OkxConnector, parse
from connectors.okx.auth import Signer, iso_timestamp, rest_headers
from core.enums import Side
from core.orders import IntentKind, OrderIntent, client_order_id
from core.ratelimit import Limit, RateLimiter
from tests.venues.okx_sim import API_KEY, API_SECRET, PASSPHRASE, OkxSim, SimSwap

SPEC = parse.swap_spec(SimSwap("BTC-USDT-SWAP", ct_val="0.01", lot_sz="0.01", min_sz="0.01", tick_sz="0.1").row())
INTENT = OrderIntent(
    IntentKind.OPEN, client_order_id("bench", "1", "r", 0), "BTC-USDT-SWAP", Side.BUY, Decimal("0.0123")
)
CONNECTOR = OkxConnector(OkxConfig(name="bench", api_key=API_KEY, api_secret=API_SECRET, passphrase=PASSPHRASE))
SIGNER = Signer(API_SECRET)


def encode_and_sign() -> tuple[str, bytes, dict[str, str]]:
    assert SPEC is not None
    args = CONNECTOR.encode_open(INTENT, SPEC)
    frame = orjson.dumps({"id": "1", "op": "order", "args": [args]}).decode()
    body = orjson.dumps(args)
    headers = rest_headers(
        SIGNER, API_KEY, PASSPHRASE, iso_timestamp(1700000000000), "POST", "/api/v5/trade/order", body
    )
    return frame, body, headers


def test_okx_encode_and_sign(benchmark: Any) -> None:
    frame, _body, headers = benchmark(encode_and_sign)
    assert '"sz":"1.23"' in frame and len(headers["OK-ACCESS-SIGN"]) == 44


def test_okx_submit_round_trip(benchmark: Any) -> None:
    loop = asyncio.new_event_loop()
    # OKX's 60 orders per 2 s would stop a benchmark early; lift it (at the venue and here) to measure.
    sim = OkxSim(balance=Decimal("10000000000"), order_limit=(10**9, 1.0))
    loop.run_until_complete(sim.start())
    connector = OkxConnector(
        OkxConfig(
            name="bench",
            api_key=API_KEY,
            api_secret=API_SECRET,
            passphrase=PASSPHRASE,
            base_url=sim.base_url,
            ws_url=sim.ws_url,
        )
    )
    loop.run_until_complete(connector.start())
    connector.client._limiters[("order", "BTC-USDT-SWAP")] = RateLimiter((Limit(10**9, 1.0, "benchmark"),))
    counter = itertools.count()
    wire_to_ack: list[int] = []

    def one() -> None:
        intent = OrderIntent(
            IntentKind.OPEN,
            client_order_id("bench", str(next(counter)), "r", 0),
            "BTC-USDT-SWAP",
            Side.BUY,
            Decimal("0.0001"),
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
    print(f"\nokx wire->ack median {statistics.median(wire_to_ack) / 1000:.0f} us over {len(wire_to_ack)} orders")
