"""A full run scanned for every configured secret: daemon logs, mirror log, journal, store, API, page."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.e2e.daemon import ROOT, running_daemon
from tests.e2e.sims import simulators
from tests.helpers import eventually_sync
from tests.venues.binance_sim import DEFAULT_API_KEY, DEFAULT_API_SECRET

TV_TOKEN = "tv-token-5f0c1d9e8a7b"
VIEW_KEY = "viewer-key-2b7c9d1e0f"


def copier(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "copier.cli", *args], cwd=ROOT, input=stdin, text=True,
                          capture_output=True, timeout=60, env={**os.environ, **(env or {})})


def read(url: str, key: str) -> str:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


def test_no_secret_leaves_its_place(tmp_path):
    data = tmp_path / "data"
    added = copier("accounts", "add", "bin", "--data-dir", str(data),
                   stdin=json.dumps({"api_key": DEFAULT_API_KEY, "api_secret": DEFAULT_API_SECRET}))
    assert added.returncode == 0, added.stderr
    assert DEFAULT_API_SECRET not in added.stdout + added.stderr
    listed = copier("accounts", "list", "--data-dir", str(data))
    assert "bin" in listed.stdout and DEFAULT_API_KEY not in listed.stdout
    assert (data / "credentials.enc").exists()
    assert DEFAULT_API_SECRET.encode() not in (data / "credentials.enc").read_bytes()

    with simulators("binance") as (sim,):
        account = sim.account_toml("bin")
        account = "\n".join(line for line in account.splitlines() if not line.startswith("api_"))  # from the store
        config = (
            f'[[sources]]\nname = "tv"\nkind = "tradingview"\ntoken = "env:TV_TOKEN"\n{account}\n'
            '[[accounts]]\nname = "pap"\nvenue = "paper"\n'
            '[[routes]]\nsource = "tv"\naccount = "bin"\nsizing = { mode = "fixed", volume = 0.002 }\n'
            '[[routes]]\nsource = "tv"\naccount = "pap"\n'
            '[[api_keys]]\nname = "viewer"\nkey = "env:VIEW_KEY"\nscopes = ["read"]\n'
        )
        env = {"TV_TOKEN": TV_TOKEN, "VIEW_KEY": VIEW_KEY, "COPIER_LOG_LEVEL": "DEBUG"}
        with running_daemon(tmp_path, config, env=env) as daemon:
            secrets = [DEFAULT_API_KEY, DEFAULT_API_SECRET, TV_TOKEN, VIEW_KEY, daemon.key]
            status, body = daemon.post("/webhook/tv", {"action": "buy", "symbol": "BTCUSDT", "volume": "0.01",
                                                       "passphrase": TV_TOKEN, "id": "s1"})
            assert status == 200
            signal_id = body["signal_id"]
            eventually_sync(lambda: daemon.api_get("/api/v1/accounts/bin/positions")[1])
            daemon.post("/webhook/tv?token=wrong", {"action": "buy", "symbol": "BTCUSDT", "passphrase": "x"})
            pages = [
                read(daemon.api + path, VIEW_KEY)
                for path in ("/api/v1/accounts", "/api/v1/accounts/bin/positions", f"/api/v1/signals/{signal_id}",
                             "/api/v1/events?limit=500", "/api/v1/connections", "/openapi.json", "/logs",
                             "/logs/static/app.js", "/api/v1/health")
            ]
            daemon.process.send_signal(signal.SIGTERM)
            assert daemon.process.wait(timeout=20) == 0
            logs = daemon.stderr.read_text()
        assert "DEBUG" in logs  # the scan reads a verbose log, not an empty one
        on_disk = [p.read_bytes().decode("utf-8", "replace") for p in Path(data).rglob("*")
                   if p.is_file() and p.suffix not in (".enc", ".key") and "secrets" not in p.parts
                   and p.name not in ("master.key",)]
        places = {"daemon log": logs, **{f"response {i}": page for i, page in enumerate(pages)}}
        places.update({f"file {i}": text for i, text in enumerate(on_disk)})
        for secret in secrets:
            leaks = [where for where, text in places.items() if secret in text]
            assert leaks == [], f"a secret appears in {leaks}"
