"""The OKX v5 connector: USDT-margined perpetual swaps for one account.

Orders go over the private WebSocket's ``order`` / ``amend-order`` / ``cancel-order`` ops; when the
socket is not ready (nothing was sent) the same request goes over REST. Stop entries and position
stop-loss / take-profit are OKX algo orders (REST ``order-algo``). Volumes are base quantity in
Copier and contracts (``sz``) on the wire: ``base = sz × ctVal × ctMult``.

Semantics chosen here:

- ``position_id`` is ``"<instId>:<posSide>"`` (``BTC-USDT-SWAP:long``, ``…:net`` in one-way mode).
- A ``CLOSE`` sends the opposite side for ``volume`` (0 = the whole position), reduce-only in
  one-way mode and with ``posSide`` in hedge mode. Without ``position_id`` the position is the one
  on ``intent.side`` (hedge mode) or the net position of ``intent.symbol`` (one-way mode).
- A ``MODIFY`` with ``order_id`` amends a resting order's price (and size when ``volume`` > 0);
  otherwise it sets the position's SL/TP as one whole-position algo order (``closeFraction`` 1),
  keeping the current level for whichever of ``sl`` / ``tp`` is ``None``.
- Venue order ids of algo orders carry the ``algo:`` prefix.
- ``submit`` of a market order waits up to ``fill_wait`` seconds for the fill on the ``orders``
  channel; without it the report says ``ACCEPTED`` with nothing filled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Collection
from decimal import Decimal
from typing import Any, Final

from connectors.deadline import settle_after
from connectors.okx import parse
from connectors.okx.client import OkxClient, SentOp
from connectors.okx.config import OkxConfig
from connectors.okx.parse import ALGO_ORDER_PREFIX, SwapSpec
from connectors.periodic import ticks
from core.connector import Capabilities, ConnectorState, StateListener
from core.enums import OrderType, Side
from core.errors import ConfigError, CopierError, TransientError, VenueRejected
from core.instrument import Instrument
from core.orders import AccountState, ExecutionReport, IntentKind, OrderIntent, Position, ReportStatus, VenueOrder
from core.recent import remember
from core.records import Record

log = logging.getLogger(__name__)

CHANNELS: tuple[dict[str, str], ...] = (
    {"channel": "orders", "instType": "SWAP"},
    {"channel": "positions", "instType": "SWAP"},
    {"channel": "account"},
)
CLIENT_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
QUOTES = ("USDT", "USDC")
FINAL_STATES = frozenset({"filled", "canceled", "mmp_canceled"})
CLOCK_SYNC_INTERVAL = 20.0
"""Seconds between clock syncs; the same request keeps the REST connection warm."""
_RECENT_ORDERS = 4096
_HISTORY_MS = 7 * 24 * 3600 * 1000  # orders-history keeps the last 7 days
_PAGE = 100
_MAX_PAGES = 20


_UNKNOWN = "\x00"


class _Placed(Record):
    """An ``order`` op written to the socket (``sent``), or still to be sent (``sent`` None)."""

    FIELDS = ("cid", "args", "spec", "waiter", "sent")
    __slots__ = FIELDS

    def __init__(
        self,
        cid: str,
        args: dict[str, Any],
        spec: SwapSpec,
        waiter: asyncio.Future[dict[str, Any] | None] | None,
        sent: SentOp | None,
    ) -> None:
        self.cid: Final = cid
        self.args: Final = args
        self.spec: Final = spec
        self.waiter: Final = waiter
        self.sent: Final = sent


class OkxConnector:
    """One OKX account (see the module docstring for the order semantics)."""

    venue = "okx"

    def __init__(self, config: OkxConfig, *, on_state: StateListener | None = None) -> None:
        self.config = config
        self.name = config.name
        self.capabilities = Capabilities(hedging=config.hedge_mode, netting=not config.hedge_mode)
        self._on_state = on_state
        self._state = ConnectorState.DOWN
        self._client = OkxClient(
            config,
            channels=CHANNELS,
            on_push=self._on_push,
            on_state=self._set_state,
            on_reconnect=self._after_reconnect,
        )
        self._specs: dict[str, SwapSpec] = {}
        self._venue_symbols: dict[str, str | None] = {}
        self._last_size: tuple[SwapSpec, Decimal, Decimal] | None = None
        """``sz`` by (instrument, base volume): a fan-out sends the same few sizes over and over."""
        self._positions: dict[tuple[str, str], dict[str, Any]] = {}
        self._prices: dict[str, Decimal] = {}
        self._balance = Decimal(0)
        self._equity = Decimal(0)
        self._order_inst: dict[str, str] = {}
        self._waiters: dict[str, asyncio.Future[dict[str, Any] | None]] = {}
        self._refresh_task: asyncio.Task[None] | None = None
        self._snapshot_task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def state(self) -> ConnectorState:
        return self._state

    @property
    def client(self) -> OkxClient:
        """The underlying REST/WebSocket client (clock offset, raw requests)."""
        return self._client

    async def start(self) -> None:
        """Sync the clock, open and log in the WebSocket, check the position mode, load
        instruments, balance and positions, and start the background refresh."""
        self._set_state(ConnectorState.CONNECTING, "starting")
        try:
            await self._client.start()
            await self._check_position_mode()
            await self._load_instruments()
            await self._load_balance()
            await self._load_positions()
        except BaseException:
            await self._client.close()
            self._set_state(ConnectorState.DOWN, "start failed")
            raise
        self._refresh_task = asyncio.create_task(self._refresh_loop(), name=f"okx:{self.name}:refresh")
        self._refresh_task.add_done_callback(self._task_ended)
        self._set_state(ConnectorState.UP, "started")

    async def stop(self) -> None:
        """Cancel the background tasks and close the connections."""
        for task in (self._refresh_task, self._snapshot_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._refresh_task = self._snapshot_task = None
        await self._client.close()
        for waiter in self._waiters.values():
            waiter.cancel()
        self._waiters.clear()
        self._set_state(ConnectorState.DOWN, "stopped")

    def _set_state(self, state: ConnectorState, detail: str = "") -> None:
        self._state = state
        if self._on_state is not None:
            self._on_state(self.name, state, detail)

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("okx %s: task %s ended: %r", self.name, task.get_name(), task.exception())

    async def _refresh_loop(self) -> None:
        """Clock sync every :data:`CLOCK_SYNC_INTERVAL`; instruments and balance every
        ``refresh_interval``. A failed round is logged and retried at the next tick."""
        last_full = time.monotonic()
        tick = min(CLOCK_SYNC_INTERVAL, self.config.refresh_interval)
        async for _ in ticks(tick):  # from a random point of the period: accounts do not all sync at once
            try:
                await self._client.sync_clock()
                if time.monotonic() - last_full >= self.config.refresh_interval:
                    await self._load_instruments()
                    await self._load_balance()
                    last_full = time.monotonic()
            except Exception as exc:
                log.warning("okx %s: background refresh failed: %s", self.name, exc)

    def _after_reconnect(self) -> None:
        """Pushes may have been missed while the socket was down: re-read the snapshot."""
        if self._snapshot_task is not None and not self._snapshot_task.done():
            return
        self._snapshot_task = asyncio.create_task(self._resnapshot(), name=f"okx:{self.name}:resnapshot")
        self._snapshot_task.add_done_callback(self._task_ended)

    async def _resnapshot(self) -> None:
        try:
            await self._load_balance()
            await self._load_positions()
        except Exception as exc:
            log.warning("okx %s: snapshot after reconnect failed: %s", self.name, exc)

    async def _check_position_mode(self) -> None:
        self._client.acquire("account-config")
        payload = await self._client.request("GET", "/api/v5/account/config")
        mode = str((payload.get("data") or [{}])[0].get("posMode", ""))
        hedge = mode == "long_short_mode"
        if hedge != self.config.hedge_mode:
            raise ConfigError(
                f"the OKX account is in {mode or 'an unknown position mode'}; set hedge_mode = "
                f"{'true' if hedge else 'false'} or change the position mode at OKX",
                f"accounts.{self.name}.hedge_mode",
            )

    async def _load_instruments(self) -> None:
        specs = await self._client.swap_specs()
        if specs:
            self._specs = specs
            self._venue_symbols = {}
            self._last_size = None

    async def _load_balance(self) -> None:
        self._client.acquire("balance")
        payload = await self._client.request("GET", "/api/v5/account/balance")
        rows = payload.get("data") or []
        if rows:
            self._balance, self._equity = parse.balance(rows[0])

    async def _load_positions(self) -> list[dict[str, Any]]:
        self._client.acquire("positions")
        payload = await self._client.request("GET", "/api/v5/account/positions", params={"instType": "SWAP"})
        rows = list(payload.get("data") or [])
        self._positions = {}
        for row in rows:
            self._remember_position(row)
        return rows

    # -- pushes ----------------------------------------------------------------------------

    def _on_push(self, channel: str, row: dict[str, Any]) -> None:
        if channel == "orders":
            cid = str(row.get("clOrdId", ""))
            fill_px = parse.optional_decimal(row.get("fillPx"))
            if fill_px:
                self._prices[str(row.get("instId", ""))] = fill_px
            waiter = self._waiters.get(cid)
            if waiter is not None and not waiter.done() and row.get("state") in FINAL_STATES:
                waiter.set_result(row)
        elif channel == "positions":
            self._remember_position(row)
        elif channel == "account":
            self._balance, self._equity = parse.balance(row)

    def _remember_position(self, row: dict[str, Any]) -> None:
        inst_id = str(row.get("instId", ""))
        key = (inst_id, str(row.get("posSide") or "net"))
        mark = parse.optional_decimal(row.get("markPx")) or parse.optional_decimal(row.get("last"))
        if mark:
            self._prices[inst_id] = mark
        if parse.decimal(row.get("pos")) == 0:
            self._positions.pop(key, None)
        else:
            self._positions[key] = row

    # -- what the hot path reads -----------------------------------------------------------

    def venue_symbol(self, canonical: str) -> str | None:
        """``BTCUSDT`` / ``BTCUSDT-PERP`` / ``BTC/USDT`` → ``BTC-USDT-SWAP`` when OKX lists it."""
        if canonical in self._specs:
            return canonical
        known = self._venue_symbols.get(canonical, _UNKNOWN)
        if known is not _UNKNOWN:
            return known
        inst_id = self._venue_symbol(canonical)
        if self._specs and len(self._venue_symbols) < 4096:
            self._venue_symbols[canonical] = inst_id
        return inst_id

    def _venue_symbol(self, canonical: str) -> str | None:
        name = canonical.upper().removesuffix("-PERP").removesuffix(".P").replace("/", "").replace("-", "")
        for quote in QUOTES:
            if name.endswith(quote) and len(name) > len(quote):
                inst_id = f"{name[: -len(quote)]}-{quote}-SWAP"
                return inst_id if inst_id in self._specs or not self._specs else None
        return None

    def instrument(self, symbol: str) -> Instrument | None:
        spec = self._spec_or_none(symbol)
        return spec.instrument if spec is not None else None

    def swap_spec(self, symbol: str) -> SwapSpec | None:
        """OKX's own contract facts (``ctVal``, ``lotSz``, …) for a venue or canonical symbol."""
        return self._spec_or_none(symbol)

    def account(self) -> AccountState:
        return AccountState(
            balance=self._balance, equity=self._equity, currency="USDT", open_positions=len(self._positions)
        )

    def last_price(self, symbol: str) -> Decimal | None:
        spec = self._spec_or_none(symbol)
        return self._prices.get(spec.inst_id if spec is not None else symbol)

    def _spec_or_none(self, symbol: str) -> SwapSpec | None:
        spec = self._specs.get(symbol)
        if spec is None:
            inst_id = self.venue_symbol(symbol)
            spec = self._specs.get(inst_id) if inst_id else None
        return spec

    def _spec(self, symbol: str) -> SwapSpec:
        spec = self._spec_or_none(symbol)
        if spec is None:
            raise VenueRejected(f"OKX does not list {symbol} as a USDT-margined swap", code="51001")
        return spec

    # -- orders ----------------------------------------------------------------------------

    async def submit(self, intent: OrderIntent) -> ExecutionReport:
        if not CLIENT_ID.match(intent.client_order_id):
            raise VenueRejected("OKX client order ids are 1-32 letters and digits", code="51000")
        if intent.kind is IntentKind.OPEN:
            return await self._open(intent)
        if intent.kind is IntentKind.CLOSE:
            return await self._close(intent)
        if intent.kind is IntentKind.MODIFY:
            if intent.order_id:
                return await self._amend(intent)
            return await self._set_sltp(intent)
        return await self._cancel(intent)

    def rehearse(self, intent: OrderIntent) -> None:
        """Encode an OPEN as :meth:`submit` would put it on the socket, without sending it."""
        spec = self._spec_or_none(intent.symbol)
        if spec is None or intent.kind is not IntentKind.OPEN or not CLIENT_ID.match(intent.client_order_id):
            return
        with contextlib.suppress(CopierError):
            self._client.encode_op("order", [self.encode_open(intent, spec)])

    def encode_open(self, intent: OrderIntent, spec: SwapSpec) -> dict[str, Any]:
        """The ``order`` arguments for an OPEN intent (market or limit)."""
        sz = self._contracts(intent.volume, spec)
        args: dict[str, Any] = {
            "instId": spec.inst_id,
            "tdMode": self.config.td_mode,
            "side": "buy" if intent.side is Side.BUY else "sell",
            "ordType": "market",
            "sz": format(sz, "f"),
            "clOrdId": intent.client_order_id,
        }
        if self.config.hedge_mode:
            args["posSide"] = "long" if intent.side is Side.BUY else "short"
        if intent.order_type is OrderType.LIMIT:
            if intent.price is None:
                raise VenueRejected("a limit order needs a price", code="51000")
            args["ordType"] = "limit"
            args["px"] = _num(spec.instrument.price(intent.price).value)
        if intent.reduce_only and not self.config.hedge_mode:
            args["reduceOnly"] = True
        attach = self._sltp_args(intent.sl, intent.tp, spec)
        if attach:
            args["attachAlgoOrds"] = [attach]
        return args

    async def _open(self, intent: OrderIntent) -> ExecutionReport:
        spec = self._spec(intent.symbol)
        if intent.order_type is OrderType.STOP:
            return await self._stop_entry(intent, spec)
        args = self.encode_open(intent, spec)
        return await self._place(intent.client_order_id, args, spec, market=args["ordType"] == "market")

    async def _stop_entry(self, intent: OrderIntent, spec: SwapSpec) -> ExecutionReport:
        if intent.price is None:
            raise VenueRejected("a stop order needs a trigger price", code="51000")
        args: dict[str, Any] = {
            "instId": spec.inst_id,
            "tdMode": self.config.td_mode,
            "side": "buy" if intent.side is Side.BUY else "sell",
            "ordType": "trigger",
            "sz": format(self._contracts(intent.volume, spec), "f"),
            "triggerPx": _num(spec.instrument.price(intent.price).value),
            "orderPx": "-1",
            "algoClOrdId": intent.client_order_id,
        }
        if self.config.hedge_mode:
            args["posSide"] = "long" if intent.side is Side.BUY else "short"
        attach = self._sltp_args(intent.sl, intent.tp, spec)
        if attach:
            args["attachAlgoOrds"] = [attach]
        return await self._place_algo(intent.client_order_id, args, spec)

    async def _close(self, intent: OrderIntent) -> ExecutionReport:
        inst_id, pos_side = self._resolve_position(intent)
        spec = self._spec(inst_id)
        row = self._positions.get((inst_id, pos_side))
        held = abs(parse.decimal(row.get("pos"))) if row is not None else None
        if held is None and intent.volume <= 0:
            await self._load_positions()
            row = self._positions.get((inst_id, pos_side))
            held = abs(parse.decimal(row.get("pos"))) if row is not None else None
        if held is None and intent.volume <= 0:
            raise VenueRejected("there is no position in this direction to reduce or close", code="51169")
        sz = self._contracts(intent.volume, spec) if intent.volume > 0 else held
        assert sz is not None
        if held is not None and sz > held:
            sz = held
        if pos_side == "long":
            side = "sell"
        elif pos_side == "short":
            side = "buy"
        else:
            net = parse.decimal(row.get("pos")) if row is not None else Decimal(intent.side.sign)
            side = "sell" if net > 0 else "buy"
        args: dict[str, Any] = {
            "instId": inst_id,
            "tdMode": self.config.td_mode,
            "side": side,
            "ordType": "market",
            "sz": format(sz, "f"),
            "clOrdId": intent.client_order_id,
        }
        if self.config.hedge_mode:
            args["posSide"] = pos_side
        else:
            args["reduceOnly"] = True
        return await self._place(intent.client_order_id, args, spec, market=True)

    def _resolve_position(self, intent: OrderIntent) -> tuple[str, str]:
        if intent.position_id:
            inst_id, pos_side = parse.split_position_id(intent.position_id)
            spec = self._spec(inst_id)
            if pos_side not in ("long", "short", "net"):
                pos_side = ("long" if intent.side is Side.BUY else "short") if self.config.hedge_mode else "net"
            return spec.inst_id, pos_side
        spec = self._spec(intent.symbol)
        if self.config.hedge_mode:
            return spec.inst_id, "long" if intent.side is Side.BUY else "short"
        return spec.inst_id, "net"

    async def _place(self, cid: str, args: dict[str, Any], spec: SwapSpec, *, market: bool) -> ExecutionReport:
        self._client.acquire("order", spec.inst_id)
        return await self._place_finish(self._place_write(cid, args, spec, market=market))

    def submit_now(self, intent: OrderIntent) -> Awaitable[ExecutionReport] | None:
        """Write a market or limit OPEN to the private socket now; the returned awaitable gives its
        report. None when the order must go through :meth:`submit` (another kind, a stop entry, or
        the socket down: ``submit`` then falls back to REST). Raises the typed errors of
        :meth:`submit` that come before anything is sent (a size OKX would refuse, a rate limit)."""
        if (
            intent.kind is not IntentKind.OPEN
            or intent.order_type is OrderType.STOP
            or not self._client.ws_writable
            or not CLIENT_ID.match(intent.client_order_id)
        ):
            return None
        spec = self._spec(intent.symbol)
        args = self.encode_open(intent, spec)
        self._client.acquire("order", spec.inst_id)
        return self._place_finish(
            self._place_write(intent.client_order_id, args, spec, market=args["ordType"] == "market")
        )

    def _place_write(self, cid: str, args: dict[str, Any], spec: SwapSpec, *, market: bool) -> _Placed:
        """Remember an ``order`` and write it to the socket when it can be written from here
        (``sent``); otherwise :meth:`_place_finish` sends it. Counted against the limits by the caller."""
        self._remember_order(cid, spec.inst_id)
        waiter: asyncio.Future[dict[str, Any] | None] | None = None
        if market:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters[cid] = waiter
        try:
            sent: SentOp | None = self._client.ws_write("order", [args])
        except TransientError:  # not written: _place_finish sends it another way
            sent = None
        return _Placed(cid, args, spec, waiter, sent)

    async def _place_finish(self, placed: _Placed) -> ExecutionReport:
        """The report of a placed order: its answer (from the socket, or, when it was not written
        there, through aiohttp's writer while the socket is up and over REST when it is down), then
        for a market order its fill."""
        try:
            if placed.sent is not None:
                answer = await self._client.ws_answer(placed.sent)
                t_wire, t_ack = placed.sent.t_wire, time.monotonic_ns()
            else:
                answer, t_wire, t_ack = await self._send("order", "/api/v5/trade/order", placed.args)
        except BaseException:
            self._waiters.pop(placed.cid, None)
            raise
        return await self._answered_order(placed, answer, t_wire, t_ack)

    async def _answered_order(
        self, placed: _Placed, answer: dict[str, Any], t_wire: int, t_ack: int
    ) -> ExecutionReport:
        cid, spec, waiter = placed.cid, placed.spec, placed.waiter
        try:
            error = parse.order_error(answer, account=self.name)
            if error is not None:
                raise error
            row = (answer.get("data") or [{}])[0]
            ord_id = str(row.get("ordId") or "") or None
            pos_side = str(placed.args.get("posSide") or "net")
            filled: dict[str, Any] | None = None
            if waiter is not None:
                expiry = settle_after(waiter, self.config.fill_wait, lambda: None)
                try:
                    filled = await waiter
                finally:
                    expiry.cancel()
        finally:
            self._waiters.pop(cid, None)
        if filled is not None:
            return parse.order_report(filled, spec, t_wire, t_ack)
        if waiter is not None:
            # No fill pushed in time (the private stream may have been reconnecting): ask OKX.
            with contextlib.suppress(CopierError):
                row = await self._order_row(spec.inst_id, cid)
                if row is not None and row.get("state") in FINAL_STATES:
                    return parse.order_report(row, spec, t_wire, t_ack)
        return ExecutionReport.without_fill(
            cid,
            ReportStatus.ACCEPTED,
            venue_order_id=ord_id,
            position_id=parse.position_id(spec.inst_id, pos_side),
            t_wire_ns=t_wire,
            t_ack_ns=t_ack,
        )

    async def _send(self, op: str, path: str, args: dict[str, Any]) -> tuple[dict[str, Any], int, int]:
        """Over the WebSocket when it is up; over REST when nothing could be sent on it."""
        if self._client.ws_ready:
            try:
                return await self._client.ws_op(op, [args])
            except TransientError:
                pass
        return await self._client.request_timed("POST", path, body=args, write=True)

    async def _place_algo(self, cid: str, args: dict[str, Any], spec: SwapSpec) -> ExecutionReport:
        self._client.acquire("order-algo", spec.inst_id)
        self._remember_order(cid, spec.inst_id)
        answer, t_wire, t_ack = await self._client.request_timed(
            "POST", "/api/v5/trade/order-algo", body=args, write=True
        )
        error = parse.order_error(answer, account=self.name)
        if error is not None:
            raise error
        row = (answer.get("data") or [{}])[0]
        return parse.algo_report(
            {"algoId": row.get("algoId"), "algoClOrdId": cid, "instId": spec.inst_id, "posSide": args.get("posSide")},
            t_wire,
            t_ack,
        )

    async def _amend(self, intent: OrderIntent) -> ExecutionReport:
        spec = self._spec(intent.symbol)
        order_id = intent.order_id or ""
        if order_id.startswith(ALGO_ORDER_PREFIX):
            raise VenueRejected("amending a stop entry is not supported; cancel and place it again", code="51000")
        args: dict[str, Any] = {"instId": spec.inst_id, "ordId": order_id, "reqId": intent.client_order_id}
        if intent.price is not None:
            args["newPx"] = _num(spec.instrument.price(intent.price).value)
        if intent.volume > 0:
            args["newSz"] = format(self._contracts(intent.volume, spec), "f")
        self._client.acquire("amend-order", spec.inst_id)
        answer, t_wire, t_ack = await self._send("amend-order", "/api/v5/trade/amend-order", args)
        return self._answered(answer, intent, ReportStatus.MODIFIED, order_id, t_wire, t_ack)

    async def _cancel(self, intent: OrderIntent) -> ExecutionReport:
        spec = self._spec(intent.symbol)
        order_id = intent.order_id or ""
        if not order_id:
            raise VenueRejected("a cancel needs the venue order id", code="51000")
        if order_id.startswith(ALGO_ORDER_PREFIX):
            self._client.acquire("cancel-algos", spec.inst_id)
            body = [{"instId": spec.inst_id, "algoId": order_id.removeprefix(ALGO_ORDER_PREFIX)}]
            answer, t_wire, t_ack = await self._client.request_timed(
                "POST", "/api/v5/trade/cancel-algos", body=body, write=True
            )
        else:
            self._client.acquire("cancel-order", spec.inst_id)
            args = {"instId": spec.inst_id, "ordId": order_id}
            answer, t_wire, t_ack = await self._send("cancel-order", "/api/v5/trade/cancel-order", args)
        return self._answered(answer, intent, ReportStatus.CANCELED, order_id, t_wire, t_ack)

    def _answered(
        self, answer: dict[str, Any], intent: OrderIntent, status: ReportStatus, order_id: str, t_wire: int, t_ack: int
    ) -> ExecutionReport:
        """The report of an op on an existing order (amend, cancel), or the venue's refusal raised."""
        error = parse.order_error(answer, account=self.name)
        if error is not None:
            raise error
        return ExecutionReport.without_fill(
            intent.client_order_id, status, venue_order_id=order_id, position_id=None, t_wire_ns=t_wire, t_ack_ns=t_ack
        )

    async def _set_sltp(self, intent: OrderIntent) -> ExecutionReport:
        inst_id, pos_side = self._resolve_position(intent)
        spec = self._spec(inst_id)
        current = await self._position_algos(inst_id, pos_side)
        sl = intent.sl if intent.sl is not None else next((a[1] for a in current if a[1] is not None), None)
        tp = intent.tp if intent.tp is not None else next((a[2] for a in current if a[2] is not None), None)
        if sl is None and tp is None:
            raise VenueRejected("a modify needs a stop-loss or a take-profit", code="51000")
        row = self._positions.get((inst_id, pos_side))
        if pos_side == "long":
            side = "sell"
        elif pos_side == "short":
            side = "buy"
        else:
            net = parse.decimal(row.get("pos")) if row is not None else Decimal(intent.side.sign)
            side = "sell" if net > 0 else "buy"
        args: dict[str, Any] = {
            "instId": inst_id,
            "tdMode": self.config.td_mode,
            "side": side,
            "ordType": "oco" if sl is not None and tp is not None else "conditional",
            "closeFraction": "1",
            "algoClOrdId": intent.client_order_id,
            **self._sltp_args(sl, tp, spec),
        }
        if self.config.hedge_mode:
            args["posSide"] = pos_side
        else:
            args["reduceOnly"] = True
        report = await self._place_algo(intent.client_order_id, args, spec)
        stale = [{"instId": inst_id, "algoId": algo_id} for algo_id, _, _ in current]
        if stale:
            self._client.acquire("cancel-algos", inst_id)
            answer = await self._client.request("POST", "/api/v5/trade/cancel-algos", body=stale, write=True)
            error = parse.order_error(answer, account=self.name)
            if error is not None:
                log.warning("okx %s: replaced SL/TP orders were not all canceled: %s", self.name, error)
        return ExecutionReport.without_fill(
            intent.client_order_id,
            ReportStatus.MODIFIED,
            venue_order_id=report.venue_order_id,
            position_id=parse.position_id(inst_id, pos_side),
            t_wire_ns=report.t_wire_ns,
            t_ack_ns=report.t_ack_ns,
        )

    async def _position_algos(
        self, inst_id: str | None, pos_side: str | None = None
    ) -> list[tuple[str, Decimal | None, Decimal | None]]:
        """Pending SL/TP algo orders of one position as ``(algoId, sl, tp)``."""
        rows = await self._algo_rows(inst_id)
        result = []
        for row in rows:
            if pos_side is not None and str(row.get("posSide") or "net") != pos_side:
                continue
            result.append(
                (
                    str(row.get("algoId", "")),
                    _level(row.get("slTriggerPx")),
                    _level(row.get("tpTriggerPx")),
                )
            )
        return result

    async def _algo_rows(self, inst_id: str | None) -> list[dict[str, Any]]:
        params = {"instType": "SWAP", "ordType": "conditional,oco"}
        if inst_id:
            params["instId"] = inst_id
        self._client.acquire("orders-algo-pending")
        payload = await self._client.request("GET", "/api/v5/trade/orders-algo-pending", params=params)
        return list(payload.get("data") or [])

    @staticmethod
    def _sltp_args(sl: Decimal | None, tp: Decimal | None, spec: SwapSpec) -> dict[str, str]:
        args: dict[str, str] = {}
        if sl is not None:
            args["slTriggerPx"] = _num(spec.instrument.price(sl).value)
            args["slOrdPx"] = "-1"
        if tp is not None:
            args["tpTriggerPx"] = _num(spec.instrument.price(tp).value)
            args["tpOrdPx"] = "-1"
        return args

    def _contracts(self, volume: Decimal, spec: SwapSpec) -> Decimal:
        """Contracts for a base ``volume``; refused here (with OKX's own codes) when OKX would
        refuse the ``sz``, so an off-step size never goes on the wire.

        The last answer is kept for the next follower, which is usually sized the same: compared
        by value, as hashing a new ``Decimal`` for a lookup costs more than working it out."""
        last = self._last_size
        if last is not None and last[0] is spec and last[1] == volume:
            return last[2]
        sz = self._checked_contracts(volume, spec)
        self._last_size = (spec, volume, sz)
        return sz

    def _checked_contracts(self, volume: Decimal, spec: SwapSpec) -> Decimal:
        if volume % spec.instrument.volume_step != 0:
            raise VenueRejected(
                f"{volume} {spec.inst_id} is not a whole number of lots ({spec.instrument.volume_step})", code="51121"
            )
        sz = spec.to_contracts(volume)
        if sz <= 0 or sz < spec.min_sz:
            raise VenueRejected(
                f"{volume} {spec.inst_id} is below one lot's minimum ({spec.instrument.min_volume})", code="51020"
            )
        return sz

    def _remember_order(self, cid: str, inst_id: str) -> None:
        self._order_inst = remember(self._order_inst, cid, inst_id, _RECENT_ORDERS)

    # -- queries ---------------------------------------------------------------------------

    async def positions(self) -> list[Position]:
        rows = await self._load_positions()
        levels: dict[tuple[str, str], tuple[Decimal | None, Decimal | None]] = {}
        if rows:
            for algo in await self._algo_rows(None):
                key = (str(algo.get("instId", "")), str(algo.get("posSide") or "net"))
                sl, tp = levels.get(key, (None, None))
                levels[key] = (sl or _level(algo.get("slTriggerPx")), tp or _level(algo.get("tpTriggerPx")))
        result = []
        for row in rows:
            spec = self._specs.get(str(row.get("instId", "")))
            if spec is None:
                continue
            sl, tp = levels.get((spec.inst_id, str(row.get("posSide") or "net")), (None, None))
            pos = parse.position(row, spec, sl, tp)
            if pos is not None:
                result.append(pos)
        return result

    async def order_by_client_id(self, client_order_id: str, symbol: str | None = None) -> ExecutionReport | None:
        """The order (or algo order) with this client id at OKX, or None when OKX has none.

        Orders on a known instrument (``symbol``, or the one this process sent it on) are looked
        up there directly; otherwise the open orders and the order history are searched.
        """
        inst_id = symbol or self._order_inst.get(client_order_id)
        if inst_id is not None:
            row = await self._order_row(inst_id, client_order_id)
        else:
            row = await self._search_orders(client_order_id)
        if row is not None:
            spec = self._specs.get(str(row.get("instId", "")))
            return parse.order_report(row, spec)
        algo = await self._algo_row(client_order_id)
        return parse.algo_report(algo) if algo is not None else None

    async def _order_row(self, inst_id: str, cid: str) -> dict[str, Any] | None:
        self._client.acquire("get-order", inst_id)
        try:
            payload = await self._client.request(
                "GET", "/api/v5/trade/order", params={"instId": inst_id, "clOrdId": cid}
            )
        except VenueRejected as exc:
            if exc.code == "51603":
                return None
            raise
        rows = payload.get("data") or []
        return rows[0] if rows else None

    async def _search_orders(self, cid: str) -> dict[str, Any] | None:
        for endpoint in ("orders-pending", "orders-history"):
            self._client.acquire(endpoint)
            payload = await self._client.request("GET", f"/api/v5/trade/{endpoint}", params={"instType": "SWAP"})
            for row in payload.get("data") or []:
                if row.get("clOrdId") == cid:
                    return dict(row)
        return None

    async def recent_orders(self, prefix: str, since_ms: int, symbols: Collection[str] = ()) -> list[VenueOrder]:
        """Open swap orders (``GET /api/v5/trade/orders-pending``), the order history
        (``orders-history``, which reaches 7 days back) and the live stop entries
        (``orders-algo-pending``, ``ordType=trigger``) under client ids starting with ``prefix``,
        created at or after ``since_ms``; newest first at OKX, paged with ``after``. Position SL/TP
        algo orders are not orders of a signal of their own and are not listed."""
        since_ms = max(since_ms, self._client.now_ms() - _HISTORY_MS + 60_000)
        swaps = {"instType": "SWAP", "limit": str(_PAGE)}
        orders: dict[str, dict[str, Any]] = {}
        for endpoint, extra in (("orders-pending", {}), ("orders-history", {"begin": str(since_ms)})):
            for row in await self._pages(endpoint, {**swaps, **extra}, "ordId", since_ms):
                orders[str(row.get("ordId", ""))] = row
        # A stop entry is an algo order until it triggers; the order it then places carries its
        # algoClOrdId, which parse.order_client_id reads for both.
        stops = await self._pages("orders-algo-pending", {**swaps, "ordType": "trigger"}, "algoId", since_ms)
        found = []
        for rows, convert in ((orders.values(), parse.venue_order), (stops, parse.venue_algo_order)):
            for row in rows:
                spec = self._specs.get(str(row.get("instId", "")))
                if spec is None or not parse.order_client_id(row).startswith(prefix):
                    continue
                order = convert(row, spec)
                if order is not None and order.time_ms >= since_ms:
                    found.append(order)
        return sorted(found, key=lambda order: (order.time_ms, order.venue_order_id or ""))

    async def _pages(self, endpoint: str, params: dict[str, str], id_field: str, since_ms: int) -> list[dict[str, Any]]:
        """The rows of a newest-first OKX list, page after page (``after`` the last row's
        ``id_field``), until a short page or one that reaches back before ``since_ms``."""
        rows: list[dict[str, Any]] = []
        for _ in range(_MAX_PAGES):
            self._client.acquire(endpoint)
            payload = await self._client.request("GET", f"/api/v5/trade/{endpoint}", params=params)
            page = list(payload.get("data") or [])
            rows.extend(page)
            if len(page) < _PAGE or any(int(parse.decimal(row.get("cTime"))) < since_ms for row in page):
                return rows
            params = {**params, "after": str(page[-1].get(id_field, ""))}
        log.warning("okx %s: %s cut at %d pages", self.name, endpoint, _MAX_PAGES)
        return rows

    async def _algo_row(self, cid: str) -> dict[str, Any] | None:
        self._client.acquire("orders-algo-pending")
        try:
            payload = await self._client.request("GET", "/api/v5/trade/order-algo", params={"algoClOrdId": cid})
        except VenueRejected as exc:
            if exc.code in ("51603", "51000"):
                return None
            raise
        rows = payload.get("data") or []
        return rows[0] if rows else None


def _num(value: Decimal) -> str:
    return format(value, "f")


def _level(value: Any) -> Decimal | None:
    level = parse.optional_decimal(value)
    return level if level is not None and level > 0 else None
