"""The OKX connector passes the shared connector contract against the loopback venue, in both
position modes (one-way ``net_mode`` and hedge ``long_short_mode``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

from connectors.okx import OkxConfig, OkxConnector
from core.connector import Connector
from tests.connectors.contract import ConnectorContract, ContractVenue
from tests.venues.okx_sim import API_KEY, API_SECRET, PASSPHRASE, OkxSim


class OkxContractVenue:
    """Contract adapter over an :class:`OkxSim`.

    BTC-USDT-SWAP: ``ctVal`` 0.01 BTC and ``lotSz`` 0.01 contracts, so the step and the minimum
    are both 0.0001 BTC.
    """

    symbol = "BTC-USDT-SWAP"
    volume = Decimal("0.0100")
    part = Decimal("0.0040")
    off_step_volume = Decimal("0.01005")
    below_min_volume = Decimal("0.00005")

    def __init__(self, sim: OkxSim) -> None:
        self.sim = sim

    async def orders_with_client_id(self, client_order_id: str) -> int:
        orders = sum(1 for order in self.sim.orders.values() if order["clOrdId"] == client_order_id)
        algos = sum(1 for algo in self.sim.algos.values() if algo["algoClOrdId"] == client_order_id)
        return orders + algos


class TestOkxContract(ConnectorContract):
    hedge_mode = False

    @asynccontextmanager
    async def make(self) -> AsyncIterator[tuple[Connector, ContractVenue]]:
        sim = OkxSim(pos_mode="long_short_mode" if self.hedge_mode else "net_mode")
        await sim.start()
        connector = OkxConnector(
            OkxConfig(
                name="okx-contract",
                api_key=API_KEY,
                api_secret=API_SECRET,
                passphrase=PASSPHRASE,
                base_url=sim.base_url,
                ws_url=sim.ws_url,
                hedge_mode=self.hedge_mode,
                fill_wait=2.0,
            )
        )
        try:
            await connector.start()
            yield connector, OkxContractVenue(sim)
        finally:
            await connector.stop()
            await sim.stop()


class TestOkxHedgeContract(TestOkxContract):
    hedge_mode = True
