"""The edge's HTTP/1.1 server over real loopback connections: framing, limits, timers, order."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ingest.http import HttpServer, Request, Response
from tests.helpers import eventually


class Recorder:
    """Answers every request with its path and body; remembers requests and refusals."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.refusals: list[tuple[str, int, str]] = []

    def handle(self, request: Request) -> Response:
        if request.path == "/boom":
            raise RuntimeError("handler bug")
        self.requests.append(request)
        return Response(200, request.path.encode() + b"|" + request.body, content_type="text/plain")

    def refuse(self, path: str, status: int, reason: str) -> Response:
        self.refusals.append((path, status, reason))
        return Response(status, reason.encode(), content_type="text/plain")


@asynccontextmanager
async def serving(**limits: float) -> AsyncIterator[tuple[Recorder, HttpServer, int]]:
    recorder = Recorder()
    options = {"max_body": 1000, "read_timeout": 5.0, **limits}
    server = HttpServer(
        recorder,
        max_body=int(options.pop("max_body")),
        read_timeout=options.pop("read_timeout"),
        **options,  # type: ignore[arg-type]
    )
    port = await server.start("127.0.0.1", 0)
    try:
        yield recorder, server, port
    finally:
        server.close()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), 5)
    return status, headers, body


def post(path: str, body: bytes, *extra: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def test_keep_alive_and_pipelined_requests_are_answered_in_order():
    async with serving() as (recorder, _, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(post("/a%20b?token=t%20x&token=second&flag", b"one"))
        status, headers, body = await read_response(reader)
        assert (status, body) == (200, b"/a b|one")
        assert "connection" not in headers and headers["date"].endswith("GMT")
        request = recorder.requests[0]
        assert request.query == {"token": "t x", "flag": ""} and request.method == "POST"
        assert request.remote == "127.0.0.1" and request.headers["host"] == "x"
        writer.write(post("/b", b"two") + post("/c", b"three"))  # two requests in one write
        assert [(await read_response(reader))[2] for _ in range(2)] == [b"/b|two", b"/c|three"]
        writer.close()


async def test_connection_close_is_honoured_and_nothing_after_it_is_read():
    async with serving() as (recorder, _, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(post("/last", b"x", "Connection: close") + post("/after", b"y"))
        status, headers, body = await read_response(reader)
        assert (status, headers["connection"], body) == (200, "close", b"/last|x")
        assert await asyncio.wait_for(reader.read(), 5) == b""  # the server closed
        assert [r.path for r in recorder.requests] == ["/last"]


async def test_head_answer_has_no_body_and_the_connection_serves_on():
    async with serving() as (recorder, _, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n" + post("/next", b"n"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 OK") and b"Content-Length: 3\r\n" in head  # "/h|"
        assert (await read_response(reader))[2] == b"/next|n"  # no body bytes came in between
        writer.close()


async def test_chunked_body_is_assembled():
    async with serving() as (recorder, _, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        assert (await read_response(reader))[2] == b"/c|abcde"
        writer.close()


async def test_declared_body_over_the_limit_is_413_before_it_is_sent():
    async with serving(max_body=100) as (recorder, _, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n")
        status, headers, body = await read_response(reader)
        assert (status, headers["connection"]) == (413, "close")
        assert recorder.refusals == [("/big", 413, "body of 101 bytes exceeds 100")]
        assert recorder.requests == []
        writer.close()


async def test_chunked_body_over_the_limit_is_413_and_the_client_reads_the_answer():
    async with serving(max_body=100) as (recorder, _, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(50):
            writer.write(b"a\r\n0123456789\r\n")  # keeps sending after the refusal
        status, _, body = await read_response(reader)
        assert (status, body) == (413, b"body exceeds 100 bytes")
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 5) == b""


async def test_oversized_head_is_431_and_garbage_is_400():
    async with serving(max_head=512) as (recorder, _, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /h HTTP/1.1\r\nX-Big: " + b"a" * 2000)
        assert (await read_response(reader))[0] == 431
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"HELLO THERE\r\n\r\n")
        assert (await read_response(reader))[0] == 400
        writer.close()
        # A request line llhttp takes whose target does not parse as a URL.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET http://[bad/x HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await read_response(reader))[:3:2] == (400, b"malformed request target")
        writer.close()
        assert [status for _, status, _ in recorder.refusals] == [431, 400, 400]
        assert not recorder.requests


async def test_incomplete_request_is_408_after_the_read_timeout():
    async with serving(read_timeout=0.2) as (recorder, _, port):
        started = time.monotonic()  # before the connection: the server's clock starts at its accept
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        status, headers, _ = await read_response(reader)
        assert (status, headers["connection"]) == (408, "close")
        # libuv times from the loop's clock, read once per iteration: a timer can fire up to a
        # few milliseconds before its delay has passed by time.monotonic().
        assert time.monotonic() - started >= 0.19
        assert recorder.refusals[0][:2] == ("/slow", 408)
        writer.close()


async def test_idle_keep_alive_connection_is_closed():
    async with serving(idle_timeout=0.2) as (recorder, server, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(post("/a", b""))
        assert (await read_response(reader))[0] == 200
        assert await asyncio.wait_for(reader.read(), 5) == b""
        await eventually(lambda: not server._connections)


async def test_expect_continue_and_the_stamp_of_the_completing_read():
    async with serving() as (recorder, _, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == b"HTTP/1.1 100 Continue\r\n\r\n"
        before_body = time.monotonic_ns()
        writer.write(b"body")
        assert (await read_response(reader))[2] == b"/e|body"
        # t0 is when the edge held the complete input, not when the request began.
        assert recorder.requests[0].received_ns >= before_body
        writer.close()


async def test_handler_failure_is_500_and_the_connection_serves_on():
    async with serving() as (recorder, _, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(post("/boom", b""))
        assert (await read_response(reader))[0] == 500
        writer.write(post("/ok", b"1"))
        assert (await read_response(reader))[2] == b"/ok|1"
        writer.close()


async def test_answer_is_written_after_the_work_the_request_scheduled():
    """Callbacks the handler schedules (the follower lanes' first steps) run before the answer is
    written: when they run, nothing has reached the client yet (loopback delivers in the write)."""
    client = socket.socket()
    seen: list[bytes | None] = []

    def peek() -> None:
        try:
            seen.append(client.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except BlockingIOError:
            seen.append(None)

    class Scheduling(Recorder):
        def handle(self, request: Request) -> Response:
            asyncio.get_running_loop().call_soon(peek)
            return super().handle(request)

    server = HttpServer(Scheduling(), max_body=100, read_timeout=5)
    port = await server.start("127.0.0.1", 0)
    try:
        client.connect(("127.0.0.1", port))
        client.sendall(post("/x", b""))
        await eventually(lambda: seen)
        assert seen == [None]
        client.setblocking(True)
        client.settimeout(5)
        assert client.recv(100).startswith(b"HTTP/1.1 200 OK")
    finally:
        client.close()
        server.close()

