"""The real daemon process, its webhook and API, two paper followers."""

from __future__ import annotations

import signal
from decimal import Decimal

from tests.e2e.daemon import running_daemon
from tests.helpers import eventually_sync

CONFIG = """
[[sources]]
name = "tv"
kind = "tradingview"
token = "env:TV_TOKEN"

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
sizing = { mode = "multiplier", factor = 2 }
symbols = { EURUSD = "EURUSD" }

[[routes]]
source = "tv"
account = "paper-b"
sizing = { mode = "equity_ratio", source_equity = 10000 }
"""

TOKEN = "e2e-token-123"


def positions(daemon, account):
    status, body = daemon.api_get(f"/api/v1/accounts/{account}/positions")
    assert status == 200
    return {p["symbol"]: Decimal(p["volume"]) for p in body}


def test_webhook_to_paper_followers_and_back(tmp_path):
    with running_daemon(tmp_path, CONFIG, env={"TV_TOKEN": TOKEN}) as daemon:
        status, body = daemon.post(f"/webhook/tv?token={TOKEN}",
                                   {"action": "buy", "symbol": "EURUSD", "volume": 0.15, "sl": 1.08, "tp": 1.09})
        assert status == 200 and body["ok"] and body["followers"] == 2
        eventually_sync(lambda: positions(daemon, "paper-a") == {"EURUSD": Decimal("0.30")})
        eventually_sync(lambda: positions(daemon, "paper-b") == {"EURUSD": Decimal("0.07")})  # 0.075 ↓ step

        status, _ = daemon.post("/webhook/tv", {"action": "close", "symbol": "EURUSD", "percent": 50,
                                                "passphrase": TOKEN})
        assert status == 200
        eventually_sync(lambda: positions(daemon, "paper-a") == {"EURUSD": Decimal("0.15")})
        eventually_sync(lambda: positions(daemon, "paper-b") == {"EURUSD": Decimal("0.04")})  # 0.035 ↓ → 0.03 closed

        status, _ = daemon.post(f"/webhook/tv?token={TOKEN}", {"action": "close", "symbol": "EURUSD"})
        assert status == 200
        eventually_sync(lambda: positions(daemon, "paper-a") == {} and positions(daemon, "paper-b") == {})

        sent = eventually_sync(lambda: len(s := [e for e in daemon.events() if e["event"] == "order_sent"]) == 6 and s)
        assert all(e["latency_us"] >= 0 for e in sent)
        assert {e["account"] for e in sent} == {"paper-a", "paper-b"}


def test_bad_requests_are_refused_with_reasons(tmp_path):
    with running_daemon(tmp_path, CONFIG, env={"TV_TOKEN": TOKEN}) as daemon:
        status, body = daemon.post("/webhook/tv?token=wrong", {"action": "buy", "symbol": "EURUSD", "volume": 1})
        assert status == 401 and body["error"] == "invalid token"
        status, body = daemon.post("/webhook/tv", {"action": "buy", "symbol": "EURUSD", "volume": 1})
        assert status == 401 and "missing token" in body["error"]
        status, body = daemon.post(f"/webhook/tv?token={TOKEN}", b'{"action": "buy", "symbol": ')
        assert status == 400 and body["error"].startswith("malformed JSON")
        status, body = daemon.post(f"/webhook/tv?token={TOKEN}", {"action": "hold", "symbol": "EURUSD"})
        assert status == 422 and body["field"] == "action"
        status, body = daemon.post(f"/webhook/nosuch?token={TOKEN}", {"action": "buy"})
        assert status == 404

        status, body = daemon.post(f"/webhook/tv?token={TOKEN}", {"action": "buy", "symbol": "WIDGETS", "volume": 1})
        assert status == 200
        signal_id = body["signal_id"]

        def skipped():
            code, record = daemon.api_get(f"/api/v1/signals/{signal_id}")
            assert code == 200
            reasons = {f["account"]: (f["status"], f["reason"]) for f in record["followers"]}
            assert reasons["paper-a"][0] == "skipped" and reasons["paper-b"][0] == "skipped"
            return reasons

        reasons = eventually_sync(skipped)
        assert "WIDGETS is not traded on account paper-a" in reasons["paper-a"][1]
        logged = eventually_sync(lambda: [e for e in daemon.events() if e["event"] == "order_skipped"])
        assert {e["account"] for e in logged} == {"paper-a", "paper-b"}
        assert all("WIDGETS" in e["reason"] for e in logged)
        eventually_sync(
            lambda: {e["status"] for e in daemon.events() if e["event"] == "signal_rejected"} >= {"401", "400", "422"}
        )


