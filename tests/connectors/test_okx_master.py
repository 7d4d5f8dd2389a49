"""The OKX master source against the loopback OKX venue: the account's own fills (orders placed
with the master's keys through OKX's order API) become open, partial-close and close signals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import orjson
import pytest

from connectors.okx import OkxConfig, OkxConnector, parse
from connectors.okx.master import OkxMaster, canonical_symbol
from copier import config as copier_config
from copier.sources import build_sources
from core.connector import ConnectorState
from core.enums import Action, OrderType, Side, VolumeKind
from core.errors import ConfigError
from core.orders import IntentKind, OrderIntent
from core.signal import Signal
from tests.helpers import eventually
from tests.venues.okx_sim import API_KEY, API_SECRET, PASSPHRASE, OkxSim, SimSwap

D = Decimal


def config_for(sim: OkxSim, name: str = "master") -> OkxConfig:
    return OkxConfig(
        name=name,
        api_key=API_KEY,
        api_secret=API_SECRET,
        passphrase=PASSPHRASE,
        base_url=sim.base_url,
        ws_url=sim.ws_url,
        hedge_mode=sim.pos_mode == "long_short_mode",
        fill_wait=2.0,
        request_timeout=2.0,
    )


@asynccontextmanager
async def account(sim: OkxSim) -> AsyncIterator[tuple[OkxSim, OkxConnector]]:
    """The master account's own trading session: its orders go through OKX's order API."""
    await sim.start()
    trader = OkxConnector(config_for(sim, "trader"))
    try:
        await trader.start()
        yield sim, trader
    finally:
        await trader.stop()
        await sim.stop()


def open_(cid: str, volume: str, side: Side = Side.BUY, symbol: str = "BTC-USDT-SWAP", **kw: Any) -> OrderIntent:
    return OrderIntent(IntentKind.OPEN, cid, symbol, side, D(volume), **kw)


def close(cid: str, volume: str, side: Side, position_id: str) -> OrderIntent:
    return OrderIntent(IntentKind.CLOSE, cid, position_id.split(":")[0], side, D(volume), position_id=position_id)


async def test_master_fills_become_open_partial_close_and_close_signals() -> None:
    signals: list[Signal] = []
    async with account(OkxSim()) as (sim, trader):
        await trader.submit(open_("pre1", "0.5", Side.SELL, "ETH-USDT-SWAP"))  # held before the master starts
        master = OkxMaster(config_for(sim), signals.append, source="okx-master")
        await master.start()
        try:
            assert master.state is ConnectorState.UP
            assert master.positions == {("ETH-USDT-SWAP", "net"): D("-0.5")}
            resting = await trader.submit(
                open_("limit1", "0.0100", order_type=OrderType.LIMIT, price=D("50000"))
            )  # rests: its live push is no fill
            await trader.submit(open_("manual1", "0.0200"))
            await eventually(lambda: len(signals) == 1)
            await trader.submit(close("manual2", "0.0050", Side.BUY, "BTC-USDT-SWAP:net"))
            await eventually(lambda: len(signals) == 2)
            await trader.submit(close("manual3", "0.0150", Side.BUY, "BTC-USDT-SWAP:net"))
            await eventually(lambda: len(signals) == 3)
            await trader.submit(close("manual4", "0.2", Side.SELL, "ETH-USDT-SWAP:net"))
            await eventually(lambda: len(signals) == 4)
            await trader.submit(open_("flip1", "0.5", Side.BUY, "ETH-USDT-SWAP"))  # short 0.3 → long 0.2
            await eventually(lambda: len(signals) == 6)
            sim.set_price("BTC-USDT-SWAP", "49000")  # the resting limit buy fills at 50000
            await eventually(lambda: len(signals) == 7)
            assert master.positions == {("ETH-USDT-SWAP", "net"): D("0.2"), ("BTC-USDT-SWAP", "net"): D("0.01")}
            # The same push again (a replay) is recognised and yields nothing.
            assert master.handle(orjson.loads(signals[0].raw)) == []
        finally:
            await master.stop()
        assert master.state is ConnectorState.DOWN

    opened, part, full, eth_part, flip_close, flip_open, limit = signals
    assert all(s.source == "okx-master" for s in signals)
    assert (opened.action, opened.symbol, opened.side, opened.volume, opened.volume_kind) == (
        Action.OPEN,
        "BTCUSDT",
        Side.BUY,
        D("0.02"),
        VolumeKind.UNITS,
    )
    assert opened.price == D("65000")
    assert opened.position_ref == "okx:master:BTC-USDT-SWAP:net"
    row = orjson.loads(opened.raw)
    assert row["clOrdId"] == "manual1" and row["fillSz"] == "2"  # two contracts of 0.01 BTC on the wire
    assert opened.origin_id == f"{row['ordId']}:{row['tradeId']}"
    assert (part.action, part.side, part.volume, part.volume_kind) == (
        Action.CLOSE_PART,
        Side.BUY,
        D("0.25"),
        VolumeKind.FRACTION,
    )
    assert (full.action, full.side, full.volume) == (Action.CLOSE, Side.BUY, None)
    assert {part.position_ref, full.position_ref} == {opened.position_ref}
    assert (eth_part.action, eth_part.symbol, eth_part.side, eth_part.volume) == (
        Action.CLOSE_PART,
        "ETHUSDT",
        Side.SELL,
        D("0.4"),
    )
    assert eth_part.position_ref == "okx:master:ETH-USDT-SWAP:net"
    assert (flip_close.action, flip_close.side, flip_close.origin_id.endswith(":close")) == (
        Action.CLOSE,
        Side.SELL,
        True,
    )
    assert (flip_open.action, flip_open.side, flip_open.volume, flip_open.origin_id.endswith(":open")) == (
        Action.OPEN,
        Side.BUY,
        D("0.2"),
        True,
    )
    assert (limit.action, limit.side, limit.volume, limit.price) == (Action.OPEN, Side.BUY, D("0.01"), D("50000"))
    assert orjson.loads(limit.raw)["ordId"] == resting.venue_order_id
    assert len({s.origin_id for s in signals}) == len(signals)


async def test_hedge_mode_positions_are_told_apart_by_pos_side() -> None:
    signals: list[Signal] = []
    async with account(OkxSim(pos_mode="long_short_mode")) as (sim, trader):
        master = OkxMaster(config_for(sim), signals.append)
        await master.start()
        try:
            await trader.submit(open_("long1", "0.0400"))
            await trader.submit(open_("short1", "0.0100", Side.SELL))
            await eventually(lambda: len(signals) == 2)
            await trader.submit(close("long2", "0.0100", Side.BUY, "BTC-USDT-SWAP:long"))
            await eventually(lambda: len(signals) == 3)
            await trader.submit(close("short2", "0.0100", Side.SELL, "BTC-USDT-SWAP:short"))
            await eventually(lambda: len(signals) == 4)
        finally:
            await master.stop()
    long_open, short_open, long_part, short_close = signals
    assert master.source == "okx:master"
    assert (long_open.action, long_open.side, long_open.volume) == (Action.OPEN, Side.BUY, D("0.04"))
    assert (short_open.action, short_open.side, short_open.volume) == (Action.OPEN, Side.SELL, D("0.01"))
    assert long_open.position_ref == "okx:master:BTC-USDT-SWAP:long"
    assert short_open.position_ref == "okx:master:BTC-USDT-SWAP:short"
    assert (long_part.action, long_part.side, long_part.volume, long_part.position_ref) == (
        Action.CLOSE_PART,
        Side.BUY,
        D("0.25"),
        long_open.position_ref,
    )
    assert (short_close.action, short_close.side, short_close.position_ref) == (
        Action.CLOSE,
        Side.SELL,
        short_open.position_ref,
    )


async def test_positions_are_read_again_after_a_reconnect() -> None:
    signals: list[Signal] = []
    async with account(OkxSim()) as (sim, trader):
        master = OkxMaster(config_for(sim), signals.append)
        await master.start()
        try:
            await trader.submit(open_("before1", "0.0200"))
            await eventually(lambda: len(signals) == 1)
            # A trade whose pushes are lost (as when the socket is down): the master does not see
            # it, and the snapshot at its next login brings the size back.
            pushes = sim._push
            sim._push = lambda channel, row: None  # type: ignore[method-assign]
            args = {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "2"}
            sim.place({**args, "clOrdId": "gap1"}, 0)
            sim._push = pushes  # type: ignore[method-assign]
            assert master.positions == {("BTC-USDT-SWAP", "net"): D("0.02")}
            await sim.drop_sockets()
            await eventually(lambda: master.positions.get(("BTC-USDT-SWAP", "net")) == D("0.04"))
            await eventually(lambda: master.client.ws_ready and master.state is ConnectorState.UP)
            await trader.submit(close("after1", "0.0100", Side.BUY, "BTC-USDT-SWAP:net"))
            await eventually(lambda: len(signals) == 2)
        finally:
            await master.stop()
    assert [s.action for s in signals] == [Action.OPEN, Action.CLOSE_PART]
    assert signals[1].volume == D("0.25")


def modify(cid: str, position_id: str, side: Side, sl: str | None = None, tp: str | None = None) -> OrderIntent:
    return OrderIntent(
        IntentKind.MODIFY,
        cid,
        position_id.split(":")[0],
        side,
        D(0),
        position_id=position_id,
        sl=D(sl) if sl else None,
        tp=D(tp) if tp else None,
    )


def levels(signal: Signal) -> tuple[Decimal | None, Decimal | None]:
    return (signal.sl.value if signal.sl else None, signal.tp.value if signal.tp else None)


async def test_stop_loss_and_take_profit_changes_become_modify_signals() -> None:
    signals: list[Signal] = []
    async with account(OkxSim()) as (sim, trader):
        master = OkxMaster(config_for(sim), signals.append)
        await master.start()
        try:
            # SL/TP attached to the entry: the algo order appears once the entry has filled.
            await trader.submit(open_("entry1", "0.0200", sl=D("60000"), tp=D("70000")))
            await eventually(lambda: len(signals) == 2)
            # The master moves its stop on the position (a new order, the old one canceled).
            await trader.submit(modify("move1", "BTC-USDT-SWAP:net", Side.BUY, sl="64000"))
            await eventually(lambda: len(signals) == 3)
            # An amended trigger price.
            algo_id = next(a["algoId"] for a in sim.algos.values() if a["state"] == "live")
            sim.amend_algos({"instId": "BTC-USDT-SWAP", "algoId": algo_id, "newTpTriggerPx": "71000"})
            await eventually(lambda: len(signals) == 4)
            # The same push again is no change.
            assert master.handle_algo(sim.algos[algo_id]) == []
            # Closing cancels the position's SL/TP orders: a close, no modify.
            await trader.submit(close("exit1", "0.0200", Side.SELL, "BTC-USDT-SWAP:net"))
            await eventually(lambda: len(signals) == 5)
            await eventually(lambda: all(a["state"] != "live" for a in sim.algos.values()))
            # A new position without levels gets none of the old ones.
            await trader.submit(open_("entry2", "0.0100"))
            await eventually(lambda: len(signals) == 6)
        finally:
            await master.stop()
    opened, first, moved, amended, closed, reopened = signals
    assert opened.action is Action.OPEN and (opened.sl, opened.tps) == (None, ())
    assert first.action is Action.MODIFY and levels(first) == (D("60000"), D("70000"))
    assert (first.side, first.symbol, first.position_ref) == (Side.BUY, "BTCUSDT", opened.position_ref)
    assert moved.action is Action.MODIFY and levels(moved) == (D("64000"), D("70000"))
    assert amended.action is Action.MODIFY and levels(amended) == (D("64000"), D("71000"))
    assert (closed.action, reopened.action) == (Action.CLOSE, Action.OPEN)
    assert master.levels.copied == {}
    assert len({s.origin_id for s in signals}) == len(signals)


async def test_a_flips_new_stop_pushed_before_its_fill_is_copied_to_the_new_side() -> None:
    """OKX pushes ``orders`` and ``orders-algo`` on separate channels; the stop attached to a
    one-way flip's entry may arrive before the fill that turns the position."""
    signals: list[Signal] = []
    async with account(OkxSim()) as (sim, trader):
        master = OkxMaster(config_for(sim), signals.append)
        await master.start()
        try:
            await trader.submit(open_("long1", "0.0200", sl=D("60000")))
            await eventually(lambda: len(signals) == 2)  # the open and its stop
            held: list[tuple[str, dict[str, Any]]] = []
            pushes = sim._push

            def algo_first(channel: str, row: dict[str, Any]) -> None:
                if channel in ("orders", "positions") and row.get("side", "sell") == "sell":
                    held.append((channel, dict(row)))
                    return
                pushes(channel, row)
                if channel == "orders-algo" and row.get("side") == "buy" and row.get("state") == "live":
                    for channel_held, row_held in held:
                        pushes(channel_held, row_held)

            sim._push = algo_first  # type: ignore[method-assign]
            await trader.submit(open_("flip1", "0.0400", Side.SELL, sl=D("70000")))
            await eventually(lambda: len(signals) == 5)
            sim._push = pushes  # type: ignore[method-assign]
        finally:
            await master.stop()
    opened, first_stop, closed, short, short_stop = signals
    assert (opened.action, levels(first_stop)) == (Action.OPEN, (D("60000"), None))
    assert (closed.action, short.action, short.side) == (Action.CLOSE, Action.OPEN, Side.SELL)
    assert short_stop.action is Action.MODIFY and levels(short_stop) == (D("70000"), None)
    assert short_stop.side is Side.SELL and short_stop.position_ref == short.position_ref
    assert master.levels.copied == {("BTC-USDT-SWAP", "net"): (D("70000"), None)}


