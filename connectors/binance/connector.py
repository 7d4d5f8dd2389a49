"""The Binance USDⓈ-M futures :class:`~core.connector.Connector`.

Conventions:

* Volumes are base quantity (the venue's own unit); prices are sent as plain decimals.
* A position is identified as ``SYMBOL:POSITIONSIDE`` (``BTCUSDT:BOTH`` in one-way mode,
  ``BTCUSDT:LONG`` / ``BTCUSDT:SHORT`` in hedge mode).
* For ``CLOSE`` and ``MODIFY`` intents, ``side`` is the side of the position acted on; a close is an
  order on the opposite side (``reduceOnly`` in one-way mode, the position's ``positionSide`` in hedge
  mode). A close with volume 0 closes the whole position.
* Stop-loss and take-profit are close-position conditional orders (``STOP_MARKET`` /
  ``TAKE_PROFIT_MARKET`` via ``/fapi/v1/algoOrder``) with client ids ``<client_order_id>-sl`` / ``-tp``;
  a modify cancels the old one and places the new one. Entry stop orders are conditional orders
  too; their venue order id is ``algo:<algoId>`` until they trigger, then the order they placed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine
from decimal import Decimal
from typing import Any, Final

from connectors.binance import parse
from connectors.binance.client import BinanceClient, SentCall
from connectors.binance.config import BinanceConfig
from connectors.periodic import ticks
from core.connector import Capabilities, ConnectorState, StateListener
from core.enums import OrderType, Side
from core.errors import ConfigError, CopierError, VenueRejected
from core.instrument import Instrument, is_multiple
from core.orders import AccountState, ExecutionReport, IntentKind, OrderIntent, Position, ReportStatus, VenueOrder
from core.recent import remember
from core.records import Record
from core.tasks import log_failure

log = logging.getLogger(__name__)

_SIDE = {Side.BUY: "BUY", Side.SELL: "SELL"}
_SUFFIXES = ("-PERP", "_PERP", ".P")
_REMEMBERED_ORDERS = 10_000
_HISTORY_MS = 7 * 24 * 3600 * 1000  # allOrders spans at most 7 days per request
_CLOCK_MARGIN_MS = 5_000
"""How far past the venue's estimated "now" a history query reaches: an order placed a moment ago
can carry a time just after that estimate."""
_MAX_PAGES = 20


class _Placed(Record):
    """An order :meth:`BinanceConnector._place_write` took: written to the WebSocket API
    (``sent``), or still to be sent (``sent`` None)."""

    FIELDS = ("params", "algo", "client_order_id", "symbol", "closing", "sent")
    __slots__ = FIELDS

    def __init__(
        self,
        params: list[tuple[str, str]],
        algo: bool,
        client_order_id: str,
        symbol: str,
        closing: bool,
        sent: SentCall | None,
    ) -> None:
        self.params: Final = params
        self.algo: Final = algo
        self.client_order_id: Final = client_order_id
        self.symbol: Final = symbol
        self.closing: Final = closing
        self.sent: Final = sent


class BinanceConnector:
    """One Binance USDⓈ-M futures account (follower side)."""

    venue = "binance"

    def __init__(
        self,
        config: BinanceConfig,
        *,
        on_state: StateListener | None = None,
        client: BinanceClient | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.capabilities = Capabilities(hedging=config.hedge_mode, netting=not config.hedge_mode)
        self._listener = on_state
        self.client = client or BinanceClient(config, on_state=self._set_state)
        self._state = ConnectorState.DOWN
        self._instruments: dict[str, Instrument] = {}
        self._prices: dict[str, Decimal] = {}
        self._account = AccountState(balance=Decimal(0), equity=Decimal(0), currency="USDT")
        self._order_symbols: dict[str, str] = {}
        self._position_symbols: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def state(self) -> ConnectorState:
        return self._state

    def _set_state(self, state: ConnectorState, reason: str = "") -> None:
        if state is self._state:
            return
        self._state = state
        log.info("binance %s: %s (%s)", self.name, state.value, reason)
        if self._listener is not None:
            self._listener(self.name, state, reason)

    async def start(self) -> None:
        """Connect, check the position mode, load instruments, account and prices; start refreshers."""
        self._set_state(ConnectorState.CONNECTING, "starting")
        try:
            await self.client.start()
            await self.refresh_instruments()
            dual = await self.client.signed("GET", "/fapi/v1/positionSide/dual")
            if bool(dual.get("dualSidePosition")) != self.config.hedge_mode:
                mode = "hedge" if dual.get("dualSidePosition") else "one-way"
                raise ConfigError(
                    f"the account is in {mode} position mode on the venue", self.config.path("hedge_mode")
                )
            await self.refresh_account()
        except BaseException:
            await self.client.close()
            self._set_state(ConnectorState.DOWN, "start failed")
            raise
        self._spawn(f"binance-instruments:{self.name}", self.config.instrument_refresh, self.refresh_instruments)
        self._spawn(f"binance-account:{self.name}", self.config.account_refresh, self.refresh_account)
        self._set_state(ConnectorState.UP, "started")

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.close()
        self._set_state(ConnectorState.DOWN, "stopped")

    def _spawn(self, name: str, period: float, refresh: Callable[[], Awaitable[None]]) -> None:
        task = asyncio.create_task(self._every(name, period, refresh), name=name)
        task.add_done_callback(log_failure)
        self._tasks.append(task)

    async def _every(self, name: str, period: float, refresh: Callable[[], Awaitable[None]]) -> None:
        async for _ in ticks(period):  # from a random point of the period: accounts do not all refresh at once
            try:
                await refresh()
            except Exception as exc:  # a failed refresh keeps the last known facts and tries again
                log.warning("binance %s: %s failed: %s", self.name, name, exc)

    async def refresh_instruments(self) -> None:
        """Reload instrument facts from ``GET /fapi/v1/exchangeInfo``."""
        info = await self.client.public("GET", "/fapi/v1/exchangeInfo")
        loaded = parse.instruments(info)
        if loaded:
            self._instruments = loaded

    async def refresh_account(self) -> None:
        """Reload balance, equity and last prices."""
        # From a list: gather returns a list, which its stubs say only of this form (compiled code checks).
        requests = [self.client.signed("GET", "/fapi/v3/account"), self.client.public("GET", "/fapi/v2/ticker/price")]
        info, prices = await asyncio.gather(*requests)
        self._account = parse.account(info)
        self._position_symbols.update(
            p["symbol"] for p in info.get("positions") or () if parse.dec(p.get("positionAmt", "0")) != 0
        )
        for row in prices if isinstance(prices, list) else [prices]:
            self._prices[row["symbol"]] = parse.dec(row["price"])

    # -- memory reads ----------------------------------------------------------------------------

    def venue_symbol(self, canonical: str) -> str | None:
        """``BTCUSDT``, ``BTCUSDT-PERP``, ``BTC/USDT:USDT`` → ``BTCUSDT``; None when not listed."""
        if canonical in self._instruments:
            return canonical
        symbol = canonical.strip().upper()
        for suffix in _SUFFIXES:
            if symbol.endswith(suffix):
                symbol = symbol[: -len(suffix)]
        symbol = symbol.split(":", 1)[0].replace("/", "").replace("-", "")
        if self._instruments and symbol not in self._instruments:
            return None
        return symbol or None

    def instrument(self, symbol: str) -> Instrument | None:
        return self._instruments.get(symbol)

    def account(self) -> AccountState:
        return self._account

    def last_price(self, symbol: str) -> Decimal | None:
        return self._prices.get(symbol)

    # -- orders ----------------------------------------------------------------------------------

    async def submit(self, intent: OrderIntent) -> ExecutionReport:
        """Send one intent. Raises only the typed errors of :mod:`core.errors`."""
        symbol = self._symbol(intent)
        if intent.kind is IntentKind.OPEN:
            return await self._open(intent, symbol)
        if intent.kind is IntentKind.CLOSE:
            return await self._close(intent, symbol)
        if intent.kind is IntentKind.MODIFY:
            return await self._modify(intent, symbol)
        return await self._cancel(intent, symbol)

    def submit_now(self, intent: OrderIntent) -> Awaitable[ExecutionReport] | None:
        """Write a market or limit OPEN to the WebSocket API now; the returned awaitable gives its
        report (and places its stop-loss and take-profit after the entry, as :meth:`submit` does).
        None when the order must go through :meth:`submit` (another kind, a stop entry, or the
        WebSocket API down or off: ``submit`` then sends it over REST). Raises the typed errors of
        :meth:`submit` that come before anything is sent (an unlisted symbol, a limit without a
        price, a local rate limit, a ban)."""
        if intent.kind is not IntentKind.OPEN or intent.order_type is OrderType.STOP or not self.client.ws_writable:
            return None
        return self._open(intent, self._symbol(intent))

    def _symbol(self, intent: OrderIntent) -> str:
        """The venue symbol ``intent`` acts on; :class:`VenueRejected` when it is not listed."""
        if intent.position_id is not None:
            return parse.split_position_id(intent.position_id)[0]
        symbol = self.venue_symbol(intent.symbol)
        if symbol is None:
            raise VenueRejected(f"{intent.symbol} is not listed on Binance USDⓈ-M", code="unknown_symbol")
        return symbol

    def rehearse(self, intent: OrderIntent) -> None:
        """Encode and sign an OPEN as :meth:`submit` would, without sending it."""
        symbol = self.venue_symbol(intent.symbol)
        if symbol is None or intent.kind is not IntentKind.OPEN:
            return
        with contextlib.suppress(CopierError):
            _, params, algo = self._open_params(intent, symbol)
            self.client.encode_place(params, algo=algo)

    def _remember(self, client_order_id: str, symbol: str) -> None:
        self._order_symbols = remember(self._order_symbols, client_order_id, symbol, _REMEMBERED_ORDERS)

    def _position_side(self, position_side: Side, position_id: str | None = None) -> str:
        if position_id is not None:
            return parse.split_position_id(position_id)[1]
        if not self.config.hedge_mode:
            return "BOTH"
        return "LONG" if position_side is Side.BUY else "SHORT"

    @staticmethod
    def _held_side(position_side: str, fallback: Side) -> Side:
        if position_side == "LONG":
            return Side.BUY
        if position_side == "SHORT":
            return Side.SELL
        return fallback

    def order_params(
        self,
        symbol: str,
        side: Side,
        position_side: str,
        volume: Decimal,
        client_order_id: str,
        *,
        order_type: OrderType = OrderType.MARKET,
        price: Decimal | None = None,
        reduce_only: bool = False,
    ) -> tuple[list[tuple[str, str]], bool]:
        """Wire parameters for one order and whether it is a conditional (algo) order."""
        params = [("symbol", symbol), ("side", _SIDE[side]), ("positionSide", position_side)]
        if order_type is OrderType.STOP:
            if price is None:
                raise VenueRejected("a stop order needs a trigger price", code="no_price")
            params += [
                ("algoType", "CONDITIONAL"),
                ("type", "STOP_MARKET"),
                ("triggerPrice", parse.fmt(price)),
                ("quantity", parse.fmt(volume)),
                ("clientAlgoId", client_order_id),
            ]
            algo = True
        elif order_type is OrderType.LIMIT:
            if price is None:
                raise VenueRejected("a limit order needs a price", code="no_price")
            params += [
                ("type", "LIMIT"),
                ("timeInForce", "GTC"),
                ("quantity", parse.fmt(volume)),
                ("price", parse.fmt(price)),
                ("newClientOrderId", client_order_id),
                ("newOrderRespType", "RESULT"),
            ]
            algo = False
        else:
            params += [
                ("type", "MARKET"),
                ("quantity", parse.fmt(volume)),
                ("newClientOrderId", client_order_id),
                ("newOrderRespType", "RESULT"),
            ]
            algo = False
        if reduce_only and position_side == "BOTH":
            params.append(("reduceOnly", "true"))
        return params, algo

    async def _place(
        self, params: list[tuple[str, str]], algo: bool, client_order_id: str, symbol: str, *, closing: bool = False
    ) -> ExecutionReport:
        return await self._place_finish(self._place_write(params, algo, client_order_id, symbol, closing=closing))

    def _place_write(
        self, params: list[tuple[str, str]], algo: bool, client_order_id: str, symbol: str, *, closing: bool = False
    ) -> _Placed:
        """Remember an order and hand it to the client's :meth:`~BinanceClient.place_write`."""
        self._remember(client_order_id, symbol)
        return _Placed(params, algo, client_order_id, symbol, closing, self.client.place_write(params, algo=algo))

    async def _place_finish(self, placed: _Placed) -> ExecutionReport:
        """The report of an order :meth:`_place_write` took, from its answer."""
        answer, t_wire, t_ack = await self.client.place_answer(placed.params, placed.sent, algo=placed.algo)
        report = (
            parse.algo_report(answer, t_wire, t_ack)
            if placed.algo
            else parse.order_report(answer, t_wire, t_ack, closing=placed.closing)
        )
        if report.fill_price is not None:
            self._prices[placed.symbol] = report.fill_price
        if report.filled_volume:
            self._position_symbols.add(placed.symbol)
        return report

    def _open_params(self, intent: OrderIntent, symbol: str) -> tuple[str, list[tuple[str, str]], bool]:
        """(position side, wire parameters, whether it is an algo order) of an OPEN."""
        if intent.order_type is OrderType.MARKET:
            self._check_volume(symbol, intent.volume)
        # In hedge mode a reduce-only order acts on the opposite position side.
        position_side = self._position_side(intent.side.opposite if intent.reduce_only else intent.side)
        params, algo = self.order_params(
            symbol,
            intent.side,
            position_side,
            intent.volume,
            intent.client_order_id,
            order_type=intent.order_type,
            price=intent.price,
            reduce_only=intent.reduce_only,
        )
        return position_side, params, algo

    def _check_volume(self, symbol: str, volume: Decimal) -> None:
        """Refuse, with Binance's own codes, a market open's quantity that Binance would refuse: off
        the step (-4023), below the minimum (-4004), above the maximum (-4005). Nothing goes on the
        wire. The instrument merges ``LOT_SIZE`` with ``MARKET_LOT_SIZE``, which binds market orders
        only, so a limit order's quantity is left to the venue."""
        instrument = self._instruments.get(symbol)
        if instrument is None:  # not loaded yet: the venue checks it
            return
        if not is_multiple(volume, instrument.volume_step):
            raise VenueRejected(
                f"{parse.fmt(volume)} {symbol} is not a multiple of the step {parse.fmt(instrument.volume_step)}",
                code=parse.OFF_STEP,
            )
        if volume < instrument.min_volume:
            raise VenueRejected(
                f"{parse.fmt(volume)} {symbol} is below the minimum {parse.fmt(instrument.min_volume)}",
                code=parse.BELOW_MINIMUM,
            )
        if instrument.max_volume is not None and volume > instrument.max_volume:
            raise VenueRejected(
                f"{parse.fmt(volume)} {symbol} is above the maximum {parse.fmt(instrument.max_volume)}",
                code=parse.ABOVE_MAXIMUM,
            )

    def _open(self, intent: OrderIntent, symbol: str) -> Coroutine[Any, Any, ExecutionReport]:
        """Take an OPEN's entry (on the wire when the WebSocket API can be written from here) and
        return what finishes it: :meth:`submit` awaits it at once, :meth:`submit_now` hands it on."""
        position_side, params, algo = self._open_params(intent, symbol)
        return self._opened(
            intent, symbol, position_side, self._place_write(params, algo, intent.client_order_id, symbol)
        )

    async def _opened(self, intent: OrderIntent, symbol: str, position_side: str, placed: _Placed) -> ExecutionReport:
        """The report of an OPEN's entry; its stop-loss and take-profit are placed after it."""
        report = await self._place_finish(placed)
        if (intent.sl is not None or intent.tp is not None) and report.status is not ReportStatus.CANCELED:
            await self._protect(symbol, position_side, intent.side, intent.client_order_id, intent.sl, intent.tp)
        return report

    def protect_params(
        self, symbol: str, position_side: str, held: Side, client_id: str, kind: str, trigger: Decimal
    ) -> list[tuple[str, str]]:
        """A close-position stop-loss (``kind='sl'``) or take-profit (``'tp'``) conditional order."""
        return [
            ("algoType", "CONDITIONAL"),
            ("symbol", symbol),
            ("side", _SIDE[held.opposite]),
            ("positionSide", position_side),
            ("type", "STOP_MARKET" if kind == "sl" else "TAKE_PROFIT_MARKET"),
            ("triggerPrice", parse.fmt(trigger)),
            ("closePosition", "true"),
            ("workingType", "MARK_PRICE"),
            ("clientAlgoId", f"{client_id}-{kind}"),
        ]

    async def _protect(
        self, symbol: str, position_side: str, held: Side, client_id: str, sl: Decimal | None, tp: Decimal | None
    ) -> list[ExecutionReport]:
        reports: list[ExecutionReport] = []
        for kind, trigger in (("sl", sl), ("tp", tp)):
            if trigger is None:
                continue
            params = self.protect_params(symbol, position_side, held, client_id, kind, trigger)
            try:
                reports.append(await self._place(params, True, f"{client_id}-{kind}", symbol))
            except CopierError as exc:
                # The entry stands; a missing stop must be visible to the operator.
                log.error("binance %s: %s %s for %s not placed: %s", self.name, kind, trigger, symbol, exc)
        return reports

    async def _position_amount(self, symbol: str, position_side: str) -> Decimal:
        rows = await self.client.signed("GET", "/fapi/v3/positionRisk", [("symbol", symbol)])
        for row in rows:
            if row.get("positionSide", "BOTH") == position_side and row["symbol"] == symbol:
                return parse.dec(row["positionAmt"])
        return Decimal(0)

    async def _close(self, intent: OrderIntent, symbol: str) -> ExecutionReport:
        position_side = self._position_side(intent.side, intent.position_id)
        held = self._held_side(position_side, intent.side)
        volume = intent.volume
        if volume <= 0:
            amount = await self._position_amount(symbol, position_side)
            if amount == 0:
                raise VenueRejected(f"no open {symbol} position to close", code="no_position")
            volume = abs(amount)
            if position_side == "BOTH":
                held = Side.BUY if amount > 0 else Side.SELL
        params, algo = self.order_params(
            symbol,
            held.opposite,
            position_side,
            volume,
            intent.client_order_id,
            order_type=intent.order_type if intent.order_type is OrderType.LIMIT else OrderType.MARKET,
            price=intent.price,
            reduce_only=True,
        )
        return await self._place(params, algo, intent.client_order_id, symbol, closing=True)

    async def _open_protection(self, symbol: str, position_side: str) -> list[dict[str, Any]]:
        rows = await self.client.signed("GET", "/fapi/v1/openAlgoOrders", [("symbol", symbol)])
        return [
            row
            for row in rows
            if row.get("positionSide", "BOTH") == position_side
            and str(row.get("closePosition", "false")).lower() == "true"
            and row.get("orderType") in ("STOP_MARKET", "TAKE_PROFIT_MARKET")
        ]

    async def _modify(self, intent: OrderIntent, symbol: str) -> ExecutionReport:
        position_side = self._position_side(intent.side, intent.position_id)
        held = self._held_side(position_side, intent.side)
        existing = await self._open_protection(symbol, position_side)
        for trigger, order_type in ((intent.sl, "STOP_MARKET"), (intent.tp, "TAKE_PROFIT_MARKET")):
            if trigger is None:
                continue
            for row in existing:
                if row.get("orderType") == order_type:
                    await self.client.signed("DELETE", "/fapi/v1/algoOrder", [("algoId", str(row["algoId"]))])
        reports = await self._protect(symbol, position_side, held, intent.client_order_id, intent.sl, intent.tp)
        wanted = (intent.sl is not None) + (intent.tp is not None)
        if len(reports) < wanted:
            raise VenueRejected(f"{symbol}: new stop-loss/take-profit not placed", code="protection_failed")
        first = reports[0] if reports else None
        return ExecutionReport.without_fill(
            intent.client_order_id,
            ReportStatus.MODIFIED,
            venue_order_id=first.venue_order_id if first else None,
            position_id=parse.position_id(symbol, position_side),
            t_wire_ns=first.t_wire_ns if first else 0,
            t_ack_ns=reports[-1].t_ack_ns if reports else 0,
        )

    async def _cancel(self, intent: OrderIntent, symbol: str) -> ExecutionReport:
        if not intent.order_id:
            raise VenueRejected("cancel needs the venue order id", code="no_order_id")
        if intent.order_id.startswith(parse.ALGO_PREFIX):
            algo_id = intent.order_id[len(parse.ALGO_PREFIX) :]
            t_wire = time.monotonic_ns()
            await self.client.signed("DELETE", "/fapi/v1/algoOrder", [("algoId", algo_id)])
            t_ack = time.monotonic_ns()
            return ExecutionReport.without_fill(
                intent.client_order_id,
                ReportStatus.CANCELED,
                venue_order_id=intent.order_id,
                position_id=None,
                t_wire_ns=t_wire,
                t_ack_ns=t_ack,
            )
        answer = await self.client.signed(
            "DELETE", "/fapi/v1/order", [("symbol", symbol), ("orderId", intent.order_id)]
        )
        return parse.order_report(answer, 0, 0)

    # -- queries ---------------------------------------------------------------------------------

    async def order_by_client_id(self, client_order_id: str, symbol: str | None = None) -> ExecutionReport | None:
        """Find an order by its client id (for reconciliation after an unknown outcome).

        The venue needs the symbol: the one given, else the one this connector sent it on, else each
        symbol with an open position. Conditional orders are found by ``clientAlgoId`` alone.
        """
        if symbol is not None:
            candidates = [symbol]
        elif client_order_id in self._order_symbols:
            candidates = [self._order_symbols[client_order_id]]
        else:
            candidates = sorted(self._position_symbols)
        for candidate in candidates:
            order = await self._order(candidate, ("origClientOrderId", client_order_id))
            if order is not None:
                return parse.order_report(order, 0, 0)
        try:
            algo = await self.client.signed("GET", "/fapi/v1/algoOrder", [("clientAlgoId", client_order_id)])
        except VenueRejected as exc:
            if exc.code == parse.ORDER_NOT_FOUND:
                return None
            raise
        return parse.algo_report(algo, 0, 0)

    async def recent_orders(self, prefix: str, since_ms: int, symbols: Collection[str] = ()) -> list[VenueOrder]:
        """Open orders and order history (``GET /fapi/v1/openOrders``, ``/fapi/v1/allOrders``) and the
        stop entries, waiting or triggered (``/fapi/v1/openAlgoOrders``, ``/fapi/v1/allAlgoOrders``),
        under client ids starting with ``prefix``, created at or after ``since_ms``.

        Binance keeps history per symbol, so history is asked for the listed symbols among: those
        given, those with an open position, those this connector sent orders on, and those with an
        open order. The venue answers at most 7 days back. A triggered stop entry is listed under
        its ``clientAlgoId`` with the fill of the order it placed. Close-position orders (a
        position's SL/TP) are not orders of a signal of their own and are not listed.
        """
        now = self.client.now_ms()
        since_ms = max(since_ms, now - _HISTORY_MS + 60_000)
        open_rows = await self.client.signed("GET", "/fapi/v1/openOrders", weight=40)
        open_algos = await self.client.signed("GET", "/fapi/v1/openAlgoOrders", weight=40)
        wanted = {row["symbol"] for row in [*open_rows, *open_algos] if "symbol" in row}
        wanted |= set(symbols) | self._position_symbols | set(self._order_symbols.values())
        if self._instruments:
            wanted &= set(self._instruments)
        rows: dict[str, dict[str, Any]] = {str(row.get("orderId")): row for row in open_rows}
        algos: dict[str, dict[str, Any]] = {str(row.get("algoId")): row for row in open_algos}
        for symbol in sorted(wanted):
            until = now + _CLOCK_MARGIN_MS
            for row in await self._history("/fapi/v1/allOrders", "orderId", "time", symbol, since_ms, until):
                rows[str(row.get("orderId"))] = row
            for row in await self._history("/fapi/v1/allAlgoOrders", "algoId", "createTime", symbol, since_ms, until):
                algos[str(row.get("algoId"))] = row
        placed = {str(algo["actualOrderId"]): algo for algo in algos.values() if algo.get("actualOrderId")}
        for order_id, algo in placed.items():
            if order_id not in rows and str(algo.get("clientAlgoId", "")).startswith(prefix):
                actual = await self._order(str(algo.get("symbol", "")), ("orderId", order_id))
                if actual is not None:
                    rows[order_id] = actual
        # A triggered stop entry is listed once, under its clientAlgoId, with the order it placed.
        found = [parse.venue_order(row) for order_id, row in rows.items() if order_id not in placed]
        found += [parse.venue_algo_order(algo, rows.get(str(algo.get("actualOrderId")))) for algo in algos.values()]
        listed = [
            order
            for order in found
            if order is not None and order.client_order_id.startswith(prefix) and order.time_ms >= since_ms
        ]
        return sorted(listed, key=lambda order: (order.time_ms, order.venue_order_id or ""))

    async def _order(self, symbol: str, by: tuple[str, str]) -> dict[str, Any] | None:
        """``GET /fapi/v1/order`` on ``symbol`` by ``by`` (``orderId`` or ``origClientOrderId``);
        None when the venue does not have it."""
        try:
            order: dict[str, Any] = await self.client.signed("GET", "/fapi/v1/order", [("symbol", symbol), by])
        except VenueRejected as exc:
            if exc.code == parse.ORDER_NOT_FOUND:
                return None
            raise
        return order

    async def _history(
        self, path: str, id_field: str, time_field: str, symbol: str, since_ms: int, until_ms: int
    ) -> list[dict[str, Any]]:
        """A per-symbol history (``allOrders``, ``allAlgoOrders``) from ``since_ms``: windows of at
        most 7 days, then pages by ``id_field`` while a page comes back full."""
        rows: list[dict[str, Any]] = []
        start = since_ms
        while start <= until_ms:
            end = min(until_ms, start + _HISTORY_MS - 1)
            params = [("symbol", symbol), ("startTime", str(start)), ("endTime", str(end)), ("limit", "1000")]
            for _ in range(_MAX_PAGES):
                page = await self.client.signed("GET", path, params)
                rows.extend(row for row in page if row.get(time_field, 0) <= end)
                if len(page) < 1000 or any(row.get(time_field, 0) > end for row in page):
                    break
                next_id = max(int(row[id_field]) for row in page) + 1
                params = [("symbol", symbol), (id_field, str(next_id)), ("limit", "1000")]
            else:
                log.warning("binance %s: %s %s history cut at %d pages", self.name, symbol, path, _MAX_PAGES)
            start = end + 1
        return rows

    async def positions(self) -> list[Position]:
        """Open positions, with the stop-loss and take-profit of their close-position orders."""
        rows = await self.client.signed("GET", "/fapi/v3/positionRisk")
        protection = await self.client.signed("GET", "/fapi/v1/openAlgoOrders", weight=40)
        levels: dict[tuple[str, str, str], Decimal] = {}
        for row in protection:
            if str(row.get("closePosition", "false")).lower() == "true":
                key = (row["symbol"], row.get("positionSide", "BOTH"), row.get("orderType", ""))
                levels[key] = parse.dec(row["triggerPrice"])
        out: list[Position] = []
        for row in rows:
            if "markPrice" in row and parse.dec(row["markPrice"]) > 0:
                self._prices[row["symbol"]] = parse.dec(row["markPrice"])
            pos = parse.position(row)
            if pos is None:
                continue
            self._position_symbols.add(pos.symbol)
            ps = row.get("positionSide", "BOTH")
            sl = levels.get((pos.symbol, ps, "STOP_MARKET"))
            tp = levels.get((pos.symbol, ps, "TAKE_PROFIT_MARKET"))
            if sl is not None or tp is not None:
                pos = Position(pos.position_id, pos.symbol, pos.side, pos.volume, pos.open_price, sl, tp, pos.comment)
            out.append(pos)
        return out
