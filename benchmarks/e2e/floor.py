"""The runtime floor: the least work that turns one webhook into N orders on N warm connections.

Two processes, both on uvloop:

    python -m benchmarks.e2e.floor sink --out arrivals.json
    python -m benchmarks.e2e.floor server --sinks 40001,40002 --connections N --out wire.json

The **sink** accepts connections and stamps every complete frame with ``time.monotonic_ns()`` as
its bytes are read; it prints its port and, on SIGTERM, writes ``{"arrivals": [[ns, …] per
connection]}``. The **server** opens ``N`` TCP connections to the sinks (spread round-robin, kept
open, TCP_NODELAY), builds one order frame per connection up front, then serves HTTP/1.1: when a
request's body is complete it takes ``t0``, decodes the JSON body, writes every connection's frame
and answers ``200``. On SIGTERM it writes ``{"t0_ns": [...], "t_wire_ns": [...]}`` (``t_wire`` is
after the last write). No framework, no planning, no logging: what is left is the event loop, the
socket writes and the kernel's loopback — the best this runtime can do for the same job.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any, cast

import orjson

FRAME_BYTES = 192
RESPONSE = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


def frame(index: int) -> bytes:
    """The order frame of connection ``index``: an OKX-like order op, padded to FRAME_BYTES."""
    text = orjson.dumps(
        {
            "id": f"c{index}",
            "op": "order",
            "args": [
                {
                    "instId": "BTC-USDT-SWAP",
                    "tdMode": "cross",
                    "side": "buy",
                    "ordType": "market",
                    "sz": "1",
                    "clOrdId": f"cp{index:020d}",
                }
            ],
        }
    )
    return text.ljust(FRAME_BYTES - 1) + b"\n"


# -- sink ------------------------------------------------------------------------------------------


class _SinkConnection(asyncio.Protocol):
    def __init__(self, store: list[list[int]]) -> None:
        self.stamps: list[int] = []
        self.pending = 0
        store.append(self.stamps)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        self.pending += len(data)
        while self.pending >= FRAME_BYTES:
            self.pending -= FRAME_BYTES
            self.stamps.append(now)


async def _sink() -> dict[str, list[list[int]]]:
    loop = asyncio.get_running_loop()
    store: list[list[int]] = []
    server = await loop.create_server(lambda: _SinkConnection(store), "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    await _until_stopped()
    server.close()
    return {"arrivals": store}


# -- server ----------------------------------------------------------------------------------------


class _Http(asyncio.Protocol):
    """A minimal HTTP/1.1 keep-alive server for POSTs with a Content-Length."""

    def __init__(self, writers: list[tuple[asyncio.WriteTransport, bytes]], stamps: dict[str, list[int]]) -> None:
        self.writers = writers
        self.stamps = stamps
        self.buffer = b""
        self.transport: asyncio.WriteTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.WriteTransport, transport)
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self.buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            body, self.buffer = self.buffer[end + 4 : total], self.buffer[total:]
            self._order(body)

    def _order(self, body: bytes) -> None:
        t0 = time.monotonic_ns()
        orjson.loads(body)
        for transport, data in self.writers:
            transport.write(data)
        t_wire = time.monotonic_ns()
        assert self.transport is not None
        self.transport.write(RESPONSE)
        self.stamps["t0_ns"].append(t0)
        self.stamps["t_wire_ns"].append(t_wire)


async def _server(sinks: list[int], connections: int) -> dict[str, list[int]]:
    loop = asyncio.get_running_loop()
    writers: list[tuple[asyncio.WriteTransport, bytes]] = []
    for index in range(connections):
        port = sinks[index % len(sinks)]
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        writers.append((cast(asyncio.WriteTransport, transport), frame(index)))
    stamps: dict[str, list[int]] = {"t0_ns": [], "t_wire_ns": []}
    server = await loop.create_server(lambda: _Http(writers, stamps), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await _until_stopped()
    server.close()
    return stamps


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Command line: the ``sink`` or ``server`` role."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    roles = parser.add_subparsers(dest="role", required=True)
    sink = roles.add_parser("sink")
    sink.add_argument("--out", type=Path, required=True)
    server = roles.add_parser("server")
    server.add_argument("--sinks", required=True, help="comma-separated sink ports")
    server.add_argument("--connections", type=int, required=True)
    server.add_argument("--out", type=Path, required=True)
    server.add_argument("--nice", type=int, default=0, help="the server's niceness (the daemon's in the run)")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    if args.role == "server" and args.nice:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    import uvloop

    if args.role == "sink":
        result: Any = uvloop.run(_sink())
    else:
        result = uvloop.run(_server([int(p) for p in args.sinks.split(",")], args.connections))
    args.out.write_bytes(orjson.dumps(result))


if __name__ == "__main__":
    main()
