"""The load generator process: webhooks at a fixed rate, each send stamped with CLOCK_MONOTONIC.

    python -m benchmarks.e2e.loadgen --port 8080 --path '/webhook/tv?token=t' --signals 100 --rate 10 \
        --id-prefix run1 --out sends.json

Opens one kept-alive TCP connection, builds every request before the first send, and sends
request ``k`` at ``start + k / rate`` (alternating buy and sell, origin id ``<prefix>-<k>``). The
stamp is ``time.monotonic_ns()`` taken immediately before the request's bytes are written; the
answer is read before the next send (at these rates the answer is back long before the next slot).
Writes ``{"sends_ns": [...], "statuses": [...], "late": n}`` to ``--out``.
"""

from __future__ import annotations

import argparse
import socket
import time
from pathlib import Path

import orjson


def body(index: int, prefix: str, symbol: str, volume: str) -> bytes:
    """The TradingView JSON alert of signal ``index``."""
    side = "buy" if index % 2 == 0 else "sell"
    return orjson.dumps({"action": side, "symbol": symbol, "volume": float(volume), "id": f"{prefix}-{index}"})


def request(host: str, port: int, path: str, payload: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + payload


class _Reader:
    """Reads HTTP/1.1 responses (status line, headers, Content-Length body) off one socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buffer += chunk

    def response(self) -> int:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(self.buffer) < length:
            self._fill()
        self.buffer = self.buffer[length:]
        return status


def run(
    host: str, port: int, path: str, signals: int, rate: float, prefix: str, symbol: str, volume: str
) -> dict[str, object]:
    """Send the webhooks; returns the send stamps and answer statuses."""
    requests = [request(host, port, path, body(k, prefix, symbol, volume)) for k in range(signals)]
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = _Reader(sock)
    sends: list[int] = []
    statuses: list[int] = []
    late = 0
    interval_ns = int(1e9 / rate) if rate > 0 else 0
    start = time.monotonic_ns() + 20_000_000
    for index, data in enumerate(requests):
        due = start + index * interval_ns
        wait = due - time.monotonic_ns()
        if wait > 2_000_000:
            time.sleep((wait - 1_000_000) / 1e9)
        while time.monotonic_ns() < due:
            pass
        if time.monotonic_ns() - due > 1_000_000:
            late += 1
        sent = time.monotonic_ns()
        sock.sendall(data)
        sends.append(sent)
        statuses.append(reader.response())
    sock.close()
    return {"sends_ns": sends, "statuses": statuses, "late": late}


def main(argv: list[str] | None = None) -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--signals", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--id-prefix", default="e2e")
    parser.add_argument("--symbol", default="BTCUSDT")
    parser.add_argument("--volume", default="0.01")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    result = run(args.host, args.port, args.path, args.signals, args.rate, args.id_prefix, args.symbol, args.volume)
    args.out.write_bytes(orjson.dumps(result))


if __name__ == "__main__":
    main()
