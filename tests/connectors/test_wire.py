"""Every venue's order socket writes each frame when it is made (write buffer high-water mark 0),
so a fan-out's first order does not wait for the last one to be planned."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.connectors import test_binance_contract, test_bybit_contract, test_okx_contract


def _limits(ws: Any) -> tuple[int, int]:
    low, high = ws._writer.transport.get_write_buffer_limits()
    return int(low), int(high)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_order_sockets_write_at_once_on_either_loop(loop: str) -> None:
    """uvloop's transports are not ``asyncio.WriteTransport`` subclasses; the standard loop's are.
    On both loops (the daemon's on Linux and on Windows) the three order sockets write at once."""
    run = pytest.importorskip("uvloop").run if loop == "uvloop" else asyncio.run

    async def limits() -> list[tuple[int, int]]:
        async with (
            test_okx_contract.TestOkxContract().make() as (okx, _),
            test_bybit_contract.TestBybitContract().make() as (bybit, _),
            test_binance_contract.TestBinanceContract().make() as (binance, _),
        ):
            return [
                _limits(okx.client._ws),  # type: ignore[attr-defined]
                _limits(bybit.trade.ws),  # type: ignore[attr-defined]
                _limits(binance.client.ws._ws),  # type: ignore[attr-defined]
            ]

    assert run(limits()) == [(0, 0)] * 3
