"""A small HTTP/1.1 server for the ingest edge.

Requests are parsed by llhttp (through ``httptools``) inside the connection's ``data_received`` and
answered by a synchronous handler: no task, request object tree or middleware chain per request.
End to end that took 0.2–0.35 ms off the propagation p50 at one follower, against aiohttp's
server, at 10 webhooks a second (docs/design.md, "The ingest edge").

What the server enforces before the handler sees anything:

* a request head of at most ``max_head`` bytes (431) and a body of at most ``max_body`` (413,
  refused from ``Content-Length`` before the body is read);
* the whole request within ``read_timeout`` of its first byte (408);
* well-formed HTTP/1.x (400; upgrades are refused too).

A refused request is answered with ``Connection: close``; the server then stops writing, reads and
drops what the client is still sending, and closes when the client does (or after a short linger),
so the client reads the answer instead of a reset. Keep-alive connections close after
``idle_timeout`` seconds without a request. Answers are written in request order, each after the
event loop's current turn, so the order writes a request released go out before its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import ClassVar, Protocol, cast
from urllib.parse import parse_qsl, unquote

import httptools

log = logging.getLogger(__name__)

#: Seconds a refused connection keeps reading (and dropping) the client's data before it closes.
LINGER = 2.0


@dataclass(frozen=True, slots=True)
class Request:
    """One complete request. ``received_ns`` is ``time.monotonic_ns()`` at the read that completed it;
    ``keep_alive`` False means its answer ends the connection."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    remote: str | None
    received_ns: int
    keep_alive: bool = True


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = field(default=())


class Handler(Protocol):
    def handle(self, request: Request) -> Response:
        """Answer a complete request; must not block."""

    def refuse(self, path: str, status: int, reason: str) -> Response:
        """The answer to a request the server refused (400, 408, 413, 431) before it was complete."""


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Date:
    """The ``Date`` header value, formatted once a second."""

    second: ClassVar[int] = -1
    value: ClassVar[str] = ""

    @classmethod
    def now(cls) -> str:
        second = int(time.time())
        if second != cls.second:
            cls.second, cls.value = second, email.utils.formatdate(second, usegmt=True)
        return cls.value


def encode_response(response: Response, *, close: bool, head: bool = False) -> bytes:
    """The bytes of ``response`` as an HTTP/1.1 answer (without its body for a HEAD request)."""
    lines = [
        f"HTTP/1.1 {response.status} {HTTPStatus(response.status).phrase}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
        f"Date: {_Date.now()}",
    ]
    lines.extend(f"{name}: {value}" for name, value in response.headers)
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head else response.body)


def _target(raw: bytes) -> tuple[str, str]:
    """(path, query) of a request target; raises ``HttpParserInvalidURLError`` for a malformed one."""
    url = httptools.parse_url(raw)
    return unquote(url.path.decode("latin-1")), url.query.decode("latin-1") if url.query else ""


