"""The Binance USDⓈ-M connector passes the shared connector contract against the loopback venue, in
one-way and hedge position modes, with orders over the WebSocket API and over REST."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

from connectors.binance import BinanceConfig, BinanceConnector
from core.connector import Connector
from tests.connectors.contract import ConnectorContract, ContractVenue
from tests.venues.binance_sim import DEFAULT_API_KEY, DEFAULT_API_SECRET, BinanceSim


class BinanceContractVenue:
    """Contract adapter over a :class:`BinanceSim`: BTCUSDT, step and minimum 0.001 BTC."""

    symbol = "BTCUSDT"
    volume = Decimal("0.010")
    part = Decimal("0.004")
    off_step_volume = Decimal("0.0105")
    below_min_volume = Decimal("0.0005")

    def __init__(self, sim: BinanceSim) -> None:
        self.sim = sim

    async def orders_with_client_id(self, client_order_id: str) -> int:
        orders = sum(1 for order in self.sim.orders.values() if order["clientOrderId"] == client_order_id)
        algos = sum(1 for algo in self.sim.algos.values() if algo["clientAlgoId"] == client_order_id)
        return orders + algos


class TestBinanceContract(ConnectorContract):
    hedge_mode = False
    ws_orders = True

    @asynccontextmanager
    async def make(self) -> AsyncIterator[tuple[Connector, ContractVenue]]:
        sim = BinanceSim(hedge_mode=self.hedge_mode)
        await sim.start()
        connector = BinanceConnector(
            BinanceConfig(
                name="binance-contract",
                api_key=DEFAULT_API_KEY,
                api_secret=DEFAULT_API_SECRET,
                base_url=sim.base_url,
                ws_url=sim.ws_url,
                stream_url=sim.stream_url,
                hedge_mode=self.hedge_mode,
                ws_orders=self.ws_orders,
            )
        )
        try:
            await connector.start()
            yield connector, BinanceContractVenue(sim)
        finally:
            await connector.stop()
            await sim.stop()


class TestBinanceHedgeContract(TestBinanceContract):
    hedge_mode = True


class TestBinanceRestContract(TestBinanceContract):
    ws_orders = False
