"""An OKX account as a signal source: the master's own fills become :class:`~core.signal.Signal`s.

The private WebSocket's ``orders`` channel (``instType`` SWAP) reports the master's orders. Every
push whose ``state`` is ``partially_filled`` or ``filled`` and whose ``fillSz`` is above zero is
one fill (the last one: ``fillSz`` contracts at ``fillPx``, trade ``tradeId``), and each fill is
copied as it happens, so an order filled in pieces, or partially filled and then canceled, is
copied as far as it traded. Pushes without a new fill (``live``, amended, ``canceled``) are
ignored, and so is a push seen before (the same ``ordId`` and ``tradeId``). Sizes are contracts
on the wire and base quantity in the signal (``fillSz × ctVal × ctMult``, from the instrument's
:class:`~connectors.okx.parse.SwapSpec`).

The master keeps each position's size itself: from ``GET /api/v5/account/positions`` (and the
instruments) read after every login and before the channel is subscribed, at start and after each
reconnect, then from its own fills, so an open is told from a partial or full close without
depending on the order in which OKX's ``orders`` and ``positions`` pushes arrive. Fills missed
while the socket was down are not replayed; the snapshot at the reconnect brings the sizes back
in line.

Each fill changes the position on (``instId``, ``posSide``) and becomes:

* a fill that increases the position → ``OPEN`` with the filled base quantity (``UNITS``);
* a fill that reduces it but leaves some → ``CLOSE_PART`` with the closed ``FRACTION`` of what was open;
* a fill that takes it to flat → ``CLOSE``;
* a one-way (``net``) fill that flips the position → ``CLOSE`` then ``OPEN`` for the remainder.

A reducing fill (``reduceOnly``, or selling a ``long`` / buying a ``short`` in hedge mode) never
flips a position, and one on a position the master does not hold is logged and ignored.

Stop-loss and take-profit come from the ``orders-algo`` channel: the live ``conditional`` and ``oco``
algo orders on a position (attached to the opening order, or set on the position with
``closeFraction``) give its levels (:class:`~connectors.master_levels.MasterLevels`). When those
change on a position the master holds, the change is a ``MODIFY`` with the new price levels; levels
seen before the fill that opens the position follow its ``OPEN``. The live algo orders are read again
with the positions at every login.

``symbol`` is the canonical name (``BTC-USDT-SWAP`` → ``BTCUSDT``), ``position_ref`` is
``okx:<account>:<instId>:<posSide>`` (``net`` in one-way mode) and ``origin_id`` is
``<ordId>:<tradeId>`` (``<ordId>:acc<accFillSz>`` for a push without ``tradeId``), so a replayed
push is recognised as the same signal. As with the Binance and Bybit masters, every fill of the
account is a master trade, whoever placed the order (a ``cp`` client order id included).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import orjson

from connectors.master_fills import MasterFill, apply_fill
from connectors.master_levels import Levels, MasterLevels, guarded, modify_signal
from connectors.okx import parse
from connectors.okx.client import OkxClient
from connectors.okx.config import OkxConfig
from connectors.okx.parse import SwapSpec
from core.connector import ConnectorState
from core.enums import Side
from core.errors import CopierError
from core.instrument import ZERO
from core.signal import Signal

log = logging.getLogger(__name__)

CHANNELS: tuple[dict[str, str], ...] = (
    {"channel": "orders", "instType": "SWAP"},
    {"channel": "orders-algo", "instType": "SWAP"},
)
FILL_STATES = frozenset({"partially_filled", "filled"})
PROTECTIVE_TYPES = frozenset({"conditional", "oco"})
LIVE_ALGO_STATES = frozenset({"live", "partially_effective"})
_SEEN = 4096
_ALGO_PAGE = 100
_ALGO_PAGES = 10


def canonical_symbol(inst_id: str) -> str:
    """``BTC-USDT-SWAP`` → ``BTCUSDT``: the name the other venues' masters and followers use."""
    return "".join(inst_id.split("-")[:2])


