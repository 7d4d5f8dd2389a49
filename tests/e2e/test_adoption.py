"""An order that reached a venue under Copier's id prefix while the journal lost it (a power cut
with the default fsync policy) is adopted at start, once: the real daemon against venue simulator
processes, the order placed at the simulator directly, not through Copier."""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from copier.journal import read_records
from copier.recovery import ADOPTED_SOURCE, ADOPTION_REASON
from core.connector import Connector
from core.enums import OrderType, Side
from core.orders import ExecutionReport, IntentKind, OrderIntent, client_order_id
from tests.e2e.daemon import RunningDaemon, running_daemon
from tests.e2e.sims import SimProcess, simulators
from tests.helpers import eventually_sync

pytestmark = pytest.mark.e2e

SYMBOL = {"binance": "BTCUSDT", "okx": "BTC-USDT-SWAP", "bybit": "BTCUSDT"}
LOST = client_order_id("tv", "lost-before-the-power-cut", "tv>follower", 0)
FOREIGN = "zz" + client_order_id("tv", "placed-by-another-program", "tv>follower", 0)[2:]


def connector_for(sim: SimProcess) -> Connector:
    ws = f"ws://127.0.0.1:{sim.port}"
    if sim.venue == "binance":
        from connectors.binance import BinanceConfig, BinanceConnector
        from tests.venues.binance_sim import DEFAULT_API_KEY, DEFAULT_API_SECRET

        return BinanceConnector(BinanceConfig(
            name="by-hand", api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET, base_url=sim.base_url,
            ws_url=f"{ws}/ws-fapi/v1", stream_url=ws))
    if sim.venue == "okx":
        from connectors.okx import OkxConfig, OkxConnector
        from tests.venues.okx_sim import API_KEY, API_SECRET, PASSPHRASE

        return OkxConnector(OkxConfig(
            name="by-hand", api_key=API_KEY, api_secret=API_SECRET, passphrase=PASSPHRASE, base_url=sim.base_url,
            ws_url=f"{ws}/ws/v5/private"))
    from connectors.bybit import BybitConfig, BybitConnector
    from tests.venues.bybit_sim import API_KEY as BYBIT_KEY
    from tests.venues.bybit_sim import API_SECRET as BYBIT_SECRET

    return BybitConnector(BybitConfig(
        name="by-hand", api_key=BYBIT_KEY, api_secret=BYBIT_SECRET, base_url=sim.base_url,
        ws_url=f"{ws}/v5/trade", private_ws_url=f"{ws}/v5/private"))


def place_at_the_venue(sim: SimProcess, *client_ids: str) -> list[ExecutionReport]:
    async def place() -> list[ExecutionReport]:
        conn = connector_for(sim)
        await conn.start()
        try:
            return [
                await conn.submit(OrderIntent(kind=IntentKind.OPEN, client_order_id=cid, symbol=SYMBOL[sim.venue],
                                              side=Side.BUY, volume=Decimal("0.010")))
                for cid in client_ids
            ]
        finally:
            await conn.stop()

    return asyncio.run(place())


def config(sim: SimProcess) -> str:
    return (
        '[[sources]]\nname = "tv"\nkind = "tradingview"\ntoken = "adoption-token"\n'
        + sim.account_toml("follower")
        + '[[routes]]\nsource = "tv"\naccount = "follower"\n'
    )


def events(daemon: RunningDaemon, name: str) -> list[dict[str, Any]]:
    return [e for e in daemon.events() if e["event"] == name]


def store_rows(data: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data / "copier.db") as db:
        return db.execute(sql, args).fetchall()


@pytest.mark.parametrize("venue", ["binance", "okx", "bybit"])
def test_an_order_the_journal_lost_is_adopted_once(tmp_path, venue):
    with simulators(venue) as (sim,):
        lost, _ = place_at_the_venue(sim, LOST, FOREIGN)

        with running_daemon(tmp_path, config(sim)) as daemon:
            [summary] = eventually_sync(lambda: events(daemon, "adoption"), timeout=30)
            assert summary["status"] == "done" and summary["detail"]["adopted"] == 1, summary
            [adopted] = events(daemon, "order_adopted")
            assert adopted["account"] == "follower" and adopted["venue"] == venue
            assert adopted["symbol"] == SYMBOL[venue] and adopted["side"] == "buy"
            assert Decimal(adopted["volume"]) == Decimal("0.010") and adopted["status"] == "filled"
            assert adopted["client_order_id"] == LOST and adopted["venue_order_id"] == lost.venue_order_id
            assert adopted["reason"] == ADOPTION_REASON
            [linked] = events(daemon, "position_linked")
            assert linked["client_order_id"] == LOST and linked["source"] == ADOPTED_SOURCE

            records = list(read_records(daemon.data / "journal"))
            [record] = [r for r in records if r.get("t") == "adopted"]
            assert record["cid"] == LOST and record["acct"] == "follower" and record["link"]["pending"] is False
            assert [r["source"] for r in records if r.get("t") == "link"] == [ADOPTED_SOURCE]
            assert not any(r.get("cid") == FOREIGN for r in records)

            # The store projector (a process of its own) sees the adopted order and its link.
            eventually_sync(lambda: store_rows(daemon.data, "SELECT status, signal_id FROM orders "
                                               "WHERE client_order_id = ?", LOST) == [("filled", None)], timeout=20)
            eventually_sync(lambda: store_rows(daemon.data, "SELECT source, closed FROM position_links "
                                               "WHERE client_order_id = ?", LOST) == [(ADOPTED_SOURCE, 0)],
                            timeout=20)

        with running_daemon(tmp_path, config(sim)) as daemon:
            second = eventually_sync(lambda: len(found := events(daemon, "adoption")) == 2 and found[1], timeout=30)
            assert second["detail"]["adopted"] == 0 and second["status"] == "done"
            assert len(events(daemon, "order_adopted")) == 1
            records = list(read_records(daemon.data / "journal"))
            assert [r["cid"] for r in records if r.get("t") == "adopted"] == [LOST]


def test_a_stop_entry_the_journal_lost_is_adopted_as_a_pending_order(tmp_path):
    """OKX keeps stop entries apart from its other orders (algo orders): a live one under Copier's
    prefix is found and linked as pending, under its algo id, which is what cancels it later."""
    stop = client_order_id("tv", "stop-entry-before-the-power-cut", "tv>follower", 0)
    with simulators("okx") as (sim,):

        async def place() -> ExecutionReport:
            conn = connector_for(sim)
            await conn.start()
            try:
                return await conn.submit(OrderIntent(
                    kind=IntentKind.OPEN, client_order_id=stop, symbol=SYMBOL["okx"], side=Side.BUY,
                    volume=Decimal("0.010"), order_type=OrderType.STOP, price=Decimal("90000")))
            finally:
                await conn.stop()

        placed = asyncio.run(place())
        assert placed.venue_order_id is not None and placed.venue_order_id.startswith("algo:")

        with running_daemon(tmp_path, config(sim)) as daemon:
            [summary] = eventually_sync(lambda: events(daemon, "adoption"), timeout=30)
            assert summary["status"] == "done" and summary["detail"]["adopted"] == 1, summary
            [adopted] = events(daemon, "order_adopted")
            assert adopted["client_order_id"] == stop and adopted["status"] == "accepted"
            assert adopted["venue_order_id"] == placed.venue_order_id
            records = list(read_records(daemon.data / "journal"))
            [record] = [r for r in records if r.get("t") == "adopted"]
            assert record["cid"] == stop and record["link"]["pending"] is True
