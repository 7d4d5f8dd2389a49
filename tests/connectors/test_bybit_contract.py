"""The Bybit connector passes the shared connector contract against the loopback venue, in both modes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

from connectors.bybit import BybitConfig, BybitConnector
from core.connector import Connector
from tests.connectors.contract import ConnectorContract, ContractVenue
from tests.venues.bybit_sim import BybitSim


class BybitContractVenue:
    """Contract adapter over a :class:`BybitSim` (BTCUSDT: step 0.001, minimum 0.001)."""

    symbol = "BTCUSDT"
    volume = Decimal("0.010")
    part = Decimal("0.004")
    off_step_volume = Decimal("0.0105")
    below_min_volume = Decimal("0.0005")

    def __init__(self, sim: BybitSim) -> None:
        self.sim = sim

    async def orders_with_client_id(self, client_order_id: str) -> int:
        return sum(1 for order in self.sim.orders.values() if order["orderLinkId"] == client_order_id)


class TestBybitContract(ConnectorContract):
    hedge_mode = False

    @asynccontextmanager
    async def make(self) -> AsyncIterator[tuple[Connector, ContractVenue]]:
        sim = BybitSim(hedge_mode=self.hedge_mode)
        await sim.start()
        connector = BybitConnector(
            BybitConfig(
                name="bybit-contract",
                api_key=sim.api_key,
                api_secret=sim.api_secret,
                base_url=sim.base_url,
                ws_url=sim.ws_url,
                private_ws_url=sim.private_ws_url,
                hedge_mode=self.hedge_mode,
                fill_wait=2.0,
            )
        )
        try:
            await connector.start()
            yield connector, BybitContractVenue(sim)
        finally:
            await connector.stop()
            await sim.stop()


class TestBybitHedgeContract(TestBybitContract):
    hedge_mode = True
