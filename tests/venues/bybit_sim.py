"""A loopback Bybit v5 (linear) venue speaking the real wire protocol.

REST (``/v5/...``), the WebSocket order-entry socket (``/v5/trade``) and the private stream
(``/v5/private``) with Bybit's signatures, receive-window rule, lot-size / tick / notional filters,
duplicate ``orderLinkId`` refusal, per-second order limits and Bybit's retCodes. Market orders fill
at a settable mark price; positions (one-way or hedge) and a USDT unified wallet are kept.

Side endpoints for harnesses: ``GET /__sim/orders`` (arrival stamps, ``time.monotonic_ns()``),
``POST /__sim/price`` ``{"symbol", "price"}`` and ``POST /__sim/fault`` (see :class:`Faults`).

Run alone: ``python -m tests.venues.bybit_sim --port 0`` prints the bound port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import WSMsgType, web

from tests.venues.latency import venue_latency
from tests.venues.serving import listen, shut
from tests.venues.stamped import stamped

API_KEY = "sim-bybit-key"
API_SECRET = "sim-bybit-secret"
LEVERAGE = Decimal(10)
PRICE_BAND = Decimal("0.10")  # limit prices further than 10% from mark are refused (110003)


@dataclass
class SimInstrument:
    symbol: str
    qty_step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    tick: Decimal
    min_notional: Decimal


DEFAULT_INSTRUMENTS = (
    SimInstrument("BTCUSDT", Decimal("0.001"), Decimal("0.001"), Decimal("100"), Decimal("0.10"), Decimal("5")),
    SimInstrument("ETHUSDT", Decimal("0.01"), Decimal("0.01"), Decimal("1000"), Decimal("0.01"), Decimal("5")),
    SimInstrument("SOLUSDT", Decimal("0.1"), Decimal("0.1"), Decimal("10000"), Decimal("0.001"), Decimal("5")),
)
DEFAULT_PRICES = {"BTCUSDT": Decimal("60000"), "ETHUSDT": Decimal("3000"), "SOLUSDT": Decimal("150")}


@dataclass
class Faults:
    """Switches for failure tests; each ``*_next`` counts down per affected request.

    ``latency_ms``: added before every answer. ``http_5xx_next``: the next REST requests answer
    HTTP 503 without acting. ``drop_after_order_next``: the next orders (REST or WebSocket) are
    created, then the connection is dropped without an answer. ``ws_silent_next``: the next
    WebSocket orders are created and never answered.
    """

    latency_ms: float = 0.0
    http_5xx_next: int = 0
    drop_after_order_next: int = 0
    ws_silent_next: int = 0


@dataclass
class SimPosition:
    symbol: str
    idx: int
    side: str = ""
    size: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    sl: Decimal = Decimal(0)
    tp: Decimal = Decimal(0)
    created_ms: int = 0


@dataclass
class Arrival:
    client_order_id: str
    arrived_ns: int
    symbol: str
    side: str
    qty: str


class SimError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _fmt(value: Decimal) -> str:
    return format(value, "f")


def _dec(value: Any, field_name: str) -> Decimal:
    try:
        parsed = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise SimError(10001, f"params error: {field_name} invalid") from None
    if not parsed.is_finite():
        raise SimError(10001, f"params error: {field_name} invalid")
    return parsed


@dataclass
class BybitSim:
    """The venue state and its HTTP/WebSocket front end."""

    api_key: str = API_KEY
    api_secret: str = API_SECRET
    hedge_mode: bool = False
    balance: Decimal = Decimal("100000")
    time_offset_ms: int = 0
    orders_per_second: int = 10
    instruments: dict[str, SimInstrument] = field(default_factory=lambda: {i.symbol: i for i in DEFAULT_INSTRUMENTS})
    prices: dict[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.by_id: dict[str, dict[str, Any]] = {}
        self.positions: dict[tuple[str, int], SimPosition] = {}
        self.arrivals: list[Arrival] = []
        self.requests: list[tuple[str, str]] = []
        self.refusals: list[int] = []
        self._order_stamps: dict[str, deque[float]] = {}
        self._ids = itertools.count(1)
        self._trade_sockets: set[web.WebSocketResponse] = set()
        self._private_sockets: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ life

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.time_offset_ms

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v5/market/time", self._time)
        app.router.add_get("/v5/market/instruments-info", self._instruments)
        app.router.add_get("/v5/market/tickers", self._tickers)
        app.router.add_post("/v5/order/create", self._rest_order("create"))
        app.router.add_post("/v5/order/amend", self._rest_order("amend"))
        app.router.add_post("/v5/order/cancel", self._rest_order("cancel"))
        app.router.add_get("/v5/order/realtime", self._orders_query(history=False))
        app.router.add_get("/v5/order/history", self._orders_query(history=True))
        app.router.add_post("/v5/position/trading-stop", self._trading_stop)
        app.router.add_get("/v5/position/list", self._position_list)
        app.router.add_get("/v5/account/wallet-balance", self._wallet)
        app.router.add_get("/v5/trade", self._trade_ws)
        app.router.add_get("/v5/private", self._private_ws)
        app.router.add_get("/__sim/orders", self._sim_orders)
        app.router.add_get("/__sim/book", self._sim_book)
        app.router.add_post("/__sim/price", self._sim_price)
        app.router.add_post("/__sim/fault", self._sim_fault)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._runner, self.port = await listen(self.app(), host, port)
        return self.port

    async def stop(self) -> None:
        await shut(self._runner, self._trade_sockets | self._private_sockets)
        self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v5/trade"

    @property
    def private_ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v5/private"

    async def drop_sockets(self) -> None:
        """Close every WebSocket (order entry and private stream) from the venue side."""
        for ws in list(self._trade_sockets | self._private_sockets):
            await ws.close()

    # ------------------------------------------------------------------ prices and fills

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move the mark price; resting limit and triggered stop orders that it crosses fill."""
        self.prices[symbol] = price
        for order in list(self.orders.values()):
            if order["symbol"] != symbol or order["orderStatus"] not in ("New", "Untriggered"):
                continue
            buy = order["side"] == "Buy"
            if order["orderStatus"] == "Untriggered":
                trigger = Decimal(order["triggerPrice"])
                if (order["triggerDirection"] == 1 and price >= trigger) or (
                    order["triggerDirection"] == 2 and price <= trigger
                ):
                    self._fill(order, price)
            else:
                limit = Decimal(order["price"])
                if (buy and price <= limit) or (not buy and price >= limit):
                    self._fill(order, limit)
        for pos in list(self.positions.values()):
            if pos.symbol != symbol or pos.size == 0:
                continue
            long = pos.side == "Buy"
            hit_sl = pos.sl and ((long and price <= pos.sl) or (not long and price >= pos.sl))
            hit_tp = pos.tp and ((long and price >= pos.tp) or (not long and price <= pos.tp))
            if hit_sl or hit_tp:
                self._apply_fill(pos.symbol, pos.idx, "Sell" if long else "Buy", pos.size, price)
                self._push_position(pos)

    def _position(self, symbol: str, idx: int) -> SimPosition:
        key = (symbol, idx)
        if key not in self.positions:
            self.positions[key] = SimPosition(symbol, idx, created_ms=self.now_ms())
        return self.positions[key]

    def _apply_fill(self, symbol: str, idx: int, side: str, qty: Decimal, price: Decimal) -> None:
        pos = self._position(symbol, idx)
        if pos.size == 0 or pos.side == side:
            total = pos.size + qty
            pos.avg_price = (pos.avg_price * pos.size + price * qty) / total
            pos.size, pos.side = total, side
            return
        closing = min(qty, pos.size)
        sign = 1 if pos.side == "Buy" else -1
        self.balance += sign * (price - pos.avg_price) * closing
        pos.size -= closing
        rest = qty - closing
        if pos.size == 0:
            pos.side, pos.avg_price, pos.sl, pos.tp = "", Decimal(0), Decimal(0), Decimal(0)
        if rest > 0:
            pos.size, pos.side, pos.avg_price = rest, side, price

    def _fill(self, order: dict[str, Any], price: Decimal) -> None:
        qty = Decimal(order["qty"])
        pos = self._position(order["symbol"], order["positionIdx"])
        if order["reduceOnly"]:
            if pos.size == 0 or pos.side == order["side"]:
                order.update(orderStatus="Cancelled", rejectReason="EC_ReduceOnlySetButNotReduce")
                self._push_order(order)
                return
            qty = min(qty, pos.size)
        self._apply_fill(order["symbol"], order["positionIdx"], order["side"], qty, price)
        if pos.size and order.get("takeProfit"):
            pos.tp = Decimal(order["takeProfit"])
        if pos.size and order.get("stopLoss"):
            pos.sl = Decimal(order["stopLoss"])
        order.update(
            orderStatus="Filled",
            cumExecQty=_fmt(qty),
            cumExecValue=_fmt(qty * price),
            leavesQty="0",
            avgPrice=_fmt(price),
            updatedTime=str(self.now_ms()),
        )
        self._push_order(order)
        self._push(
            "execution",
            [
                {
                    "category": "linear",
                    "symbol": order["symbol"],
                    "orderId": order["orderId"],
                    "orderLinkId": order["orderLinkId"],
                    "side": order["side"],
                    "execId": f"e{next(self._ids)}",
                    "execPrice": _fmt(price),
                    "execQty": _fmt(qty),
                    "execType": "Trade",
                    "orderType": order["orderType"],
                    "execTime": str(self.now_ms()),
                    "leavesQty": "0",
                    "closedSize": "0",
                    "execFee": "0",
                }
            ],
        )
        self._push_position(pos)
        self._push("wallet", [self._wallet_item()])

    # ------------------------------------------------------------------ order handling

    def _check_rate(self, op: str) -> None:
        stamps = self._order_stamps.setdefault(op, deque())
        now = time.monotonic()
        while stamps and stamps[0] <= now - 1.0:
            stamps.popleft()
        if len(stamps) >= self.orders_per_second:
            self.refusals.append(10006)
            raise SimError(10006, "Too many visits!")
        stamps.append(now)

    def _instrument(self, symbol: Any) -> SimInstrument:
        inst = self.instruments.get(str(symbol))
        if inst is None:
            raise SimError(10001, "params error: symbol invalid")
        return inst

    def _check_idx(self, idx: int, side: str) -> None:
        allowed = {1, 2} if self.hedge_mode else {0}
        if idx not in allowed:
            raise SimError(10001, "position idx not match position mode")

    def _check_price(self, inst: SimInstrument, value: Any, name: str) -> Decimal:
        price = _dec(value, name)
        if price <= 0 or price % inst.tick != 0:
            raise SimError(10001, f"params error: {name} invalid")
        return price

    def create(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("category") != "linear":
            raise SimError(10001, "params error: category invalid")
        inst = self._instrument(args.get("symbol"))
        side = args.get("side")
        if side not in ("Buy", "Sell"):
            raise SimError(10001, "params error: side invalid")
        order_type = args.get("orderType")
        if order_type not in ("Market", "Limit"):
            raise SimError(10001, "params error: orderType invalid")
        qty_text = args.get("qty")
        if not isinstance(qty_text, str):
            raise SimError(10001, "params error: qty must be a string")
        qty = _dec(qty_text, "qty")
        link = args.get("orderLinkId") or ""
        if not isinstance(link, str) or len(link) > 36:
            raise SimError(10001, "params error: orderLinkId invalid")
        if link and link in self.orders:
            raise SimError(110072, "OrderLinkedID is duplicate")
        idx = int(args.get("positionIdx", 0))
        self._check_idx(idx, side)
        reduce_only = bool(args.get("reduceOnly", False))
        if qty <= 0 or qty % inst.qty_step != 0:
            raise SimError(10001, "Qty invalid")
        if qty > inst.max_qty:
            raise SimError(10001, "The number of contracts exceeds maximum limit allowed")
        mark = self.prices[inst.symbol]
        if not reduce_only and qty < inst.min_qty:
            raise SimError(10001, "The number of contracts exceeds minimum limit allowed")
        price = self._check_price(inst, args["price"], "price") if order_type == "Limit" else None
        if price is not None and abs(price - mark) > mark * PRICE_BAND:
            raise SimError(110003, "Order price is out of permissible range")
        trigger = self._check_price(inst, args["triggerPrice"], "triggerPrice") if "triggerPrice" in args else None
        if trigger is not None and args.get("triggerDirection") not in (1, 2):
            raise SimError(10001, "params error: triggerDirection invalid")
        for name in ("takeProfit", "stopLoss"):
            if name in args:
                self._check_price(inst, args[name], name)
        reference = price if price is not None else trigger if trigger is not None else mark
        if not reduce_only and qty * reference < inst.min_notional:
            raise SimError(110094, "Order does not meet minimum order value")
        pos = self.positions.get((inst.symbol, idx))
        if reduce_only and (pos is None or pos.size == 0 or pos.side == side):
            raise SimError(110017, "Reduce-only rule not satisfied")
        if not reduce_only and qty * reference / LEVERAGE > self._available():
            raise SimError(110007, "ab not enough for new order")
        order_id = f"{next(self._ids):08d}-bybit-sim"
        now = str(self.now_ms())
        order: dict[str, Any] = {
            "category": "linear",
            "orderId": order_id,
            "orderLinkId": link,
            "symbol": inst.symbol,
            "side": side,
            "orderType": order_type,
            "price": _fmt(price) if price is not None else "0",
            "qty": qty_text,
            "orderStatus": "New",
            "avgPrice": "",
            "cumExecQty": "0",
            "cumExecValue": "0",
            "leavesQty": qty_text,
            "positionIdx": idx,
            "reduceOnly": reduce_only,
            "timeInForce": args.get("timeInForce", "GTC"),
            "triggerPrice": _fmt(trigger) if trigger is not None else "",
            "triggerDirection": args.get("triggerDirection", 0),
            "takeProfit": args.get("takeProfit", ""),
            "stopLoss": args.get("stopLoss", ""),
            "rejectReason": "EC_NoError",
            "stopOrderType": "Stop" if trigger is not None else "",
            "createdTime": now,
            "updatedTime": now,
        }
        self.orders[link or order_id] = order
        self.by_id[order_id] = order
        if trigger is not None:
            order["orderStatus"] = "Untriggered"
            self._push_order(order)
        elif order_type == "Market":
            self._push_order(order)
            self._fill(order, mark)
        elif (side == "Buy" and mark <= price) or (side == "Sell" and mark >= price):  # type: ignore[operator]
            self._fill(order, mark)
        else:
            self._push_order(order)
        return {"orderId": order_id, "orderLinkId": link}

    def _find(self, args: dict[str, Any]) -> dict[str, Any]:
        order = self.by_id.get(str(args.get("orderId", ""))) or self.orders.get(str(args.get("orderLinkId", "")))
        if order is None or order["symbol"] != args.get("symbol"):
            raise SimError(110001, "order not exists or too late to cancel")
        if order["orderStatus"] not in ("New", "Untriggered", "PartiallyFilled"):
            raise SimError(110008, "The order has been completed or cancelled.")
        return order

    def amend(self, args: dict[str, Any]) -> dict[str, Any]:
        order = self._find(args)
        inst = self._instrument(order["symbol"])
        if "price" in args:
            order["price"] = _fmt(self._check_price(inst, args["price"], "price"))
        if "triggerPrice" in args:
            order["triggerPrice"] = _fmt(self._check_price(inst, args["triggerPrice"], "triggerPrice"))
        if "qty" in args:
            qty = _dec(args["qty"], "qty")
            if qty <= 0 or qty % inst.qty_step != 0:
                raise SimError(10001, "Qty invalid")
            order["qty"] = order["leavesQty"] = args["qty"]
        for name in ("takeProfit", "stopLoss"):
            if name in args:
                order[name] = _fmt(self._check_price(inst, args[name], name))
        order["updatedTime"] = str(self.now_ms())
        self._push_order(order)
        return {"orderId": order["orderId"], "orderLinkId": order["orderLinkId"]}

    def cancel(self, args: dict[str, Any]) -> dict[str, Any]:
        order = self._find(args)
        order.update(orderStatus="Cancelled", updatedTime=str(self.now_ms()))
        self._push_order(order)
        return {"orderId": order["orderId"], "orderLinkId": order["orderLinkId"]}

    def trading_stop(self, args: dict[str, Any]) -> None:
        inst = self._instrument(args.get("symbol"))
        idx = int(args.get("positionIdx", 0))
        self._check_idx(idx, "")
        pos = self.positions.get((inst.symbol, idx))
        if pos is None or pos.size == 0:
            raise SimError(10001, "can not set tp/sl/ts for zero position")
        long = pos.side == "Buy"
        mark = self.prices[inst.symbol]
        if "stopLoss" in args:
            sl = Decimal(0) if args["stopLoss"] == "0" else self._check_price(inst, args["stopLoss"], "stopLoss")
            if sl and ((long and sl >= mark) or (not long and sl <= mark)):
                raise SimError(10001, "StopLoss set for Buy position should lower than base_price")
            pos.sl = sl
        if "takeProfit" in args:
            tp = Decimal(0) if args["takeProfit"] == "0" else self._check_price(inst, args["takeProfit"], "takeProfit")
            if tp and ((long and tp <= mark) or (not long and tp >= mark)):
                raise SimError(10001, "TakeProfit set for Buy position should be higher than base_price")
            pos.tp = tp
        self._push_position(pos)

    def _available(self) -> Decimal:
        used = sum((p.size * self.prices[p.symbol] / LEVERAGE for p in self.positions.values() if p.size), Decimal(0))
        return self._equity() - used

    def _equity(self) -> Decimal:
        pnl = Decimal(0)
        for p in self.positions.values():
            if p.size:
                sign = 1 if p.side == "Buy" else -1
                pnl += sign * (self.prices[p.symbol] - p.avg_price) * p.size
        return self.balance + pnl

    # ------------------------------------------------------------------ JSON views

    def _position_item(self, pos: SimPosition) -> dict[str, Any]:
        mark = self.prices[pos.symbol]
        sign = 1 if pos.side == "Buy" else -1
        return {
            "category": "linear",
            "symbol": pos.symbol,
            "positionIdx": pos.idx,
            "side": pos.side,
            "size": _fmt(pos.size),
            "avgPrice": _fmt(pos.avg_price) if pos.size else "0",
            "markPrice": _fmt(mark),
            "positionValue": _fmt(pos.size * pos.avg_price),
            "leverage": _fmt(LEVERAGE),
            "unrealisedPnl": _fmt(sign * (mark - pos.avg_price) * pos.size) if pos.size else "0",
            "takeProfit": _fmt(pos.tp) if pos.tp else "0",
            "stopLoss": _fmt(pos.sl) if pos.sl else "0",
            "tpslMode": "Full",
            "positionStatus": "Normal",
            "createdTime": str(pos.created_ms),
            "updatedTime": str(self.now_ms()),
        }

    def _wallet_item(self) -> dict[str, Any]:
        equity = self._equity()
        return {
            "accountType": "UNIFIED",
            "totalEquity": _fmt(equity),
            "totalWalletBalance": _fmt(self.balance),
            "totalAvailableBalance": _fmt(self._available()),
            "totalMarginBalance": _fmt(equity),
            "coin": [{"coin": "USDT", "walletBalance": _fmt(self.balance), "equity": _fmt(equity)}],
        }

    def _envelope(self, result: Any, code: int = 0, message: str = "OK") -> dict[str, Any]:
        return {"retCode": code, "retMsg": message, "result": result, "retExtInfo": {}, "time": self.now_ms()}

    # ------------------------------------------------------------------ private stream

    def _push(self, topic: str, data: list[dict[str, Any]]) -> None:
        if not self._private_sockets:
            return
        frame = orjson.dumps(
            {"id": f"{topic}-{next(self._ids)}", "topic": topic, "creationTime": self.now_ms(), "data": data}
        ).decode()
        for ws in list(self._private_sockets):
            if not ws.closed:
                asyncio.get_running_loop().create_task(ws.send_str(frame))

    def _push_order(self, order: dict[str, Any]) -> None:
        self._push("order", [dict(order)])

    def _push_position(self, pos: SimPosition) -> None:
        self._push("position", [self._position_item(pos)])

    # ------------------------------------------------------------------ REST auth

    def _verify(self, key: str | None, ts: str | None, window: str | None, sign: str | None, payload: str) -> None:
        if not key or key != self.api_key:
            raise SimError(10003, "API key is invalid.")
        try:
            ts_ms, window_ms = int(ts or ""), int(window or "5000")
        except ValueError:
            raise SimError(10001, "params error: timestamp invalid") from None
        server = self.now_ms()
        if not (server - window_ms <= ts_ms < server + 1000):
            raise SimError(
                10002,
                f"invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{ts_ms}],server_timestamp[{server}],recv_window[{window_ms}]",
            )
        expected = hmac.new(
            self.api_secret.encode(), f"{ts_ms}{key}{window_ms}{payload}".encode(), hashlib.sha256
        ).hexdigest()
        if not sign or not hmac.compare_digest(expected, sign):
            raise SimError(10004, "error sign! origin_string[...]")

    def _headers(self, op: str | None = None) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if op is not None:
            stamps = self._order_stamps.get(op, deque())
            reset = self.now_ms() + (int((stamps[0] + 1.0 - time.monotonic()) * 1000) if stamps else 0)
            headers.update(
                {
                    "X-Bapi-Limit": str(self.orders_per_second),
                    "X-Bapi-Limit-Status": str(max(0, self.orders_per_second - len(stamps))),
                    "X-Bapi-Limit-Reset-Timestamp": str(reset),
                }
            )
        return headers

    async def _answer(self, body: dict[str, Any], op: str | None = None) -> web.Response:
        await venue_latency(self.faults.latency_ms / 1000)
        return web.Response(body=orjson.dumps(body), headers=self._headers(op))

    async def _signed(self, request: web.Request) -> tuple[str, web.Response | None]:
        """Common gate: fault injection and signature. Returns the payload, or an early answer."""
        self.requests.append((request.method, request.path))
        if self.faults.http_5xx_next > 0:
            self.faults.http_5xx_next -= 1
            return "", web.Response(status=503, text="<html>503 Service Temporarily Unavailable</html>")
        payload = request.query_string if request.method == "GET" else await request.text()
        h = request.headers
        try:
            self._verify(
                h.get("X-BAPI-API-KEY"),
                h.get("X-BAPI-TIMESTAMP"),
                h.get("X-BAPI-RECV-WINDOW"),
                h.get("X-BAPI-SIGN"),
                payload,
            )
        except SimError as exc:
            self.refusals.append(exc.code)
            return payload, await self._answer(self._envelope({}, exc.code, exc.message))
        return payload, None

    # ------------------------------------------------------------------ REST handlers

    async def _time(self, request: web.Request) -> web.Response:
        now_ns = time.time_ns() + self.time_offset_ms * 1_000_000
        return await self._answer(self._envelope({"timeSecond": str(now_ns // 10**9), "timeNano": str(now_ns)}))

    async def _instruments(self, request: web.Request) -> web.Response:
        if self.faults.http_5xx_next > 0:
            self.faults.http_5xx_next -= 1
            return web.Response(status=503, text="<html>503 Service Temporarily Unavailable</html>")
        if request.query.get("category") != "linear":
            return await self._answer(self._envelope({}, 10001, "params error: category invalid"))
        items = [
            {
                "symbol": i.symbol,
                "contractType": "LinearPerpetual",
                "status": "Trading",
                "baseCoin": i.symbol[:-4],
                "quoteCoin": "USDT",
                "settleCoin": "USDT",
                "priceFilter": {"minPrice": _fmt(i.tick), "maxPrice": "1999999.80", "tickSize": _fmt(i.tick)},
                "lotSizeFilter": {
                    "maxOrderQty": _fmt(i.max_qty),
                    "minOrderQty": _fmt(i.min_qty),
                    "qtyStep": _fmt(i.qty_step),
                    "postOnlyMaxOrderQty": _fmt(i.max_qty),
                    "maxMktOrderQty": _fmt(i.max_qty),
                    "minNotionalValue": _fmt(i.min_notional),
                },
            }
            for i in self.instruments.values()
        ]
        return await self._answer(self._envelope({"category": "linear", "list": items, "nextPageCursor": ""}))

    async def _tickers(self, request: web.Request) -> web.Response:
        items = [
            {"symbol": s, "lastPrice": _fmt(p), "markPrice": _fmt(p), "indexPrice": _fmt(p)}
            for s, p in self.prices.items()
        ]
        return await self._answer(self._envelope({"category": "linear", "list": items}))

    def _rest_order(self, op: str) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            arrived = time.monotonic_ns()
            payload, early = await self._signed(request)
            if early is not None:
                return early
            try:
                args = orjson.loads(payload)
                if op == "create":
                    self._stamp(args, arrived)
                self._check_rate(op)
                result = getattr(self, op)(args)
            except SimError as exc:
                self.refusals.append(exc.code)
                return await self._answer(self._envelope({}, exc.code, exc.message), op)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                return await self._answer(self._envelope({}, 10001, "params error"), op)
            if op == "create" and self.faults.drop_after_order_next > 0:
                self.faults.drop_after_order_next -= 1
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError
            return await self._answer(self._envelope(result), op)

        return handler

    def _stamp(self, args: Any, arrived: int) -> None:
        if isinstance(args, dict):
            self.arrivals.append(
                Arrival(
                    str(args.get("orderLinkId", "")),
                    arrived,
                    str(args.get("symbol", "")),
                    str(args.get("side", "")),
                    str(args.get("qty", "")),
                )
            )

    def _orders_query(self, *, history: bool) -> Any:
        async def handler(request: web.Request) -> web.Response:
            _, early = await self._signed(request)
            if early is not None:
                return early
            q = request.query
            if q.get("category") != "linear":
                return await self._answer(self._envelope({}, 10001, "params error: category invalid"))
            link, order_id = q.get("orderLinkId"), q.get("orderId")
            if not history and not (link or order_id or q.get("symbol") or q.get("baseCoin") or q.get("settleCoin")):
                message = "Missing some parameters that must be filled in, symbol or settleCoin or baseCoin"
                return await self._answer(self._envelope({}, 10001, message))
            try:
                limit = int(q.get("limit") or 20)
                offset = int(q.get("cursor") or 0)
                start, end = int(q.get("startTime") or 0), int(q.get("endTime") or 0)
            except ValueError:
                return await self._answer(self._envelope({}, 10001, "params error"))
            if not 1 <= limit <= 50:
                return await self._answer(self._envelope({}, 10001, "params error: limit invalid"))
            week = 7 * 24 * 3600 * 1000
            if history:
                if not start and not end:
                    end = self.now_ms()
                start, end = start or end - week, end or start + week
                if end - start > week:
                    message = "The time range between startTime and endTime cannot exceed 7 days"
                    return await self._answer(self._envelope({}, 10001, message))
            found = []
            for order in sorted(self.by_id.values(), key=lambda o: (int(o["createdTime"]), o["orderId"]), reverse=True):
                if (link and order["orderLinkId"] != link) or (order_id and order["orderId"] != order_id):
                    continue
                if q.get("symbol") and order["symbol"] != q["symbol"]:
                    continue
                if q.get("settleCoin") and not order["symbol"].endswith(q["settleCoin"]):
                    continue
                if history and not (link or order_id) and not start <= int(order["createdTime"]) <= end:
                    continue
                is_open = order["orderStatus"] in ("New", "Untriggered", "PartiallyFilled")
                # open orders, plus (as on Bybit) recently closed ones when asked by id
                if history or is_open or link or order_id:
                    found.append(dict(order))
            page = found[offset : offset + limit]
            cursor = str(offset + limit) if offset + limit < len(found) else ""
            return await self._answer(self._envelope({"category": "linear", "list": page, "nextPageCursor": cursor}))

        return handler

    async def _trading_stop(self, request: web.Request) -> web.Response:
        payload, early = await self._signed(request)
        if early is not None:
            return early
        try:
            self._check_rate("trading-stop")
            self.trading_stop(orjson.loads(payload))
        except SimError as exc:
            self.refusals.append(exc.code)
            return await self._answer(self._envelope({}, exc.code, exc.message))
        return await self._answer(self._envelope({}))

    async def _position_list(self, request: web.Request) -> web.Response:
        _, early = await self._signed(request)
        if early is not None:
            return early
        q = request.query
        if not q.get("symbol") and not q.get("settleCoin"):
            return await self._answer(self._envelope({}, 10001, "params error: symbol or settleCoin required"))
        items = [
            self._position_item(p)
            for p in self.positions.values()
            if p.size and (not q.get("symbol") or p.symbol == q["symbol"])
        ]
        return await self._answer(self._envelope({"category": "linear", "list": items, "nextPageCursor": ""}))

    async def _wallet(self, request: web.Request) -> web.Response:
        _, early = await self._signed(request)
        if early is not None:
            return early
        if request.query.get("accountType") != "UNIFIED":
            return await self._answer(self._envelope({}, 10001, "accountType only support UNIFIED"))
        return await self._answer(self._envelope({"list": [self._wallet_item()]}))

    # ------------------------------------------------------------------ WebSockets

    def _ws_auth_ok(self, args: Any) -> int:
        if not isinstance(args, list) or len(args) != 3:
            return 10001
        key, expires, sign = args
        if key != self.api_key:
            return 10003
        try:
            expires_ms = int(expires)
        except (TypeError, ValueError):
            return 10001
        if expires_ms <= self.now_ms():
            return 10002
        expected = hmac.new(self.api_secret.encode(), f"GET/realtime{expires_ms}".encode(), hashlib.sha256).hexdigest()
        return 0 if isinstance(sign, str) and hmac.compare_digest(expected, sign) else 10004

    async def _trade_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn_id = f"sim-trade-{next(self._ids)}"
        authed = False
        self._trade_sockets.add(ws)
        try:
            async with contextlib.aclosing(stamped(ws, request)) as messages:
                async for message, arrived in messages:
                    if message.type is not WSMsgType.TEXT:
                        continue
                    data = orjson.loads(message.data)
                    op = data.get("op")
                    req_id = data.get("reqId")
                    if op == "ping":
                        await ws.send_str(
                            orjson.dumps({"op": "pong", "retCode": 0, "retMsg": "OK", "connId": conn_id}).decode()
                        )
                        continue
                    if op == "auth":
                        code = self._ws_auth_ok(data.get("args"))
                        authed = code == 0
                        reply = {
                            "retCode": code,
                            "retMsg": "OK" if authed else "Invalid sign",
                            "op": "auth",
                            "connId": conn_id,
                        }
                        if req_id is not None:
                            reply["reqId"] = req_id
                        await ws.send_str(orjson.dumps(reply).decode())
                        if not authed:
                            await ws.close()
                        continue
                    answer = await self._trade_op(data, op, authed, arrived)
                    if answer is None:
                        await ws.close()
                        break
                    answer.update(reqId=req_id, op=op, connId=conn_id)
                    await venue_latency(self.faults.latency_ms / 1000)
                    if answer.pop("_silent", False):
                        continue
                    await ws.send_str(orjson.dumps(answer).decode())
        finally:
            self._trade_sockets.discard(ws)
        return ws

    async def _trade_op(self, data: dict[str, Any], op: Any, authed: bool, arrived: int) -> dict[str, Any] | None:
        header: dict[str, Any] = {"Traceid": f"t{next(self._ids)}", "Timenow": str(self.now_ms())}
        reply: dict[str, Any] = {"retCode": 0, "retMsg": "OK", "data": {}, "retExtInfo": {}, "header": header}
        name = {"order.create": "create", "order.amend": "amend", "order.cancel": "cancel"}.get(str(op))
        args_list = data.get("args")
        try:
            if name is None:
                raise SimError(10404, "op type is not found")
            if not authed:
                raise SimError(10003, "not authenticated")
            if not isinstance(args_list, list) or len(args_list) != 1 or not isinstance(args_list[0], dict):
                raise SimError(10001, "params error: args")
            args = args_list[0]
            if name == "create":
                self._stamp(args, arrived)
            h = data.get("header") or {}
            try:
                ts, window = int(h.get("X-BAPI-TIMESTAMP", "")), int(h.get("X-BAPI-RECV-WINDOW", "5000"))
            except ValueError:
                raise SimError(10001, "params error: X-BAPI-TIMESTAMP") from None
            server = self.now_ms()
            if not (server - window <= ts < server + 1000):
                raise SimError(10002, "The request time exceeds the time window range.")
            self._check_rate(name)
            reply["data"] = getattr(self, name)(args)
        except SimError as exc:
            self.refusals.append(exc.code)
            reply.update(retCode=exc.code, retMsg=exc.message)
        if name == "create" and reply["retCode"] == 0:
            if self.faults.drop_after_order_next > 0:
                self.faults.drop_after_order_next -= 1
                return None
            if self.faults.ws_silent_next > 0:
                self.faults.ws_silent_next -= 1
                reply["_silent"] = True
        stamps = self._order_stamps.get(name or "", deque())
        header.update(
            {
                "X-Bapi-Limit": str(self.orders_per_second),
                "X-Bapi-Limit-Status": str(max(0, self.orders_per_second - len(stamps))),
                "X-Bapi-Limit-Reset-Timestamp": str(self.now_ms() + 1000 if stamps else self.now_ms()),
            }
        )
        return reply

    async def _private_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn_id = f"sim-private-{next(self._ids)}"
        authed = False
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                data = orjson.loads(message.data)
                op = data.get("op")
                base = {"conn_id": conn_id, "req_id": data.get("req_id", "")}
                if op == "ping":
                    await ws.send_str(orjson.dumps({**base, "op": "pong", "args": [str(self.now_ms())]}).decode())
                elif op == "auth":
                    code = self._ws_auth_ok(data.get("args"))
                    authed = code == 0
                    text = "" if authed else ("Params Error" if code in (10001, 10002) else "Invalid signature")
                    await ws.send_str(orjson.dumps({**base, "success": authed, "ret_msg": text, "op": "auth"}).decode())
                    if not authed:
                        await ws.close()
                elif op == "subscribe":
                    ok = authed and isinstance(data.get("args"), list)
                    await ws.send_str(
                        orjson.dumps(
                            {**base, "success": ok, "ret_msg": "" if ok else "Request not authorized", "op": op}
                        ).decode()
                    )
                    if ok:
                        self._private_sockets.add(ws)
        finally:
            self._private_sockets.discard(ws)
        return ws

    # ------------------------------------------------------------------ side endpoints

    async def _sim_book(self, request: web.Request) -> web.Response:
        """Every order the venue accepted, by client order id (a harness's count of what really exists)."""
        return web.json_response([{"client_order_id": order.get("orderLinkId", "")} for order in self.orders.values()])

    async def _sim_orders(self, request: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    "client_order_id": a.client_order_id,
                    "arrived_ns": a.arrived_ns,
                    "symbol": a.symbol,
                    "side": a.side,
                    "qty": a.qty,
                }
                for a in self.arrivals
            ]
        )

    async def _sim_price(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.set_price(str(body["symbol"]), Decimal(str(body["price"])))
        return web.json_response({"ok": True})

    async def _sim_fault(self, request: web.Request) -> web.Response:
        body = await request.json()
        for key, value in body.items():
            if not hasattr(self.faults, key):
                return web.json_response({"ok": False, "error": f"unknown fault {key}"}, status=400)
            setattr(self.faults, key, type(getattr(self.faults, key))(value))
        if "time_offset_ms" in body:
            self.time_offset_ms = int(body["time_offset_ms"])
        return web.json_response({"ok": True})


def parse_query(query: str) -> dict[str, str]:
    """Query string → dict (used by tests that inspect what was sent)."""
    return dict(parse_qsl(query, keep_blank_values=True))


async def _serve(port: int, hedge: bool) -> None:
    sim = BybitSim(hedge_mode=hedge)
    bound = await sim.start(port=port)
    print(bound, flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()
    await sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Loopback Bybit v5 linear simulator")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--hedge", action="store_true", help="accounts in hedge mode (positionIdx 1/2)")
    options = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(options.port, options.hedge))


if __name__ == "__main__":
    main()
