"""aiohttp REST and private-WebSocket client for OKX v5.

One :class:`aiohttp.ClientSession` per account. ``start`` measures the clock offset from
``GET /api/v5/public/time``, opens the private WebSocket, logs in and subscribes; the socket is then
kept warm with OKX's text ``ping`` and reopened (login and subscriptions again) when it drops.
Requests are checked against OKX's declared rate limits (:data:`RATE_LIMITS`) before they leave.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
from yarl import URL

from connectors.deadline import settle_after
from connectors.okx import parse
from connectors.okx.auth import Signer, iso_timestamp, rest_headers, ws_login_args
from connectors.okx.config import OkxConfig
from connectors.wire import FrameWriter, Sent, write_immediately
from core.connector import ConnectorState
from core.errors import ConfigError, CopierError, OutcomeUnknown, TransientError
from core.outbox import WireStamp
from core.ratelimit import Limit, RateLimiter

log = logging.getLogger(__name__)

RATE_LIMITS: dict[str, tuple[Limit, ...]] = {
    # Trade endpoints are limited per user and instrument; the WebSocket ops share the REST limits.
    "order": (Limit(60, 2.0, "place order"),),
    "amend-order": (Limit(60, 2.0, "amend order"),),
    "cancel-order": (Limit(60, 2.0, "cancel order"),),
    "order-algo": (Limit(20, 2.0, "place algo order"),),
    "cancel-algos": (Limit(20, 2.0, "cancel algo order"),),
    "get-order": (Limit(60, 2.0, "order details"),),
    "orders-pending": (Limit(60, 2.0, "order list"),),
    "orders-history": (Limit(40, 2.0, "order history"),),
    "orders-algo-pending": (Limit(20, 2.0, "algo order list"),),
    "orders-algo-history": (Limit(20, 2.0, "algo order history"),),
    # Account and public endpoints are limited per user (or IP) across instruments.
    "positions": (Limit(10, 2.0, "positions"),),
    "balance": (Limit(10, 2.0, "balance"),),
    "account-config": (Limit(5, 2.0, "account configuration"),),
    "instruments": (Limit(20, 2.0, "instruments"),),
    "time": (Limit(10, 2.0, "system time"),),
}
"""OKX's published limits, by endpoint name (the last part of its path)."""

PER_INSTRUMENT = frozenset({"order", "amend-order", "cancel-order", "order-algo", "cancel-algos", "get-order"})

WS_PING_AFTER = 20.0
"""Seconds without a message before sending ``ping`` (OKX closes idle connections after 30 s)."""

PushHandler = Callable[[str, dict[str, Any]], None]
StateHandler = Callable[[ConnectorState, str], None]


SentOp = Sent[dict[str, Any]]
"""A request on the order socket whose answer is still to come."""