def test_api_scopes_signals_and_kill_switch(tmp_path):
    extra = CONFIG + '\n[[api_keys]]\nname = "viewer"\nkey = "env:VIEW_KEY"\nscopes = ["read"]\n'
    with running_daemon(tmp_path, extra, env={"TV_TOKEN": TOKEN, "VIEW_KEY": "viewer-key-1"}) as daemon:
        status, body = daemon.api_get("/api/v1/accounts", key="nope")
        assert status == 401
        status, body = daemon.api_get("/api/v1/accounts", key="viewer-key-1")
        assert status == 200 and [a["name"] for a in body] == ["paper-a", "paper-b"]
        status, _ = daemon.api_post("/api/v1/signals", {"action": "open", "symbol": "XAUUSD", "side": "buy",
                                                        "volume": "0.1"}, key="viewer-key-1")
        assert status == 403
        status, body = daemon.api_post("/api/v1/signals", {"action": "open", "symbol": "XAUUSD", "side": "buy",
                                                           "volume": "0.1", "id": "rest-1"})
        assert status == 200 and body["accepted"]
        status, again = daemon.api_post("/api/v1/signals", {"action": "open", "symbol": "XAUUSD", "side": "buy",
                                                            "volume": "0.1", "id": "rest-1"})
        assert status == 200 and not again["accepted"] and again["duplicate_of"] == body["signal_id"]
        eventually_sync(lambda: positions(daemon, "paper-a") == {"XAUUSD": Decimal("0.20")})

        status, body = daemon.api_post("/api/v1/kill-switch", {"on": True})
        assert status == 200 and body["all"] is True
        status, body = daemon.api_post("/api/v1/signals", {"action": "open", "symbol": "XAUUSD", "side": "buy",
                                                           "volume": "0.1"})
        signal_id = body["signal_id"]

        def killed():
            record = daemon.api_get(f"/api/v1/signals/{signal_id}")[1]
            return all(f["status"] == "skipped" and "kill switch" in f["reason"] for f in record["followers"])

        eventually_sync(killed)
        assert positions(daemon, "paper-a") == {"XAUUSD": Decimal("0.20")}
        status, body = daemon.api_post("/api/v1/signals", {"action": "open", "symbol": "XAUUSD"})
        assert status == 422 and "side" in str(body)
        status, spec = daemon.api_get("/openapi.json")
        assert status == 200 and "/api/v1/signals" in spec["paths"] and "/api/v1/kill-switch" in spec["paths"]


def test_sigterm_finishes_in_flight_orders_and_exits_zero(tmp_path):
    slow = CONFIG.replace('balance = 5000\nmode = "netting"', 'balance = 5000\nmode = "netting"\nlatency_us = 300000')
    with running_daemon(tmp_path, slow, env={"TV_TOKEN": TOKEN}) as daemon:
        status, _ = daemon.post(f"/webhook/tv?token={TOKEN}", {"action": "buy", "symbol": "EURUSD", "volume": 0.1})
        assert status == 200
        daemon.process.send_signal(signal.SIGTERM)
        assert daemon.process.wait(timeout=15) == 0
        events = daemon.events()
        filled = [e for e in events if e["event"] == "order_filled"]
        assert {e["account"] for e in filled} == {"paper-a", "paper-b"}
        assert events[-1]["event"] == "daemon_stopped"


def test_the_store_projector_only_takes_idle_cpu(tmp_path) -> None:
    """The projector process feeding the SQL store runs under SCHED_IDLE: it never delays the loop."""
    import os
    import subprocess

    with running_daemon(tmp_path, CONFIG, env={"TV_TOKEN": TOKEN}) as daemon:

        def projector_policy() -> int | None:
            out = subprocess.run(["pgrep", "-P", str(daemon.process.pid)], capture_output=True, text=True).stdout
            for pid in (int(p) for p in out.split()):
                with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                    if b"copier.projector" in cmdline.read():
                        policy = os.sched_getscheduler(pid)
                        return policy if policy == os.SCHED_IDLE else None
            return None

        assert eventually_sync(projector_policy) == os.SCHED_IDLE


def test_the_configured_priority_and_cpus_apply_to_the_loop_thread_and_not_its_helpers(tmp_path) -> None:
    """``[process] nice`` and ``cpus`` apply to the event loop's thread; the mirror writer, the
    journal's fsync and the executor's threads keep the priority and CPUs the daemon started with."""
    import os
    from pathlib import Path

    def niceness() -> dict[str, int]:
        tasks = Path(f"/proc/{daemon.process.pid}/task")
        return {
            (task / "comm").read_text().strip() + f"#{task.name}": os.getpriority(os.PRIO_PROCESS, int(task.name))
            for task in tasks.iterdir()
        }

    start = os.getpriority(os.PRIO_PROCESS, 0)
    raised = start - 3 if os.geteuid() == 0 else start + 3
    allowed = os.sched_getaffinity(0)
    loop_cpu = max(allowed)
    config = CONFIG + f"\n[process]\nnice = {raised}\ncpus = [{loop_cpu}]\n"
    with running_daemon(tmp_path, config, env={"TV_TOKEN": TOKEN}) as daemon:
        status, _ = daemon.post(f"/webhook/tv?token={TOKEN}", {"action": "buy", "symbol": "EURUSD", "volume": 0.1})
        assert status == 200
        seen = niceness()
        loop_name = [name for name in seen if name.endswith(f"#{daemon.process.pid}")]
        loop = [seen[name] for name in loop_name]
        helpers = {name: nice for name, nice in seen.items() if name.startswith(("mirror-log-writ", "journal-fsync"))}
        assert loop == [raised]
        assert len(helpers) == 2, sorted(seen.items())
        if os.geteuid() == 0:  # putting a helper back above a raised nice needs the privilege
            assert set(helpers.values()) == {start}, sorted(seen.items())
        assert os.sched_getaffinity(daemon.process.pid) == {loop_cpu}
        for name in helpers:
            assert os.sched_getaffinity(int(name.rsplit("#", 1)[1])) == allowed, name
        said = daemon.stdout.read_text()
        assert f"Priority: event loop at nice {raised}, helper threads at {start}" in said
        assert f"CPUs: event loop on [{loop_cpu}], helper threads on {sorted(allowed)}" in said
