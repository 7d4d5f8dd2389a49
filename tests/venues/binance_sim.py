"""Loopback simulator of Binance USDⓈ-M futures speaking the venue's wire protocol.

REST (``/fapi/...``), the WebSocket API (``/ws-fapi/v1``: ``order.place``, ``algoOrder.place``,
``order.status``, ``order.cancel``) and the user data stream (``/ws/<listenKey>``) are served on one
port bound to 127.0.0.1. Requests are authenticated the venue's way (API key header or ``apiKey``
param, HMAC-SHA256 signature, timestamp within ``recvWindow``) and refused with the venue's codes.
Orders pass the symbol filters (precision, step, min/max quantity, tick, min notional), duplicate
client ids are refused, market orders fill at the settable mark price, positions and the USDT
balance are kept, and conditional orders trigger when the mark price crosses them. Open orders and
the order history (``/fapi/v1/openOrders``, ``/fapi/v1/allOrders``) and the conditional orders
(``/fapi/v1/openAlgoOrders``, ``/fapi/v1/allAlgoOrders``) are served as the venue does.

Side endpoints for tests and the latency harness:

* ``GET /__sim/orders`` — every order request's arrival, stamped with ``time.monotonic_ns()``;
* ``POST /__sim/price`` ``{"symbol": "BTCUSDT", "price": "61000"}`` — set a mark price;
* ``POST /__sim/fault`` — fault switches, see :class:`Faults`.

Run alone: ``python -m tests.venues.binance_sim --port 0`` prints the bound port on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import itertools
import re
import secrets
import signal
import sys
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import WSMsgType, web

from tests.venues.latency import venue_latency
from tests.venues.serving import listen, shut
from tests.venues.stamped import stamped

DEFAULT_API_KEY = "simkey" + "0" * 58
DEFAULT_API_SECRET = "simsecret" + "1" * 55

_CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_SIGNATURE = re.compile(r"(?:^|&)signature=([0-9a-fA-F]*)$")
ZERO = Decimal(0)


@dataclass
class SymbolSpec:
    """One listed contract and its filters."""

    symbol: str
    base: str
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_step: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    price_precision: int
    quantity_precision: int

    def to_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "pair": self.symbol,
            "contractType": "PERPETUAL",
            "deliveryDate": 4133404800000,
            "onboardDate": 1569398400000,
            "status": "TRADING",
            "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000",
            "baseAsset": self.base,
            "quoteAsset": "USDT",
            "marginAsset": "USDT",
            "pricePrecision": self.price_precision,
            "quantityPrecision": self.quantity_precision,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "underlyingSubType": [],
            "triggerProtect": "0.0500",
            "liquidationFee": "0.012500",
            "marketTakeBound": "0.05",
            "maxMoveOrderLimit": 10000,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": str(self.tick),
                    "maxPrice": "4529764",
                    "tickSize": str(self.tick),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": str(self.min_qty),
                    "maxQty": str(self.max_qty),
                    "stepSize": str(self.step),
                },
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": str(self.min_qty),
                    "maxQty": str(self.market_max_qty),
                    "stepSize": str(self.market_step),
                },
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                {"filterType": "MIN_NOTIONAL", "notional": str(self.min_notional)},
                {
                    "filterType": "PERCENT_PRICE",
                    "multiplierUp": "1.0500",
                    "multiplierDown": "0.9500",
                    "multiplierDecimal": "4",
                },
            ],
            "orderTypes": [
                "LIMIT",
                "MARKET",
                "STOP",
                "STOP_MARKET",
                "TAKE_PROFIT",
                "TAKE_PROFIT_MARKET",
                "TRAILING_STOP_MARKET",
            ],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        }


def default_symbols() -> dict[str, SymbolSpec]:
    d = Decimal
    return {
        "BTCUSDT": SymbolSpec(
            "BTCUSDT", "BTC", d("0.10"), d("0.001"), d("0.001"), d("1000"), d("0.001"), d("120"), d("100"), 2, 3
        ),
        "ETHUSDT": SymbolSpec(
            "ETHUSDT", "ETH", d("0.01"), d("0.001"), d("0.001"), d("10000"), d("0.001"), d("2000"), d("20"), 2, 3
        ),
        # A coarse step inside a finer quantity precision, as some contracts have.
        "SOLUSDT": SymbolSpec(
            "SOLUSDT", "SOL", d("0.010"), d("0.05"), d("0.05"), d("100000"), d("0.05"), d("5000"), d("5"), 3, 2
        ),
    }


@dataclass
class Faults:
    """Fault switches. Counts apply to the next N order requests (REST or WebSocket API).

    ``latency_ms``: added before every answer. ``http_5xx``: answer 503 without acting.
    ``drop_after_order``: accept and execute the order, then drop the connection unanswered.
    ``http_429`` / ``http_418``: answer rate-limited / banned with ``retry_after`` seconds.
    ``skew_ms``: the simulator's clock runs this far ahead of the host's wall clock.
    """

    latency_ms: float = 0.0
    http_5xx: int = 0
    drop_after_order: int = 0
    http_429: int = 0
    http_418: int = 0
    retry_after: int = 7
    skew_ms: int = 0


@dataclass
class _Pos:
    amount: Decimal = ZERO
    entry: Decimal = ZERO


@dataclass
class _Fail(Exception):
    status: int
    code: int
    msg: str
    headers: dict[str, str] = field(default_factory=dict)


class _Drop(Exception):
    """Drop the connection without answering."""


def _dec(text: str, name: str) -> Decimal:
    try:
        value = Decimal(text)
    except ArithmeticError:
        raise _Fail(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'.",
        ) from None
    if not value.is_finite():
        raise _Fail(400, -1100, f"Illegal characters found in parameter '{name}'.")
    return value


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _s(value: Decimal) -> str:
    return format(value.normalize(), "f") if value != 0 else "0"


class BinanceSim:
    """The simulator; ``await start()`` returns the bound port."""

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        api_secret: str = DEFAULT_API_SECRET,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        hedge_mode: bool = False,
        balance: Decimal = Decimal("100000"),
        leverage: int = 20,
        symbols: dict[str, SymbolSpec] | None = None,
        order_limits: tuple[tuple[int, float], ...] = ((300, 10.0), (1200, 60.0)),
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret.encode()
        self.host = host
        self.port = port
        self.hedge_mode = hedge_mode
        self.balance = balance
        self.leverage = Decimal(leverage)
        self.symbols = symbols or default_symbols()
        self.marks: dict[str, Decimal] = {
            "BTCUSDT": Decimal("60000"),
            "ETHUSDT": Decimal("3000"),
            "SOLUSDT": Decimal("150"),
        }
        self.faults = Faults()
        self.orders: dict[int, dict[str, Any]] = {}
        self.client_ids: dict[tuple[str, str], int] = {}
        self.algos: dict[int, dict[str, Any]] = {}
        self.algo_ids: dict[str, int] = {}
        self.positions: dict[tuple[str, str], _Pos] = {}
        self.arrivals: list[dict[str, Any]] = []
        self.order_requests: dict[str, int] = {"rest": 0, "ws": 0}
        self.refused: list[int] = []
        self.listen_keys: set[str] = set()
        self._order_limits = order_limits
        self._order_stamps: list[deque[float]] = [deque() for _ in order_limits]
        self._ids = itertools.count(4_000_000_001)
        self._trade_ids = itertools.count(900_001)
        self._streams: set[web.WebSocketResponse] = set()
        self._ws_api: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self.app = self._build_app()

    # -- lifecycle -------------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application()
        r = app.router
        r.add_get("/fapi/v1/time", self._time)
        r.add_get("/fapi/v1/ping", self._ping)
        r.add_get("/fapi/v1/exchangeInfo", self._exchange_info)
        r.add_get("/fapi/v1/ticker/price", self._ticker)
        r.add_get("/fapi/v2/ticker/price", self._ticker)
        r.add_post("/fapi/v1/order", self._rest_new_order)
        r.add_get("/fapi/v1/order", self._rest_query_order)
        r.add_delete("/fapi/v1/order", self._rest_cancel_order)
        r.add_get("/fapi/v1/openOrders", self._rest_open_orders)
        r.add_get("/fapi/v1/allOrders", self._rest_all_orders)
        r.add_post("/fapi/v1/algoOrder", self._rest_new_algo)
        r.add_get("/fapi/v1/algoOrder", self._rest_query_algo)
        r.add_delete("/fapi/v1/algoOrder", self._rest_cancel_algo)
        r.add_get("/fapi/v1/openAlgoOrders", self._rest_open_algos)
        r.add_get("/fapi/v1/allAlgoOrders", self._rest_all_algos)
        r.add_get("/fapi/v3/account", self._account)
        r.add_get("/fapi/v2/account", self._account)
        r.add_get("/fapi/v3/positionRisk", self._position_risk)
        r.add_get("/fapi/v2/positionRisk", self._position_risk)
        r.add_get("/fapi/v1/positionSide/dual", self._get_dual)
        r.add_post("/fapi/v1/positionSide/dual", self._set_dual)
        r.add_post("/fapi/v1/listenKey", self._listen_key_new)
        r.add_put("/fapi/v1/listenKey", self._listen_key_keepalive)
        r.add_delete("/fapi/v1/listenKey", self._listen_key_close)
        r.add_get("/ws-fapi/v1", self._ws_api_handler)
        r.add_get("/ws/{key}", self._user_stream)
        r.add_get("/private/ws/{key}", self._user_stream)
        r.add_get("/__sim/orders", self._sim_orders)
        r.add_get("/__sim/book", self._sim_book)
        r.add_post("/__sim/price", self._sim_price)
        r.add_post("/__sim/fault", self._sim_fault)
        return app

    async def start(self) -> int:
        self._runner, self.port = await listen(self.app, self.host, self.port, handler_cancellation=True)
        return self.port

    async def stop(self) -> None:
        await shut(self._runner, self._streams | self._ws_api)

    async def __aenter__(self) -> BinanceSim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws-fapi/v1"

    @property
    def stream_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.faults.skew_ms

    async def drop_ws_api(self) -> None:
        """Close every WebSocket API connection from the server side."""
        for ws in list(self._ws_api):
            await ws.close()

    # -- plumbing --------------------------------------------------------------------------------

    def _json(self, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json", headers=headers)

    def _error(self, fail: _Fail) -> web.Response:
        self.refused.append(fail.code)
        return self._json({"code": fail.code, "msg": fail.msg}, fail.status, fail.headers)

    async def _delay(self) -> None:
        await venue_latency(self.faults.latency_ms / 1000)

    def _check_time(self, params: dict[str, str]) -> None:
        if "timestamp" not in params:
            raise _Fail(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
        try:
            ts = int(params["timestamp"])
            window = int(params.get("recvWindow", "5000"))
        except ValueError:
            raise _Fail(400, -1100, "Illegal characters found in parameter 'timestamp'.") from None
        if window > 60000:
            raise _Fail(400, -1131, "recvWindow must be less than 60000")
        now = self.now_ms()
        if ts >= now + 1000:
            raise _Fail(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if now - ts > window:
            raise _Fail(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    async def _rest_auth(self, request: web.Request, *, signed: bool = True) -> dict[str, str]:
        raw_query = request.rel_url.raw_query_string
        body = (await request.read()).decode()
        if request.headers.get("X-MBX-APIKEY") != self.api_key:
            raise _Fail(401, -2015, "Invalid API-key, IP, or permissions for action.")
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        if not signed:
            return params
        self._check_time(params)
        in_body = _SIGNATURE.search(body)
        in_query = None if in_body else _SIGNATURE.search(raw_query)
        if in_body is not None:
            payload, given = raw_query + body[: in_body.start()], in_body.group(1)
        elif in_query is not None:
            payload, given = raw_query[: in_query.start()] + body, in_query.group(1)
        else:
            raise _Fail(400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
        expected = hmac.new(self.api_secret, payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, given.lower()):
            raise _Fail(400, -1022, "Signature for this request is not valid.")
        params.pop("signature", None)
        return params

    def _ws_auth(self, params: dict[str, Any]) -> dict[str, str]:
        if params.get("apiKey") != self.api_key:
            raise _Fail(401, -2015, "Invalid API-key, IP, or permissions for action.")
        text = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
        self._check_time(text)
        given = text.pop("signature", "")
        payload = "&".join(f"{k}={text[k]}" for k in sorted(text))
        expected = hmac.new(self.api_secret, payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, given.lower()):
            raise _Fail(400, -1022, "Signature for this request is not valid.")
        return text

    def _order_faults(self) -> bool:
        """Apply count faults to an order request; True when the connection must then be dropped."""
        f = self.faults
        if f.http_418 > 0:
            f.http_418 -= 1
            raise _Fail(418, -1003, "Way too many requests; IP banned.", {"Retry-After": str(f.retry_after)})
        if f.http_429 > 0:
            f.http_429 -= 1
            raise _Fail(
                429,
                -1003,
                "Too many requests; please use the websocket for live updates.",
                {"Retry-After": str(f.retry_after)},
            )
        if f.http_5xx > 0:
            f.http_5xx -= 1
            raise _Fail(503, -1000, "Unknown error, please check your request or try again later.")
        if f.drop_after_order > 0:
            f.drop_after_order -= 1
            return True
        return False

    def _count_order(self) -> None:
        now = time.monotonic()
        for (count, window), stamps in zip(self._order_limits, self._order_stamps, strict=True):
            while stamps and stamps[0] <= now - window:
                stamps.popleft()
            if len(stamps) >= count:
                raise _Fail(429, -1015, f"Too many new orders; current limit is {count} orders per {window:g} seconds.")
        for stamps in self._order_stamps:
            stamps.append(now)

    def _arrived(self, arrived_ns: int, params: dict[str, str]) -> None:
        self.arrivals.append(
            {
                "client_order_id": params.get("newClientOrderId") or params.get("clientAlgoId") or "",
                "arrived_ns": arrived_ns,
                "symbol": params.get("symbol", ""),
                "side": params.get("side", ""),
                "qty": params.get("quantity", ""),
            }
        )

    # -- account arithmetic ----------------------------------------------------------------------

    def _pos(self, symbol: str, position_side: str) -> _Pos:
        return self.positions.setdefault((symbol, position_side), _Pos())

    def _unrealized(self) -> Decimal:
        return sum(((p.amount * (self.marks[s] - p.entry)) for (s, _), p in self.positions.items()), ZERO)

    def _used_margin(self) -> Decimal:
        return sum((abs(p.amount) * self.marks[s] / self.leverage for (s, _), p in self.positions.items()), ZERO)

    def _available(self) -> Decimal:
        return self.balance + self._unrealized() - self._used_margin()

    def _fill(self, symbol: str, position_side: str, side: str, qty: Decimal, price: Decimal) -> Decimal:
        """Apply a fill to the position; returns realized profit."""
        pos = self._pos(symbol, position_side)
        delta = qty if side == "BUY" else -qty
        realized = ZERO
        if pos.amount == 0 or (pos.amount > 0) == (delta > 0):
            total = abs(pos.amount) + qty
            pos.entry = (abs(pos.amount) * pos.entry + qty * price) / total
            pos.amount += delta
        else:
            closed = min(qty, abs(pos.amount))
            realized = closed * (price - pos.entry) * (1 if pos.amount > 0 else -1)
            self.balance += realized
            rest = qty - closed
            pos.amount += delta
            if pos.amount == 0:
                pos.entry = ZERO
            elif rest > 0:
                pos.entry = price
        if pos.amount == 0:
            self._cancel_close_position_algos(symbol, position_side)
        return realized

    # -- order logic -----------------------------------------------------------------------------

    def _spec(self, params: dict[str, str]) -> SymbolSpec:
        symbol = params.get("symbol")
        if not symbol:
            raise _Fail(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        spec = self.symbols.get(symbol)
        if spec is None:
            raise _Fail(400, -1121, "Invalid symbol.")
        return spec

    def _position_side(self, params: dict[str, str]) -> str:
        ps = params.get("positionSide", "BOTH")
        if ps not in ("BOTH", "LONG", "SHORT"):
            raise _Fail(400, -4006, "Invalid position side.")
        if (ps == "BOTH") == self.hedge_mode:
            raise _Fail(400, -4061, "Order's position side does not match user's setting.")
        if self.hedge_mode and "reduceOnly" in params:
            raise _Fail(400, -1106, "Parameter 'reduceOnly' sent when not required.")
        return ps

    def _quantity(self, spec: SymbolSpec, text: str | None, market: bool) -> Decimal:
        if text is None:
            raise _Fail(400, -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.")
        qty = _dec(text, "quantity")
        if qty <= 0:
            raise _Fail(400, -4003, "Quantity less than or equal to zero.")
        if _decimals(qty) > spec.quantity_precision:
            raise _Fail(400, -1111, "Precision is over the maximum defined for this asset.")
        step = spec.market_step if market else spec.step
        if qty % step != 0:
            raise _Fail(400, -4023, f"Quantity not increased by step size {_s(step)}.")
        if qty < spec.min_qty:
            raise _Fail(400, -4004, "Quantity less than min quantity.")
        if qty > (spec.market_max_qty if market else spec.max_qty):
            raise _Fail(400, -4005, "Quantity greater than max quantity.")
        return qty

    def _price(self, spec: SymbolSpec, text: str | None, name: str = "price") -> Decimal:
        if text is None:
            raise _Fail(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
        price = _dec(text, name)
        if price <= 0:
            raise _Fail(400, -4013, "Price less than min price.")
        if _decimals(price) > spec.price_precision:
            raise _Fail(400, -1111, "Precision is over the maximum defined for this asset.")
        if price % spec.tick != 0:
            raise _Fail(400, -4014, "Price not increased by tick size.")
        return price

    def _client_id(self, value: str | None, name: str) -> str:
        cid = value or f"sim{secrets.token_hex(8)}"
        if not _CLIENT_ID.match(cid):
            raise _Fail(
                400,
                -1100,
                f"Illegal characters found in parameter '{name}'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{{1,36}}$'.",
            )
        return cid

    def new_order(self, params: dict[str, str]) -> dict[str, Any]:
        """Validate and execute ``POST /fapi/v1/order`` parameters; the order's JSON."""
        spec = self._spec(params)
        side = params.get("side")
        if side not in ("BUY", "SELL"):
            raise _Fail(400, -1117, "Invalid side.")
        kind = params.get("type")
        if kind not in ("MARKET", "LIMIT"):
            if kind in ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"):
                raise _Fail(
                    400,
                    -4120,
                    "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
                )
            raise _Fail(400, -1116, "Invalid orderType.")
        ps = self._position_side(params)
        cid = self._client_id(params.get("newClientOrderId"), "newClientOrderId")
        if (spec.symbol, cid) in self.client_ids:
            raise _Fail(400, -4116, "ClientOrderId is duplicated.")
        market = kind == "MARKET"
        qty = self._quantity(spec, params.get("quantity"), market)
        mark = self.marks[spec.symbol]
        price = mark if market else self._price(spec, params.get("price"))
        reduce_only = params.get("reduceOnly", "false").lower() == "true"
        pos = self._pos(spec.symbol, ps)
        reduces = (ps == "LONG" and side == "SELL") or (ps == "SHORT" and side == "BUY")
        if ps == "BOTH":
            reduces = pos.amount != 0 and (pos.amount > 0) != (side == "BUY")
        if reduce_only or (reduces and ps != "BOTH"):
            if not reduces or pos.amount == 0:
                raise _Fail(400, -2022, "ReduceOnly Order is rejected.")
            if ps != "BOTH" and qty > abs(pos.amount):
                raise _Fail(400, -2022, "ReduceOnly Order is rejected.")
            qty = min(qty, abs(pos.amount))
        if not reduces and qty * price < spec.min_notional:
            raise _Fail(
                400,
                -4164,
                f"Order's notional must be no smaller than {_s(spec.min_notional)} (unless you choose reduce only).",
            )
        if not reduces and qty * price / self.leverage > self._available():
            raise _Fail(400, -2019, "Margin is insufficient.")
        self._count_order()
        now = self.now_ms()
        order: dict[str, Any] = {
            "orderId": next(self._ids),
            "symbol": spec.symbol,
            "status": "NEW",
            "clientOrderId": cid,
            "price": "0" if market else _s(price),
            "avgPrice": "0.00",
            "origQty": _s(qty),
            "executedQty": "0",
            "cumQty": "0",
            "cumQuote": "0",
            "timeInForce": params.get("timeInForce", "GTC"),
            "type": kind,
            "reduceOnly": reduce_only or (reduces and ps != "BOTH"),
            "closePosition": False,
            "side": side,
            "positionSide": ps,
            "stopPrice": "0",
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "origType": kind,
            "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "goodTillDate": 0,
            "time": now,
            "updateTime": now,
        }
        self.orders[order["orderId"]] = order
        self.client_ids[(spec.symbol, cid)] = order["orderId"]
        self._push_order(order, "NEW")
        crosses = market or (side == "BUY" and price >= mark) or (side == "SELL" and price <= mark)
        if crosses:
            self._execute(order, mark)
        return order

    def _execute(self, order: dict[str, Any], price: Decimal) -> None:
        qty = Decimal(order["origQty"])
        realized = self._fill(order["symbol"], order["positionSide"], order["side"], qty, price)
        order.update(
            status="FILLED",
            avgPrice=_s(price),
            executedQty=_s(qty),
            cumQty=_s(qty),
            cumQuote=_s(qty * price),
            updateTime=self.now_ms(),
        )
        self._push_order(order, "TRADE", last_qty=qty, last_price=price, realized=realized)
        self._push_account(order["symbol"], order["positionSide"])
        self._finish_algo(order)

    def _finish_algo(self, order: dict[str, Any]) -> None:
        """A triggered algo order ends (FINISHED) with the order it placed."""
        for algo in self.algos.values():
            if algo["actualOrderId"] == str(order["orderId"]) and algo["algoStatus"] == "TRIGGERED":
                algo.update(algoStatus="FINISHED", updateTime=self.now_ms())
                self._push_algo(algo)

    def _answer_order(self, order: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        if params.get("newOrderRespType", "ACK") == "RESULT":
            return dict(order)
        ack = dict(order)
        ack.update(status="NEW", avgPrice="0.00", executedQty="0", cumQty="0", cumQuote="0")
        return ack

    def new_algo(self, params: dict[str, str]) -> dict[str, Any]:
        """Validate and accept ``POST /fapi/v1/algoOrder`` parameters; the algo order's JSON."""
        if params.get("algoType") != "CONDITIONAL":
            raise _Fail(400, -1102, "Mandatory parameter 'algoType' was not sent, was empty/null, or malformed.")
        spec = self._spec(params)
        side = params.get("side")
        if side not in ("BUY", "SELL"):
            raise _Fail(400, -1117, "Invalid side.")
        kind = params.get("type")
        if kind not in ("STOP_MARKET", "TAKE_PROFIT_MARKET", "STOP", "TAKE_PROFIT"):
            raise _Fail(400, -1116, "Invalid orderType.")
        ps = self._position_side(params)
        cid = self._client_id(params.get("clientAlgoId"), "clientAlgoId")
        if cid in self.algo_ids:
            raise _Fail(400, -4116, "ClientOrderId is duplicated.")
        trigger = self._price(spec, params.get("triggerPrice"), "triggerPrice")
        close_position = params.get("closePosition", "false").lower() == "true"
        qty = ZERO
        if close_position:
            if "quantity" in params:
                raise _Fail(400, -1106, "Parameter 'quantity' sent when not required.")
            for algo in self.algos.values():
                if (
                    algo["algoStatus"] == "NEW"
                    and algo["closePosition"]
                    and (algo["symbol"], algo["positionSide"], algo["side"], algo["orderType"])
                    == (spec.symbol, ps, side, kind)
                ):
                    raise _Fail(
                        400,
                        -4130,
                        "An open stop or take profit order with GTE and closePosition in the direction is existing.",
                    )
        else:
            qty = self._quantity(spec, params.get("quantity"), kind.endswith("MARKET"))
        mark = self.marks[spec.symbol]
        if self._triggered(kind, side, trigger, mark):
            raise _Fail(400, -2021, "Order would immediately trigger.")
        self._count_order()
        now = self.now_ms()
        algo = {
            "algoId": next(self._ids),
            "clientAlgoId": cid,
            "algoType": "CONDITIONAL",
            "orderType": kind,
            "symbol": spec.symbol,
            "side": side,
            "positionSide": ps,
            "timeInForce": params.get("timeInForce", "GTC"),
            "quantity": _s(qty),
            "algoStatus": "NEW",
            "triggerPrice": _s(trigger),
            "price": params.get("price", "0"),
            "icebergQuantity": None,
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "workingType": params.get("workingType", "CONTRACT_PRICE"),
            "priceMatch": "NONE",
            "closePosition": close_position,
            "priceProtect": params.get("priceProtect", "FALSE").upper() == "TRUE",
            "reduceOnly": params.get("reduceOnly", "false").lower() == "true",
            "activatePrice": "",
            "callbackRate": "",
            "createTime": now,
            "updateTime": now,
            "triggerTime": 0,
            "goodTillDate": 0,
            "actualOrderId": "",
        }
        self.algos[algo["algoId"]] = algo
        self.algo_ids[cid] = algo["algoId"]
        self._push_algo(algo)
        return algo

    @staticmethod
    def _triggered(kind: str, side: str, trigger: Decimal, mark: Decimal) -> bool:
        stop = kind.startswith("STOP")
        if side == "SELL":
            return mark <= trigger if stop else mark >= trigger
        return mark >= trigger if stop else mark <= trigger

    def _cancel_close_position_algos(self, symbol: str, position_side: str) -> None:
        for algo in self.algos.values():
            if (
                algo["algoStatus"] == "NEW"
                and algo["closePosition"]
                and (algo["symbol"], algo["positionSide"]) == (symbol, position_side)
            ):
                algo["algoStatus"] = "CANCELED"
                algo["updateTime"] = self.now_ms()
                self._push_algo(algo)

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Set the mark price; fill crossing limit orders and trigger conditional orders."""
        self.marks[symbol] = price
        for order in list(self.orders.values()):
            if order["symbol"] != symbol or order["status"] != "NEW" or order["type"] != "LIMIT":
                continue
            limit = Decimal(order["price"])
            if (order["side"] == "BUY" and price <= limit) or (order["side"] == "SELL" and price >= limit):
                self._execute(order, limit)
        for algo in list(self.algos.values()):
            if algo["symbol"] != symbol or algo["algoStatus"] != "NEW":
                continue
            if not self._triggered(algo["orderType"], algo["side"], Decimal(algo["triggerPrice"]), price):
                continue
            pos = self._pos(symbol, algo["positionSide"])
            qty = abs(pos.amount) if algo["closePosition"] else Decimal(algo["quantity"])
            algo.update(algoStatus="FINISHED", triggerTime=self.now_ms(), updateTime=self.now_ms())
            if qty == 0:
                self._push_algo(algo)
                continue
            # STOP and TAKE_PROFIT place a limit order at the algo's price, the *_MARKET kinds a market order.
            limit = {} if algo["orderType"].endswith("MARKET") else {"price": algo["price"], "timeInForce": "GTC"}
            with contextlib.suppress(_Fail):
                order = self.new_order(
                    {
                        "symbol": symbol,
                        "side": algo["side"],
                        "positionSide": algo["positionSide"],
                        "type": "LIMIT" if limit else "MARKET",
                        "quantity": _s(qty),
                        **limit,
                        **({"reduceOnly": "true"} if algo["positionSide"] == "BOTH" and algo["closePosition"] else {}),
                    }
                )
                algo["actualOrderId"] = str(order["orderId"])
                if order["status"] == "NEW":
                    algo["algoStatus"] = "TRIGGERED"  # resting in the book until it fills or is canceled
            self._push_algo(algo)

    def find_order(self, params: dict[str, str]) -> dict[str, Any]:
        spec = self._spec(params)
        oid: int | None = None
        if params.get("orderId"):
            oid = int(params["orderId"])
        elif params.get("origClientOrderId"):
            oid = self.client_ids.get((spec.symbol, params["origClientOrderId"]))
        else:
            raise _Fail(400, -1102, "Either orderId or origClientOrderId must be sent.")
        order = self.orders.get(oid) if oid is not None else None
        if order is None or order["symbol"] != spec.symbol:
            raise _Fail(400, -2013, "Order does not exist.")
        return order

    def cancel_order(self, params: dict[str, str]) -> dict[str, Any]:
        order = self.find_order(params)
        if order["status"] != "NEW":
            raise _Fail(400, -2011, "Unknown order sent.")
        order.update(status="CANCELED", updateTime=self.now_ms())
        self._push_order(order, "CANCELED")
        self._finish_algo(order)
        return dict(order)

    def find_algo(self, params: dict[str, str]) -> dict[str, Any]:
        aid: int | None = None
        if params.get("algoId"):
            aid = int(params["algoId"])
        elif params.get("clientAlgoId"):
            aid = self.algo_ids.get(params["clientAlgoId"])
        else:
            raise _Fail(400, -1102, "Either algoId or clientAlgoId must be sent.")
        algo = self.algos.get(aid) if aid is not None else None
        if algo is None:
            raise _Fail(400, -2013, "Order does not exist.")
        return algo

    # -- user data stream ------------------------------------------------------------------------

    def _broadcast(self, event: dict[str, Any]) -> None:
        data = orjson.dumps(event).decode()
        for ws in list(self._streams):
            if ws.closed:
                self._streams.discard(ws)
                continue
            task = asyncio.ensure_future(ws.send_str(data))
            task.add_done_callback(lambda t: t.exception())

    def _push_order(
        self,
        order: dict[str, Any],
        execution: str,
        *,
        last_qty: Decimal = ZERO,
        last_price: Decimal = ZERO,
        realized: Decimal = ZERO,
    ) -> None:
        if not self._streams:
            return
        now = self.now_ms()
        self._broadcast(
            {
                "e": "ORDER_TRADE_UPDATE",
                "E": now,
                "T": now,
                "o": {
                    "s": order["symbol"],
                    "c": order["clientOrderId"],
                    "S": order["side"],
                    "o": order["type"],
                    "f": order["timeInForce"],
                    "q": order["origQty"],
                    "p": order["price"],
                    "ap": order["avgPrice"],
                    "sp": "0",
                    "x": execution,
                    "X": order["status"],
                    "i": order["orderId"],
                    "l": _s(last_qty),
                    "z": order["executedQty"],
                    "L": _s(last_price),
                    "N": "USDT",
                    "n": "0",
                    "T": now,
                    "t": next(self._trade_ids) if execution == "TRADE" else 0,
                    "b": "0",
                    "a": "0",
                    "m": False,
                    "R": order["reduceOnly"],
                    "wt": "CONTRACT_PRICE",
                    "ot": order["origType"],
                    "ps": order["positionSide"],
                    "cp": False,
                    "rp": _s(realized),
                    "pP": False,
                    "si": 0,
                    "ss": 0,
                    "V": "EXPIRE_MAKER",
                    "pm": "NONE",
                    "gtd": 0,
                },
            }
        )

    def _push_algo(self, algo: dict[str, Any]) -> None:
        """An ``ALGO_UPDATE`` user-data event: a conditional order was placed or changed state."""
        if not self._streams:
            return
        now = self.now_ms()
        self._broadcast(
            {
                "e": "ALGO_UPDATE",
                "T": now,
                "E": now,
                "o": {
                    "caid": algo["clientAlgoId"],
                    "aid": algo["algoId"],
                    "at": algo["algoType"],
                    "o": algo["orderType"],
                    "s": algo["symbol"],
                    "S": algo["side"],
                    "ps": algo["positionSide"],
                    "f": algo["timeInForce"],
                    "q": algo["quantity"],
                    "X": algo["algoStatus"],
                    "ai": algo.get("actualOrderId", ""),
                    "tp": algo["triggerPrice"],
                    "p": algo["price"],
                    "wt": algo["workingType"],
                    "pm": algo["priceMatch"],
                    "cp": algo["closePosition"],
                    "pP": algo["priceProtect"],
                    "R": algo["reduceOnly"],
                    "tt": algo["triggerTime"],
                    "gtd": algo["goodTillDate"],
                },
            }
        )

    def _push_account(self, symbol: str, position_side: str) -> None:
        if not self._streams:
            return
        pos = self._pos(symbol, position_side)
        now = self.now_ms()
        self._broadcast(
            {
                "e": "ACCOUNT_UPDATE",
                "E": now,
                "T": now,
                "a": {
                    "m": "ORDER",
                    "B": [{"a": "USDT", "wb": _s(self.balance), "cw": _s(self.balance), "bc": "0"}],
                    "P": [
                        {
                            "s": symbol,
                            "pa": _s(pos.amount),
                            "ep": _s(pos.entry),
                            "bep": _s(pos.entry),
                            "cr": "0",
                            "up": _s(pos.amount * (self.marks[symbol] - pos.entry)),
                            "mt": "cross",
                            "iw": "0",
                            "ps": position_side,
                        }
                    ],
                },
            }
        )

    # -- REST handlers ---------------------------------------------------------------------------

    async def _handle(
        self, request: web.Request, action: Any, *, signed: bool = True, order: bool = False
    ) -> web.StreamResponse:
        arrived = time.monotonic_ns()
        try:
            params = await self._rest_auth(request, signed=signed)
            drop = False
            if order:
                self.order_requests["rest"] += 1
                self._arrived(arrived, params)
                drop = self._order_faults()
            result = action(params)
            await self._delay()
            if drop:
                raise _Drop
            return self._json(result)
        except _Fail as fail:
            await self._delay()
            return self._error(fail)
        except _Drop:
            transport = request.transport
            if transport is not None:
                transport.abort()
            return web.Response(status=500)

    async def _time(self, request: web.Request) -> web.StreamResponse:
        await self._delay()
        return self._json({"serverTime": self.now_ms()})

    async def _ping(self, request: web.Request) -> web.StreamResponse:
        return self._json({})

    async def _exchange_info(self, request: web.Request) -> web.StreamResponse:
        await self._delay()
        return self._json(
            {
                "timezone": "UTC",
                "serverTime": self.now_ms(),
                "futuresType": "U_MARGINED",
                "rateLimits": [
                    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
                    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
                ],
                "exchangeFilters": [],
                "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
                "symbols": [spec.to_json() for spec in self.symbols.values()],
            }
        )

    async def _ticker(self, request: web.Request) -> web.StreamResponse:
        symbol = request.query.get("symbol")
        now = self.now_ms()
        if symbol:
            if symbol not in self.marks:
                return self._error(_Fail(400, -1121, "Invalid symbol."))
            return self._json({"symbol": symbol, "price": _s(self.marks[symbol]), "time": now})
        return self._json([{"symbol": s, "price": _s(p), "time": now} for s, p in self.marks.items()])

    async def _rest_new_order(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, lambda p: self._answer_order(self.new_order(p), p), order=True)

    async def _rest_query_order(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, lambda p: dict(self.find_order(p)))

    async def _rest_cancel_order(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, self.cancel_order)

    async def _rest_open_orders(self, request: web.Request) -> web.StreamResponse:
        def action(p: dict[str, str]) -> list[dict[str, Any]]:
            return [o for o in self.orders.values() if o["status"] == "NEW" and p.get("symbol") in (None, o["symbol"])]

        return await self._handle(request, action)

    def all_orders(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """``GET /fapi/v1/allOrders``: one symbol's orders, ascending by order id, at most ``limit``
        (default 500, at most 1000); from ``orderId`` on, or within ``startTime``..``endTime`` (at most
        7 days apart; the last 7 days when neither is given)."""
        return self._history(list(self.orders.values()), params, "orderId", "time")

    def all_algo_orders(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """``GET /fapi/v1/allAlgoOrders``: one symbol's conditional orders, whatever their status, as
        ``allOrders`` pages them (from ``algoId`` on, or by creation time)."""
        return self._history(list(self.algos.values()), params, "algoId", "createTime")

    def _history(
        self, rows: list[dict[str, Any]], params: dict[str, str], id_field: str, time_field: str
    ) -> list[dict[str, Any]]:
        if not params.get("symbol"):
            raise _Fail(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        spec = self._spec(params)
        limit = int(params.get("limit") or 500)
        if not 1 <= limit <= 1000:
            raise _Fail(400, -1130, "Data sent for parameter 'limit' is not valid.")
        week = 7 * 24 * 3600 * 1000
        rows = [o for o in rows if o["symbol"] == spec.symbol]
        if params.get(id_field):
            rows = [o for o in rows if o[id_field] >= int(params[id_field])]
        else:
            now = self.now_ms()
            end = int(params["endTime"]) if params.get("endTime") else None
            start = int(params["startTime"]) if params.get("startTime") else None
            if start is None:
                start = (end if end is not None else now) - week
            if end is None:
                end = start + week
            if end < start:
                raise _Fail(400, -1102, "Mandatory parameter 'endTime' was not sent, was empty/null, or malformed.")
            if end - start > week:
                raise _Fail(400, -1127, "More than 7 days between startTime and endTime.")
            rows = [o for o in rows if start <= o[time_field] <= end]
        return [dict(o) for o in sorted(rows, key=lambda o: o[id_field])[:limit]]

    async def _rest_all_orders(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, self.all_orders)

    async def _rest_all_algos(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, self.all_algo_orders)

    async def _rest_new_algo(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, self.new_algo, order=True)

    async def _rest_query_algo(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, lambda p: dict(self.find_algo(p)))

    async def _rest_cancel_algo(self, request: web.Request) -> web.StreamResponse:
        def action(p: dict[str, str]) -> dict[str, Any]:
            algo = self.find_algo(p)
            if algo["algoStatus"] != "NEW":
                raise _Fail(400, -2011, "Unknown order sent.")
            algo.update(algoStatus="CANCELED", updateTime=self.now_ms())
            self._push_algo(algo)
            return {"algoId": algo["algoId"], "clientAlgoId": algo["clientAlgoId"], "code": "200", "msg": "success"}

        return await self._handle(request, action)

    async def _rest_open_algos(self, request: web.Request) -> web.StreamResponse:
        def action(p: dict[str, str]) -> list[dict[str, Any]]:
            return [
                a for a in self.algos.values() if a["algoStatus"] == "NEW" and p.get("symbol") in (None, a["symbol"])
            ]

        return await self._handle(request, action)

    def account_json(self) -> dict[str, Any]:
        upnl = self._unrealized()
        used = self._used_margin()
        positions = [
            {
                "symbol": s,
                "positionSide": ps,
                "positionAmt": _s(p.amount),
                "unrealizedProfit": _s(p.amount * (self.marks[s] - p.entry)),
                "isolatedMargin": "0",
                "notional": _s(p.amount * self.marks[s]),
                "isolatedWallet": "0",
                "initialMargin": _s(abs(p.amount) * self.marks[s] / self.leverage),
                "maintMargin": "0",
                "updateTime": self.now_ms(),
            }
            for (s, ps), p in self.positions.items()
            if p.amount != 0
        ]
        return {
            "totalInitialMargin": _s(used),
            "totalMaintMargin": "0",
            "totalWalletBalance": _s(self.balance),
            "totalUnrealizedProfit": _s(upnl),
            "totalMarginBalance": _s(self.balance + upnl),
            "totalPositionInitialMargin": _s(used),
            "totalOpenOrderInitialMargin": "0",
            "totalCrossWalletBalance": _s(self.balance),
            "totalCrossUnPnl": _s(upnl),
            "availableBalance": _s(self._available()),
            "maxWithdrawAmount": _s(self._available()),
            "assets": [
                {
                    "asset": "USDT",
                    "walletBalance": _s(self.balance),
                    "unrealizedProfit": _s(upnl),
                    "marginBalance": _s(self.balance + upnl),
                    "maintMargin": "0",
                    "initialMargin": _s(used),
                    "positionInitialMargin": _s(used),
                    "openOrderInitialMargin": "0",
                    "crossWalletBalance": _s(self.balance),
                    "crossUnPnl": _s(upnl),
                    "availableBalance": _s(self._available()),
                    "maxWithdrawAmount": _s(self._available()),
                    "updateTime": self.now_ms(),
                }
            ],
            "positions": positions,
        }

    def position_risk_json(self, symbol: str | None = None) -> list[dict[str, Any]]:
        out = []
        for (s, ps), p in self.positions.items():
            if p.amount == 0 or symbol not in (None, s):
                continue
            mark = self.marks[s]
            out.append(
                {
                    "symbol": s,
                    "positionSide": ps,
                    "positionAmt": _s(p.amount),
                    "entryPrice": _s(p.entry),
                    "breakEvenPrice": _s(p.entry),
                    "markPrice": _s(mark),
                    "unRealizedProfit": _s(p.amount * (mark - p.entry)),
                    "liquidationPrice": "0",
                    "isolatedMargin": "0",
                    "notional": _s(p.amount * mark),
                    "marginAsset": "USDT",
                    "isolatedWallet": "0",
                    "initialMargin": _s(abs(p.amount) * mark / self.leverage),
                    "maintMargin": "0",
                    "positionInitialMargin": _s(abs(p.amount) * mark / self.leverage),
                    "openOrderInitialMargin": "0",
                    "adl": 0,
                    "bidNotional": "0",
                    "askNotional": "0",
                    "updateTime": self.now_ms(),
                }
            )
        return out

    async def _account(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, lambda p: self.account_json())

    async def _position_risk(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, lambda p: self.position_risk_json(p.get("symbol")))

    async def _get_dual(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, lambda p: {"dualSidePosition": self.hedge_mode})

    async def _set_dual(self, request: web.Request) -> web.StreamResponse:
        def action(p: dict[str, str]) -> dict[str, Any]:
            wanted = p.get("dualSidePosition", "").lower() == "true"
            if wanted == self.hedge_mode:
                raise _Fail(400, -4059, "No need to change position side.")
            if any(pos.amount != 0 for pos in self.positions.values()):
                raise _Fail(400, -4068, "Position side cannot be changed if there exists position.")
            self.hedge_mode = wanted
            return {"code": 200, "msg": "success"}

        return await self._handle(request, action)

    async def _listen_key_new(self, request: web.Request) -> web.StreamResponse:
        def action(p: dict[str, str]) -> dict[str, Any]:
            if not self.listen_keys:
                self.listen_keys.add(secrets.token_urlsafe(48)[:64])
            return {"listenKey": next(iter(self.listen_keys))}

        return await self._handle(request, action, signed=False)

    async def _listen_key_keepalive(self, request: web.Request) -> web.StreamResponse:
        def action(p: dict[str, str]) -> dict[str, Any]:
            if not self.listen_keys:
                raise _Fail(400, -1125, "This listenKey does not exist.")
            return {"listenKey": next(iter(self.listen_keys))}

        return await self._handle(request, action, signed=False)

    async def _listen_key_close(self, request: web.Request) -> web.StreamResponse:
        def action(p: dict[str, str]) -> dict[str, Any]:
            self.listen_keys.clear()
            return {}

        return await self._handle(request, action, signed=False)

    async def _user_stream(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["key"] not in self.listen_keys:
            return self._error(_Fail(400, -1125, "This listenKey does not exist."))
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._streams.add(ws)
        try:
            async for _msg in ws:
                pass
        finally:
            self._streams.discard(ws)
        return ws

    # -- WebSocket API ---------------------------------------------------------------------------

    async def _ws_api_handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        self._ws_api.add(ws)
        try:
            async with contextlib.aclosing(stamped(ws, request)) as messages:
                async for msg, arrived in messages:
                    if msg.type is not WSMsgType.TEXT:
                        continue
                    try:
                        frame = orjson.loads(msg.data)
                    except orjson.JSONDecodeError:
                        await ws.send_str(
                            orjson.dumps(
                                {"id": None, "status": 400, "error": {"code": -1000, "msg": "Malformed request"}}
                            ).decode()
                        )
                        continue
                    answer = self._ws_dispatch(frame, arrived)
                    await self._delay()
                    if answer is None:
                        await ws.close()
                        break
                    await ws.send_str(orjson.dumps(answer).decode())
        finally:
            self._ws_api.discard(ws)
        return ws

    def _ws_dispatch(self, frame: dict[str, Any], arrived: int) -> dict[str, Any] | None:
        rid = frame.get("id")
        method = frame.get("method")
        raw = frame.get("params") or {}
        limits = [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400, "count": 1}
        ]
        try:
            params = self._ws_auth(raw)
            params.pop("apiKey", None)
            if method in ("order.place", "algoOrder.place"):
                self.order_requests["ws"] += 1
                self._arrived(arrived, params)
                drop = self._order_faults()
                result = (
                    self._answer_order(self.new_order(params), params)
                    if method == "order.place"
                    else self.new_algo(params)
                )
                if drop:
                    return None
            elif method == "order.status":
                result = dict(self.find_order(params))
            elif method == "order.cancel":
                result = self.cancel_order(params)
            elif method in ("account.status", "v2/account.status"):
                result = self.account_json()
            else:
                raise _Fail(400, -1000, f"Unknown method {method!r}.")
        except _Fail as fail:
            self.refused.append(fail.code)
            error: dict[str, Any] = {"code": fail.code, "msg": fail.msg}
            if fail.status in (418, 429):
                error["data"] = {"retryAfter": self.now_ms() + self.faults.retry_after * 1000}
            return {"id": rid, "status": fail.status, "error": error, "rateLimits": limits}
        return {"id": rid, "status": 200, "result": result, "rateLimits": limits}

    # -- side endpoints --------------------------------------------------------------------------

    async def _sim_book(self, request: web.Request) -> web.StreamResponse:
        """Every order the venue accepted, by client order id (a harness's count of what really exists)."""
        return self._json([{"client_order_id": order.get("clientOrderId", "")} for order in self.orders.values()])

    async def _sim_orders(self, request: web.Request) -> web.StreamResponse:
        return self._json(self.arrivals)

    async def _sim_price(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        self.set_price(body["symbol"], Decimal(str(body["price"])))
        return self._json({"symbol": body["symbol"], "price": _s(self.marks[body["symbol"]])})

    async def _sim_fault(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        names = {f.name for f in fields(Faults)}
        unknown = set(body) - names
        if unknown:
            return self._json({"error": f"unknown faults {sorted(unknown)}"}, 400)
        for name, value in body.items():
            setattr(self.faults, name, type(getattr(self.faults, name))(value))
        return self._json({f.name: getattr(self.faults, f.name) for f in fields(Faults)})


async def _serve(args: argparse.Namespace) -> None:
    sim = BinanceSim(args.api_key, args.api_secret, host=args.host, port=args.port, hedge_mode=args.hedge)
    port = await sim.start()
    print(port, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sim.stop()


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Binance USDⓈ-M futures loopback simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--api-secret", default=DEFAULT_API_SECRET)
    parser.add_argument("--hedge", action="store_true", help="start the account in hedge position mode")
    args = parser.parse_args(list(argv) if argv is not None else sys.argv[1:])
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