async def test_levels_changed_while_disconnected_are_copied_at_the_next_login() -> None:
    signals: list[Signal] = []
    async with account(OkxSim()) as (sim, trader):
        await trader.submit(open_("held1", "0.0200", sl=D("60000")))  # before the master starts
        master = OkxMaster(config_for(sim), signals.append)
        await master.start()
        try:
            # Levels found at the first login are recorded, not sent: nothing says what the
            # followers carry.
            assert master.levels.copied == {("BTC-USDT-SWAP", "net"): (D("60000"), None)}
            pushes = sim._push
            sim._push = lambda channel, row: None  # type: ignore[method-assign]
            algo_id = next(a["algoId"] for a in sim.algos.values() if a["state"] == "live")
            sim.amend_algos({"instId": "BTC-USDT-SWAP", "algoId": algo_id, "newSlTriggerPx": "62000"})
            sim._push = pushes  # type: ignore[method-assign]
            await sim.drop_sockets()
            await eventually(lambda: len(signals) == 1)
        finally:
            await master.stop()
    (moved,) = signals
    assert moved.action is Action.MODIFY and levels(moved) == (D("62000"), None)
    assert moved.position_ref == "okx:master:BTC-USDT-SWAP:net"


async def test_the_login_snapshot_reads_every_page_and_the_newest_order_gives_the_level() -> None:
    signals: list[Signal] = []
    async with account(OkxSim()) as (sim, trader):
        await trader.submit(open_("held1", "0.0200"))
        for index in range(130):  # more than one page of 100, oldest first
            sim.place_algo(
                {
                    "instId": "BTC-USDT-SWAP",
                    "side": "sell",
                    "ordType": "conditional",
                    "closeFraction": "1",
                    "slTriggerPx": str(50000 + index),
                }
            )
        master = OkxMaster(config_for(sim), signals.append)
        await master.start()
        try:
            assert master.levels.copied == {("BTC-USDT-SWAP", "net"): (D("50129"), None)}
            assert len(master.levels._orders) == 130
        finally:
            await master.stop()
    assert signals == []