class OkxClient:
    """REST and private WebSocket access for one OKX account.

    ``on_login``, when given, is awaited after every successful login and before ``channels`` are
    subscribed, so a snapshot read there predates every push; when it raises, that connection
    attempt fails (``start`` raises; a reconnect is retried).
    """

    def __init__(
        self,
        config: OkxConfig,
        *,
        channels: tuple[dict[str, str], ...] = (),
        on_push: PushHandler | None = None,
        on_state: StateHandler | None = None,
        on_reconnect: Callable[[], None] | None = None,
        on_login: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.config = config
        self._on_login = on_login
        self._signer = Signer(config.api_secret)
        self._channels = channels
        self._on_push = on_push or (lambda channel, row: None)
        self._on_state = on_state or (lambda state, detail: None)
        self._on_reconnect = on_reconnect or (lambda: None)
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._frames: FrameWriter | None = None
        self._ws_ready = False
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._login: asyncio.Future[dict[str, Any]] | None = None
        self._ids = itertools.count(1)
        self._limiters: dict[tuple[str, str], RateLimiter] = {}
        self._closing = False
        self.clock_offset_ms = 0
        """Venue time minus local time, in milliseconds, from the last clock sync."""

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the session, sync the clock, open and authenticate the private WebSocket."""
        self._closing = False
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=16, ttl_dns_cache=None, keepalive_timeout=75)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.config.request_timeout),
                json_serialize=lambda obj: orjson.dumps(obj).decode(),
            )
        await self.sync_clock()
        await self._open_ws()
        self._reader = asyncio.create_task(self._read_loop(), name=f"okx:{self.config.name}:ws")

    async def close(self) -> None:
        """Close the WebSocket and the session; pending WebSocket ops end as unknown."""
        self._closing = True
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        await self._drop_ws("connector stopped")
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def ws_writable(self) -> bool:
        """Whether an op can be written from synchronous code now (:meth:`ws_write`)."""
        return self._frames is not None and self.ws_ready

    @property
    def ws_ready(self) -> bool:
        """Whether the private WebSocket is open and logged in."""
        return self._ws_ready and self._ws is not None and not self._ws.closed

    # -- clock and limits ------------------------------------------------------------------

    def now_ms(self) -> int:
        """The venue's current time in Unix milliseconds (local clock plus the offset)."""
        return time.time_ns() // 1_000_000 + self.clock_offset_ms

    async def sync_clock(self) -> int:
        """Measure the offset to ``GET /api/v5/public/time`` (midpoint of the round trip)."""
        before = time.time_ns()
        payload = await self.request("GET", "/api/v5/public/time", signed=False)
        after = time.time_ns()
        server_ms = int(payload["data"][0]["ts"])
        self.clock_offset_ms = server_ms - (before + after) // 2_000_000
        return self.clock_offset_ms

    def acquire(self, endpoint: str, inst_id: str = "") -> None:
        """Count one request against ``endpoint``'s declared limits; raise ``RateLimited`` first."""
        key = (endpoint, inst_id if endpoint in PER_INSTRUMENT else "")
        limiter = self._limiters.get(key)
        if limiter is None:
            limits = RATE_LIMITS.get(endpoint)
            if limits is None:
                return
            limiter = self._limiters[key] = RateLimiter(limits)
        limiter.acquire()

    async def swap_specs(self) -> dict[str, parse.SwapSpec]:
        """OKX's USDT-margined swaps by instrument id (``GET /api/v5/public/instruments``)."""
        self.acquire("instruments")
        payload = await self.request("GET", "/api/v5/public/instruments", params={"instType": "SWAP"}, signed=False)
        specs = (parse.swap_spec(row) for row in payload.get("data") or [])
        return {spec.inst_id: spec for spec in specs if spec is not None}

    # -- REST ------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        signed: bool = True,
        write: bool = False,
    ) -> dict[str, Any]:
        """One REST call; returns the decoded body when OKX's ``code`` is ``0``.

        ``write`` marks a request that may change state at the venue (an order): a timeout, a 5xx
        or a dropped connection then raises :class:`OutcomeUnknown` instead of ``TransientError``.
        For order writes the caller reads per-order codes from the body, so a non-zero ``code``
        with ``data`` is returned rather than raised.
        """
        payload, _, _ = await self.request_timed(method, path, params=params, body=body, signed=signed, write=write)
        return payload

    async def request_timed(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        signed: bool = True,
        write: bool = False,
    ) -> tuple[dict[str, Any], int, int]:
        """:meth:`request` plus ``(t_wire_ns, t_ack_ns)``."""
        session = self._session
        if session is None:
            raise TransientError("OKX client is not started")
        path_q = f"{path}?{urlencode(params)}" if params else path
        data = orjson.dumps(body) if body is not None else b""
        if signed:
            headers = rest_headers(
                self._signer,
                self.config.api_key,
                self.config.passphrase,
                iso_timestamp(self.now_ms()),
                method,
                path_q,
                data,
                demo=self.config.demo,
            )
        else:
            headers = {"Content-Type": "application/json"}
            if self.config.demo:
                headers["x-simulated-trading"] = "1"
        url = URL(self.config.base_url + path_q, encoded=True)
        t_wire = time.monotonic_ns()
        try:
            async with session.request(method, url, data=data or None, headers=headers) as response:
                raw = await response.read()
                t_ack = time.monotonic_ns()
                status = response.status
        except aiohttp.ClientConnectorError as exc:
            raise TransientError(f"could not connect to OKX: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            reason = f"no answer from OKX ({type(exc).__name__})"
            raise (OutcomeUnknown(reason) if write else TransientError(reason)) from exc
        try:
            payload = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            payload = {}
        if status != 200:
            raise parse.http_error(status, payload, read_only=not write, account=self.config.name)
        if not isinstance(payload, dict):
            raise parse.http_error(502, None, read_only=not write, account=self.config.name)
        code = str(payload.get("code", "0") or "0")
        if code != "0" and not (write and payload.get("data")):
            raise parse.venue_error(code, str(payload.get("msg", "")), account=self.config.name)
        return payload, t_wire, t_ack

    # -- WebSocket -------------------------------------------------------------------------

    @staticmethod
    def encode_op(op: str, args: list[dict[str, Any]], op_id: str = "0") -> bytes:
        """The text of one WebSocket op."""
        return orjson.dumps({"id": op_id, "op": op, "args": args})

    async def ws_op(self, op: str, args: list[dict[str, Any]]) -> tuple[dict[str, Any], int, int]:
        """Send one op (``order``, ``cancel-order``, ``amend-order``) and await its answer.

        Returns ``(answer, t_wire_ns, t_ack_ns)``. Raises :class:`TransientError` when nothing
        was sent (socket not ready) and :class:`OutcomeUnknown` when the answer does not come
        (timeout or the socket dropped after the send).
        """
        if self._frames is not None:
            sent = self.ws_write(op, args)
        else:
            sent = await self._ws_send_frame(op, args)
        answer = await self.ws_answer(sent)
        return answer, sent.t_wire, time.monotonic_ns()

    def ws_write(self, op: str, args: list[dict[str, Any]]) -> SentOp:
        """Put one op on the private socket now, from synchronous code; :meth:`ws_answer` awaits
        its answer. Raises :class:`TransientError` when nothing was sent."""
        frames = self._frames
        if frames is None or not self.ws_ready:
            raise TransientError("OKX WebSocket is not connected")
        op_id, future, message = self._new_op(op, args)
        try:
            stamp = frames.text(message)
        except (ConnectionError, RuntimeError) as exc:
            raise TransientError(f"OKX WebSocket send failed: {exc}") from exc
        self._pending[op_id] = future
        return Sent(op, op_id, future, stamp)

    async def _ws_send_frame(self, op: str, args: list[dict[str, Any]]) -> SentOp:
        """:meth:`ws_write` through aiohttp's own writer, for a socket whose transport cannot be reached."""
        ws = self._ws
        if ws is None or not self.ws_ready:
            raise TransientError("OKX WebSocket is not connected")
        op_id, future, message = self._new_op(op, args)
        self._pending[op_id] = future
        stamp = WireStamp(time.monotonic_ns())
        try:
            await ws.send_frame(message, aiohttp.WSMsgType.TEXT)
        except (ConnectionError, RuntimeError, aiohttp.ClientError) as exc:
            self._pending.pop(op_id, None)
            raise TransientError(f"OKX WebSocket send failed: {exc}") from exc
        return Sent(op, op_id, future, stamp)

    def _new_op(self, op: str, args: list[dict[str, Any]]) -> tuple[str, asyncio.Future[dict[str, Any]], bytes]:
        """An op's id, the future its answer resolves, and its text."""
        op_id = str(next(self._ids))
        return op_id, asyncio.get_running_loop().create_future(), self.encode_op(op, args, op_id)

    async def ws_answer(self, sent: SentOp) -> dict[str, Any]:
        """The answer to an op :meth:`ws_write` sent; :class:`OutcomeUnknown` when it does not come
        in time or the socket drops first."""
        future, timeout = sent.future, self.config.request_timeout
        expiry = settle_after(
            future, timeout, lambda: OutcomeUnknown(f"no answer from OKX to {sent.op} within {timeout}s")
        )
        try:
            return await future
        finally:
            expiry.cancel()
            self._pending.pop(sent.request_id, None)

    async def _open_ws(self) -> None:
        session = self._session
        assert session is not None
        headers = {"x-simulated-trading": "1"} if self.config.demo else None
        try:
            ws = await session.ws_connect(
                self.config.ws_url, headers=headers, autoping=True, timeout=aiohttp.ClientWSTimeout(ws_close=2.0)
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise TransientError(f"could not open the OKX WebSocket: {exc}") from exc
        write_immediately(ws)
        self._ws = ws
        self._frames = FrameWriter.of(ws)
        seconds = str(self.now_ms() // 1000)
        login = {
            "op": "login",
            "args": [ws_login_args(self._signer, self.config.api_key, self.config.passphrase, seconds)],
        }
        await ws.send_str(orjson.dumps(login).decode())
        # Read inline until the login answer: the reader task is not running yet.
        answer = await self._await_event(ws, "login")
        if answer.get("code", "0") != "0":
            await ws.close()
            self._ws = None
            raise parse.venue_error(str(answer.get("code")), str(answer.get("msg", "")), account=self.config.name)
        if self._on_login is not None:
            try:
                await self._on_login()
            except BaseException:
                await ws.close()
                self._ws = None
                raise
        if self._channels:
            await ws.send_str(orjson.dumps({"op": "subscribe", "args": list(self._channels)}).decode())
        self._ws_ready = True

    async def _await_event(self, ws: aiohttp.ClientWebSocketResponse, event: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.config.request_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransientError(f"OKX WebSocket gave no {event} answer")
            msg = await ws.receive(timeout=remaining)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise TransientError(f"OKX WebSocket closed during {event}")
            if msg.data == "pong":
                continue
            data = orjson.loads(msg.data)
            if data.get("event") in (event, "error"):
                return dict(data)
            self._dispatch(data)

    async def _drop_ws(self, reason: str) -> None:
        self._ws_ready = False
        ws, self._ws = self._ws, None
        self._frames = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(OutcomeUnknown(f"OKX WebSocket dropped after the request was sent ({reason})"))
        self._pending.clear()
        if ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()

    async def _read_loop(self) -> None:
        """Read the private socket; on a drop, fail pending ops as unknown and reconnect."""
        while not self._closing:
            ws = self._ws
            if ws is not None:
                await self._read(ws)
                if self._closing:
                    return
                await self._drop_ws("connection lost")
                self._on_state(ConnectorState.RECONNECTING, "OKX WebSocket closed")
            await self._reconnect()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        keepalive = _Keepalive(ws)
        try:
            while True:
                msg = await ws.receive()
                keepalive.heard()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    return
                if msg.data == "pong":
                    continue
                try:
                    data = orjson.loads(msg.data)
                except orjson.JSONDecodeError:
                    log.warning("okx %s: unreadable WebSocket message", self.config.name)
                    continue
                if isinstance(data, dict):
                    self._dispatch(data)
        finally:
            keepalive.stop()

    def _dispatch(self, data: dict[str, Any]) -> None:
        op_id = data.get("id")
        if op_id is not None and "op" in data:
            future = self._pending.get(str(op_id))
            if future is not None and not future.done():
                future.set_result(data)
            return
        rows = data.get("data")
        arg = data.get("arg")
        if rows is not None and isinstance(arg, dict):
            channel = str(arg.get("channel", ""))
            for row in rows:
                try:
                    self._on_push(channel, row)
                except Exception:
                    log.exception("okx %s: handling a %s push failed", self.config.name, channel)
            return
        if data.get("event") == "error":
            log.warning("okx %s: WebSocket error %s: %s", self.config.name, data.get("code"), data.get("msg"))

    async def _reconnect(self) -> None:
        delay = 0.05
        while not self._closing:
            try:
                await self._open_ws()
            except ConfigError as exc:
                self._on_state(ConnectorState.DOWN, str(exc))
                log.error("okx %s: WebSocket login refused: %s", self.config.name, exc)
            except (CopierError, OSError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("okx %s: reconnect failed: %s", self.config.name, exc)
            else:
                self._on_state(ConnectorState.UP, "OKX WebSocket reconnected")
                self._on_reconnect()
                return
            await asyncio.sleep(delay * (1 + random.random() / 2))
            delay = min(delay * 2, 5.0)


class _Keepalive:
    """OKX's keepalive without a timeout per message: every :data:`WS_PING_AFTER` seconds, a
    socket that heard nothing since the last check gets ``ping``; one still silent at the next
    check is closed, and the reader reconnects."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._heard = True
        self._pinged = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timer = asyncio.get_running_loop().call_later(WS_PING_AFTER, self._check)

    def heard(self) -> None:
        self._heard = True

    def stop(self) -> None:
        self._timer.cancel()

    def _check(self) -> None:
        if self._heard:
            self._heard, self._pinged = False, False
        elif not self._pinged:
            self._pinged = True
            self._spawn(self._ws.send_str("ping"), "okx-ws-ping")
        else:
            self._spawn(self._ws.close(), "okx-ws-close-silent")
            return
        self._timer = asyncio.get_running_loop().call_later(WS_PING_AFTER, self._check)

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("okx WebSocket keepalive: %s", task.exception())
