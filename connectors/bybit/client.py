"""aiohttp transport for Bybit v5: signed REST, the WebSocket order-entry socket and the private stream.

One ``ClientSession`` per account; sockets are opened and authenticated at start, kept alive with
application-level pings and reopened after a drop. The venue clock offset comes from
``/v5/market/time`` and is applied to every signed timestamp.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from connectors.bybit import auth, parse
from connectors.bybit.config import BybitConfig
from connectors.deadline import settle_after
from connectors.periodic import first_keepalive, ticks
from connectors.wire import FrameWriter, Sent, write_immediately
from core.errors import OutcomeUnknown, TransientError
from core.outbox import WireStamp
from core.ratelimit import Limit, RateLimiter

log = logging.getLogger("connectors.bybit")

# Declared venue limits (Bybit v5 rate-limit page): 600 REST requests per 5 s per IP, shared by all
# endpoints; order create / amend / cancel 10 per second each per account on linear (classic and
# UTA defaults). A small margin keeps us under the venue's own counter when clocks disagree.
IP_LIMITS = (Limit(600, 5.0, "REST requests per IP"),)
ORDER_LIMITS: dict[str, tuple[Limit, ...]] = {
    "create": (Limit(10, 1.0, "order/create per second (linear)"),),
    "amend": (Limit(10, 1.0, "order/amend per second (linear)"),),
    "cancel": (Limit(10, 1.0, "order/cancel per second (linear)"),),
    "trading-stop": (Limit(10, 1.0, "position/trading-stop per second"),),
}
ORDER_PATHS = {
    "/v5/order/create": "create",
    "/v5/order/amend": "amend",
    "/v5/order/cancel": "cancel",
    "/v5/position/trading-stop": "trading-stop",
}
PING_INTERVAL = 20.0


class Clock:
    """Venue time from local time plus a measured offset (milliseconds)."""

    def __init__(self) -> None:
        self.offset_ms = 0
        self.synced_at = 0.0

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset_ms

    def update(self, server_ms: int, sent_ms: int, received_ms: int) -> None:
        """Offset from one round trip, taking the server's stamp as the midpoint."""
        self.offset_ms = server_ms - (sent_ms + received_ms) // 2
        self.synced_at = time.monotonic()