def _spec_master(signals: list[Signal]) -> OkxMaster:
    master = OkxMaster(OkxConfig(name="m", api_key="k", api_secret="s", passphrase="p"), signals.append, source="m")
    spec = parse.swap_spec(SimSwap("BTC-USDT-SWAP", ct_val="0.01", lot_sz="0.01", min_sz="0.01", tick_sz="0.1").row())
    assert spec is not None
    master._specs = {spec.inst_id: spec}
    return master


def _row(state: str, fill: str, acc: str, trade: str, **kw: str) -> dict[str, str]:
    row = {"instId": "BTC-USDT-SWAP", "ordId": "77", "clOrdId": "", "side": "buy", "posSide": "net"}
    row.update(state=state, fillSz=fill, accFillSz=acc, fillPx="65000", tradeId=trade, reduceOnly="false")
    row.update(kw)
    return row


def test_partial_fills_are_copied_as_they_trade_and_non_fills_are_ignored() -> None:
    signals: list[Signal] = []
    master = _spec_master(signals)
    assert master.handle(_row("live", "0", "0", "")) == []
    first = master.handle(_row("partially_filled", "1", "1", "9001"))
    assert [(s.action, s.volume) for s in first] == [(Action.OPEN, D("0.01"))]
    assert master.handle(_row("partially_filled", "1", "1", "9001")) == []  # the same fill pushed again
    assert master.handle(_row("canceled", "1", "1", "9001")) == []  # canceled after the partial fill
    second = master.handle(_row("filled", "2", "3", "9002"))
    assert [(s.action, s.volume, s.origin_id) for s in second] == [(Action.OPEN, D("0.02"), "77:9002")]
    assert master.positions == {("BTC-USDT-SWAP", "net"): D("0.03")}
    assert signals == first + second
    # A fill on an instrument that is not a listed linear swap is not copied.
    assert master.handle(_row("filled", "1", "1", "9003", instId="BTC-USD-SWAP")) == []


