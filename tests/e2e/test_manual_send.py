"""``copier send`` on the command line against the running daemon."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

from tests.e2e.daemon import ROOT, running_daemon
from tests.e2e.test_daemon_paper import CONFIG, TOKEN, positions
from tests.helpers import eventually_sync


def send(daemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "copier.cli", "send", *args, "--api", daemon.api, "--key", daemon.key],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )


def test_send_every_kind_of_action(tmp_path):
    with running_daemon(tmp_path, CONFIG, env={"TV_TOKEN": TOKEN}) as daemon:
        done = send(daemon, "buy", "EURUSD", "0.2", "--sl", "1.08000", "--tp", "1.09500", "--id", "m1")
        assert done.returncode == 0, done.stderr
        eventually_sync(lambda: positions(daemon, "paper-a") == {"EURUSD": Decimal("0.40")})

        assert send(daemon, "modify", "EURUSD", "--side", "buy", "--sl", "1.07500").returncode == 0

        def stop_moved():
            status, body = daemon.api_get("/api/v1/accounts/paper-a/positions")
            return body and Decimal(body[0]["sl"]) == Decimal("1.07500")

        eventually_sync(stop_moved)
        assert send(daemon, "close", "EURUSD", "--percent", "25").returncode == 0
        eventually_sync(lambda: positions(daemon, "paper-a") == {"EURUSD": Decimal("0.30")})
        assert send(daemon, "close_all").returncode == 0
        eventually_sync(lambda: positions(daemon, "paper-a") == {} and positions(daemon, "paper-b") == {})

        refused = send(daemon, "buy")
        assert refused.returncode == 1 and "symbol" in refused.stderr
        wrong_key = subprocess.run(
            [sys.executable, "-m", "copier.cli", "send", "buy", "EURUSD", "0.1", "--api", daemon.api, "--key", "x"],
            cwd=ROOT, capture_output=True, text=True, timeout=30,
        )
        assert wrong_key.returncode == 1 and "401" in wrong_key.stderr
