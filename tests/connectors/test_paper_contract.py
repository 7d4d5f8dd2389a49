"""The paper connector passes the shared connector contract, in both account modes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

from connectors.paper import PaperConfig, PaperConnector, PaperVenue
from connectors.paper.config import Mode
from core.connector import Connector
from tests.connectors.contract import ConnectorContract, ContractVenue


class PaperContractVenue:
    """Contract adapter over a :class:`PaperVenue`."""

    symbol = "EURUSD"
    volume = Decimal("0.10")
    part = Decimal("0.04")
    off_step_volume = Decimal("0.015")
    below_min_volume = Decimal("0.001")

    def __init__(self, sim: PaperVenue) -> None:
        self.sim = sim

    async def orders_with_client_id(self, client_order_id: str) -> int:
        return 0 if self.sim.order(client_order_id) is None else 1


class TestPaperContract(ConnectorContract):
    mode: Mode = "hedging"

    @asynccontextmanager
    async def make(self) -> AsyncIterator[tuple[Connector, ContractVenue]]:
        connector = PaperConnector(PaperConfig(name="paper-contract", mode=self.mode))
        await connector.start()
        try:
            yield connector, PaperContractVenue(connector.sim)
        finally:
            await connector.stop()


class TestPaperNettingContract(TestPaperContract):
    mode = "netting"