class BybitRest:
    """Signed REST requests with typed errors and wire/ack stamps."""

    def __init__(self, config: BybitConfig, clock: Clock, *, clock_fn: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.ip_limiter = RateLimiter(IP_LIMITS, clock_fn)
        self.order_limiters = {op: RateLimiter(limits, clock_fn) for op, limits in ORDER_LIMITS.items()}
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=32, keepalive_timeout=60, ttl_dns_cache=3600)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.config.request_timeout),
                json_serialize=lambda obj: orjson.dumps(obj).decode(),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise TransientError("Bybit client is not started")
        return self._session

    async def sync_time(self) -> int:
        """Measure the venue clock offset from ``GET /v5/market/time``; returns the offset in ms."""
        sent = time.time_ns() // 1_000_000
        data, _, _ = await self.request("GET", "/v5/market/time", signed=False)
        received = time.time_ns() // 1_000_000
        result = data.get("result") or {}
        if result.get("timeNano"):
            server_ms = int(result["timeNano"]) // 1_000_000
        elif result.get("timeSecond"):
            server_ms = int(result["timeSecond"]) * 1000
        else:
            server_ms = int(data["time"])
        self.clock.update(server_ms, sent, received)
        return self.clock.offset_ms

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        signed: bool = True,
    ) -> tuple[dict[str, Any], int, int]:
        """Send one request; return the decoded body (``retCode`` 0) with wire and ack stamps (ns).

        Raises the typed errors of :mod:`core.errors`. For order-changing paths a timeout, a 5xx or
        a connection lost after sending is :class:`OutcomeUnknown`; for reads it is transient.
        """
        op = ORDER_PATHS.get(path)
        if op is not None:
            self.order_limiters[op].acquire()
        self.ip_limiter.acquire()
        session = self.session
        url = self.config.base_url + path
        headers: dict[str, str] = {}
        body: bytes | None = None
        if method == "GET":
            query = urlencode(params or {})
            payload = query
            if query:
                url = f"{url}?{query}"
        else:
            body = orjson.dumps(params or {})
            payload = body.decode()
            headers["Content-Type"] = "application/json"
        if signed:
            headers.update(
                auth.rest_headers(
                    self.config.api_key,
                    self.config.api_secret,
                    self.clock.now_ms(),
                    self.config.recv_window,
                    payload,
                )
            )
        t_wire = time.monotonic_ns()
        try:
            async with session.request(method, url, data=body, headers=headers) as response:
                raw = await response.read()
                t_ack = time.monotonic_ns()
                status = response.status
                reset_ms = parse.reset_timestamp(response.headers)
        except aiohttp.ClientConnectorError as exc:
            raise TransientError(f"cannot connect to Bybit: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            if op is not None:
                raise OutcomeUnknown(f"no answer from Bybit after sending {path}: {exc!r}") from exc
            raise TransientError(f"Bybit request {path} failed: {exc!r}") from exc
        if status != 200:
            error = parse.error_for_http(
                status, raw.decode(errors="replace"), reset_ms=reset_ms, now_ms=self.clock.now_ms()
            )
            raise self._for_reads(error, op)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if op is not None:
                raise OutcomeUnknown(f"unreadable answer from Bybit for {path}") from exc
            raise TransientError(f"unreadable answer from Bybit for {path}") from exc
        code = int(data.get("retCode", 0))
        if code != 0:
            error = parse.error_for(
                code,
                str(data.get("retMsg", "")),
                reset_ms=reset_ms,
                now_ms=self.clock.now_ms(),
                account=self.config.name,
            )
            raise self._for_reads(error, op)
        return data, t_wire, t_ack

    @staticmethod
    def _for_reads(error: Exception, op: str | None) -> Exception:
        """A read changes nothing at the venue, so its "unknown outcome" is just a transient failure."""
        if op is None and isinstance(error, OutcomeUnknown):
            return TransientError(error.reason, error.code)
        return error


MessageHandler = Callable[[dict[str, Any]], None]
StateHandler = Callable[[str, bool, str], None]


class BybitSocket:
    """One authenticated Bybit WebSocket that reconnects by itself.

    ``on_ready`` runs after every successful (re)authentication (subscriptions go there);
    ``on_message`` receives every decoded frame that is not a pong; ``on_state`` is told
    ``(label, up, detail)`` on every change.
    """

    def __init__(
        self,
        label: str,
        url: str,
        config: BybitConfig,
        clock: Clock,
        rest: BybitRest,
        *,
        on_message: MessageHandler,
        on_ready: Callable[[BybitSocket], Awaitable[None]] | None = None,
        on_state: StateHandler | None = None,
    ) -> None:
        self.label = label
        self.url = url
        self.config = config
        self.clock = clock
        self.rest = rest
        self.on_message = on_message
        self.on_ready = on_ready
        self.on_state = on_state
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._frames: FrameWriter | None = None
        self.ready = asyncio.Event()
        self.connects = 0
        self.last_error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def up(self) -> bool:
        return self.ready.is_set() and self.ws is not None and not self.ws.closed

    @property
    def writable(self) -> bool:
        """Whether :meth:`write` can put a frame on the socket now."""
        return self._frames is not None and self.up

    def start(self) -> None:
        self._closing = False
        self._task = asyncio.create_task(self._run(), name=f"bybit:{self.config.name}:{self.label}")

    async def wait_ready(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ready.wait(), seconds)
        return self.ready.is_set()

    async def close(self) -> None:
        self._closing = True
        if self.ws is not None:
            await self.ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def write(self, message: bytes) -> WireStamp:
        """Write one frame from synchronous code (through the process's outbox, which may hold it
        for a moment during a fan-out); the stamp says when it was handed to the socket. Raises
        :class:`TransientError` when nothing was written."""
        frames = self._frames
        if frames is None or not self.up:
            raise TransientError(f"Bybit {self.label} socket is not connected")
        try:
            return frames.text(message)
        except (ConnectionError, RuntimeError) as exc:
            raise TransientError(f"Bybit {self.label} socket cannot be written: {exc}") from exc

    async def send(self, message: bytes) -> WireStamp:
        """:meth:`write` through aiohttp's own writer, for a socket whose transport cannot be reached."""
        ws = self.ws
        if ws is None or ws.closed or not self.ready.is_set():
            raise TransientError(f"Bybit {self.label} socket is not connected")
        stamp = WireStamp(time.monotonic_ns())
        await ws.send_frame(message, aiohttp.WSMsgType.TEXT)
        return stamp

    async def _connect_once(self) -> None:
        session = self.rest.session
        ws = await session.ws_connect(self.url, autoping=True, heartbeat=None, max_msg_size=0)
        write_immediately(ws)
        try:
            expires = self.clock.now_ms() + max(self.config.recv_window, 5000)
            hello = auth.ws_auth_message(self.config.api_key, self.config.api_secret, expires)
            await ws.send_str(orjson.dumps(hello).decode())
            reply = await asyncio.wait_for(ws.receive(), self.config.request_timeout)
            if reply.type is not aiohttp.WSMsgType.TEXT:
                raise TransientError(f"Bybit {self.label} socket closed during auth")
            answer = orjson.loads(reply.data)
            code = int(answer.get("retCode", 0) or 0)
            ok = answer.get("success", code == 0)
            if not ok or code != 0:
                err_code = code or 10004
                reason = str(answer.get("retMsg") or answer.get("ret_msg") or "")
                raise parse.error_for(err_code, reason, account=self.config.name)
        except BaseException:
            await ws.close()
            raise
        self.ws = ws
        self._frames = FrameWriter.of(ws)

    async def _run(self) -> None:
        delay = 0.05
        while not self._closing:
            try:
                await self._connect_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = exc
                log.warning("bybit %s %s: connect failed: %s", self.config.name, self.label, exc)
                await asyncio.sleep(delay * (1 + random.random() / 2))
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.05
            self.connects += 1
            pinger = asyncio.create_task(self._ping(), name=f"bybit:{self.config.name}:{self.label}:ping")
            try:
                if self.on_ready is not None:
                    await self.on_ready(self)
                self.ready.set()
                if self.on_state is not None:
                    self.on_state(self.label, True, "reconnected" if self.connects > 1 else "connected")
                await self._read()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = exc
                log.warning("bybit %s %s: socket error: %s", self.config.name, self.label, exc)
            finally:
                self.ready.clear()
                pinger.cancel()
                ws, self.ws, self._frames = self.ws, None, None
                if ws is not None and not ws.closed:
                    await ws.close()
            if not self._closing and self.on_state is not None:
                self.on_state(self.label, False, "connection lost")

    async def _read(self) -> None:
        ws = self.ws
        assert ws is not None
        async for message in ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                data = orjson.loads(message.data)
                op = data.get("op")
                if op in ("pong", "ping") and "topic" not in data:
                    continue
                self.on_message(data)
            elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                break

    async def _ping(self) -> None:
        counter = itertools.count(1)
        async for _ in ticks(PING_INTERVAL, first=first_keepalive(PING_INTERVAL)):
            ws = self.ws
            if ws is None or ws.closed:
                return
            with contextlib.suppress(ConnectionError, aiohttp.ClientError, RuntimeError):
                await ws.send_str(orjson.dumps({"req_id": f"p{next(counter)}", "op": "ping"}).decode())


SentRequest = Sent[tuple[dict[str, Any], int]]
"""A request on the order socket whose answer is still to come."""


class TradeSocket(BybitSocket):
    """The ``/v5/trade`` order-entry socket: requests matched to answers by ``reqId``."""

    def __init__(
        self, config: BybitConfig, clock: Clock, rest: BybitRest, on_state: StateHandler | None = None
    ) -> None:
        super().__init__("trade", config.ws_url, config, clock, rest, on_message=self._dispatch, on_state=on_state)
        self._pending: dict[str, asyncio.Future[tuple[dict[str, Any], int]]] = {}
        self._ids = itertools.count(1)
        self._prefix = f"{random.getrandbits(32):08x}"

    async def _run(self) -> None:
        try:
            await super()._run()
        finally:
            self._fail_pending("order-entry socket closed")

    async def _read(self) -> None:
        try:
            await super()._read()
        finally:
            self._fail_pending("order-entry connection lost before the answer")

    def _fail_pending(self, why: str) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(OutcomeUnknown(why))

    def _dispatch(self, data: dict[str, Any]) -> None:
        future = self._pending.pop(str(data.get("reqId", "")), None)
        if future is not None and not future.done():
            future.set_result((data, time.monotonic_ns()))

    def encode(self, op: str, args: dict[str, Any], req_id: str = "0") -> bytes:
        """The frame of one ``op`` with one argument object."""
        return orjson.dumps(
            {
                "reqId": req_id,
                "header": {
                    "X-BAPI-TIMESTAMP": str(self.clock.now_ms()),
                    "X-BAPI-RECV-WINDOW": str(self.config.recv_window),
                },
                "op": op,
                "args": [args],
            }
        )

    async def call(self, op: str, args: dict[str, Any], wait: float) -> tuple[dict[str, Any], int, int]:
        """Send ``op`` with one argument object; return ``(data, t_wire_ns, t_ack_ns)``.

        Before the frame is written a failure is :class:`TransientError` (safe to resend, e.g. over
        REST); after it, a timeout or a drop is :class:`OutcomeUnknown`.
        """
        sent = self.write_request(op, args) if self.writable else await self._send_request(op, args)
        return await self.answer(sent, wait)

    def write_request(self, op: str, args: dict[str, Any]) -> SentRequest:
        """Put ``op`` on the wire now, from synchronous code; :meth:`answer` awaits its answer.
        Raises :class:`TransientError` when nothing was written."""
        req_id, frame, future = self._request(op, args)
        try:
            stamp = self.write(frame)
        except TransientError:
            self._unrequest(op, req_id)
            raise
        return Sent(op, req_id, future, stamp)

    async def _send_request(self, op: str, args: dict[str, Any]) -> SentRequest:
        """:meth:`write_request` through aiohttp's own writer."""
        req_id, frame, future = self._request(op, args)
        try:
            stamp = await self.send(frame)
        except TransientError:
            self._unrequest(op, req_id)
            raise
        except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
            self._pending.pop(req_id, None)
            raise OutcomeUnknown(f"order-entry socket failed while sending: {exc!r}") from exc
        return Sent(op, req_id, future, stamp)

    def _request(self, op: str, args: dict[str, Any]) -> tuple[str, bytes, asyncio.Future[tuple[dict[str, Any], int]]]:
        """Take the order limit of ``op``; its request id, frame and pending answer."""
        self._limiter(op).acquire()
        req_id = f"{self._prefix}{next(self._ids):x}"
        frame = self.encode(op, args, req_id)
        future: asyncio.Future[tuple[dict[str, Any], int]] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = future
        return req_id, frame, future

    def _unrequest(self, op: str, req_id: str) -> None:
        """Undo :meth:`_request` for a request that was not written: nothing went out, so its
        answer is not awaited and it does not count against the limit (it may go over REST)."""
        self._pending.pop(req_id, None)
        self._limiter(op).refund()

    def _limiter(self, op: str) -> RateLimiter:
        return self.rest.order_limiters[op.split(".", 1)[1]]

    async def answer(self, sent: SentRequest, wait: float) -> tuple[dict[str, Any], int, int]:
        """The answer to a request on the wire: ``(data, t_wire_ns, t_ack_ns)``; the venue's refusal
        typed, :class:`OutcomeUnknown` when no answer comes within ``wait`` seconds or the socket
        drops first."""
        future = sent.future
        expiry = settle_after(future, wait, lambda: OutcomeUnknown(f"no answer to {sent.op} within {wait:g}s"))
        try:
            data, t_ack = await future
        finally:
            expiry.cancel()
            self._pending.pop(sent.request_id, None)
        code = int(data.get("retCode", 0))
        if code != 0:
            header = data.get("header") or {}
            raise parse.error_for(
                code,
                str(data.get("retMsg", "")),
                reset_ms=parse.reset_timestamp(header),
                now_ms=self.clock.now_ms(),
                account=self.config.name,
            )
        return data, sent.t_wire, t_ack
