"""Every venue's order socket writes each frame when it is made (write buffer high-water mark 0),
so a fan-out's first order does not wait for the last one to be planned."""

from __future__ import annotations

from typing import Any

from tests.connectors import test_binance_contract, test_bybit_contract, test_okx_contract


def _limits(ws: Any) -> tuple[int, int]:
    low, high = ws._writer.transport.get_write_buffer_limits()
    return int(low), int(high)


async def test_okx_order_socket_writes_at_once() -> None:
    async with test_okx_contract.TestOkxContract().make() as (connector, _):
        assert _limits(connector.client._ws) == (0, 0)  # type: ignore[attr-defined]


async def test_bybit_order_socket_writes_at_once() -> None:
    async with test_bybit_contract.TestBybitContract().make() as (connector, _):
        assert _limits(connector.trade.ws) == (0, 0)  # type: ignore[attr-defined]


async def test_binance_order_socket_writes_at_once() -> None:
    async with test_binance_contract.TestBinanceContract().make() as (connector, _):
        assert _limits(connector.client.ws._ws) == (0, 0)  # type: ignore[attr-defined]
