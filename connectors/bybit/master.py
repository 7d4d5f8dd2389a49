"""A Bybit account as a signal source: the master's own fills become :class:`~core.signal.Signal`s.

The private ``execution`` stream says what traded; the master keeps each position's size itself
(from a REST snapshot at start and after every reconnect, then from its own fills) so it can tell
an open from a partial or full close without depending on the order in which Bybit's streams
arrive. A fill that flips a one-way position is a CLOSE followed by an OPEN of the excess.

Signals: OPEN (volume in base coin), CLOSE_PART (``volume_kind`` FRACTION of the position before
the fill), CLOSE, and MODIFY when the position's stop-loss or take-profit changes.
``position_ref`` is ``bybit:{account}:{symbol}:{positionIdx}``; ``origin_id`` is
``{orderId}:{execId}`` so a replayed execution is deduplicated by the router.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from connectors.bybit import parse
from connectors.bybit.client import BybitRest, BybitSocket, Clock
from connectors.bybit.config import BybitConfig
from core.enums import Action, Side, VolumeKind
from core.signal import Level, Signal

log = logging.getLogger("connectors.bybit.master")


class BybitMaster:
    """Streams the master account's trades to ``submit`` as signals."""

    def __init__(
        self,
        config: BybitConfig,
        submit: Callable[[Signal], object],
        *,
        source: str | None = None,
        symbol_suffix: str = "-PERP",
    ) -> None:
        self.config = config
        self.submit = submit
        self.source = source or f"bybit:{config.name}"
        self.symbol_suffix = symbol_suffix
        self.clock = Clock()
        self.rest = BybitRest(config, self.clock)
        self.stream = BybitSocket(
            "master",
            config.private_ws_url,
            config,
            self.clock,
            self.rest,
            on_message=self._on_message,
            on_ready=self._on_ready,
        )
        # (symbol, positionIdx) -> (side, size, sl, tp)
        self._book: dict[tuple[str, int], tuple[Side | None, Decimal, Decimal | None, Decimal | None]] = {}
        self._seen: set[str] = set()

    async def start(self) -> None:
        await self.rest.open()
        await self.rest.sync_time()
        self.stream.start()
        if not await self.stream.wait_ready(self.config.request_timeout):
            error = self.stream.last_error
            await self.stop()
            raise error if error is not None else TimeoutError("Bybit private stream not ready")

    async def stop(self) -> None:
        await self.stream.close()
        await self.rest.close()

    async def _on_ready(self, socket: BybitSocket) -> None:
        await self._snapshot()
        ws = socket.ws
        assert ws is not None
        await ws.send_str('{"req_id":"master","op":"subscribe","args":["execution","position"]}')

    async def _snapshot(self) -> None:
        book: dict[tuple[str, int], tuple[Side | None, Decimal, Decimal | None, Decimal | None]] = {}
        params = {"category": parse.CATEGORY, "settleCoin": self.config.settle_coin, "limit": "200"}
        data, _, _ = await self.rest.request("GET", "/v5/position/list", params)
        for item in (data.get("result") or {}).get("list") or []:
            position = parse.position_from(item)
            if position is not None:
                key = (position.symbol, int(item.get("positionIdx", 0) or 0))
                book[key] = (position.side, position.volume, position.sl, position.tp)
        self._book = book

    def _emit(self, signal: Signal) -> None:
        try:
            self.submit(signal)
        except Exception:
            log.exception("bybit master %s: submit failed for %s", self.config.name, signal.origin_id)

    def _on_message(self, message: dict[str, Any]) -> None:
        topic = str(message.get("topic", ""))
        for item in message.get("data") or []:
            if item.get("category", parse.CATEGORY) != parse.CATEGORY:
                continue
            if topic.startswith("execution"):
                self._on_execution(item)
            elif topic.startswith("position"):
                self._on_position(item)

    def _ref(self, symbol: str, idx: int) -> str:
        return f"bybit:{self.config.name}:{symbol}:{idx}"

    def _on_execution(self, item: dict[str, Any]) -> None:
        if item.get("execType", "Trade") != "Trade":
            return
        origin = f"{item.get('orderId', '')}:{item.get('execId', '')}"
        side = parse.side_from(str(item.get("side", "")))
        qty = parse.dec0(item.get("execQty"))
        if origin in self._seen or side is None or qty <= 0:
            return
        self._seen.add(origin)
        symbol = str(item["symbol"])
        idx = int(item.get("positionIdx", 0) or 0)
        price = parse.price_or_none(item.get("execPrice"))
        key = (symbol, idx)
        held_side, size, sl, tp = self._book.get(key, (None, Decimal(0), None, None))
        canonical = symbol + self.symbol_suffix
        ref = self._ref(symbol, idx)
        if held_side is None or size == 0 or held_side is side:
            self._book[key] = (side, size + qty, sl, tp)
            self._emit(self._open(canonical, side, qty, price, ref, origin))
            return
        closing = min(qty, size)
        if closing == size:
            self._emit(
                Signal(
                    self.source,
                    Action.CLOSE,
                    symbol=canonical,
                    side=held_side,
                    price=price,
                    position_ref=ref,
                    origin_id=origin,
                )
            )
        else:
            self._emit(
                Signal(
                    self.source,
                    Action.CLOSE_PART,
                    symbol=canonical,
                    side=held_side,
                    volume=closing / size,
                    volume_kind=VolumeKind.FRACTION,
                    price=price,
                    position_ref=ref,
                    origin_id=origin,
                )
            )
        left = size - closing
        excess = qty - closing
        if excess > 0:
            self._book[key] = (side, excess, None, None)
            self._emit(self._open(canonical, side, excess, price, ref, f"{origin}:flip"))
        else:
            self._book[key] = (held_side if left else None, left, sl if left else None, tp if left else None)

    def _open(self, symbol: str, side: Side, qty: Decimal, price: Decimal | None, ref: str, origin: str) -> Signal:
        return Signal(
            self.source,
            Action.OPEN,
            symbol=symbol,
            side=side,
            volume=qty,
            volume_kind=VolumeKind.LOTS,
            price=price,
            position_ref=ref,
            origin_id=origin,
        )

    def _on_position(self, item: dict[str, Any]) -> None:
        symbol = str(item.get("symbol", ""))
        idx = int(item.get("positionIdx", 0) or 0)
        key = (symbol, idx)
        if key not in self._book:
            return
        held_side, size, sl, tp = self._book[key]
        new_sl = parse.price_or_none(item.get("stopLoss"))
        new_tp = parse.price_or_none(item.get("takeProfit"))
        if size == 0 or held_side is None or (new_sl, new_tp) == (sl, tp):
            return
        self._book[key] = (held_side, size, new_sl, new_tp)
        self._emit(
            Signal(
                self.source,
                Action.MODIFY,
                symbol=symbol + self.symbol_suffix,
                side=held_side,
                sl=Level(new_sl) if new_sl is not None else None,
                tps=(Level(new_tp),) if new_tp is not None else (),
                position_ref=self._ref(symbol, idx),
                origin_id=f"{symbol}:{idx}:sltp:{item.get('updatedTime', '')}:{new_sl}:{new_tp}",
            )
        )