class HttpServer:
    """Listens on one address and serves ``handler``; see the module docstring for the limits."""

    def __init__(
        self,
        handler: Handler,
        *,
        max_body: int,
        read_timeout: float,
        idle_timeout: float = 75.0,
        max_head: int = 16 * 1024,
    ) -> None:
        self.handler = handler
        self.max_body = max_body
        self.read_timeout = read_timeout
        self.idle_timeout = idle_timeout
        self.max_head = max_head
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[_Connection] = set()

    async def start(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> int:
        """Listen on ``host:port`` (port 0 picks one), over TLS with ``tls``; the bound port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self),
            host,
            port,
            reuse_address=True,
            ssl=tls,
            ssl_handshake_timeout=self.read_timeout if tls is not None else None,
        )
        sockets = list(self._server.sockets or ())
        return int(sockets[0].getsockname()[1]) if sockets else port

    def stop_listening(self) -> None:
        """Accept no new connections; open ones are served on."""
        if self._server is not None:
            self._server.close()
            self._server = None

    def close(self) -> None:
        """Stop listening and close every connection."""
        self.stop_listening()
        for connection in list(self._connections):
            connection.close()


class _Connection(asyncio.Protocol):
    """One client connection: its parser, the request being read and its one timer.

    The timer is armed once per connection for the idle limit and moved earlier only when a
    request is still incomplete at the end of a read, so a request that arrives in one read
    costs no timer operation.
    """

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._remote: str | None = None
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_size = 0
        self._head_size = 0
        self._in_message = False
        self._in_head = False
        self._begun = 0.0
        self._complete: list[Request] = []
        self._stamp = 0
        self._last_active = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._closing = False  # no further request is read
        self._refused = False
        self._paused = False

    # -- transport events -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not registered as ``asyncio.Transport``.
        self._transport = transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self._remote = str(peer[0]) if peer else None
        self._server._connections.add(self)
        self._last_active = self._loop.time()
        self._arm(self._last_active + self._server.idle_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server._connections.discard(self)
        self._transport = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def pause_writing(self) -> None:
        # A client that sends requests without reading the answers is not read from until it does.
        if self._transport is not None and not self._paused:
            self._paused = True
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._transport is not None and self._paused:
            self._paused = False
            self._transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self._stamp = time.monotonic_ns()
        if self._in_head or not self._in_message:
            self._head_size += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _Refused):
                self._refuse(cause.status, cause.reason)
            else:
                log.error("HTTP parser callback failed: %r", cause)
                self._refuse(400, "malformed HTTP request")
        except httptools.HttpParserUpgrade:
            self._refuse(400, "protocol upgrades are not served here")
        except httptools.HttpParserError as exc:
            if not self._closing:  # bytes after a request that asked to close are dropped
                self._refuse(400, f"malformed HTTP request: {exc}")
        if self._in_head and self._head_size > self._server.max_head:
            self._refuse(431, f"request head over {self._server.max_head} bytes")
        complete, self._complete = self._complete, []
        for request in complete:
            self._answer(request)
        if self._in_message and not self._closing:
            deadline = self._begun + self._server.read_timeout
            if self._timer is None or self._timer.when() > deadline:
                self._arm(deadline)

    # -- parser callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_message = self._in_head = True
        self._begun = self._loop.time()
        self._url = b""
        self._headers = {}
        self._body = []
        self._body_size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_size = 0
        length = self._headers.get("content-length")
        if length is not None and int(length) > self._server.max_body:
            raise _Refused(413, f"body of {length} bytes exceeds {self._server.max_body}")
        if self._headers.get("expect", "").lower() == "100-continue" and self._transport is not None:
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._server.max_body:
            raise _Refused(413, f"body exceeds {self._server.max_body} bytes")
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_message = False
        self._last_active = self._loop.time()
        try:
            path, query = _target(self._url)
        except httptools.HttpParserInvalidURLError:
            raise _Refused(400, "malformed request target") from None
        keep_alive = self._parser.should_keep_alive()
        self._complete.append(
            Request(
                method=self._parser.get_method().decode("latin-1"),
                path=path,
                query=dict(reversed(parse_qsl(query, keep_blank_values=True))),
                headers=self._headers,
                body=b"".join(self._body),
                remote=self._remote,
                received_ns=self._stamp,
                keep_alive=keep_alive,
            )
        )
        if not keep_alive:
            self._closing = True  # nothing after this request is read

    # -- answers ----------------------------------------------------------------------------

    def _answer(self, request: Request) -> None:
        try:
            response = self._server.handler.handle(request)
        except Exception:
            log.exception("webhook handler failed on %s %s", request.method, request.path)
            response = Response(500, b'{"ok": false, "error": "internal error"}')
        self._loop.call_soon(self._write, response, not request.keep_alive, request.method == "HEAD")

    def _write(self, response: Response, close: bool, head: bool) -> None:
        transport = self._transport
        if transport is None:
            return
        transport.write(encode_response(response, close=close, head=head))
        if close:
            transport.close()

    def _write_refusal(self, response: Response) -> None:
        """Write a refusal, half-close, and keep reading (and dropping) until the client closes or
        the linger ends, so the client reads this answer rather than a reset."""
        transport = self._transport
        if transport is None:
            return
        transport.write(encode_response(response, close=True))
        if transport.can_write_eof():
            transport.write_eof()
        self._arm(self._loop.time() + LINGER)

    def _refuse(self, status: int, reason: str) -> None:
        """Answer ``status`` after any earlier answers, and read no further request."""
        if self._refused:
            return
        self._refused = self._closing = True
        self._in_message = False
        path = ""
        if self._url:
            with contextlib.suppress(httptools.HttpParserInvalidURLError):
                path, _ = _target(self._url)
        try:
            response = self._server.handler.refuse(path, status, reason)
        except Exception:
            log.exception("webhook refusal failed")
            response = Response(status)
        self._loop.call_soon(self._write_refusal, response)

    # -- the timer --------------------------------------------------------------------------

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(when, self._timed_out)

    def _timed_out(self) -> None:
        self._timer = None
        transport = self._transport
        if transport is None:
            return
        now = self._loop.time()
        if self._refused:
            transport.close()
        elif self._in_message:
            if now - self._begun >= self._server.read_timeout:
                self._refuse(408, f"the request did not arrive in full within {self._server.read_timeout:g} s")
            else:
                self._arm(self._begun + self._server.read_timeout)
        elif now - self._last_active >= self._server.idle_timeout:
            transport.close()
        else:
            self._arm(self._last_active + self._server.idle_timeout)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
