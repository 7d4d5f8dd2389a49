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


@pytest.mark.parametrize("size", [0, 1, 5, 125, 126, 127, 65535, 65536])
@pytest.mark.parametrize("compiled", [True, False])
def test_masked_text_frame_follows_rfc_6455(size: int, compiled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """FIN + text opcode, the masked bit and the length in its 7, 16 or 64 bits, the key, then
    every payload byte XOR the key's byte at its position modulo 4, with aiohttp's compiled masking
    and without it."""
    from connectors import wire

    if not compiled:
        monkeypatch.setattr(wire, "_mask_in_place", None)
    elif wire._mask_in_place is None:
        pytest.skip("this aiohttp has no compiled masking")
    payload = bytes((index * 7 + 3) % 256 for index in range(size))
    key = 0x9A3C_51E7
    frame = wire.masked_text_frame(payload, key)
    assert isinstance(frame, bytes)
    assert frame[0] == 0x81 and frame[1] & 0x80
    length, offset = frame[1] & 0x7F, 2
    if length == 126:
        length, offset = int.from_bytes(frame[2:4], "big"), 4
    elif length == 127:
        length, offset = int.from_bytes(frame[2:10], "big"), 10
    assert length == size
    mask = frame[offset : offset + 4]
    assert mask == key.to_bytes(4, "big")
    body = frame[offset + 4 :]
    assert bytes(byte ^ mask[index % 4] for index, byte in enumerate(body)) == payload
