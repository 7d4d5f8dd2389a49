"""``BybitConnector``: the :class:`~core.connector.Connector` protocol for Bybit v5 linear perpetuals.

Orders go over the ``/v5/trade`` WebSocket when it is up and over REST otherwise; the private
stream (``order``, ``position``, ``execution``, ``wallet``) keeps fills, positions and the balance
in memory. Quantities are base-coin amounts (the canonical unit for crypto), sent as strings.

Position ids: Bybit names a linear position by symbol and ``positionIdx`` (0 one-way, 1 long and
2 short in hedge mode); the connector writes that as ``"BTCUSDT:0"``. A bare symbol is accepted
for the one-way slot.

A repeated ``orderLinkId`` is refused by Bybit (retCode 110072) and raised as
:class:`~core.errors.VenueRejected`; after an unknown outcome the caller reconciles with
:meth:`BybitConnector.order_by_client_id` before sending anything again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Collection, Coroutine, Mapping
from decimal import Decimal
from typing import Any, Final

from connectors.bybit import parse
from connectors.bybit.client import BybitRest, BybitSocket, Clock, SentRequest, TradeSocket
from connectors.bybit.config import BybitConfig
from connectors.deadline import settle_after
from connectors.periodic import ticks
from core.connector import Capabilities, ConnectorState, StateListener
from core.enums import OrderType, Side
from core.errors import ConfigError, OutcomeUnknown, TransientError, VenueRejected
from core.instrument import Instrument, is_multiple, round_down_to_step, round_to_tick
from core.orders import AccountState, ExecutionReport, IntentKind, OrderIntent, Position, ReportStatus, VenueOrder
from core.records import Record

log = logging.getLogger("connectors.bybit")

CATEGORY = parse.CATEGORY
PERP_SUFFIX = "-PERP"
KEEP_ORDERS = 4096
_HISTORY_WINDOW_MS = 7 * 24 * 3600 * 1000  # /v5/order/history spans at most 7 days per request
_CLOCK_MARGIN_MS = 5_000
"""How far past the venue's estimated "now" a history query reaches: an order placed a moment ago
can carry a time just after that estimate."""
_MAX_PAGES = 20


def wire_qty(instrument: Instrument, volume: Decimal, *, closing: bool = False) -> str:
    """``volume`` on the wire: a plain decimal string at the step's precision.

    Volumes arrive already rounded; one off the step or outside the limits is refused here,
    without a round trip, as Bybit would refuse it (retCode 10001). Closing volumes are not held
    to the minimum, so a remainder below it can always be closed.
    """
    if volume <= 0 or not is_multiple(volume, instrument.volume_step):
        raise VenueRejected(f"volume {volume} is not a multiple of the step {instrument.volume_step}", "local:step")
    qty = round_down_to_step(volume, instrument.volume_step)
    if not closing and qty < instrument.min_volume:
        raise VenueRejected(f"volume {qty} is below the minimum {instrument.min_volume}", "local:min_qty")
    if instrument.max_volume is not None and qty > instrument.max_volume:
        raise VenueRejected(f"volume {qty} is above the maximum {instrument.max_volume}", "local:max_qty")
    return format(qty, "f")


def wire_price(instrument: Instrument, value: Decimal) -> str:
    """``value`` rounded to the tick, as a plain decimal string."""
    return format(round_to_tick(value, instrument.tick_size), "f")


def order_create_args(intent: OrderIntent, instrument: Instrument, *, hedge_mode: bool) -> dict[str, Any]:
    """The ``order.create`` argument object for an OPEN intent (pure)."""
    position_idx = (1 if intent.side is Side.BUY else 2) if hedge_mode else 0
    args: dict[str, Any] = {
        "category": CATEGORY,
        "symbol": intent.symbol,
        "side": parse.side_to(intent.side),
        "orderType": "Limit" if intent.order_type is OrderType.LIMIT else "Market",
        "qty": wire_qty(instrument, intent.volume, closing=intent.reduce_only),
        "positionIdx": position_idx,
        "orderLinkId": intent.client_order_id,
    }
    if intent.order_type is OrderType.LIMIT:
        if intent.price is None:
            raise VenueRejected("a limit order needs a price", "local:price")
        args["price"] = wire_price(instrument, intent.price)
        args["timeInForce"] = "GTC"
    elif intent.order_type is OrderType.STOP:
        if intent.price is None:
            raise VenueRejected("a stop order needs a trigger price", "local:price")
        args["triggerPrice"] = wire_price(instrument, intent.price)
        # a buy stop waits for the price to rise to the trigger, a sell stop for it to fall
        args["triggerDirection"] = 1 if intent.side is Side.BUY else 2
        args["triggerBy"] = "LastPrice"
    if intent.sl is not None:
        args["stopLoss"] = wire_price(instrument, intent.sl)
    if intent.tp is not None:
        args["takeProfit"] = wire_price(instrument, intent.tp)
    if intent.sl is not None or intent.tp is not None:
        args["tpslMode"] = "Full"
    if intent.reduce_only:
        args["reduceOnly"] = True
    return args


class _Created(Record):
    """An ``order.create`` :meth:`BybitConnector._create_write` took: written to the trade socket
    (``sent``), or still to be sent (``sent`` None)."""

    FIELDS = ("link", "args", "closing", "waiter", "sent")
    __slots__ = FIELDS

    def __init__(
        self,
        link: str,
        args: dict[str, Any],
        closing: bool,
        waiter: asyncio.Future[dict[str, Any] | None] | None,
        sent: SentRequest | None,
    ) -> None:
        self.link: Final = link
        self.args: Final = args
        self.closing: Final = closing
        self.waiter: Final = waiter
        self.sent: Final = sent


class BybitConnector:
    """A Bybit v5 unified account trading USDT linear perpetuals."""

    venue = "bybit"

    def __init__(self, config: BybitConfig, *, on_state: StateListener | None = None) -> None:
        self.config = config
        self.name = config.name
        self.capabilities = Capabilities(hedging=config.hedge_mode, netting=not config.hedge_mode)
        self.on_state = on_state
        self.clock = Clock()
        self.rest = BybitRest(config, self.clock)
        self.trade: TradeSocket | None = (
            TradeSocket(config, self.clock, self.rest, on_state=self._socket_state) if config.ws_url else None
        )
        self.stream = BybitSocket(
            "private",
            config.private_ws_url,
            config,
            self.clock,
            self.rest,
            on_message=self._on_stream,
            on_ready=self._subscribe,
            on_state=self._socket_state,
        )
        self._state = ConnectorState.DOWN
        self._instruments: dict[str, Instrument] = {}
        self._prices: dict[str, Decimal] = {}
        self._positions: dict[str, Position] = {}
        self._account = AccountState(balance=Decimal(0), equity=Decimal(0), currency="USD")
        self._orders: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._waiters: dict[str, asyncio.Future[dict[str, Any] | None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.instrument_refreshes = 0
        self.last_refresh_error: BaseException | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def state(self) -> ConnectorState:
        return self._state

    def _set_state(self, state: ConnectorState, reason: str) -> None:
        if state is self._state:
            return
        self._state = state
        log.info("bybit %s %s: %s", self.name, state, reason)
        if self.on_state is not None:
            self.on_state(self.name, state, reason)

    def _socket_state(self, label: str, up: bool, detail: str) -> None:
        if self._state is ConnectorState.DOWN or self._state is ConnectorState.CONNECTING:
            return
        if not up and label == "private":
            self._set_state(ConnectorState.RECONNECTING, f"{label} stream: {detail}")
        elif up and label == "private":
            self._set_state(ConnectorState.UP, f"{label} stream: {detail}")
            self._spawn(self._resync(), "resync")

    async def start(self) -> None:
        """Open the session, sync the clock, load instruments, balance and positions, open both sockets.

        Raises :class:`ConfigError` when the venue refuses the credentials and
        :class:`TransientError` when it cannot be reached.
        """
        self._set_state(ConnectorState.CONNECTING, "starting")
        try:
            await self.rest.open()
            await self.rest.sync_time()
            await self.refresh_instruments()
            await self._refresh_prices()
            await self._resync()
            self.stream.start()
            if self.trade is not None:
                self.trade.start()
            if not await self.stream.wait_ready(self.config.request_timeout):
                error = self.stream.last_error
                if isinstance(error, ConfigError):
                    raise error
                raise TransientError(f"Bybit private stream not ready: {error}")
            if self.trade is not None and not await self.trade.wait_ready(self.config.request_timeout):
                error = self.trade.last_error
                if isinstance(error, ConfigError):
                    raise error
                log.warning("bybit %s: order-entry socket not ready (%s); orders go over REST", self.name, error)
        except BaseException:
            await self._shutdown()
            self._set_state(ConnectorState.DOWN, "start failed")
            raise
        self._spawn(self._refresh_loop(), "instruments")
        self._spawn(self._time_loop(), "clock")
        self._set_state(ConnectorState.UP, "started")

    async def stop(self) -> None:
        await self._shutdown()
        self._set_state(ConnectorState.DOWN, "stopped")

    async def _shutdown(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.trade is not None:
            await self.trade.close()
        await self.stream.close()
        for waiter in self._waiters.values():
            waiter.cancel()
        self._waiters.clear()
        await self.rest.close()

    def _spawn(self, coro: Any, label: str) -> None:
        task = asyncio.create_task(coro, name=f"bybit:{self.name}:{label}")
        self._tasks.append(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("bybit %s: task %s failed: %r", self.name, task.get_name(), task.exception())

    async def _refresh_loop(self) -> None:
        """Reload instruments and prices every ``instrument_refresh`` seconds; failures are logged."""
        async for _ in ticks(self.config.instrument_refresh):  # accounts do not all refresh at once
            try:
                await self.refresh_instruments()
                await self._refresh_prices()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_refresh_error = exc
                log.warning("bybit %s: instrument refresh failed: %s", self.name, exc)

    async def _time_loop(self) -> None:
        async for _ in ticks(self.config.time_sync_interval):
            try:
                await self.rest.sync_time()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("bybit %s: clock sync failed: %s", self.name, exc)

    async def refresh_instruments(self) -> None:
        """Load every linear instrument (paginated) into memory."""
        loaded: dict[str, Instrument] = {}
        cursor = ""
        while True:
            params = {"category": CATEGORY, "limit": "1000"}
            if cursor:
                params["cursor"] = cursor
            data, _, _ = await self.rest.request("GET", "/v5/market/instruments-info", params, signed=False)
            result = data.get("result") or {}
            for item in result.get("list") or []:
                if item.get("status", "Trading") != "Trading":
                    continue
                try:
                    instrument = parse.instrument_from(item)
                except (KeyError, ValueError) as exc:
                    log.warning("bybit %s: skipping instrument: %s", self.name, exc)
                    continue
                loaded[instrument.symbol] = instrument
            cursor = str(result.get("nextPageCursor") or "")
            if not cursor:
                break
        self._instruments = loaded
        self.instrument_refreshes += 1

    async def _refresh_prices(self) -> None:
        data, _, _ = await self.rest.request("GET", "/v5/market/tickers", {"category": CATEGORY}, signed=False)
        for item in (data.get("result") or {}).get("list") or []:
            price = parse.price_or_none(item.get("markPrice") or item.get("lastPrice"))
            if price is not None:
                self._prices[str(item["symbol"])] = price

    async def _resync(self) -> None:
        """Balance and positions from REST: at start and after the private stream reconnects."""
        await self.refresh_account()
        await self.positions()

    async def refresh_account(self) -> AccountState:
        data, _, _ = await self.rest.request("GET", "/v5/account/wallet-balance", {"accountType": "UNIFIED"})
        items = (data.get("result") or {}).get("list") or []
        if items:
            self._account = parse.account_from(items[0], len(self._positions))
        return self._account

    async def _subscribe(self, socket: BybitSocket) -> None:
        ws = socket.ws
        assert ws is not None
        await ws.send_str('{"req_id":"sub","op":"subscribe","args":["order","position","execution","wallet"]}')

    # ------------------------------------------------------------------ private stream

    def _on_stream(self, message: dict[str, Any]) -> None:
        topic = str(message.get("topic", ""))
        data = message.get("data") or []
        if topic.startswith("order"):
            for item in data:
                if item.get("category", CATEGORY) == CATEGORY:
                    self._remember(item)
        elif topic.startswith("position"):
            for item in data:
                if item.get("category", CATEGORY) != CATEGORY:
                    continue
                pid = parse.position_id(str(item["symbol"]), int(item.get("positionIdx", 0) or 0))
                position = parse.position_from(item)
                if position is None:
                    self._positions.pop(pid, None)
                else:
                    self._positions[pid] = position
                mark = parse.price_or_none(item.get("markPrice"))
                if mark is not None:
                    self._prices[str(item["symbol"])] = mark
            self._account = AccountState(
                self._account.balance, self._account.equity, self._account.currency, len(self._positions)
            )
        elif topic.startswith("execution"):
            for item in data:
                price = parse.price_or_none(item.get("execPrice"))
                if price is not None and item.get("category", CATEGORY) == CATEGORY:
                    self._prices[str(item["symbol"])] = price
        elif topic.startswith("wallet"):
            for item in data:
                if item.get("accountType", "UNIFIED") == "UNIFIED":
                    self._account = parse.account_from(item, len(self._positions))

    def _remember(self, item: dict[str, Any]) -> None:
        link = str(item.get("orderLinkId", ""))
        if not link:
            return
        self._orders[link] = item
        self._orders.move_to_end(link)
        while len(self._orders) > KEEP_ORDERS:
            self._orders.popitem(last=False)
        if parse.is_final(item):
            waiter = self._waiters.pop(link, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(item)

    # ------------------------------------------------------------------ reads from memory

    def venue_symbol(self, canonical: str) -> str | None:
        """``BTCUSDT`` and ``BTCUSDT-PERP`` → ``BTCUSDT``; None when Bybit lists no such linear contract."""
        if canonical in self._instruments:
            return canonical
        symbol = canonical.upper().replace("/", "").replace("_", "")
        if symbol.endswith(PERP_SUFFIX):
            symbol = symbol[: -len(PERP_SUFFIX)]
        symbol = symbol.replace("-", "")
        if self._instruments and symbol not in self._instruments:
            return None
        return symbol

    def instrument(self, symbol: str) -> Instrument | None:
        return self._instruments.get(symbol)

    def account(self) -> AccountState:
        return self._account

    def last_price(self, symbol: str) -> Decimal | None:
        return self._prices.get(symbol)

    # ------------------------------------------------------------------ orders

    async def submit(self, intent: OrderIntent) -> ExecutionReport:
        """Send ``intent`` to Bybit and return the venue's answer.

        Market orders wait up to ``fill_wait`` seconds for the fill on the private stream and
        report FILLED (CLOSED for closes); otherwise, and for resting orders, ACCEPTED.
        """
        self._check_connected()
        if intent.kind is IntentKind.OPEN:
            return await self._create(intent, self._open_args(intent), closing=False)
        if intent.kind is IntentKind.CLOSE:
            return await self._create(intent, await self._close_args(intent), closing=True)
        if intent.kind is IntentKind.MODIFY:
            return await self._modify(intent)
        return await self._cancel(intent)

    def submit_now(self, intent: OrderIntent) -> Awaitable[ExecutionReport] | None:
        """Write a market or limit OPEN to the trade socket now; the returned awaitable gives its
        report. None when the order must go through :meth:`submit` (another kind, a stop entry, or
        the trade socket down or not configured: ``submit`` then sends it over REST). Raises the
        typed errors of :meth:`submit` that come before anything is sent (the account not started,
        a symbol or size Bybit would refuse, a local rate limit)."""
        trade = self.trade
        if (
            intent.kind is not IntentKind.OPEN
            or intent.order_type is OrderType.STOP
            or trade is None
            or not trade.writable
        ):
            return None
        self._check_connected()
        return self._create(intent, self._open_args(intent), closing=False)

    def _check_connected(self) -> None:
        if self._state is ConnectorState.DOWN or self._state is ConnectorState.CONNECTING:
            raise TransientError(f"bybit account {self.name} is {self._state}", "NOT_CONNECTED")

    def rehearse(self, intent: OrderIntent) -> None:
        """Encode an OPEN's ``order.create`` frame as :meth:`submit` would, without sending it."""
        trade = self.trade
        if trade is None or intent.kind is not IntentKind.OPEN or intent.symbol not in self._instruments:
            return
        with contextlib.suppress(VenueRejected):
            trade.encode("order.create", self._open_args(intent))

    def _instrument_for(self, symbol: str) -> Instrument:
        instrument = self._instruments.get(symbol)
        if instrument is None:
            raise VenueRejected(f"{symbol} is not a tradable Bybit linear contract", "local:symbol")
        return instrument

    @staticmethod
    def _qty(instrument: Instrument, volume: Decimal, *, closing: bool) -> str:
        return wire_qty(instrument, volume, closing=closing)

    @staticmethod
    def _price(instrument: Instrument, value: Decimal) -> str:
        return wire_price(instrument, value)

    def _open_args(self, intent: OrderIntent) -> dict[str, Any]:
        return order_create_args(intent, self._instrument_for(intent.symbol), hedge_mode=self.config.hedge_mode)

    async def _position_for(self, position_id: str | None, symbol: str) -> tuple[str, int, Position | None]:
        target = parse.split_position_id(position_id) if position_id else None
        if target is None:
            target = ((position_id or symbol), 0)
        pid = parse.position_id(*target)
        position = self._positions.get(pid)
        if position is None:
            await self.positions()
            position = self._positions.get(pid)
        return target[0], target[1], position

    async def _close_args(self, intent: OrderIntent) -> dict[str, Any]:
        """An opposite, reduce-only market order for ``volume`` of the named position."""
        symbol, idx, position = await self._position_for(intent.position_id, intent.symbol)
        instrument = self._instrument_for(symbol)
        # the intent names the position's side; what Bybit knows of the position wins
        side = position.side if position is not None else intent.side
        if idx:
            side = Side.BUY if idx == 1 else Side.SELL
        volume = intent.volume
        if volume <= 0 and position is not None:
            volume = position.volume
        if position is not None and volume > position.volume:
            raise VenueRejected(
                f"cannot close {volume} of {position.position_id}, which holds {position.volume}", "local:qty"
            )
        return {
            "category": CATEGORY,
            "symbol": symbol,
            "side": parse.side_to(side.opposite),
            "orderType": "Market",
            "qty": self._qty(instrument, volume, closing=True),
            "positionIdx": idx,
            "orderLinkId": intent.client_order_id,
            "reduceOnly": True,
        }

    async def _call(
        self, op: str, path: str, args: dict[str, Any], sent: SentRequest | None = None
    ) -> tuple[dict[str, Any], int, int]:
        """One order operation: over the trade socket when it is up (``sent``: already written
        there), over REST when it is not."""
        trade = self.trade
        if trade is not None and (sent is not None or trade.up):
            timeout = self.config.request_timeout
            try:
                answer = trade.answer(sent, timeout) if sent is not None else trade.call(op, args, timeout)
                data, t_wire, t_ack = await answer
                return data.get("data") or {}, t_wire, t_ack
            except TransientError as exc:
                if exc.code == parse.TIMESTAMP_OUT_OF_WINDOW:
                    raise
                log.info("bybit %s: %s over REST (%s)", self.name, op, exc)
        body, t_wire, t_ack = await self.rest.request("POST", path, args)
        return body.get("result") or {}, t_wire, t_ack

    async def _call_with_resync(
        self, op: str, path: str, args: dict[str, Any], sent: SentRequest | None = None
    ) -> tuple[dict[str, Any], int, int]:
        try:
            return await self._call(op, path, args, sent)
        except TransientError as exc:
            if exc.code != parse.TIMESTAMP_OUT_OF_WINDOW:
                raise
            # 10002 means the venue refused before acting: resync the clock and send once more
            await self.rest.sync_time()
            return await self._call(op, path, args)

    def _create(
        self, intent: OrderIntent, args: dict[str, Any], *, closing: bool
    ) -> Coroutine[Any, Any, ExecutionReport]:
        """Take an ``order.create`` (on the wire when the trade socket can be written from here)
        and return what finishes it: :meth:`submit` awaits it at once, :meth:`submit_now` hands it on."""
        return self._create_finish(self._create_write(intent.client_order_id, args, closing=closing))

    def _create_write(self, link: str, args: dict[str, Any], *, closing: bool) -> _Created:
        """Write an ``order.create`` to the trade socket when it can be written from here (otherwise
        :meth:`_create_finish` sends it) and, for a market order, set up the wait for its fill."""
        sent: SentRequest | None = None
        trade = self.trade
        if trade is not None and trade.writable:
            with contextlib.suppress(TransientError):  # nothing went out: _create_finish sends it
                sent = trade.write_request("order.create", args)
        # Registered after the write, in the same call: no fill can be read before this returns.
        waiter: asyncio.Future[dict[str, Any] | None] | None = None
        if args["orderType"] == "Market" and "triggerPrice" not in args and self.config.fill_wait > 0:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters[link] = waiter
        return _Created(link, args, closing, waiter, sent)

    async def _create_finish(self, created: _Created) -> ExecutionReport:
        """The report of an ``order.create``: its answer, then for a market order its fill."""
        link, args, waiter = created.link, created.args, created.waiter
        try:
            result, t_wire, t_ack = await self._call_with_resync("order.create", "/v5/order/create", args, created.sent)
            record = self._orders.get(link)
            if waiter is not None and (record is None or not parse.is_final(record)):
                expiry = settle_after(waiter, self.config.fill_wait, lambda: None)
                try:
                    record = await waiter
                finally:
                    expiry.cancel()
        finally:
            if waiter is not None:
                self._waiters.pop(link, None)
                waiter.cancel()
        venue_id = str(result.get("orderId") or "") or None
        pid = parse.position_id(args["symbol"], args["positionIdx"])
        if record is not None and parse.is_final(record):
            report = parse.report_from_order(record, t_wire, t_ack)
            status = report.status
            if created.closing and status is ReportStatus.FILLED:
                status = ReportStatus.CLOSED
            venue_id = report.venue_order_id or venue_id
            return ExecutionReport(link, status, venue_id, pid, report.filled_volume, report.fill_price, t_wire, t_ack)
        return ExecutionReport(link, ReportStatus.ACCEPTED, venue_id, pid, Decimal(0), None, t_wire, t_ack)

    async def _modify(self, intent: OrderIntent) -> ExecutionReport:
        if intent.order_id:
            instrument = self._instrument_for(intent.symbol)
            args: dict[str, Any] = {"category": CATEGORY, "symbol": intent.symbol, "orderId": intent.order_id}
            if intent.price is not None:
                args["price"] = self._price(instrument, intent.price)
            if intent.volume > 0:
                args["qty"] = self._qty(instrument, intent.volume, closing=True)
            if intent.sl is not None:
                args["stopLoss"] = self._price(instrument, intent.sl)
            if intent.tp is not None:
                args["takeProfit"] = self._price(instrument, intent.tp)
            result, t_wire, t_ack = await self._call_with_resync("order.amend", "/v5/order/amend", args)
            return ExecutionReport(
                intent.client_order_id,
                ReportStatus.MODIFIED,
                str(result.get("orderId") or intent.order_id),
                None,
                Decimal(0),
                None,
                t_wire,
                t_ack,
            )
        target = parse.split_position_id(intent.position_id) if intent.position_id else None
        symbol, idx = target if target is not None else (intent.position_id or intent.symbol, 0)
        instrument = self._instrument_for(symbol)
        # "0" removes a level on Bybit; a level left out of the intent stays as it is
        body: dict[str, Any] = {"category": CATEGORY, "symbol": symbol, "tpslMode": "Full", "positionIdx": idx}
        if intent.sl is not None:
            body["stopLoss"] = self._price(instrument, intent.sl) if intent.sl > 0 else "0"
        if intent.tp is not None:
            body["takeProfit"] = self._price(instrument, intent.tp) if intent.tp > 0 else "0"
        _, t_wire, t_ack = await self.rest.request("POST", "/v5/position/trading-stop", body)
        return ExecutionReport(
            intent.client_order_id,
            ReportStatus.MODIFIED,
            None,
            parse.position_id(symbol, idx),
            Decimal(0),
            None,
            t_wire,
            t_ack,
        )

    async def _cancel(self, intent: OrderIntent) -> ExecutionReport:
        args: dict[str, Any] = {"category": CATEGORY, "symbol": intent.symbol}
        if intent.order_id:
            args["orderId"] = intent.order_id
        else:
            args["orderLinkId"] = intent.client_order_id
        result, t_wire, t_ack = await self._call_with_resync("order.cancel", "/v5/order/cancel", args)
        return ExecutionReport(
            intent.client_order_id,
            ReportStatus.CANCELED,
            str(result.get("orderId") or intent.order_id or "") or None,
            None,
            Decimal(0),
            None,
            t_wire,
            t_ack,
        )

    # ------------------------------------------------------------------ venue queries

    async def positions(self) -> list[Position]:
        """Open linear positions from REST (also refreshes the in-memory copy)."""
        found: dict[str, Position] = {}
        cursor = ""
        while True:
            params = {"category": CATEGORY, "settleCoin": self.config.settle_coin, "limit": "200"}
            if cursor:
                params["cursor"] = cursor
            data, _, _ = await self.rest.request("GET", "/v5/position/list", params)
            result = data.get("result") or {}
            for item in result.get("list") or []:
                position = parse.position_from(item)
                if position is not None:
                    found[position.position_id] = position
                mark = parse.price_or_none(item.get("markPrice"))
                if mark is not None:
                    self._prices[str(item["symbol"])] = mark
            cursor = str(result.get("nextPageCursor") or "")
            if not cursor:
                break
        self._positions = found
        return list(found.values())

    async def recent_orders(self, prefix: str, since_ms: int, symbols: Collection[str] = ()) -> list[VenueOrder]:
        """Open orders (``GET /v5/order/realtime``) and the order history (``/v5/order/history``, in
        windows of at most 7 days) of the settle coin's linear contracts, under ``orderLinkId``s
        starting with ``prefix`` and created at or after ``since_ms``; paged with ``cursor``."""
        now = self.clock.now_ms() + _CLOCK_MARGIN_MS
        items: dict[str, Mapping[str, Any]] = {}
        queries: list[tuple[str, dict[str, str]]] = [("/v5/order/realtime", {})]
        start = since_ms
        while start <= now:
            end = min(now, start + _HISTORY_WINDOW_MS - 1)
            queries.append(("/v5/order/history", {"startTime": str(start), "endTime": str(end)}))
            start = end + 1
        for path, extra in queries:
            params = {"category": CATEGORY, "settleCoin": self.config.settle_coin, "limit": "50", **extra}
            for _ in range(_MAX_PAGES):
                data, _, _ = await self.rest.request("GET", path, params)
                result = data.get("result") or {}
                for item in result.get("list") or []:
                    items[str(item.get("orderId", ""))] = item
                cursor = str(result.get("nextPageCursor") or "")
                if not cursor:
                    break
                params = {**params, "cursor": cursor}
            else:
                log.warning("bybit %s: %s cut at %d pages", self.name, path, _MAX_PAGES)
        found = [
            order
            for order in (parse.venue_order(item) for item in items.values())
            if order is not None and order.client_order_id.startswith(prefix) and order.time_ms >= since_ms
        ]
        return sorted(found, key=lambda order: (order.time_ms, order.venue_order_id or ""))

    async def order_by_client_id(self, client_order_id: str, symbol: str | None = None) -> ExecutionReport | None:
        """The order with this ``orderLinkId`` from open orders, then from history (on ``symbol``
        when given); None if Bybit has none."""
        for path in ("/v5/order/realtime", "/v5/order/history"):
            params = {"category": CATEGORY, "orderLinkId": client_order_id}
            if symbol is not None:
                params["symbol"] = symbol
            try:
                data, t_wire, t_ack = await self.rest.request("GET", path, params)
            except OutcomeUnknown as exc:  # a read never changes anything
                raise TransientError(str(exc), exc.code) from exc
            items = (data.get("result") or {}).get("list") or []
            if items:
                item = items[0]
                self._remember(item)
                report = parse.report_from_order(item, t_wire, t_ack)
                if item.get("reduceOnly") and report.status is ReportStatus.FILLED:
                    return ExecutionReport(
                        report.client_order_id,
                        ReportStatus.CLOSED,
                        report.venue_order_id,
                        report.position_id,
                        report.filled_volume,
                        report.fill_price,
                        t_wire,
                        t_ack,
                    )
                return report
        return None
