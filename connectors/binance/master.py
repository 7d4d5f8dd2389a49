"""A Binance USDⓈ-M master account as a signal source.

The user data stream (``POST /fapi/v1/listenKey``, a keepalive ``PUT`` every 30 minutes, WebSocket
``<stream_url>/ws/<listenKey>``) reports the master's fills as ``ORDER_TRADE_UPDATE`` events. Each
fill changes the master's position on (symbol, positionSide), and becomes one :class:`Signal`:

* a fill that increases the position → ``OPEN`` with the filled base quantity (``UNITS``);
* a fill that reduces it but leaves some → ``CLOSE_PART`` with the closed ``FRACTION`` of what was open;
* a fill that takes it to flat → ``CLOSE``;
* a one-way fill that flips the position → ``CLOSE`` then ``OPEN`` for the remainder.

``position_ref`` is ``binance:<account>:<symbol>:<positionSide>`` and ``origin_id`` is
``<orderId>:<tradeId>``, so a replayed event is recognised as the same signal. Positions are read
from ``positionRisk`` at start (and after every reconnect) so the first fraction is right.

Stop-loss and take-profit come from ``ALGO_UPDATE`` events: the live (``NEW``) conditional
``STOP``/``STOP_MARKET`` and ``TAKE_PROFIT``/``TAKE_PROFIT_MARKET`` orders that close the position
(``closePosition`` or reduce-only) give its levels (:class:`~connectors.master_levels.MasterLevels`),
and a change on a held position is a ``MODIFY`` with the new prices; levels placed before the fill
that opens the position follow its ``OPEN``. The open algo orders (``GET /fapi/v1/openAlgoOrders``)
are read with the positions, so a change made while the stream was down is copied at the reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

import aiohttp
import orjson

from connectors.binance import parse
from connectors.binance.client import BinanceClient
from connectors.binance.config import BinanceConfig
from connectors.master_fills import MasterFill, apply_fill
from connectors.master_levels import Key, Levels, MasterLevels, guarded, modify_signal
from core.connector import ConnectorState
from core.enums import Side
from core.errors import CopierError, TransientError
from core.instrument import ZERO
from core.signal import Signal
from core.tasks import log_failure

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 1800.0
_SEEN = 4096
STOP_TYPES = frozenset({"STOP", "STOP_MARKET"})
TAKE_PROFIT_TYPES = frozenset({"TAKE_PROFIT", "TAKE_PROFIT_MARKET"})


class BinanceMaster:
    """Watches one Binance USDⓈ-M account and hands its trades to ``submit`` as signals."""

    def __init__(
        self,
        config: BinanceConfig,
        submit: Callable[[Signal], object],
        *,
        source: str | None = None,
        keepalive: float = KEEPALIVE_SECONDS,
    ) -> None:
        self.config = config
        self.source = source or f"binance:{config.name}"
        self._submit = submit
        self._keepalive_every = keepalive
        self.client = BinanceClient(replace(config, ws_orders=False))
        self.state = ConnectorState.DOWN
        self.listen_key: str | None = None
        self.positions: dict[tuple[str, str], Decimal] = {}
        self.levels = MasterLevels()
        """Live SL/TP algo orders and the levels last copied per (symbol, positionSide)."""
        self._seen: deque[str] = deque(maxlen=_SEEN)
        self._tasks: list[asyncio.Task[None]] = []
        self._connected = asyncio.Event()

    async def start(self) -> None:
        """Open the REST session, read positions, create the listen key and connect the stream."""
        self.state = ConnectorState.CONNECTING
        try:
            await self.client.start()
            await self._load_positions()
            await self._new_listen_key()
        except BaseException:
            await self.client.close()
            self.state = ConnectorState.DOWN
            raise
        self._spawn(self._stream(), f"binance-master-stream:{self.config.name}")
        self._spawn(self._keepalive(), f"binance-master-keepalive:{self.config.name}")
        try:
            await asyncio.wait_for(self._connected.wait(), self.config.request_timeout)
        except TimeoutError as exc:
            await self.stop()
            raise TransientError("user data stream did not connect") from exc

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.close()
        self.state = ConnectorState.DOWN

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(log_failure)
        self._tasks.append(task)

    async def _load_positions(self) -> None:
        rows = await self.client.signed("GET", "/fapi/v3/positionRisk")
        self.positions = {(r["symbol"], r.get("positionSide", "BOTH")): parse.dec(r["positionAmt"]) for r in rows}
        algos = await self.client.signed("GET", "/fapi/v1/openAlgoOrders")
        orders = []
        # Oldest first, so the newest order of a position gives its level.
        for algo in sorted(algos, key=_age):
            position_side = str(algo.get("positionSide") or "BOTH")
            closing = parse.is_true(algo.get("closePosition")) or parse.is_true(algo.get("reduceOnly"))
            levels = _protective_levels(
                algo.get("orderType"), algo.get("triggerPrice"), closing or _against(position_side, algo.get("side"))
            )
            if levels is not None:
                key = (str(algo.get("symbol", "")), position_side)
                orders.append((f"algo:{algo.get('algoId')}", key, *levels, _guards(algo.get("side"))))
        stamp = f"snapshot:{self.client.now_ms()}"
        changes = self.levels.resync(orders, self.positions)
        await self._hand_over([self._modify(key, levels, stamp) for key, levels in changes])

    async def _new_listen_key(self) -> None:
        answer = await self._listen_key_request("POST")
        self.listen_key = str(answer["listenKey"])

    async def _listen_key_request(self, method: str) -> Any:
        # USER_STREAM endpoints take the API key header but no signature.
        session = self.client.session
        async with session.request(
            method, f"{self.config.base_url}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": self.config.api_key}
        ) as resp:
            body = await resp.read()
            if resp.status != 200:
                payload = orjson.loads(body) if body else {}
                raise parse.venue_error(resp.status, payload.get("code"), str(payload.get("msg", "")), sent=True)
            return orjson.loads(body)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self._keepalive_every)
            try:
                await self._listen_key_request("PUT")
            except (CopierError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("binance master %s: listen key keepalive failed: %s", self.config.name, exc)

    async def _stream(self) -> None:
        delay = 0.05
        while True:
            try:
                url = f"{self.config.stream_url}/ws/{self.listen_key}"
                async with self.client.session.ws_connect(url, heartbeat=30.0) as ws:
                    self.state = ConnectorState.UP
                    self._connected.set()
                    delay = 0.05
                    async for msg in ws:
                        if msg.type is aiohttp.WSMsgType.TEXT:
                            await self.handle(orjson.loads(msg.data))
                        elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                            break
            except (aiohttp.ClientError, OSError, TimeoutError, orjson.JSONDecodeError) as exc:
                log.warning("binance master %s: stream failed: %s", self.config.name, exc)
            self.state = ConnectorState.RECONNECTING
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            try:
                # Fills during the gap are not replayed by the stream; start again from the venue's positions.
                await self._new_listen_key()
                await self._load_positions()
            except CopierError as exc:
                log.warning("binance master %s: resubscribe failed: %s", self.config.name, exc)

    async def handle(self, event: Mapping[str, Any]) -> list[Signal]:
        """Turn one user-data event into signals and hand each to ``submit``."""
        if event.get("e") == "ALGO_UPDATE":
            return await self.handle_algo(event["o"])
        if event.get("e") != "ORDER_TRADE_UPDATE":
            return []
        order = event["o"]
        if order.get("x") != "TRADE":
            return []
        origin = f"{order['i']}:{order['t']}"
        if origin in self._seen:
            return []
        self._seen.append(origin)
        signals = self.signals_for_fill(order, origin)
        key = (order["s"], order.get("ps", "BOTH"))
        levels = self.levels.after_fill(key, signals, held=self.positions.get(key, ZERO))
        if levels is not None:
            signals.append(self._modify(key, levels, f"{origin}:sltp"))
        await self._hand_over(signals)
        return signals

    async def handle_algo(self, algo: Mapping[str, Any]) -> list[Signal]:
        """Track one ``ALGO_UPDATE`` order; a MODIFY (handed to ``submit``) when it changes the
        levels of a position the master holds."""
        if algo.get("at") != "CONDITIONAL":
            return []
        position_side = str(algo.get("ps") or "BOTH")
        closing = _against(position_side, algo.get("S")) or any(parse.is_true(algo.get(flag)) for flag in ("cp", "R"))
        levels = _protective_levels(algo.get("o"), algo.get("tp"), closing)
        if levels is None:
            return []
        key = (str(algo.get("s", "")), position_side)
        self.levels.update(
            f"algo:{algo.get('aid')}", key, *levels, live=algo.get("X") == "NEW", guards=_guards(algo.get("S"))
        )
        changed = self.levels.changed(key, held=self.positions.get(key, ZERO))
        if changed is None:
            return []
        origin = f"algo:{algo.get('aid')}:{algo.get('X', '')}"
        signals = [self._modify(key, changed, origin, raw=orjson.dumps(algo).decode())]
        await self._hand_over(signals)
        return signals

    def _modify(self, key: Key, levels: Levels, origin: str, raw: str = "") -> Signal:
        symbol, ps = key
        ref = f"binance:{self.config.name}:{symbol}:{ps}"
        return modify_signal(self.source, symbol, self.positions[key], levels, position_ref=ref, origin=origin, raw=raw)

    async def _hand_over(self, signals: list[Signal]) -> None:
        for signal in signals:
            try:
                result = self._submit(signal)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("binance master %s: signal %s not accepted", self.config.name, signal.origin_id)

    def signals_for_fill(self, order: Mapping[str, Any], origin: str) -> list[Signal]:
        """The signals one fill means, updating the tracked position."""
        symbol, ps = order["s"], order.get("ps", "BOTH")
        qty = parse.dec(order["l"])
        price = parse.dec(order["L"])
        delta = qty if order["S"] == "BUY" else -qty
        # Hedge mode closes by trading against the position side; one-way mode marks reduce-only.
        reducing = bool(order.get("R")) or (ps == "LONG" and delta < 0) or (ps == "SHORT" and delta > 0)
        ref = f"binance:{self.config.name}:{symbol}:{ps}"
        fill = MasterFill(self.source, symbol, price, ref, origin, orjson.dumps(order).decode())
        return apply_fill(
            self.positions, (symbol, ps), delta, fill, reducing=reducing, master=f"binance master {self.config.name}"
        )


def _protective_levels(
    order_type: object, trigger: object, closing: bool
) -> tuple[Decimal | None, Decimal | None] | None:
    """(sl, tp) that one conditional order puts on its position, or None when it is not a stop or
    a target on the position (one that opens, a trailing stop). ``closing``: it closes or reduces
    the position (close-position, reduce-only, or in hedge mode trading against its side)."""
    if not closing or trigger in (None, ""):
        return None
    price = parse.dec(str(trigger))
    if price <= 0:
        return None
    if order_type in STOP_TYPES:
        return price, None
    if order_type in TAKE_PROFIT_TYPES:
        return None, price
    return None


def _age(algo: Mapping[str, Any]) -> tuple[int, int]:
    """Sort key of an algo order, oldest first: its update time, then its id."""
    return int(algo.get("updateTime") or algo.get("createTime") or 0), int(algo.get("algoId") or 0)


def _against(position_side: str, side: object) -> bool:
    """Whether an order on a hedge-mode position side trades against it (Binance takes no
    reduce-only flag in hedge mode: selling LONG or buying SHORT is what closes)."""
    return (position_side == "LONG" and side == "SELL") or (position_side == "SHORT" and side == "BUY")


def _guards(side: object) -> Side | None:
    """The direction a protective order on ``side`` (``BUY``/``SELL``) guards."""
    return guarded(parse.parse_side(side))
