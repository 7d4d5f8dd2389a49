"""Venue simulators as their own processes, for end-to-end tests and benchmarks."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.e2e.daemon import ROOT


@dataclass
class SimProcess:
    venue: str
    process: subprocess.Popen[str]
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def account_toml(self, name: str, *, hedge: bool = False) -> str:
        """An ``[[accounts]]`` table pointing at this simulator with its default credentials."""
        ws = f"ws://127.0.0.1:{self.port}"
        if self.venue == "binance":
            from tests.venues.binance_sim import DEFAULT_API_KEY, DEFAULT_API_SECRET

            urls = f'ws_url = "{ws}/ws-fapi/v1"\nstream_url = "{ws}"\n'
            keys = f'api_key = "{DEFAULT_API_KEY}"\napi_secret = "{DEFAULT_API_SECRET}"\n'
        elif self.venue == "okx":
            from tests.venues.okx_sim import API_KEY, API_SECRET, PASSPHRASE

            urls = f'ws_url = "{ws}/ws/v5/private"\n'
            keys = f'api_key = "{API_KEY}"\napi_secret = "{API_SECRET}"\npassphrase = "{PASSPHRASE}"\n'
        else:
            from tests.venues.bybit_sim import API_KEY, API_SECRET

            urls = f'ws_url = "{ws}/v5/trade"\nprivate_ws_url = "{ws}/v5/private"\n'
            keys = f'api_key = "{API_KEY}"\napi_secret = "{API_SECRET}"\n'
        mode = "true" if hedge else "false"
        return (
            f'[[accounts]]\nname = "{name}"\nvenue = "{self.venue}"\nbase_url = "{self.base_url}"\n'
            f"{urls}{keys}hedge_mode = {mode}\n"
        )

    def source_toml(self, name: str) -> str:
        """A ``[[sources]]`` table watching this simulator's account as a master."""
        account = self.account_toml(name)
        body = account.split("\n", 3)[3]  # drop [[accounts]], name and venue
        return f'[[sources]]\nname = "{name}"\nkind = "{self.venue}"\n{body}'


@contextmanager
def simulators(*venues: str) -> Iterator[list[SimProcess]]:
    """Start one simulator process per entry of ``venues`` and stop them all afterwards."""
    started: list[SimProcess] = []
    try:
        for venue in venues:
            process = subprocess.Popen(
                [sys.executable, "-m", f"tests.venues.{venue}_sim", "--port", "0"],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            if not line.isdigit():
                process.kill()
                raise AssertionError(f"{venue} simulator did not print its port: {line!r}")
            started.append(SimProcess(venue, process, int(line)))
        yield started
    finally:
        for sim in started:
            sim.process.terminate()
        for sim in started:
            try:
                sim.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                sim.process.kill()
