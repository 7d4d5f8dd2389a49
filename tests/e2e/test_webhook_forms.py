"""TradingView alert forms through the running daemon to paper followers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.e2e.daemon import running_daemon
from tests.helpers import eventually_sync

TOKEN = "forms-token-42"

CONFIG = """
[[sources]]
name = "tv"
kind = "tradingview"
token = "env:TV_TOKEN"
mode = "target"
max_age = 120

[[accounts]]
name = "paper-a"
venue = "paper"
balance = 10000

[[accounts]]
name = "paper-b"
venue = "paper"
balance = 5000
mode = "netting"

[[routes]]
source = "tv"
account = "paper-a"

[[routes]]
source = "tv"
account = "paper-b"
sizing = { mode = "equity_ratio", source_equity = 10000 }
"""

TEXT = {"Content-Type": "text/plain; charset=utf-8"}


def positions(daemon, account: str) -> dict[str, dict]:
    status, body = daemon.api_get(f"/api/v1/accounts/{account}/positions")
    assert status == 200
    return {p["symbol"]: p for p in body}


def volume(daemon, account: str, symbol: str) -> Decimal | None:
    found = positions(daemon, account).get(symbol)
    return Decimal(found["volume"]) if found else None


def test_pineconnector_text_alert_opens_sized_positions_and_a_resend_does_not_double(tmp_path):
    with running_daemon(tmp_path, CONFIG, env={"TV_TOKEN": TOKEN}) as daemon:
        alert = b"60123456789,buy,EURUSD,risk=1,sl=20,tp=40"
        status, body = daemon.post(f"/webhook/tv?token={TOKEN}", alert, headers=TEXT)
        assert status == 200 and body["ok"] and body["followers"] == 2
        # risk 1% of each follower's equity over a 20-pip stop (EURUSD 1.08500, 0.0001 a pip)
        eventually_sync(lambda: volume(daemon, "paper-a", "EURUSD") == Decimal("0.50"))
        eventually_sync(lambda: volume(daemon, "paper-b", "EURUSD") == Decimal("0.25"))
        opened = positions(daemon, "paper-a")["EURUSD"]
        assert (Decimal(opened["sl"]), Decimal(opened["tp"])) == (Decimal("1.083"), Decimal("1.089"))

        status, again = daemon.post(
            f"/webhook/tv?token={TOKEN}", b"60123456789, buy , EURUSD, risk=1, sl=20, tp=40", headers=TEXT
        )
        assert status == 200 and again["duplicate"] and again["signal_id"] == body["signal_id"]
        eventually_sync(lambda: any(e["event"] == "signal_duplicate" for e in daemon.events()))
        assert volume(daemon, "paper-a", "EURUSD") == Decimal("0.50")
        assert volume(daemon, "paper-b", "EURUSD") == Decimal("0.25")

        status, body = daemon.post(f"/webhook/tv?token={TOKEN}", b"60123456789,closelong,EURUSD", headers=TEXT)
        assert status == 200
        eventually_sync(
            lambda: volume(daemon, "paper-a", "EURUSD") is None and volume(daemon, "paper-b", "EURUSD") is None
        )


def test_strategy_alerts_in_target_mode_and_placeholders(tmp_path):
    with running_daemon(tmp_path, CONFIG, env={"TV_TOKEN": TOKEN}) as daemon:
        now = datetime.now(UTC)

        def strategy(action: str, contracts: str, size: str, offset: int) -> dict[str, str]:
            stamp = (now + timedelta(seconds=offset)).isoformat()
            return {
                "passphrase": TOKEN,
                "ticker": "XAUUSD",
                "timenow": stamp,
                "strategy": {"order_action": action, "order_contracts": contracts, "position_size": size},
            }

        status, body = daemon.post("/webhook/tv", strategy("buy", "0.3", "0.3", 0))
        assert status == 200 and body["followers"] == 2
        eventually_sync(lambda: volume(daemon, "paper-a", "XAUUSD") == Decimal("0.30"))
        eventually_sync(lambda: volume(daemon, "paper-b", "XAUUSD") == Decimal("0.15"))

        # a partial exit is a sell of 0.1: in target mode the follower goes to the new size, not short
        status, _ = daemon.post("/webhook/tv", strategy("sell", "0.1", "0.2", 1))
        assert status == 200
        eventually_sync(lambda: volume(daemon, "paper-a", "XAUUSD") == Decimal("0.20"))
        eventually_sync(lambda: volume(daemon, "paper-b", "XAUUSD") == Decimal("0.10"))

        status, _ = daemon.post("/webhook/tv", strategy("sell", "0.2", "0", 2))
        assert status == 200
        eventually_sync(
            lambda: volume(daemon, "paper-a", "XAUUSD") is None and volume(daemon, "paper-b", "XAUUSD") is None
        )

        template = (
            b'{"passphrase": "%s", "ticker": "{{ticker}}", "action": "{{strategy.order.action}}"}' % TOKEN.encode()
        )
        status, body = daemon.post("/webhook/tv", template)
        assert status == 422 and body["field"] == "placeholders"
        assert body["placeholders"] == ["{{ticker}}", "{{strategy.order.action}}"]
        assert "{{strategy.order.action}}" in body["error"]

        stale = strategy("buy", "0.3", "0.3", -600)
        status, body = daemon.post("/webhook/tv", stale)
        assert status == 422 and body["field"] == "time" and "120 s" in body["error"]
        eventually_sync(lambda: {e["status"] for e in daemon.events() if e["event"] == "signal_rejected"} == {"422"})
