"""aiohttp REST and WebSocket API client for Binance USDⓈ-M futures.

One ``ClientSession`` per account. At start the client measures the clock offset against
``GET /fapi/v1/time`` and opens the WebSocket API connection, so the first order goes out on a warm
connection. Orders go over the WebSocket API (``order.place`` / ``algoOrder.place``) while it is up
and over REST otherwise. Every request passes the declared rate limits first.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import Any

import aiohttp
import orjson
from yarl import URL

from connectors.binance import auth
from connectors.binance.config import BinanceConfig
from connectors.binance.parse import TIMESTAMP_OUTSIDE_WINDOW, Banned, venue_error
from connectors.deadline import settle_after
from connectors.wire import FrameWriter, Sent, write_immediately
from core.connector import ConnectorState
from core.errors import CopierError, OutcomeUnknown, RateLimited, TransientError
from core.outbox import WireStamp
from core.ratelimit import Limit, RateLimiter

log = logging.getLogger(__name__)

# Declared venue limits (developers.binance.com, USDⓈ-M general info).
IP_WEIGHT_LIMITS: tuple[Limit, ...] = (Limit(2400, 60.0, "request weight per minute per IP"),)
ORDER_LIMITS: tuple[Limit, ...] = (
    Limit(300, 10.0, "orders per 10 seconds per account"),
    Limit(1200, 60.0, "orders per minute per account"),
)

# Request weight per (method, path); unlisted requests weigh 1.
REQUEST_WEIGHTS: dict[tuple[str, str], int] = {
    ("GET", "/fapi/v1/time"): 1,
    ("GET", "/fapi/v1/exchangeInfo"): 1,
    ("POST", "/fapi/v1/order"): 0,
    ("POST", "/fapi/v1/algoOrder"): 0,
    ("GET", "/fapi/v1/order"): 1,
    ("DELETE", "/fapi/v1/order"): 1,
    ("GET", "/fapi/v1/algoOrder"): 1,
    ("DELETE", "/fapi/v1/algoOrder"): 1,
    ("GET", "/fapi/v1/openAlgoOrders"): 1,
    ("GET", "/fapi/v1/openOrders"): 1,  # 40 without a symbol
    ("GET", "/fapi/v1/allOrders"): 5,
    ("GET", "/fapi/v1/allAlgoOrders"): 5,
    ("GET", "/fapi/v3/account"): 5,
    ("GET", "/fapi/v3/positionRisk"): 5,
    ("GET", "/fapi/v1/positionSide/dual"): 30,
    ("GET", "/fapi/v2/ticker/price"): 2,
    ("POST", "/fapi/v1/listenKey"): 1,
    ("PUT", "/fapi/v1/listenKey"): 1,
}
WS_CONNECT_WEIGHT = 5

StateCallback = Callable[[ConnectorState, str], None]


class WsUnavailable(Exception):
    """The WebSocket API is down or the request could not be written; nothing was sent."""


SentCall = Sent[tuple[dict[str, Any], int]]
"""A request on the order socket whose answer is still to come."""


def ws_frame(rid: str, method: str, params: dict[str, str]) -> bytes:
    """The text frame of one WebSocket API request."""
    return orjson.dumps({"id": rid, "method": method, "params": params})


def place_method(algo: bool) -> str:
    """The WebSocket API method that places an order (``algo`` for a conditional one)."""
    return "algoOrder.place" if algo else "order.place"


async def _headers_sent(_session: object, ctx: SimpleNamespace, _params: object) -> None:
    # t_wire for REST: the request line and headers (which carry the whole signed query) are written.
    stamp = ctx.trace_request_ctx
    if isinstance(stamp, list) and not stamp[0]:
        stamp[0] = time.monotonic_ns()


def _trace_config() -> aiohttp.TraceConfig:
    config = aiohttp.TraceConfig()
    config.on_request_headers_sent.append(_headers_sent)
    return config


class WsApi:
    """One WebSocket API connection: requests matched to answers by id, reconnected when it drops.

    Requests in flight when the connection drops fail with :class:`OutcomeUnknown`: their bytes
    left, so whether the venue acted is unknown until reconciled.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        *,
        timeout: float,
        on_state: StateCallback,
        on_connect: Callable[[], None],
    ) -> None:
        self._session = session
        self._url = url
        self._timeout = timeout
        self._on_state = on_state
        self._on_connect = on_connect
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._frames: FrameWriter | None = None
        self._pending: dict[str, asyncio.Future[tuple[dict[str, Any], int]]] = {}
        self._ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None
        self._reconnector: asyncio.Task[None] | None = None
        self._closing = False
        self.reconnects = 0

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    async def connect(self) -> None:
        """Open the connection and start its reader."""
        self._on_connect()
        ws = await self._session.ws_connect(self._url, heartbeat=30.0, autoping=True, max_msg_size=0)
        write_immediately(ws)
        self._ws = ws
        self._frames = FrameWriter.of(ws)
        self._reader = asyncio.create_task(self._read(ws), name=f"binance-ws-reader:{self._url}")

    async def close(self) -> None:
        self._closing = True
        ws, self._ws = self._ws, None
        self._frames = None
        if ws is not None:
            await ws.close()
        for task in (self._reconnector, self._reader):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._ws is not None:
            await self._ws.close()
        self._fail_pending(TransientError("connection closed"))

    async def call(self, method: str, params: dict[str, str]) -> tuple[dict[str, Any], int, int]:
        """Send one request; return (answer, t_wire_ns, t_ack_ns). Raises :class:`WsUnavailable`
        when nothing was sent, :class:`OutcomeUnknown` when the answer never came."""
        sent = self.write(method, params) if self._frames is not None else await self._send_frame(method, params)
        return await self.answer(sent)

    @property
    def writable(self) -> bool:
        """Whether :meth:`write` can put a request on the wire now."""
        return self._frames is not None and self.connected

    def write(self, method: str, params: dict[str, str]) -> SentCall:
        """Put one request on the wire now, from synchronous code; :meth:`answer` awaits its answer.
        Raises :class:`WsUnavailable` when nothing was sent."""
        frames = self._frames
        if frames is None or not self.connected:
            raise WsUnavailable("WebSocket API not connected")
        rid, future = self._new_request()
        frame = ws_frame(rid, method, params)
        try:
            stamp = frames.text(frame)
        except (ConnectionError, RuntimeError) as exc:
            raise WsUnavailable(str(exc)) from exc
        self._pending[rid] = future
        return Sent(method, rid, future, stamp)

    async def _send_frame(self, method: str, params: dict[str, str]) -> SentCall:
        """:meth:`write` through aiohttp's own writer, for a socket whose transport cannot be reached."""
        ws = self._ws
        if ws is None or ws.closed:
            raise WsUnavailable("WebSocket API not connected")
        rid, future = self._new_request()
        frame = ws_frame(rid, method, params)
        self._pending[rid] = future
        try:
            stamp = WireStamp(time.monotonic_ns())
            await ws.send_frame(frame, aiohttp.WSMsgType.TEXT)
        except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
            self._pending.pop(rid, None)
            raise WsUnavailable(str(exc)) from exc
        return Sent(method, rid, future, stamp)

    def _new_request(self) -> tuple[str, asyncio.Future[tuple[dict[str, Any], int]]]:
        return str(next(self._ids)), asyncio.get_running_loop().create_future()

    async def answer(self, sent: SentCall) -> tuple[dict[str, Any], int, int]:
        """The answer to a request :meth:`write` sent: (answer, t_wire_ns, t_ack_ns);
        :class:`OutcomeUnknown` when it does not come in time or the connection drops first."""
        future, timeout = sent.future, self._timeout
        expiry = settle_after(
            future, timeout, lambda: OutcomeUnknown(f"no answer to {sent.op} within {timeout}s", code="timeout")
        )
        try:
            answer, t_ack = await future
        finally:
            expiry.cancel()
            self._pending.pop(sent.request_id, None)
        return answer, sent.t_wire, t_ack

    def _fail_pending(self, error: Exception) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    t_ack = time.monotonic_ns()
                    try:
                        answer = orjson.loads(msg.data)
                    except orjson.JSONDecodeError:
                        log.warning("binance ws: unreadable frame dropped")
                        continue
                    future = self._pending.get(str(answer.get("id")))
                    if future is not None and not future.done():
                        future.set_result((answer, t_ack))
                elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                    break
        finally:
            if self._ws is ws:
                self._ws, self._frames = None, None
            self._fail_pending(OutcomeUnknown("WebSocket API connection dropped after send", code="disconnected"))
            if not self._closing:
                self._on_state(ConnectorState.RECONNECTING, "WebSocket API connection dropped")
                self._reconnector = asyncio.create_task(self._reconnect(), name=f"binance-ws-reconnect:{self._url}")

    async def _reconnect(self) -> None:
        delay = 0.05
        while not self._closing:
            try:
                await self.connect()
            except (aiohttp.ClientError, OSError, TimeoutError, RateLimited) as exc:
                log.warning("binance ws: reconnect failed (%s); retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.reconnects += 1
            self._on_state(ConnectorState.UP, "WebSocket API reconnected")
            return


class BinanceClient:
    """REST and WebSocket API access for one account, with clock offset and declared rate limits."""

    def __init__(
        self,
        config: BinanceConfig,
        *,
        ip_limits: tuple[Limit, ...] = IP_WEIGHT_LIMITS,
        order_limits: tuple[Limit, ...] = ORDER_LIMITS,
        on_state: StateCallback | None = None,
    ) -> None:
        self.config = config
        self._secret = config.api_secret.encode()
        self.weight_limiter = RateLimiter(ip_limits)
        self.order_limiter = RateLimiter(order_limits)
        self._on_state = on_state or (lambda state, reason: None)
        self._session: aiohttp.ClientSession | None = None
        self.ws: WsApi | None = None
        self.offset_ms = 0
        self.used_weight = 0
        self._banned_until = 0.0
        self._resync: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the session, measure the clock offset and open the WebSocket API connection."""
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=300, ttl_dns_cache=3600)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.config.request_timeout),
            trace_configs=[_trace_config()],
            json_serialize=lambda o: orjson.dumps(o).decode(),
        )
        await self.sync_time()
        if self.config.ws_orders:
            self.ws = WsApi(
                self._session,
                self.config.ws_url,
                timeout=self.config.request_timeout,
                on_state=self._on_state,
                on_connect=lambda: self.weight_limiter.acquire(WS_CONNECT_WEIGHT),
            )
            try:
                await self.ws.connect()
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise TransientError(f"WebSocket API unreachable: {exc}") from exc

    async def close(self) -> None:
        if self._resync is not None and not self._resync.done():
            self._resync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resync
        if self.ws is not None:
            await self.ws.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("client not started")
        return self._session

    # -- clock -----------------------------------------------------------------------------------

    def now_ms(self) -> int:
        """Venue time in milliseconds: local wall clock plus the measured offset."""
        return time.time_ns() // 1_000_000 + self.offset_ms

    async def sync_time(self) -> int:
        """Measure the offset to the venue clock from ``GET /fapi/v1/time`` (midpoint of the round trip)."""
        before = time.time_ns()
        answer = await self.public("GET", "/fapi/v1/time")
        after = time.time_ns()
        local_mid_ms = (before + after) // 2_000_000
        self.offset_ms = int(answer["serverTime"]) - local_mid_ms
        return self.offset_ms

    def _schedule_resync(self) -> None:
        if self._resync is None or self._resync.done():
            self._resync = asyncio.create_task(self._resync_once(), name=f"binance-clock-resync:{self.config.name}")

    async def _resync_once(self) -> None:
        try:
            await self.sync_time()
        except CopierError as exc:
            log.warning("binance %s: clock resync failed: %s", self.config.name, exc)

    # -- REST ------------------------------------------------------------------------------------

    def _check_ban(self) -> None:
        left = self._banned_until - time.monotonic()
        if left > 0:
            raise Banned("IP banned by the venue; not sending", code=418, retry_after=left)

    async def public(self, method: str, path: str, params: Iterable[tuple[str, str]] = ()) -> Any:
        """An unsigned REST request."""
        query = auth.encode(params)
        answer, _, _ = await self._send(method, path, query, signed=False)
        return answer

    async def signed(
        self, method: str, path: str, params: Iterable[tuple[str, str]] = (), *, weight: int | None = None
    ) -> Any:
        """A signed REST request; the answer's JSON. ``weight`` overrides the declared weight."""
        answer, _, _ = await self._signed(method, path, params, weight=weight)
        return answer

    async def _signed(
        self, method: str, path: str, params: Iterable[tuple[str, str]], *, weight: int | None = None
    ) -> tuple[Any, int, int]:
        query = auth.signed_query(params, self._secret, self.now_ms(), self.config.recv_window)
        return await self._send(method, path, query, signed=True, weight=weight)

    async def _send(
        self, method: str, path: str, query: str, *, signed: bool, weight: int | None = None
    ) -> tuple[Any, int, int]:
        self._check_ban()
        self.weight_limiter.acquire(REQUEST_WEIGHTS.get((method, path), 1) if weight is None else weight)
        url = URL(f"{self.config.base_url}{path}?{query}" if query else f"{self.config.base_url}{path}", encoded=True)
        headers = {"X-MBX-APIKEY": self.config.api_key} if signed else None
        stamp = [0]
        try:
            async with self.session.request(method, url, headers=headers, trace_request_ctx=stamp) as resp:
                body = await resp.read()
                t_ack = time.monotonic_ns()
                status = resp.status
                used = resp.headers.get("X-MBX-USED-WEIGHT-1M")
                retry_after = resp.headers.get("Retry-After")
        except aiohttp.ClientConnectorError as exc:
            raise TransientError(f"cannot connect: {exc}", code="connect") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            if stamp[0]:
                raise OutcomeUnknown(f"{method} {path}: no answer ({type(exc).__name__})", code="disconnected") from exc
            raise TransientError(f"{method} {path}: not sent ({type(exc).__name__})", code="not_sent") from exc
        if used is not None and used.isdigit():
            self.used_weight = int(used)
        if status == 200:
            return orjson.loads(body), stamp[0], t_ack
        raise self._error(status, body, retry_after, sent=True)

    def _error(self, status: int, body: bytes, retry_after: str | None, *, sent: bool) -> CopierError:
        code: int | None = None
        message = ""
        try:
            payload = orjson.loads(body) if body else {}
            if isinstance(payload, dict):
                code = _code(payload.get("code"))
                message = str(payload.get("msg", ""))
        except orjson.JSONDecodeError:
            message = body[:200].decode(errors="replace")
        wait = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None
        return self._typed(status, code, message, wait, sent=sent)

    def _typed(self, status: int, code: int | None, message: str, wait: float | None, *, sent: bool) -> CopierError:
        error = venue_error(status, code, message, account=self.config.name, retry_after=wait, sent=sent)
        if isinstance(error, Banned):
            self._banned_until = time.monotonic() + error.retry_after
        if code == TIMESTAMP_OUTSIDE_WINDOW:
            self._schedule_resync()
        return error

    # -- WebSocket API -------------------------------------------------------------------------------

    @property
    def ws_up(self) -> bool:
        return self.ws is not None and self.ws.connected

    @property
    def ws_writable(self) -> bool:
        """Whether an order can be put on the WebSocket API from synchronous code now."""
        return self.ws is not None and self.ws.writable

    def _ws_signed(self, params: dict[str, str]) -> dict[str, str]:
        return auth.sign_ws(params, self.config.api_key, self._secret, self.now_ms(), self.config.recv_window)

    async def _ws_call(self, method: str, params: dict[str, str]) -> tuple[dict[str, Any], int, int]:
        if self.ws is None:
            raise WsUnavailable("WebSocket API disabled")
        return self._ws_result(*await self.ws.call(method, self._ws_signed(params)))

    def _ws_result(self, answer: dict[str, Any], t_wire: int, t_ack: int) -> tuple[dict[str, Any], int, int]:
        """(result, t_wire_ns, t_ack_ns) of a WebSocket API answer, or its error, typed."""
        status = int(answer.get("status", 200))
        if status == 200 and "result" in answer:
            result = answer["result"]
            if isinstance(result, dict):
                return result, t_wire, t_ack
            raise OutcomeUnknown(f"Binance answered with a {type(result).__name__} where the order's result belongs")
        error = answer.get("error")
        if not isinstance(error, dict):
            error = {}
        wait = None
        data = error.get("data")
        if isinstance(data, dict) and "retryAfter" in data:
            wait = max(0.0, (float(data["retryAfter"]) - self.now_ms()) / 1000)
        raise self._typed(status, _code(error.get("code")), str(error.get("msg", "")), wait, sent=True)

    # -- orders ----------------------------------------------------------------------------------

    def encode_place(self, params: list[tuple[str, str]], *, algo: bool = False) -> bytes:
        """The signed WebSocket API request :meth:`place` would send, not sent."""
        return ws_frame("0", place_method(algo), self._ws_signed(dict(params)))

    async def place(self, params: list[tuple[str, str]], *, algo: bool = False) -> tuple[dict[str, Any], int, int]:
        """Place one order (``algo`` for conditional orders); (answer, t_wire_ns, t_ack_ns).

        Uses the WebSocket API when it is up, REST otherwise; the order limits are taken once.
        """
        return await self.place_answer(params, self.place_write(params, algo=algo), algo=algo)

    def place_write(self, params: list[tuple[str, str]], *, algo: bool = False) -> SentCall | None:
        """The part of :meth:`place` that comes before its answer, from synchronous code: refuse
        while banned, take the order limits, and put the signed order on the WebSocket API when it
        can be written from here. None when the order is still to be sent: :meth:`place_answer`
        sends it then."""
        self._check_ban()
        self.order_limiter.acquire()
        ws = self.ws
        if ws is not None and ws.writable:
            with contextlib.suppress(WsUnavailable):  # nothing left: place_answer sends it
                return ws.write(place_method(algo), self._ws_signed(dict(params)))
        return None

    async def place_answer(
        self, params: list[tuple[str, str]], sent: SentCall | None, *, algo: bool = False
    ) -> tuple[dict[str, Any], int, int]:
        """The answer to an order :meth:`place_write` took: its ``sent`` request's, or, when it sent
        nothing, the order sent now over the WebSocket API while it is up and over REST otherwise."""
        if sent is not None:
            assert self.ws is not None  # the request went out on it
            return self._ws_result(*await self.ws.answer(sent))
        if self.ws_up:
            try:
                return await self._ws_call(place_method(algo), dict(params))
            except WsUnavailable:
                log.info("binance %s: WebSocket API unavailable, order goes over REST", self.config.name)
        return await self._signed("POST", "/fapi/v1/algoOrder" if algo else "/fapi/v1/order", params)


def _code(raw: object) -> int | None:
    """Binance's error code as an int, whether it came as a number or as digits; None otherwise."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.lstrip("-").isdigit():
        return int(raw)
    return None
