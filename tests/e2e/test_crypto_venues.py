"""One alert to followers on Binance, OKX, Bybit and paper, through the real daemon and simulator processes."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from decimal import Decimal

from tests.e2e.daemon import running_daemon
from tests.e2e.sims import simulators
from tests.helpers import eventually_sync

TOKEN = "crypto-e2e"


def sim_orders(sim) -> list[dict]:
    with urllib.request.urlopen(sim.base_url + "/__sim/orders", timeout=5) as response:
        return json.loads(response.read())


def volumes(daemon, account: str) -> dict[str, Decimal]:
    status, body = daemon.api_get(f"/api/v1/accounts/{account}/positions")
    assert status == 200, body
    return {p["symbol"]: Decimal(p["volume"]) for p in body}


def levels(daemon, account: str) -> list[tuple[Decimal | None, Decimal | None]]:
    status, body = daemon.api_get(f"/api/v1/accounts/{account}/positions")
    assert status == 200, body
    return [(Decimal(p["sl"]) if p.get("sl") else None, Decimal(p["tp"]) if p.get("tp") else None) for p in body]


def routes(source: str, accounts: list[str], factor: str) -> str:
    return "".join(
        f'[[routes]]\nsource = "{source}"\naccount = "{a}"\nsizing = {{ mode = "multiplier", factor = {factor} }}\n'
        for a in accounts
    )


def test_alert_fans_out_to_every_venue_rounded_to_each_step(tmp_path):
    with simulators("binance", "okx", "bybit") as (binance, okx, bybit):
        config = (
            f'[[sources]]\nname = "tv"\nkind = "tradingview"\ntoken = "{TOKEN}"\n'
            + binance.account_toml("bin")
            + okx.account_toml("okx")
            + bybit.account_toml("byb")
            + '[[accounts]]\nname = "pap"\nvenue = "paper"\nbalance = 100000\n'
            + routes("tv", ["bin", "okx", "byb", "pap"], "1.5")
        )
        with running_daemon(tmp_path, config) as daemon:
            # 0.0123 × 1.5 = 0.01845: 0.018 at step 0.001 (Binance, Bybit, paper), 0.0184 on OKX (step 0.0001)
            status, body = daemon.post(f"/webhook/tv?token={TOKEN}",
                                       {"action": "buy", "symbol": "BINANCE:BTCUSDT.P", "volume": "0.0123"})
            assert status == 200 and body["followers"] == 4, body
            expected = {"bin": ("BTCUSDT", "0.018"), "okx": ("BTC-USDT-SWAP", "0.0184"),
                        "byb": ("BTCUSDT", "0.018"), "pap": ("BTCUSDT", "0.018")}
            for account, (symbol, volume) in expected.items():
                eventually_sync(lambda a=account, s=symbol, v=volume: volumes(daemon, a) == {s: Decimal(v)})
            okx_wire = [o for o in sim_orders(okx) if o["side"] in ("buy", "BUY")]
            assert okx_wire and Decimal(str(okx_wire[0]["qty"])) in (Decimal("1.84"), Decimal("0.0184"))

            daemon.post(f"/webhook/tv?token={TOKEN}", {"action": "close", "symbol": "BTCUSDT", "percent": 50})
            halves = {"bin": "0.009", "okx": "0.0092", "byb": "0.009", "pap": "0.009"}
            for account, volume in halves.items():
                symbol = expected[account][0]
                eventually_sync(lambda a=account, s=symbol, v=volume: volumes(daemon, a) == {s: Decimal(v)})

            daemon.post(f"/webhook/tv?token={TOKEN}", {"action": "close", "symbol": "BTCUSDT"})
            for account in expected:
                eventually_sync(lambda a=account: volumes(daemon, a) == {})
            sent = eventually_sync(lambda: len(s := [e for e in daemon.events() if e["event"] == "order_sent"]) == 12
                                   and s)
            assert {e["venue"] for e in sent} == {"binance", "okx", "bybit", "paper"}


def test_binance_master_trades_are_copied_to_okx_and_bybit(tmp_path):
    from connectors.binance import BinanceConfig, BinanceConnector
    from core.enums import Side
    from core.orders import IntentKind, OrderIntent
    from tests.venues.binance_sim import DEFAULT_API_KEY, DEFAULT_API_SECRET

    with simulators("binance", "okx", "bybit") as (master, okx, bybit):
        config = master.source_toml("master") + okx.account_toml("okx") + bybit.account_toml("byb")
        config += routes("master", ["okx", "byb"], "1")
        with running_daemon(tmp_path, config) as daemon:
            eventually_sync(lambda: any(e["event"] == "daemon_started" for e in daemon.events()))

            async def trade_on_master(intent: OrderIntent) -> None:
                conn = BinanceConnector(BinanceConfig(
                    name="manual", api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET, base_url=master.base_url,
                    ws_url=f"ws://127.0.0.1:{master.port}/ws-fapi/v1", stream_url=f"ws://127.0.0.1:{master.port}"))
                await conn.start()
                try:
                    await conn.submit(intent)
                finally:
                    await conn.stop()

            asyncio.run(trade_on_master(OrderIntent(kind=IntentKind.OPEN, client_order_id="manual01",
                                                    symbol="BTCUSDT", side=Side.BUY, volume=Decimal("0.020"))))
            eventually_sync(lambda: volumes(daemon, "okx") == {"BTC-USDT-SWAP": Decimal("0.02")}, timeout=15)
            eventually_sync(lambda: volumes(daemon, "byb") == {"BTCUSDT": Decimal("0.020")}, timeout=15)

            # The master sets a stop on its position: the followers' positions get it.
            asyncio.run(trade_on_master(OrderIntent(kind=IntentKind.MODIFY, client_order_id="manual0s",
                                                    symbol="BTCUSDT", side=Side.BUY, volume=Decimal(0),
                                                    position_id="BTCUSDT:BOTH", sl=Decimal("50000"))))
            for follower in ("okx", "byb"):
                eventually_sync(lambda f=follower: levels(daemon, f) == [(Decimal("50000"), None)], timeout=15)

            asyncio.run(trade_on_master(OrderIntent(kind=IntentKind.CLOSE, client_order_id="manual02",
                                                    symbol="BTCUSDT", side=Side.BUY, volume=Decimal("0.010"),
                                                    position_id="BTCUSDT:BOTH", reduce_only=True)))
            eventually_sync(lambda: volumes(daemon, "okx") == {"BTC-USDT-SWAP": Decimal("0.01")}, timeout=15)
            eventually_sync(lambda: volumes(daemon, "byb") == {"BTCUSDT": Decimal("0.010")}, timeout=15)


def test_okx_master_trades_are_copied_to_bybit_and_paper(tmp_path):
    from connectors.okx import OkxConfig, OkxConnector
    from core.enums import Side
    from core.orders import IntentKind, OrderIntent
    from tests.venues.okx_sim import API_KEY, API_SECRET, PASSPHRASE

    with simulators("okx", "bybit") as (master, bybit):
        config = master.source_toml("master") + bybit.account_toml("byb")
        config += '[[accounts]]\nname = "pap"\nvenue = "paper"\nbalance = 100000\n'
        config += routes("master", ["byb", "pap"], "1")
        with running_daemon(tmp_path, config) as daemon:
            eventually_sync(lambda: any(e["event"] == "daemon_started" for e in daemon.events()))

            async def trade_on_master(intent: OrderIntent) -> None:
                conn = OkxConnector(OkxConfig(
                    name="manual", api_key=API_KEY, api_secret=API_SECRET, passphrase=PASSPHRASE,
                    base_url=master.base_url, ws_url=f"ws://127.0.0.1:{master.port}/ws/v5/private"))
                await conn.start()
                try:
                    await conn.submit(intent)
                finally:
                    await conn.stop()

            # 0.02 BTC is 2 contracts of 0.01 BTC on OKX; the followers trade it in BTC.
            asyncio.run(trade_on_master(OrderIntent(kind=IntentKind.OPEN, client_order_id="manual01",
                                                    symbol="BTC-USDT-SWAP", side=Side.BUY, volume=Decimal("0.02"))))
            assert [Decimal(o["qty"]) for o in sim_orders(master)] == [2]
            eventually_sync(lambda: volumes(daemon, "byb") == {"BTCUSDT": Decimal("0.020")}, timeout=15)
            eventually_sync(lambda: volumes(daemon, "pap") == {"BTCUSDT": Decimal("0.020")}, timeout=15)

            # The master puts a stop and a target on its position: the followers' positions get them.
            asyncio.run(trade_on_master(OrderIntent(kind=IntentKind.MODIFY, client_order_id="manual0s",
                                                    symbol="BTC-USDT-SWAP", side=Side.BUY, volume=Decimal(0),
                                                    position_id="BTC-USDT-SWAP:net", sl=Decimal("50000"),
                                                    tp=Decimal("80000"))))
            for follower in ("byb", "pap"):
                eventually_sync(lambda f=follower: levels(daemon, f) == [(Decimal("50000"), Decimal("80000"))],
                                timeout=15)

            # A quarter of the master's position closed: a quarter of each follower's.
            asyncio.run(trade_on_master(OrderIntent(kind=IntentKind.CLOSE, client_order_id="manual02",
                                                    symbol="BTC-USDT-SWAP", side=Side.BUY, volume=Decimal("0.005"),
                                                    position_id="BTC-USDT-SWAP:net")))
            eventually_sync(lambda: volumes(daemon, "byb") == {"BTCUSDT": Decimal("0.015")}, timeout=15)
            eventually_sync(lambda: volumes(daemon, "pap") == {"BTCUSDT": Decimal("0.015")}, timeout=15)

            asyncio.run(trade_on_master(OrderIntent(kind=IntentKind.CLOSE, client_order_id="manual03",
                                                    symbol="BTC-USDT-SWAP", side=Side.BUY, volume=Decimal("0.015"),
                                                    position_id="BTC-USDT-SWAP:net")))
            eventually_sync(lambda: volumes(daemon, "byb") == {}, timeout=15)
            eventually_sync(lambda: volumes(daemon, "pap") == {}, timeout=15)

            # The mirror log is written a few milliseconds after the fact: wait for all three.
            accepted = eventually_sync(lambda: len(a := [e for e in daemon.events() if e["event"] == "signal_accepted"
                                                         and e["source"] == "master"]) >= 4 and a)
            assert [(e["detail"]["action"], e["symbol"]) for e in accepted] == [
                ("open", "BTCUSDT"), ("modify", "BTCUSDT"), ("close_part", "BTCUSDT"), ("close", "BTCUSDT")]
            assert all(e["detail"]["followers"] == 2 for e in accepted)
