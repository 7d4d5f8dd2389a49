"""The real daemon process with a filedrop source: a CSV dropped in the inbox trades on a paper account."""

from __future__ import annotations

import json
import os
from decimal import Decimal

import pytest

import copier.daemon
from tests.e2e.daemon import running_daemon
from tests.helpers import eventually_sync

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not hasattr(copier.daemon, "FILEDROP_WIRED"), reason="filedrop sources not wired yet"),
]

CONFIG = """
[[sources]]
name = "drop"
kind = "filedrop"
inbox = "{inbox}"

[[accounts]]
name = "paper-a"
venue = "paper"
balance = 10000

[[routes]]
source = "drop"
account = "paper-a"
"""

ORDERS = "Action,Symbol,Lots,Stop Loss\nBUY,EURUSD,0.2,1.0800\nSELL,XAUUSD,0.1,\nHOLD,EURUSD,1,\n"


def positions(daemon, account):
    status, body = daemon.api_get(f"/api/v1/accounts/{account}/positions")
    assert status == 200
    return sorted((p["symbol"], Decimal(p["volume"])) for p in body)


def drop(inbox, name, text):
    temp = inbox / (name + ".part")
    temp.write_text(text)
    os.replace(temp, inbox / name)


def test_dropped_csv_trades_and_lands_in_done(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with running_daemon(tmp_path, CONFIG.format(inbox=inbox)) as daemon:
        drop(inbox, "orders.csv", ORDERS)
        eventually_sync(
            lambda: positions(daemon, "paper-a") == [("EURUSD", Decimal("0.20")), ("XAUUSD", Decimal("0.10"))]
        )
        eventually_sync(lambda: (inbox / "done" / "orders.csv.errors.json").exists())
        report = json.loads((inbox / "done" / "orders.csv.errors.json").read_text())
        assert [e["line"] for e in report["errors"]] == [4] and report["accepted"] == 2
        assert not (inbox / "orders.csv").exists()

        drop(inbox, "again.csv", ORDERS)
        eventually_sync(lambda: (inbox / "done" / "again.csv.duplicate.json").exists())
        rejected = eventually_sync(
            lambda: [e for e in daemon.events() if e["event"] == "signal_rejected" and e.get("source") == "drop"]
        )
        assert rejected[0]["detail"] == {"file": "orders.csv", "line": 4, "field": "Action"}
        eventually_sync(
            lambda: any(e["event"] == "file_processed" and e["status"] == "duplicate" for e in daemon.events())
        )
        assert positions(daemon, "paper-a") == [("EURUSD", Decimal("0.20")), ("XAUUSD", Decimal("0.10"))]
