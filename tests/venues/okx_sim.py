"""Loopback simulator of the OKX v5 API for USDT-margined swaps.

It speaks OKX's wire protocol for what the connector uses: the signed REST endpoints (``OK-ACCESS-*``
headers checked the venue's way, 30 s timestamp window, HTTP 401 with 501xx codes), the private
WebSocket (``login``, ``subscribe`` to ``orders`` / ``positions`` / ``account``, the ``order``,
``amend-order`` and ``cancel-order`` ops, text ``ping``/``pong``), OKX's lot-size, minimum-size and
duplicate-``clOrdId`` errors, positions in one-way (``net_mode``) or hedge (``long_short_mode``) mode,
balances, and algo orders (stop entries and position SL/TP, triggered when the mark price moves).
Market orders fill in full at the mark price. The simulator is one account: every logged-in socket
gets the ``orders`` / ``positions`` / ``account`` pushes of every order, whichever connection or
REST call placed it (a master source sees the trades a test places with the account's keys).

Side endpoints for tests and the latency harness (no auth):

- ``GET /__sim/orders``: every order's arrival as ``{client_order_id, arrived_ns, symbol, side, qty}``
  with ``arrived_ns`` from ``time.monotonic_ns()`` taken when the order's bytes were read;
- ``POST /__sim/price`` ``{"symbol": "BTC-USDT-SWAP", "price": "65000"}`` sets a mark price;
- ``POST /__sim/fault`` ``{"latency_ms", "fail_next", "drop_next", "clock_offset_ms",
  "pos_mode"}`` sets faults: added latency, the next N REST requests answer HTTP 503, the next N
  orders are executed and then their connection is dropped before the answer.

Run alone: ``python -m tests.venues.okx_sim --port 0`` prints the bound port.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import re
import sys
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from tests.venues.latency import venue_latency
from tests.venues.serving import listen, shut
from tests.venues.stamped import stamped

API_KEY = "okx-sim-key"
API_SECRET = "okx-sim-secret"
PASSPHRASE = "okx-sim-pass"
TIMESTAMP_WINDOW_MS = 30_000
ORDER_LIMIT = (60, 2.0)
CLIENT_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
ZERO = Decimal(0)
ARRIVED = web.RequestKey("arrived_ns", int)
BODY = web.RequestKey("body", bytes)


@dataclass(frozen=True)
class SimSwap:
    """One instrument as ``/api/v5/public/instruments`` lists it."""

    inst_id: str
    ct_val: str
    lot_sz: str
    min_sz: str
    tick_sz: str
    max_mkt_sz: str = "10000"
    max_lmt_sz: str = "100000000"
    ct_mult: str = "1"
    ct_type: str = "linear"

    @property
    def settle(self) -> str:
        return self.inst_id.split("-")[1] if self.ct_type == "linear" else self.inst_id.split("-")[0]

    @property
    def per_contract(self) -> Decimal:
        return Decimal(self.ct_val) * Decimal(self.ct_mult)

    def row(self) -> dict[str, str]:
        base, quote = self.inst_id.split("-")[:2]
        return {
            "instType": "SWAP",
            "instId": self.inst_id,
            "uly": f"{base}-{quote}",
            "instFamily": f"{base}-{quote}",
            "settleCcy": self.settle,
            "ctVal": self.ct_val,
            "ctMult": self.ct_mult,
            "ctValCcy": base if self.ct_type == "linear" else quote,
            "ctType": self.ct_type,
            "lotSz": self.lot_sz,
            "minSz": self.min_sz,
            "tickSz": self.tick_sz,
            "maxMktSz": self.max_mkt_sz,
            "maxLmtSz": self.max_lmt_sz,
            "lever": "100",
            "state": "live",
        }


DEFAULT_SWAPS: tuple[SimSwap, ...] = (
    SimSwap("BTC-USDT-SWAP", ct_val="0.01", lot_sz="0.01", min_sz="0.01", tick_sz="0.1", max_mkt_sz="5000"),
    SimSwap("ETH-USDT-SWAP", ct_val="0.1", lot_sz="1", min_sz="1", tick_sz="0.01", max_mkt_sz="20000"),
    SimSwap("BTC-USD-SWAP", ct_val="100", lot_sz="1", min_sz="1", tick_sz="0.1", ct_type="inverse"),
)
DEFAULT_PRICES = {"BTC-USDT-SWAP": Decimal("65000"), "ETH-USDT-SWAP": Decimal("3000"), "BTC-USD-SWAP": Decimal("65000")}


class Refusal(Exception):
    """An OKX error code and message for one request or order."""

    def __init__(self, code: str, msg: str, status: int = 200) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status


def _dec(value: Any, name: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise Refusal("51000", f"Parameter {name} error") from None
    if not number.is_finite():
        raise Refusal("51000", f"Parameter {name} error")
    return number


def _s(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


class OkxSim:
    """The simulated venue; ``async with OkxSim() as sim`` serves it on 127.0.0.1."""

    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        api_secret: str = API_SECRET,
        passphrase: str = PASSPHRASE,
        demo: bool = False,
        pos_mode: str = "net_mode",
        balance: Decimal = Decimal(100_000),
        leverage: Decimal = Decimal(10),
        swaps: Iterable[SimSwap] = DEFAULT_SWAPS,
        host: str = "127.0.0.1",
        port: int = 0,
        order_limit: tuple[int, float] = ORDER_LIMIT,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret.encode()
        self.passphrase = passphrase
        self.demo = demo
        self.pos_mode = pos_mode
        self.cash = balance
        self.leverage = leverage
        self.swaps = {s.inst_id: s for s in swaps}
        self.prices = {k: v for k, v in DEFAULT_PRICES.items() if k in self.swaps}
        self.host = host
        self.port = port
        self.order_limit = order_limit
        self.orders: dict[str, dict[str, Any]] = {}
        self.by_client_id: dict[str, str] = {}
        self.algos: dict[str, dict[str, Any]] = {}
        self.positions: dict[tuple[str, str], dict[str, Decimal]] = {}
        self.arrivals: list[dict[str, Any]] = []
        self.requests: list[str] = []
        self.latency = 0.0
        self.fail_next = 0
        self.drop_next = 0
        self.clock_offset_ms = 0
        self.rate_limited = 0
        self._ids = itertools.count(600_000_000_001)
        self._rate: dict[tuple[str, str], deque[float]] = {}
        self._sockets: dict[web.WebSocketResponse, set[str]] = {}
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- serving ---------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/api/v5/public/time", self._time)
        app.router.add_get("/api/v5/public/instruments", self._instruments)
        app.router.add_get("/api/v5/account/config", self._config)
        app.router.add_get("/api/v5/account/balance", self._balance)
        app.router.add_get("/api/v5/account/positions", self._positions)
        app.router.add_post("/api/v5/trade/order", self._rest_order)
        app.router.add_post("/api/v5/trade/cancel-order", self._rest_cancel)
        app.router.add_post("/api/v5/trade/amend-order", self._rest_amend)
        app.router.add_post("/api/v5/trade/order-algo", self._rest_order_algo)
        app.router.add_post("/api/v5/trade/cancel-algos", self._rest_cancel_algos)
        app.router.add_post("/api/v5/trade/amend-algos", self._rest_amend_algos)
        app.router.add_get("/api/v5/trade/order", self._get_order)
        app.router.add_get("/api/v5/trade/orders-pending", self._orders_pending)
        app.router.add_get("/api/v5/trade/orders-history", self._orders_history)
        app.router.add_get("/api/v5/trade/orders-algo-pending", self._algos_pending)
        app.router.add_get("/api/v5/trade/order-algo", self._get_algo)
        app.router.add_get("/ws/v5/private", self._ws)
        app.router.add_get("/__sim/orders", self._sim_orders)
        app.router.add_get("/__sim/book", self._sim_book)
        app.router.add_post("/__sim/price", self._sim_price)
        app.router.add_post("/__sim/fault", self._sim_fault)
        self._runner, self.port = await listen(app, self.host, self.port, handle_signals=False)

    async def stop(self) -> None:
        await shut(self._runner, self._sockets)
        self._runner = None

    async def __aenter__(self) -> OkxSim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws/v5/private"

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.clock_offset_ms

    def set_price(self, inst_id: str, price: Decimal | str) -> None:
        """Set the mark price; resting limit orders and algo orders that it reaches execute."""
        self.prices[inst_id] = Decimal(str(price))
        self._on_price(inst_id)

    async def drop_sockets(self) -> None:
        """Close every private WebSocket (as a venue-side disconnect)."""
        for ws in list(self._sockets):
            await ws.close()

    # -- authentication --------------------------------------------------------------------

    def _expected_sign(self, prehash: bytes) -> str:
        return base64.b64encode(hmac.new(self.api_secret, prehash, hashlib.sha256).digest()).decode()

    def check_rest_auth(self, method: str, path_qs: str, headers: Any, body: bytes) -> None:
        """OKX's checks of a private REST request, in its order; raises :class:`Refusal`."""
        names = ("OK-ACCESS-KEY", "OK-ACCESS-PASSPHRASE", "OK-ACCESS-SIGN", "OK-ACCESS-TIMESTAMP")
        for name, code in zip(names, ("50103", "50104", "50106", "50107"), strict=True):
            if not headers.get(name):
                raise Refusal(code, f'Request header "{name}" cannot be empty.', 401)
        if (headers.get("x-simulated-trading") == "1") != self.demo:
            raise Refusal("50101", "APIKey does not match current environment.", 401)
        if headers["OK-ACCESS-KEY"] != self.api_key:
            raise Refusal("50111", "Invalid OK-ACCESS-KEY.", 401)
        stamp = headers["OK-ACCESS-TIMESTAMP"]
        try:
            sent = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        except ValueError:
            raise Refusal("50112", "Invalid OK-ACCESS-TIMESTAMP.", 401) from None
        if abs(sent.timestamp() * 1000 - self.now_ms()) > TIMESTAMP_WINDOW_MS:
            raise Refusal("50102", "Timestamp request expired.", 401)
        if headers["OK-ACCESS-PASSPHRASE"] != self.passphrase:
            raise Refusal("50105", 'Request header "OK-ACCESS-PASSPHRASE" incorrect.', 401)
        expected = self._expected_sign(stamp.encode() + method.encode() + path_qs.encode() + body)
        if not hmac.compare_digest(expected, headers["OK-ACCESS-SIGN"]):
            raise Refusal("50113", "Invalid Sign", 401)

    def check_ws_login(self, arg: dict[str, Any]) -> None:
        if arg.get("apiKey") != self.api_key:
            raise Refusal("60005", f"Invalid apiKey: {arg.get('apiKey')}")
        try:
            seconds = int(str(arg.get("timestamp")))
        except ValueError:
            raise Refusal("60004", "Invalid timestamp") from None
        if abs(seconds * 1000 - self.now_ms()) > TIMESTAMP_WINDOW_MS:
            raise Refusal("60006", "Timestamp request expired")
        if arg.get("passphrase") != self.passphrase:
            raise Refusal("60024", "Wrong passphrase")
        expected = self._expected_sign(f"{seconds}GET/users/self/verify".encode())
        if not hmac.compare_digest(expected, str(arg.get("sign", ""))):
            raise Refusal("60007", "Invalid sign")

    # -- REST plumbing ---------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        request[ARRIVED] = time.monotonic_ns()
        if request.path.startswith("/__sim") or request.path.startswith("/ws/"):
            response: web.StreamResponse = await handler(request)
            return response
        self.requests.append(f"{request.method} {request.path}")
        await venue_latency(self.latency)
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=503, text="Service Unavailable")
        body = await request.read()
        request[BODY] = body
        if not request.path.startswith("/api/v5/public/"):
            try:
                self.check_rest_auth(request.method, request.path_qs, request.headers, body)
            except Refusal as refusal:
                return self._json({"code": refusal.code, "msg": refusal.msg, "data": []}, refusal.status)
        try:
            response = await handler(request)
        except Refusal as refusal:
            return self._json({"code": refusal.code, "msg": refusal.msg, "data": []}, refusal.status)
        return response

    @staticmethod
    def _json(payload: Any, status: int = 200) -> web.Response:
        return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")

    def _ok(self, data: list[Any]) -> web.Response:
        return self._json({"code": "0", "msg": "", "data": data})

    @staticmethod
    def _body(request: web.Request) -> Any:
        try:
            return orjson.loads(request[BODY] or b"null")
        except orjson.JSONDecodeError:
            raise Refusal("50002", "JSON syntax error") from None

    # -- public and account endpoints ------------------------------------------------------

    async def _time(self, request: web.Request) -> web.Response:
        return self._ok([{"ts": str(self.now_ms())}])

    async def _instruments(self, request: web.Request) -> web.Response:
        if request.query.get("instType") != "SWAP":
            raise Refusal("51000", "Parameter instType error")
        return self._ok([s.row() for s in self.swaps.values()])

    async def _config(self, request: web.Request) -> web.Response:
        return self._ok([{"uid": "44705892343619584", "acctLv": "2", "posMode": self.pos_mode, "autoLoan": False}])

    async def _balance(self, request: web.Request) -> web.Response:
        return self._ok([self.balance_row()])

    async def _positions(self, request: web.Request) -> web.Response:
        inst = request.query.get("instId")
        return self._ok([self.position_row(k) for k in self.positions if inst in (None, k[0])])

    def upl(self) -> Decimal:
        total = ZERO
        for (inst, pos_side), p in self.positions.items():
            sign = -1 if pos_side == "short" else 1
            total += (self.prices[inst] - p["avg"]) * p["qty"] * sign * self.swaps[inst].per_contract
        return total

    def used_margin(self) -> Decimal:
        return sum(
            (
                abs(p["qty"]) * self.swaps[i].per_contract * p["avg"] / self.leverage
                for (i, _), p in self.positions.items()
            ),
            ZERO,
        )

    def balance_row(self) -> dict[str, Any]:
        upl = self.upl()
        eq = self.cash + upl
        return {
            "totalEq": _s(eq),
            "adjEq": _s(eq),
            "uTime": str(self.now_ms()),
            "details": [
                {
                    "ccy": "USDT",
                    "cashBal": _s(self.cash),
                    "eq": _s(eq),
                    "availBal": _s(self.cash - self.used_margin()),
                    "upl": _s(upl),
                }
            ],
        }

    def position_row(self, key: tuple[str, str]) -> dict[str, Any]:
        inst, pos_side = key
        p = self.positions.get(key, {"qty": ZERO, "avg": ZERO})
        sign = -1 if pos_side == "short" else 1
        return {
            "instType": "SWAP",
            "instId": inst,
            "posId": str(abs(hash(key)) % 10**12),
            "posSide": pos_side,
            "pos": _s(p["qty"]),
            "avgPx": _s(p["avg"]) if p["qty"] else "",
            "markPx": _s(self.prices[inst]),
            "upl": _s((self.prices[inst] - p["avg"]) * p["qty"] * sign * self.swaps[inst].per_contract),
            "mgnMode": "cross",
            "lever": _s(self.leverage),
            "uTime": str(self.now_ms()),
        }

    # -- orders ----------------------------------------------------------------------------

    def _swap(self, inst_id: Any) -> SimSwap:
        swap = self.swaps.get(str(inst_id))
        if swap is None:
            raise Refusal("51001", "Instrument ID does not exist")
        return swap

    def _check_rate(self, endpoint: str, inst_id: str) -> None:
        count, window = self.order_limit
        stamps = self._rate.setdefault((endpoint, inst_id), deque())
        now = time.monotonic()
        while stamps and stamps[0] <= now - window:
            stamps.popleft()
        if len(stamps) >= count:
            self.rate_limited += 1
            raise Refusal("50011", "Too Many Requests", 429)
        stamps.append(now)

    def _pos_side(self, args: dict[str, Any], side: str) -> str:
        pos_side = args.get("posSide") or ""
        if self.pos_mode == "net_mode":
            if pos_side not in ("", "net"):
                raise Refusal("51000", "Parameter posSide error")
            return "net"
        if pos_side not in ("long", "short"):
            raise Refusal("51000", "Parameter posSide error")
        return str(pos_side)

    def _check_size(self, swap: SimSwap, sz: Decimal, market: bool) -> None:
        if sz <= 0:
            raise Refusal("51000", "Parameter sz error")
        if sz % Decimal(swap.lot_sz) != 0:
            raise Refusal("51121", f"Order quantity must be a multiple of the lot size ({swap.lot_sz}).")
        if sz < Decimal(swap.min_sz):
            raise Refusal("51020", "Your order should meet or exceed the minimum order amount.")
        if market and sz > Decimal(swap.max_mkt_sz):
            raise Refusal("51202", "Market order amount exceeds the maximum amount.")
        if not market and sz > Decimal(swap.max_lmt_sz):
            raise Refusal("51201", "Value of per market order cannot exceed 1,000,000 USDT.")

    def _reducible(self, inst: str, pos_side: str, side: str) -> Decimal:
        """Contracts an order on ``side`` can reduce of the position (0 when it would not reduce)."""
        p = self.positions.get((inst, pos_side))
        if p is None or not p["qty"]:
            return ZERO
        if pos_side == "net":
            return abs(p["qty"]) if (p["qty"] > 0) == (side == "sell") else ZERO
        closing = (pos_side == "long" and side == "sell") or (pos_side == "short" and side == "buy")
        return p["qty"] if closing else ZERO

    def place(self, args: Any, arrived_ns: int) -> dict[str, Any]:
        """Validate and execute one ``order``; returns its row or raises :class:`Refusal`."""
        if not isinstance(args, dict):
            raise Refusal("50002", "JSON syntax error")
        swap = self._swap(args.get("instId"))
        self._check_rate("order", swap.inst_id)
        cid = str(args.get("clOrdId") or "")
        if cid and not CLIENT_ID.match(cid):
            raise Refusal("51000", "Parameter clOrdId error")
        self.arrivals.append(
            {
                "client_order_id": cid,
                "arrived_ns": arrived_ns,
                "symbol": swap.inst_id,
                "side": args.get("side"),
                "qty": str(args.get("sz")),
            }
        )
        if cid and cid in self.by_client_id:
            raise Refusal("51016", "Duplicated clOrdId")
        if args.get("tdMode") not in ("cross", "isolated"):
            raise Refusal("51000", "Parameter tdMode error")
        side = args.get("side")
        if side not in ("buy", "sell"):
            raise Refusal("51000", "Parameter side error")
        pos_side = self._pos_side(args, side)
        ord_type = args.get("ordType")
        if ord_type not in ("market", "limit", "ioc", "fok", "post_only"):
            raise Refusal("51000", "Parameter ordType error")
        sz = _dec(args.get("sz"), "sz")
        self._check_size(swap, sz, ord_type == "market")
        px = None
        if ord_type != "market":
            px = _dec(args.get("px"), "px")
            if px <= 0 or px % Decimal(swap.tick_sz) != 0:
                raise Refusal("51000", "Parameter px error")
        reduce_only = str(args.get("reduceOnly", "false")).lower() == "true"
        if reduce_only and self.pos_mode == "long_short_mode":
            raise Refusal("51000", "Parameter reduceOnly error")
        reducible = self._reducible(swap.inst_id, pos_side, side)
        if reduce_only and reducible == 0:
            raise Refusal(
                "51169",
                "Order failed because you don't have any positions in this direction "
                "for this contract to reduce or close.",
            )
        if pos_side != "net" and reducible == 0 and self._closing(pos_side, side):
            raise Refusal("51169", "Order failed because you don't have any positions to reduce or close.")
        opening = max(ZERO, sz - reducible)
        mark = self.prices[swap.inst_id]
        if opening and opening * swap.per_contract * (px or mark) / self.leverage > self.cash - self.used_margin():
            raise Refusal("51008", "Order failed. Insufficient USDT margin in account")
        ord_id = str(next(self._ids))
        now = str(self.now_ms())
        order = {
            "instType": "SWAP",
            "instId": swap.inst_id,
            "ordId": ord_id,
            "clOrdId": cid,
            "tag": "",
            "px": _s(px) if px is not None else "",
            "sz": _s(sz),
            "ordType": ord_type,
            "side": side,
            "posSide": pos_side,
            "tdMode": args.get("tdMode"),
            "reduceOnly": "true" if reduce_only else "false",
            "accFillSz": "0",
            "fillPx": "",
            "fillSz": "0",
            "tradeId": "",
            "fillTime": "",
            "avgPx": "",
            "state": "live",
            "cTime": now,
            "uTime": now,
            "attachAlgoOrds": list(args.get("attachAlgoOrds") or []),
            # Set on the order a stop entry places when it triggers, as at OKX.
            "algoId": str(args.get("algoId") or ""),
            "algoClOrdId": str(args.get("algoClOrdId") or ""),
        }
        self.orders[ord_id] = order
        if cid:
            self.by_client_id[cid] = ord_id
        if ord_type == "market":
            self._execute(order, mark)
        elif (side == "buy" and px is not None and px >= mark) or (side == "sell" and px is not None and px <= mark):
            self._execute(order, mark)
        else:
            self._push("orders", order)
        return order

    @staticmethod
    def _closing(pos_side: str, side: str) -> bool:
        return (pos_side == "long" and side == "sell") or (pos_side == "short" and side == "buy")

    def _execute(self, order: dict[str, Any], price: Decimal) -> None:
        """Fill ``order`` in full at ``price``, update the position and the cash, push events."""
        inst, side, pos_side = order["instId"], order["side"], order["posSide"]
        swap = self.swaps[inst]
        sz = Decimal(order["sz"])
        reducible = self._reducible(inst, pos_side, side)
        if order["reduceOnly"] == "true" or self._closing(pos_side, side):
            sz = min(sz, reducible)
        key = (inst, pos_side)
        p = self.positions.setdefault(key, {"qty": ZERO, "avg": ZERO})
        before = p["qty"]
        if pos_side == "net":
            delta = sz if side == "buy" else -sz
            cur = p["qty"]
            if cur == 0 or (cur > 0) == (delta > 0):
                p["avg"] = (p["avg"] * abs(cur) + price * abs(delta)) / (abs(cur) + abs(delta))
                p["qty"] = cur + delta
            else:
                closed = min(abs(cur), abs(delta))
                self.cash += (price - p["avg"]) * closed * (1 if cur > 0 else -1) * swap.per_contract
                p["qty"] = cur + delta
                if p["qty"] != 0 and (p["qty"] > 0) != (cur > 0):
                    p["avg"] = price
        elif self._closing(pos_side, side):
            sign = 1 if pos_side == "long" else -1
            self.cash += (price - p["avg"]) * sz * sign * swap.per_contract
            p["qty"] -= sz
        else:
            p["avg"] = (p["avg"] * p["qty"] + price * sz) / (p["qty"] + sz)
            p["qty"] += sz
        if p["qty"] == 0:
            p["avg"] = ZERO
        order.update(
            state="filled",
            accFillSz=_s(sz),
            fillSz=_s(sz),
            fillPx=_s(price),
            avgPx=_s(price),
            tradeId=str(next(self._ids)),
            fillTime=str(self.now_ms()),
            uTime=str(self.now_ms()),
        )
        attached = order.pop("attachAlgoOrds", []) or []
        self._push("orders", order)
        self._push("positions", self.position_row(key))
        after = p["qty"]
        if after == 0:
            del self.positions[key]
        if before != 0 and (after == 0 or (after > 0) != (before > 0)):
            # As at OKX: a position's SL/TP orders go when it is closed (or, one-way, flipped).
            for algo in list(self.algos.values()):
                protective = algo["state"] == "live" and algo["ordType"] != "trigger"
                if protective and (algo["instId"], algo["posSide"]) == key:
                    self._algo_changed(algo, "canceled")
        # Orders attached to an entry become algo orders once it has filled.
        for attach in attached:
            self._attach(order, attach, sz)
        self._push("account", self.balance_row())

    def _attach(self, order: dict[str, Any], attach: dict[str, Any], sz: Decimal) -> None:
        sl, tp = attach.get("slTriggerPx"), attach.get("tpTriggerPx")
        if not sl and not tp:
            return
        self._new_algo(
            {
                "instId": order["instId"],
                "side": "sell" if order["side"] == "buy" else "buy",
                "posSide": order["posSide"],
                "ordType": "oco" if sl and tp else "conditional",
                "sz": _s(sz),
                "reduceOnly": "true",
                "slTriggerPx": sl or "",
                "tpTriggerPx": tp or "",
                "algoClOrdId": str(attach.get("attachAlgoClOrdId", "")),
            }
        )

    def _new_algo(self, fields: dict[str, Any]) -> dict[str, Any]:
        algo_id = str(next(self._ids))
        row = {"instType": "SWAP", "algoId": algo_id, "state": "live", "cTime": str(self.now_ms()), **fields}
        self.algos[algo_id] = row
        self._algo_changed(row)
        return row

    def _algo_changed(self, algo: dict[str, Any], state: str | None = None) -> None:
        """Record an algo order's new state and push it on ``orders-algo``."""
        if state is not None:
            algo["state"] = state
        algo["uTime"] = str(self.now_ms())
        self._push("orders-algo", algo)

    def amend_algos(self, args: Any) -> dict[str, Any]:
        """``amend-algos``: new SL/TP trigger prices for a live ``conditional``/``oco`` order."""
        if not isinstance(args, dict):
            raise Refusal("50002", "JSON syntax error")
        algo = self.algos.get(str(args.get("algoId", "")))
        if algo is None or algo["state"] != "live" or algo["ordType"] not in ("conditional", "oco"):
            raise Refusal("51603", "Order does not exist")
        for new, name in (("newSlTriggerPx", "slTriggerPx"), ("newTpTriggerPx", "tpTriggerPx")):
            if args.get(new):
                algo[name] = _s(_dec(args[new], new))
        self._algo_changed(algo)
        self._on_price(algo["instId"])
        return {"algoId": algo["algoId"], "algoClOrdId": algo["algoClOrdId"], "reqId": args.get("reqId", "")}

    def place_algo(self, args: Any) -> dict[str, Any]:
        """``order-algo``: ``trigger`` (stop entry) or ``conditional`` / ``oco`` (SL/TP)."""
        if not isinstance(args, dict):
            raise Refusal("50002", "JSON syntax error")
        swap = self._swap(args.get("instId"))
        cid = str(args.get("algoClOrdId") or "")
        if cid and not CLIENT_ID.match(cid):
            raise Refusal("51000", "Parameter algoClOrdId error")
        if cid and (cid in self.by_client_id or any(a.get("algoClOrdId") == cid for a in self.algos.values())):
            raise Refusal("51016", "Duplicated clOrdId")
        side = args.get("side")
        if side not in ("buy", "sell"):
            raise Refusal("51000", "Parameter side error")
        pos_side = self._pos_side(args, side)
        ord_type = args.get("ordType")
        fields: dict[str, Any] = {"instId": swap.inst_id, "side": side, "posSide": pos_side, "ordType": ord_type}
        fields["algoClOrdId"] = cid
        if ord_type == "trigger":
            sz = _dec(args.get("sz"), "sz")
            self._check_size(swap, sz, True)
            fields.update(sz=_s(sz), triggerPx=_s(_dec(args.get("triggerPx"), "triggerPx")), orderPx="-1")
            fields["attachAlgoOrds"] = list(args.get("attachAlgoOrds") or [])
        elif ord_type in ("conditional", "oco"):
            sl, tp = args.get("slTriggerPx") or "", args.get("tpTriggerPx") or ""
            if (ord_type == "oco" and not (sl and tp)) or not (sl or tp):
                raise Refusal("51000", "Parameter slTriggerPx error")
            for value, name in ((sl, "slTriggerPx"), (tp, "tpTriggerPx")):
                if value:
                    _dec(value, name)
            fields.update(slTriggerPx=sl, tpTriggerPx=tp, reduceOnly="true")
            if args.get("closeFraction") == "1":
                if self._reducible(swap.inst_id, pos_side, side) == 0:
                    raise Refusal("51169", "Order failed because you don't have any positions to reduce or close.")
                fields["closeFraction"] = "1"
            else:
                sz = _dec(args.get("sz"), "sz")
                self._check_size(swap, sz, True)
                fields["sz"] = _s(sz)
        else:
            raise Refusal("51000", "Parameter ordType error")
        return self._new_algo(fields)

    def cancel(self, args: Any) -> dict[str, Any]:
        if not isinstance(args, dict):
            raise Refusal("50002", "JSON syntax error")
        self._swap(args.get("instId"))
        ord_id = args.get("ordId") or self.by_client_id.get(str(args.get("clOrdId") or ""))
        order = self.orders.get(str(ord_id or ""))
        if order is None or order["state"] not in ("live", "partially_filled"):
            raise Refusal(
                "51400", "Order cancellation failed as the order has been filled, canceled or does not exist."
            )
        order.update(state="canceled", uTime=str(self.now_ms()))
        self._push("orders", order)
        return order

    def amend(self, args: Any) -> dict[str, Any]:
        if not isinstance(args, dict):
            raise Refusal("50002", "JSON syntax error")
        swap = self._swap(args.get("instId"))
        ord_id = args.get("ordId") or self.by_client_id.get(str(args.get("clOrdId") or ""))
        order = self.orders.get(str(ord_id or ""))
        if order is None or order["state"] not in ("live", "partially_filled"):
            raise Refusal(
                "51503", "Order modification failed as the order has been filled, canceled or does not exist."
            )
        if args.get("newSz"):
            sz = _dec(args["newSz"], "newSz")
            self._check_size(swap, sz, False)
            order["sz"] = _s(sz)
        if args.get("newPx"):
            px = _dec(args["newPx"], "newPx")
            if px <= 0 or px % Decimal(swap.tick_sz) != 0:
                raise Refusal("51000", "Parameter newPx error")
            order["px"] = _s(px)
        order["uTime"] = str(self.now_ms())
        self._push("orders", order)
        self._on_price(swap.inst_id)
        return {**order, "reqId": args.get("reqId", "")}

    def _on_price(self, inst: str) -> None:
        mark = self.prices[inst]
        for order in list(self.orders.values()):
            if order["instId"] != inst or order["state"] != "live" or not order["px"]:
                continue
            px = Decimal(order["px"])
            if (order["side"] == "buy" and mark <= px) or (order["side"] == "sell" and mark >= px):
                self._execute(order, px)
        for algo in list(self.algos.values()):
            if algo["instId"] != inst or algo["state"] != "live":
                continue
            self._maybe_trigger(algo, mark)

    def _maybe_trigger(self, algo: dict[str, Any], mark: Decimal) -> None:
        side = algo["side"]
        if algo["ordType"] == "trigger":
            trigger = Decimal(algo["triggerPx"])
            if not ((side == "buy" and mark >= trigger) or (side == "sell" and mark <= trigger)):
                return
            args = {"instId": algo["instId"], "tdMode": "cross", "side": side, "ordType": "market", "sz": algo["sz"]}
            if algo["posSide"] != "net":
                args["posSide"] = algo["posSide"]
            args["attachAlgoOrds"] = algo.get("attachAlgoOrds") or []
            args.update(algoId=algo["algoId"], algoClOrdId=algo["algoClOrdId"])
        else:
            sl = Decimal(algo["slTriggerPx"]) if algo.get("slTriggerPx") else None
            tp = Decimal(algo["tpTriggerPx"]) if algo.get("tpTriggerPx") else None
            closing_long = side == "sell"
            hit_sl = sl is not None and (mark <= sl if closing_long else mark >= sl)
            hit_tp = tp is not None and (mark >= tp if closing_long else mark <= tp)
            if not (hit_sl or hit_tp):
                return
            reducible = self._reducible(algo["instId"], algo["posSide"], side)
            if reducible == 0:
                self._algo_changed(algo, "canceled")
                return
            size = reducible if algo.get("closeFraction") == "1" else min(reducible, Decimal(algo["sz"]))
            args = {"instId": algo["instId"], "tdMode": "cross", "side": side, "ordType": "market", "sz": _s(size)}
            if algo["posSide"] == "net":
                args["reduceOnly"] = "true"
            else:
                args["posSide"] = algo["posSide"]
        self._algo_changed(algo, "effective")
        try:
            self.place(args, time.monotonic_ns())
        except Refusal:
            self._algo_changed(algo, "order_failed")

    def cancel_algos(self, rows: Any) -> list[dict[str, Any]]:
        if not isinstance(rows, list) or not rows:
            raise Refusal("51000", "Parameter algoId error")
        result = []
        for row in rows:
            algo = self.algos.get(str(row.get("algoId", "")))
            if algo is None or algo["state"] != "live":
                result.append({"algoId": row.get("algoId", ""), "sCode": "51603", "sMsg": "Order does not exist"})
                continue
            self._algo_changed(algo, "canceled")
            result.append({"algoId": algo["algoId"], "algoClOrdId": algo["algoClOrdId"], "sCode": "0", "sMsg": ""})
        return result

    # -- order endpoints (REST) ------------------------------------------------------------

    @staticmethod
    def _ack(order: dict[str, Any]) -> dict[str, Any]:
        return {
            "clOrdId": order["clOrdId"],
            "ordId": order["ordId"],
            "tag": "",
            "ts": order["uTime"],
            "sCode": "0",
            "sMsg": "",
        }

    @staticmethod
    def _failed(refusal: Refusal, args: Any) -> dict[str, Any]:
        cid = args.get("clOrdId", "") if isinstance(args, dict) else ""
        return {
            "code": "1",
            "msg": "All operations failed",
            "data": [{"clOrdId": cid, "ordId": "", "tag": "", "sCode": refusal.code, "sMsg": refusal.msg}],
        }

    async def _rest_write(self, request: web.Request, action: Any, ack: Any) -> web.StreamResponse:
        args = self._body(request)
        try:
            row = action(args)
        except Refusal as refusal:
            if refusal.status != 200:
                raise
            return self._json(self._failed(refusal, args))
        if self.drop_next > 0:
            self.drop_next -= 1
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        return self._ok([ack(row)])

    async def _rest_order(self, request: web.Request) -> web.StreamResponse:
        return await self._rest_write(request, lambda args: self.place(args, request[ARRIVED]), self._ack)

    async def _rest_cancel(self, request: web.Request) -> web.StreamResponse:
        return await self._rest_write(request, self.cancel, self._ack)

    async def _rest_amend(self, request: web.Request) -> web.StreamResponse:
        return await self._rest_write(
            request, self.amend, lambda row: {**self._ack(row), "reqId": row.get("reqId", "")}
        )

    async def _rest_order_algo(self, request: web.Request) -> web.StreamResponse:
        def ack(row: dict[str, Any]) -> dict[str, Any]:
            return {"algoId": row["algoId"], "algoClOrdId": row["algoClOrdId"], "sCode": "0", "sMsg": ""}

        return await self._rest_write(request, self.place_algo, ack)

    async def _rest_amend_algos(self, request: web.Request) -> web.Response:
        try:
            return self._ok([{**self.amend_algos(self._body(request)), "sCode": "0", "sMsg": ""}])
        except Refusal as refusal:
            return self._json({"code": "1", "msg": "", "data": [{"sCode": refusal.code, "sMsg": refusal.msg}]})

    async def _rest_cancel_algos(self, request: web.Request) -> web.Response:
        result = self.cancel_algos(self._body(request))
        failed = all(r["sCode"] != "0" for r in result)
        return self._json({"code": "1" if failed else "0", "msg": "", "data": result})

    def _order_view(self, order: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in order.items() if k != "attachAlgoOrds"}

    async def _get_order(self, request: web.Request) -> web.Response:
        q = request.query
        self._swap(q.get("instId"))
        ord_id = q.get("ordId") or self.by_client_id.get(q.get("clOrdId", ""))
        order = self.orders.get(ord_id or "")
        if order is None or order["instId"] != q.get("instId"):
            raise Refusal("51603", "Order does not exist")
        return self._ok([self._order_view(order)])

    def _order_list(self, query: Any, *, pending: bool) -> list[dict[str, Any]]:
        """OKX's order lists, newest first: ``instType`` (required), ``instId``, ``ordType``,
        ``state``, ``after``/``before`` (order ids: older/newer than), ``limit`` (at most 100) and,
        for the history, ``begin``/``end`` (creation time, ms) within the last 7 days."""
        if query.get("instType") != "SWAP":
            raise Refusal("51000", "Parameter instType error")
        try:
            limit = int(query.get("limit") or 100)
            after, before = int(query.get("after") or 0), int(query.get("before") or 0)
            begin, end = int(query.get("begin") or 0), int(query.get("end") or 0)
        except ValueError:
            raise Refusal("51000", "Parameter error") from None
        if not 1 <= limit <= 100:
            raise Refusal("51000", "Parameter limit error")
        if not pending:
            begin = max(begin, self.now_ms() - 7 * 24 * 3600 * 1000)
        rows = []
        for order in sorted(self.orders.values(), key=lambda o: int(o["ordId"]), reverse=True):
            if (order["state"] in ("live", "partially_filled")) != pending:
                continue
            if any(query.get(key) not in (None, order[key]) for key in ("instId", "ordType", "state")):
                continue
            if (after and int(order["ordId"]) >= after) or (before and int(order["ordId"]) <= before):
                continue
            if (begin and int(order["cTime"]) < begin) or (end and int(order["cTime"]) > end):
                continue
            rows.append(self._order_view(order))
        return rows[:limit]

    async def _orders_pending(self, request: web.Request) -> web.Response:
        return self._ok(self._order_list(request.query, pending=True))

    async def _orders_history(self, request: web.Request) -> web.Response:
        return self._ok(self._order_list(request.query, pending=False))

    async def _algos_pending(self, request: web.Request) -> web.Response:
        """Newest first, at most ``limit`` (100) a page, ``after`` an algo id for older ones, as at OKX."""
        types = set(request.query.get("ordType", "").split(","))
        inst = request.query.get("instId")
        after = int(request.query.get("after") or 0)
        limit = min(100, int(request.query.get("limit") or 100))
        rows = [
            {k: v for k, v in a.items() if k != "attachAlgoOrds"}
            for a in reversed(self.algos.values())
            if a["state"] == "live" and a["ordType"] in types and inst in (None, a["instId"])
            and (not after or int(a["algoId"]) < after)
        ]  # fmt: skip
        return self._ok(rows[:limit])

    async def _get_algo(self, request: web.Request) -> web.Response:
        algo_id, cid = request.query.get("algoId"), request.query.get("algoClOrdId")
        for algo in self.algos.values():
            if (algo_id and algo["algoId"] == algo_id) or (cid and algo["algoClOrdId"] == cid):
                return self._ok([{k: v for k, v in algo.items() if k != "attachAlgoOrds"}])
        raise Refusal("51603", "Order does not exist")

    # -- private WebSocket -----------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        logged_in = False
        conn_id = format(id(ws), "x")[-8:]
        try:
            async with contextlib.aclosing(stamped(ws, request)) as messages:
                async for msg, arrived_ns in messages:
                    if msg.type != WSMsgType.TEXT:
                        break
                    if msg.data == "ping":
                        await ws.send_str("pong")
                        continue
                    try:
                        data = orjson.loads(msg.data)
                    except orjson.JSONDecodeError:
                        await self._send(
                            ws, {"event": "error", "code": "60012", "msg": "Invalid request", "connId": conn_id}
                        )
                        continue
                    op = data.get("op")
                    if op == "login":
                        try:
                            self.check_ws_login((data.get("args") or [{}])[0])
                        except Refusal as refusal:
                            await self._send(
                                ws, {"event": "error", "code": refusal.code, "msg": refusal.msg, "connId": conn_id}
                            )
                            continue
                        logged_in = True
                        self._sockets[ws] = set()
                        await self._send(ws, {"event": "login", "code": "0", "msg": "", "connId": conn_id})
                    elif not logged_in:
                        refusal_text = {"event": "error", "code": "60011", "msg": "Please log in", "connId": conn_id}
                        await self._send(ws, refusal_text)
                    elif op == "subscribe":
                        await self._subscribe(ws, data.get("args") or [], conn_id)
                    elif op in ("order", "cancel-order", "amend-order"):
                        await venue_latency(self.latency)
                        if await self._ws_op(ws, op, data, arrived_ns):
                            break
                    else:
                        await self._send(
                            ws, {"event": "error", "code": "60019", "msg": f"Invalid op: {op}", "connId": conn_id}
                        )
        finally:
            self._sockets.pop(ws, None)
        return ws

    async def _subscribe(self, ws: web.WebSocketResponse, args: list[dict[str, Any]], conn_id: str) -> None:
        for arg in args:
            channel = arg.get("channel")
            if channel not in ("orders", "orders-algo", "positions", "account"):
                await self._send(
                    ws, {"event": "error", "code": "60018", "msg": "channel doesn't exist", "connId": conn_id}
                )
                continue
            self._sockets[ws].add(channel)
            await self._send(ws, {"event": "subscribe", "arg": arg, "connId": conn_id})
            if channel == "positions":
                rows = [self.position_row(k) for k in self.positions]
                await self._send(ws, {"arg": {"channel": "positions", "instType": "SWAP"}, "data": rows})
            elif channel == "account":
                await self._send(ws, {"arg": {"channel": "account"}, "data": [self.balance_row()]})

    async def _ws_op(self, ws: web.WebSocketResponse, op: str, data: dict[str, Any], arrived_ns: int) -> bool:
        """Run one op and answer it; True when the connection was dropped instead."""
        in_time = str(time.time_ns() // 1000)
        args = (data.get("args") or [None])[0]
        actions = {"order": lambda a: self.place(a, arrived_ns), "cancel-order": self.cancel, "amend-order": self.amend}
        answer: dict[str, Any] = {"id": data.get("id"), "op": op}
        try:
            row = actions[op](args)
        except Refusal as refusal:
            if refusal.code == "50011":
                answer.update(code="50011", msg=refusal.msg, data=[])
            else:
                answer.update(self._failed(refusal, args))
        else:
            if self.drop_next > 0:
                self.drop_next -= 1
                await ws.close()
                return True
            ack = self._ack(row)
            if op == "amend-order":
                ack["reqId"] = row.get("reqId", "")
            answer.update(code="0", msg="", data=[ack])
        answer.update(inTime=in_time, outTime=str(time.time_ns() // 1000))
        await self._send(ws, answer)
        return False

    @staticmethod
    async def _send(ws: web.WebSocketResponse, payload: dict[str, Any]) -> None:
        if not ws.closed:
            await ws.send_str(orjson.dumps(payload).decode())

    def _push(self, channel: str, row: dict[str, Any]) -> None:
        arg = {"channel": channel, "instType": "SWAP"} if channel != "account" else {"channel": "account"}
        view = {k: v for k, v in row.items() if k != "attachAlgoOrds"}
        text = orjson.dumps({"arg": arg, "data": [view]}).decode()
        for ws, channels in list(self._sockets.items()):
            if channel in channels and not ws.closed:
                task = asyncio.get_running_loop().create_task(self._send_quietly(ws, text))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _send_quietly(ws: web.WebSocketResponse, text: str) -> None:
        """A push to a socket that is closing is lost, as it would be at the venue."""
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(text)

    # -- side endpoints --------------------------------------------------------------------

    async def _sim_book(self, request: web.Request) -> web.Response:
        """Every order the venue accepted, by client order id (a harness's count of what really exists)."""
        return self._json([{"client_order_id": order.get("clOrdId", "")} for order in self.orders.values()])

    async def _sim_orders(self, request: web.Request) -> web.Response:
        return self._json(self.arrivals)

    async def _sim_price(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        symbol = str(body.get("symbol") or body.get("instId"))
        if symbol not in self.swaps:
            return self._json({"error": f"unknown symbol {symbol}"}, 404)
        self.set_price(symbol, Decimal(str(body["price"])))
        return self._json({"symbol": symbol, "price": _s(self.prices[symbol])})

    async def _sim_fault(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        if "latency_ms" in body:
            self.latency = float(body["latency_ms"]) / 1000
        if "fail_next" in body:
            self.fail_next = int(body["fail_next"])
        if "drop_next" in body:
            self.drop_next = int(body["drop_next"])
        if "clock_offset_ms" in body:
            self.clock_offset_ms = int(body["clock_offset_ms"])
        if "pos_mode" in body:
            self.pos_mode = str(body["pos_mode"])
        return self._json(
            {
                "latency_ms": self.latency * 1000,
                "fail_next": self.fail_next,
                "drop_next": self.drop_next,
                "clock_offset_ms": self.clock_offset_ms,
                "pos_mode": self.pos_mode,
            }
        )


async def _serve(args: argparse.Namespace) -> None:
    sim = OkxSim(host=args.host, port=args.port, pos_mode=args.pos_mode, demo=args.demo)
    await sim.start()
    print(sim.port, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="OKX v5 loopback simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--pos-mode", default="net_mode", choices=("net_mode", "long_short_mode"))
    parser.add_argument("--demo", action="store_true", help="require x-simulated-trading: 1")
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(_serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main(sys.argv[1:])