def test_a_reducing_fill_never_opens_or_flips() -> None:
    signals: list[Signal] = []
    master = _spec_master(signals)
    # Nothing held: a reduce-only (or hedge-mode closing) fill is no open.
    assert master.handle(_row("filled", "1", "1", "1", side="sell", reduceOnly="true")) == []
    assert master.handle(_row("filled", "1", "1", "2", side="sell", posSide="long")) == []
    master.handle(_row("filled", "1", "1", "3", ordId="78"))
    # More than the master knows of is reduced: the position is closed, not flipped.
    closed = master.handle(_row("filled", "2", "2", "4", ordId="79", side="sell", reduceOnly="true"))
    assert [(s.action, s.side) for s in closed] == [(Action.CLOSE, Side.BUY)]
    assert master.positions == {}
    assert canonical_symbol("ETH-USDT-SWAP") == "ETHUSDT"


def test_an_okx_source_is_configured_like_an_okx_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKX_MASTER_KEY", "key-1")
    monkeypatch.setenv("OKX_MASTER_SECRET", "secret-1")
    monkeypatch.setenv("OKX_MASTER_PASS", "pass-1")
    text = (
        '[[sources]]\nname = "lead"\nkind = "okx"\napi_key = "env:OKX_MASTER_KEY"\n'
        'api_secret = "env:OKX_MASTER_SECRET"\npassphrase = "env:OKX_MASTER_PASS"\ndemo = true\n'
    )
    cfg = copier_config.parse(text)
    (source,) = cfg.sources
    assert source.kind == "okx" and isinstance(source.venue_config, OkxConfig)
    okx = source.venue_config
    assert (okx.api_key, okx.api_secret, okx.passphrase, okx.demo) == ("key-1", "secret-1", "pass-1", True)
    assert "secret-1" not in repr(okx)
    (built,) = build_sources(cfg.sources, lambda s: None, None, cfg.data_dir)  # type: ignore[arg-type,return-value]
    assert isinstance(built, OkxMaster) and built.source == "lead"
    with pytest.raises(ConfigError) as unknown:
        copier_config.parse(text + 'colour = "red"\n')
    assert unknown.value.path == "sources[0].colour"
    assert unknown.value.line == 8
    monkeypatch.delenv("OKX_MASTER_SECRET")
    with pytest.raises(ConfigError) as missing:
        copier_config.parse(text)
    assert missing.value.path == "sources[0].api_secret" and "secret-1" not in str(missing.value)