class OkxMaster:
    """Watches one OKX account and hands its trades to ``submit`` as signals.

    ``submit`` is called from the WebSocket reader, one fill at a time, and must not block (the
    router's ``submit`` queues and returns).
    """

    def __init__(self, config: OkxConfig, submit: Callable[[Signal], object], *, source: str | None = None) -> None:
        self.config = config
        self.source = source or f"okx:{config.name}"
        self._submit = submit
        self.client = OkxClient(
            config, channels=CHANNELS, on_push=self._on_push, on_state=self._set_state, on_login=self._snapshot
        )
        self.state = ConnectorState.DOWN
        self.positions: dict[tuple[str, str], Decimal] = {}
        """Signed base quantity per (``instId``, ``posSide``): long above zero, short below."""
        self._specs: dict[str, SwapSpec] = {}
        self.levels = MasterLevels()
        """Live SL/TP algo orders and the levels last copied per (``instId``, ``posSide``)."""
        self._seen: set[str] = set()
        self._seen_order: deque[str] = deque()
        self._refresh: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Sync the clock, log in, read instruments and positions, then subscribe to ``orders``."""
        self.state = ConnectorState.CONNECTING
        try:
            await self.client.start()
        except BaseException:
            await self.client.close()
            self.state = ConnectorState.DOWN
            raise
        self.state = ConnectorState.UP
        self._refresh = asyncio.create_task(self._refresh_loop(), name=f"okx-master-refresh:{self.config.name}")

    async def stop(self) -> None:
        """Stop the refresh task and close the connections."""
        task, self._refresh = self._refresh, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.close()
        self.state = ConnectorState.DOWN

    def _set_state(self, state: ConnectorState, detail: str = "") -> None:
        self.state = state

    async def _refresh_loop(self) -> None:
        """Clock and instruments every ``refresh_interval`` (login signs with the venue's time)."""
        while True:
            await asyncio.sleep(self.config.refresh_interval)
            try:
                await self.client.sync_clock()
                await self._load_instruments()
            except CopierError as exc:
                log.warning("okx master %s: background refresh failed: %s", self.config.name, exc)

    async def _load_instruments(self) -> None:
        specs = await self.client.swap_specs()
        if specs:
            self._specs = specs

    async def _snapshot(self) -> None:
        """Instruments and positions, read after login and before the ``orders`` subscription."""
        await self._load_instruments()
        self.client.acquire("positions")
        payload = await self.client.request("GET", "/api/v5/account/positions", params={"instType": "SWAP"})
        book: dict[tuple[str, str], Decimal] = {}
        for row in payload.get("data") or []:
            spec = self._specs.get(str(row.get("instId", "")))
            pos = parse.decimal(row.get("pos"))
            if spec is None or pos == 0:
                continue
            pos_side = str(row.get("posSide") or "net")
            book[(spec.inst_id, pos_side)] = spec.to_base(-abs(pos) if pos_side == "short" else pos)
        self.positions = book
        await self._snapshot_levels()

    async def _snapshot_levels(self) -> None:
        """The live SL/TP algo orders, read with the positions (the channel pushes only changes)."""
        rows: list[dict[str, Any]] = []
        params = {"instType": "SWAP", "ordType": "conditional,oco", "limit": str(_ALGO_PAGE)}
        for _ in range(_ALGO_PAGES):  # pages of 100, newest first; older ones "after" the last id
            self.client.acquire("orders-algo-pending")
            payload = await self.client.request("GET", "/api/v5/trade/orders-algo-pending", params=params)
            page = list(payload.get("data") or [])
            rows += page
            if len(page) < _ALGO_PAGE:
                break
            params["after"] = str(page[-1].get("algoId", ""))
        orders = [
            (str(row.get("algoId", "")), *_algo_levels(row))
            # Oldest first (OKX lists the newest first, which breaks ties in time), so the newest
            # order gives each level.
            for row in sorted(reversed(rows), key=lambda r: int(r.get("uTime") or r.get("cTime") or 0))
        ]
        stamp = f"snapshot:{self.client.now_ms()}"
        changes = self.levels.resync(orders, self.positions)
        self._hand_over([self._modify(key, levels, stamp) for key, levels in changes])

    def _on_push(self, channel: str, row: dict[str, Any]) -> None:
        if channel == "orders":
            self.handle(row)
        elif channel == "orders-algo":
            self.handle_algo(row)

    def handle(self, row: Mapping[str, Any]) -> list[Signal]:
        """Turn one ``orders`` push row into signals and hand each to ``submit``."""
        if row.get("state") not in FILL_STATES or parse.decimal(row.get("fillSz")) <= 0:
            return []
        trade = str(row.get("tradeId") or "") or f"acc{row.get('accFillSz', '')}"
        origin = f"{row.get('ordId', '')}:{trade}"
        if origin in self._seen:
            return []
        self._remember(origin)
        spec = self._specs.get(str(row.get("instId", "")))
        if spec is None:
            log.warning(
                "okx master %s: fill %s on %s ignored: not a USDT-margined swap OKX lists",
                self.config.name,
                origin,
                row.get("instId"),
            )
            return []
        signals = self.signals_for_fill(row, spec, origin)
        key = (spec.inst_id, str(row.get("posSide") or "net"))
        levels = self.levels.after_fill(key, signals, held=self.positions.get(key, ZERO))
        if levels is not None:
            signals.append(self._modify(key, levels, f"{origin}:sltp"))
        self._hand_over(signals)
        return signals

    def handle_algo(self, row: Mapping[str, Any]) -> list[Signal]:
        """Track one ``orders-algo`` push; a MODIFY (handed to ``submit``) when it changes the
        levels of a position the master holds."""
        if row.get("ordType") not in PROTECTIVE_TYPES:
            return []
        key, sl, tp, guards = _algo_levels(row)
        self.levels.update(
            str(row.get("algoId", "")), key, sl, tp, live=row.get("state") in LIVE_ALGO_STATES, guards=guards
        )
        levels = self.levels.changed(key, held=self.positions.get(key, ZERO))
        if levels is None:
            return []
        origin = f"{row.get('algoId', '')}:{row.get('uTime') or row.get('cTime') or ''}:{row.get('state', '')}"
        signals = [self._modify(key, levels, origin, raw=orjson.dumps(row).decode())]
        self._hand_over(signals)
        return signals

    def _modify(self, key: tuple[str, str], levels: Levels, origin: str, raw: str = "") -> Signal:
        inst_id, pos_side = key
        ref = f"okx:{self.config.name}:{inst_id}:{pos_side}"
        symbol = canonical_symbol(inst_id)
        return modify_signal(self.source, symbol, self.positions[key], levels, position_ref=ref, origin=origin, raw=raw)

    def _hand_over(self, signals: list[Signal]) -> None:
        for signal in signals:
            try:
                self._submit(signal)
            except Exception:
                log.exception("okx master %s: signal %s not accepted", self.config.name, signal.origin_id)

    def _remember(self, origin: str) -> None:
        self._seen.add(origin)
        self._seen_order.append(origin)
        if len(self._seen_order) > _SEEN:
            self._seen.discard(self._seen_order.popleft())

    def signals_for_fill(self, row: Mapping[str, Any], spec: SwapSpec, origin: str) -> list[Signal]:
        """The signals one fill means, updating the tracked position."""
        inst_id = spec.inst_id
        pos_side = str(row.get("posSide") or "net")
        qty = spec.to_base(parse.decimal(row.get("fillSz")))
        price = parse.optional_decimal(row.get("fillPx"))
        delta = qty if row.get("side") == "buy" else -qty
        reducing = parse.is_closing(dict(row))
        ref = f"okx:{self.config.name}:{inst_id}:{pos_side}"
        fill = MasterFill(self.source, canonical_symbol(inst_id), price, ref, origin, orjson.dumps(row).decode())
        return apply_fill(
            self.positions, (inst_id, pos_side), delta, fill, reducing=reducing, master=f"okx master {self.config.name}"
        )


def _algo_levels(row: Mapping[str, Any]) -> tuple[tuple[str, str], Decimal | None, Decimal | None, Side | None]:
    """(position, stop-loss, take-profit, the direction it guards) of one ``conditional``/``oco``
    algo order row."""
    key = (str(row.get("instId", "")), str(row.get("posSide") or "net"))
    sl, tp = parse.optional_decimal(row.get("slTriggerPx")), parse.optional_decimal(row.get("tpTriggerPx"))
    return key, sl, tp, guarded(parse.parse_side(row.get("side")))
