"""Micro-benchmarks of every step of the hot path, without the network.

    .venv/bin/pytest benchmarks/bench_core.py --benchmark-only -o python_files='bench_*.py'

- ``parse_tradingview_json``: one JSON alert body → ``Signal`` (``parse_alert``);
- ``parse_pineconnector_text``: one PineConnector-style text command → ``Signal`` through the same
  ``parse_alert`` (skipped where it does not read that form);
- ``router_fan_out[N]``: the real ``Router`` over N paper accounts: ``submit`` of one signal and
  every lane's job to completion (map, guard, size, round, client id, paper execution, mirror emits);
- ``plan_followers[N]``: the pure planning functions for N followers (canonical symbol, account map,
  guards, ``size_open``, ``client_order_id``, ``OrderIntent``), no lanes and no venue;
- ``size_open``, ``client_order_id``, ``symbol_canonical``: the planning steps one by one;
- ``paper_order``: one market order executed by the paper venue (what a paper "send" does);
- ``mirror_encode``: one ``order_sent`` mirror log event to its JSON line.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.paper import PaperConfig, PaperConnector
from connectors.paper.client import PaperVenue
from core.enums import Action, Side, VolumeKind
from core.errors import ParseError
from core.guards import Guards
from core.instrument import Instrument
from core.mirror import MirrorLog, encode
from core.orders import AccountState, IntentKind, OrderIntent, client_order_id
from core.router import Route, Router
from core.signal import Signal
from core.sizing import SizeRequest, Sizing, SizingMode, size_open
from core.symbols import AccountSymbols, SymbolTable
from ingest.tradingview.parse import parse_alert

D = Decimal
FAN_OUT = (1, 10, 100)
TV_BODY = (
    b'{"action": "buy", "symbol": "OANDA:EURUSD", "volume": 0.1, "price": 1.0850, "sl": 1.0800, '
    b'"tp": 1.0950, "id": "alert-42", "comment": "breakout"}'
)
PINE_TEXT = b"60123456789,buy,EURUSD,risk=1,sl=1.0800,tp=1.0950,comment=breakout"
EURUSD = Instrument("EURUSD", D("0.01"), D("0.01"), D("0.00001"), D("100"), D(100_000), D("0.0001"))
ACCOUNT = AccountState(balance=D(25_000), equity=D(25_310.5), open_positions=3)


# -- ingest ------------------------------------------------------------------------------------


def test_parse_tradingview_json(benchmark: Any) -> None:
    parsed = benchmark(parse_alert, TV_BODY, source="tv", received_ns=0)
    assert parsed.signal.symbol == "OANDA:EURUSD" or parsed.signal.symbol == "EURUSD"


def _pine_text_supported() -> bool:
    """Whether ``parse_alert`` reads the PineConnector comma form (it did not always)."""
    try:
        parse_alert(PINE_TEXT, source="tv", received_ns=0)
    except ParseError:
        return False
    return True


def test_parse_pineconnector_text(benchmark: Any) -> None:
    if not _pine_text_supported():
        pytest.skip("parse_alert does not read the PineConnector text form yet")
    parsed = benchmark(parse_alert, PINE_TEXT, source="tv", received_ns=0)
    assert parsed.signal.side is Side.BUY


# -- router over paper accounts ----------------------------------------------------------------


class _FanOut:
    """A router with ``n`` paper followers of one source, on its own event loop."""

    def __init__(self, n: int, folder: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.n = n
        self.sides = itertools.cycle((Side.BUY, Side.SELL))
        self.loop.run_until_complete(self._start(folder))

    async def _start(self, folder: Path) -> None:
        # A long flush interval keeps the log writer out of the measured rounds; it is flushed at close.
        self.mirror = MirrorLog(folder / "mirror.jsonl", flush_interval=3600)
        self.mirror.start()
        self.connectors: dict[str, PaperConnector] = {}
        for index in range(self.n):
            name = f"f{index:04d}"
            config = PaperConfig.from_mapping(name, {"balance": 10_000_000, "mode": "netting"}, prefix="")
            connector = PaperConnector(config)
            await connector.start()
            self.connectors[name] = connector
        routes = [
            Route("tv", name, Sizing(SizingMode.EQUITY_RATIO, source_equity=D(1_000_000))) for name in self.connectors
        ]
        self.router = Router(routes=routes, connectors=self.connectors, mirror=self.mirror)

    async def _one(self) -> None:
        signal = Signal(source="tv", action=Action.OPEN, symbol="EURUSD", side=next(self.sides), volume=D("0.1"))
        self.router.submit(signal)
        await self.router.drain()

    def one(self) -> None:
        self.loop.run_until_complete(self._one())
        # The paper venue nets the alternating sides; drop pending log records so memory stays flat.
        self.mirror._pending.clear()

    def close(self) -> None:
        async def stop() -> None:
            await self.router.stop()
            await self.mirror.close()

        self.loop.run_until_complete(stop())
        self.loop.close()


@pytest.fixture
def fan_out_factory() -> Iterator[Callable[[int], _FanOut]]:
    made: list[_FanOut] = []
    with tempfile.TemporaryDirectory() as tmp:

        def make(n: int) -> _FanOut:
            made.append(_FanOut(n, Path(tmp) / str(n)))
            return made[-1]

        yield make
        for item in made:
            item.close()


@pytest.mark.parametrize("followers", FAN_OUT)
def test_router_fan_out(benchmark: Any, fan_out_factory: Callable[[int], _FanOut], followers: int) -> None:
    fan_out = fan_out_factory(followers)
    rounds = {1: 2000, 10: 400, 100: 60}[followers]
    benchmark.pedantic(fan_out.one, rounds=rounds, iterations=1, warmup_rounds=5)
    benchmark.extra_info["per_follower_us"] = benchmark.stats.stats.median * 1e6 / followers
    sent = sum(len(c.sim.positions()) for c in fan_out.connectors.values())
    assert sent <= followers


# -- planning, pure ----------------------------------------------------------------------------


class _PaperInstruments:
    """The venue side that planning needs: a symbol translation and instrument facts."""

    def venue_symbol(self, canonical: str) -> str | None:
        return canonical if canonical == "EURUSD" else None


def plan(signal: Signal, followers: list[tuple[Route, AccountSymbols]], table: SymbolTable) -> list[OrderIntent]:
    """What the lanes compute per follower for an open, without sending anything."""
    venue = _PaperInstruments()
    canonical = table.canonical(signal.symbol or "")
    now = datetime.now(UTC)
    intents: list[OrderIntent] = []
    assert signal.side is not None
    for route, symbols in followers:
        venue_symbol = symbols.resolve(canonical, venue)
        assert venue_symbol is not None
        route.guards.check_open(
            canonical=canonical,
            side=signal.side,
            open_positions=ACCOUNT.open_positions,
            sent_at=signal.sent_at,
            now=now,
            signal_price=signal.price,
            market_price=D("1.085"),
        )
        request = SizeRequest(signal.volume, signal.volume_kind, D("1.085"), None)
        for leg, volume in enumerate(size_open(request, route.sizing, ACCOUNT, EURUSD)):
            intents.append(
                OrderIntent(
                    kind=IntentKind.OPEN,
                    client_order_id=client_order_id(signal.source, signal.dedupe_key, route.name, leg),
                    symbol=venue_symbol,
                    side=signal.side,
                    volume=volume,
                )
            )
    return intents


@pytest.mark.parametrize("followers", FAN_OUT)
def test_plan_followers(benchmark: Any, followers: int) -> None:
    guards = Guards(max_open_positions=50, allowed_sides=frozenset({Side.BUY, Side.SELL}))
    sizing = Sizing(SizingMode.EQUITY_RATIO, source_equity=D(100_000))
    routes = [(Route("tv", f"f{i:04d}", sizing, guards), AccountSymbols()) for i in range(followers)]
    signal = Signal(source="tv", action=Action.OPEN, symbol="OANDA:EURUSD", side=Side.BUY, volume=D("0.3"))
    intents = benchmark(plan, signal, routes, SymbolTable())
    assert len(intents) == followers and intents[0].volume == D("0.07")


def test_size_open(benchmark: Any) -> None:
    sizing = Sizing(SizingMode.EQUITY_RATIO, source_equity=D(100_000))
    request = SizeRequest(D("0.3"), VolumeKind.LOTS, D("1.085"), None)
    assert benchmark(size_open, request, sizing, ACCOUNT, EURUSD) == (D("0.07"),)


def test_client_order_id(benchmark: Any) -> None:
    cid = benchmark(client_order_id, "tv", "alert-42", "tv>f0001", 0)
    assert len(cid) == 22


def test_symbol_canonical(benchmark: Any) -> None:
    table = SymbolTable()
    assert benchmark(table.canonical, "OANDA:EURUSD") == "EURUSD"


# -- venue and log encoding --------------------------------------------------------------------


def test_paper_order(benchmark: Any) -> None:
    venue = PaperVenue(PaperConfig.from_mapping("p", {"balance": 10_000_000, "mode": "netting"}, prefix=""))
    counter = itertools.count()

    def one() -> object:
        index = next(counter)
        intent = OrderIntent(
            kind=IntentKind.OPEN,
            client_order_id=client_order_id("tv", str(index), "tv>p", 0),
            symbol="EURUSD",
            side=Side.BUY if index % 2 == 0 else Side.SELL,
            volume=D("0.10"),
        )
        return venue.execute(intent)

    order = benchmark(one)
    assert order is not None and len(venue.positions()) <= 1


def test_mirror_encode(benchmark: Any) -> None:
    record = {
        "ts": datetime.now(UTC),
        "mono_ns": 1_234_567_890_123,
        "event": "order_sent",
        "signal_id": "sg01hx3k2m9q7w4e5r6t7y8u9i0",
        "source": "tv",
        "account": "okx-follower-17",
        "venue": "okx",
        "symbol": "BTC-USDT-SWAP",
        "side": Side.BUY,
        "volume": D("0.012"),
        "client_order_id": "cpabcdefghijklmnopqrst",
        "status": "sent",
        "latency_us": 412,
    }
    line = benchmark(encode, record)
    assert line.endswith(b"\n") and b'"volume":"0.012"' in line
