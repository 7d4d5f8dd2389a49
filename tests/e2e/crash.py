"""Crash proof: SIGKILL the daemon on random requests while signals flow, restart, and check with the
venue simulators' own books that every (signal, follower) was executed exactly once or skipped with
a recorded reason.

The signals alternate an open and a close of BTCUSDT longs. Each follower's route splits an open
into three orders of the per-order maximum, so every open is three linked positions and every close
three orders, one per position: a kill in the middle of a close leaves it partly done, and the
restart must finish it without closing a position twice or leaving one open.

The load generator behaves like TradingView: it resends a signal (same id) until it gets a 200.
Venues are simulator processes that outlive the daemon; their ``/__sim/book`` lists the orders they
really hold.
"""

from __future__ import annotations

import functools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from copier.journal import FollowerState, replay
from core.orders import acting_order_id, client_order_id
from tests.e2e.daemon import ROOT, free_port, write_config
from tests.e2e.sims import SimProcess
from tests.helpers import eventually_sync

TOKEN = "crash-token"
LEGS = 3  # orders per open: the route's volume over its per-order maximum


def _is_open(signal_id: str) -> bool:
    return signal_id.endswith("o")


def _body(signal_id: str) -> bytes:
    if _is_open(signal_id):
        return json.dumps({"action": "buy", "symbol": "BTCUSDT", "volume": "0.001", "id": signal_id}).encode()
    return json.dumps({"action": "close_long", "symbol": "BTCUSDT", "id": signal_id}).encode()


@dataclass
class CrashReport:
    kills: int = 0
    signals: int = 0
    follower_orders: int = 0
    duplicates: int = 0
    lost: int = 0
    skipped: int = 0
    resumed_followers: int = 0
    skip_reasons: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        plain = {k: v for k, v in self.__dict__.items() if k not in ("problems", "skip_reasons")}
        return plain | {"skip_reasons": dict(self.skip_reasons.most_common(10)), "problems": self.problems[:20]}


class _Daemon:
    def __init__(self, config: Path, api: int, webhook: int) -> None:
        self.config, self.api, self.webhook = config, api, webhook
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "COPIER_API_KEY": "crash-admin"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "copier.cli", "run", "--config", str(self.config)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

        def healthy() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"daemon exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.api}/api/v1/health", timeout=2) as response:
                    return response.status == 200
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                return False

        eventually_sync(healthy, timeout=60)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


class _Sender(threading.Thread):
    """Posts signals in order, resending each until it is answered 200."""

    def __init__(self, port: int, ids: list[str], acked: set[str], rate: float, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.port, self.ids, self.acked, self.rate, self.rng = port, ids, acked, rate, rng
        self.stop_flag = threading.Event()
        self.sent = 0  # requests handed to the daemon
        self.answered = 0  # requests it answered 200: their orders may still be in flight

    def reached(self, stage: str, count: int) -> bool:
        """Whether ``count`` requests were ``sent`` (or ``answered``) this round, or there are no more."""
        return getattr(self, stage) >= count or not self.is_alive()

    def run(self) -> None:
        for signal_id in self.ids:
            if signal_id in self.acked:
                continue  # answered in an earlier round: not sent again, and no pause for it
            while signal_id not in self.acked and not self.stop_flag.is_set():
                request = urllib.request.Request(
                    f"http://127.0.0.1:{self.port}/webhook/tv?token={TOKEN}", data=_body(signal_id), method="POST"
                )
                try:
                    self.sent += 1
                    with urllib.request.urlopen(request, timeout=3) as response:
                        if response.status == 200:
                            self.acked.add(signal_id)
                            self.answered += 1
                except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                    if self.stop_flag.wait(0.02):
                        return
            if self.stop_flag.wait(self.rng.expovariate(self.rate)):
                return


def _book(sim: SimProcess) -> Counter[str]:
    with urllib.request.urlopen(sim.base_url + "/__sim/book", timeout=10) as response:
        return Counter(order["client_order_id"] for order in json.loads(response.read()))


def _fault(sim: SimProcess, **faults: float) -> None:
    request = urllib.request.Request(sim.base_url + "/__sim/fault", data=json.dumps(faults).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


def run(folder: Path, sims: list[SimProcess], *, kills: int, per_round: int, seed: int = 1,
        rate: float = 6.0, venue_latency_ms: float = 80.0) -> CrashReport:
    """Fire ``kills × per_round`` signals across ``kills`` SIGKILLs; verify against the venues.

    Each venue answers ``venue_latency_ms`` after it has acted, so many kills land while orders
    are executed at the venue but unanswered: the case that must be reconciled, not resent.
    """
    rng = random.Random(seed)
    for sim in sims:
        _fault(sim, latency_ms=venue_latency_ms)
    accounts = [f"{sim.venue}{index}" for index, sim in enumerate(sims)]
    body = f'[journal]\nfsync = "never"\n[[sources]]\nname = "tv"\nkind = "tradingview"\ntoken = "{TOKEN}"\n'
    for sim, account in zip(sims, accounts, strict=True):
        body += sim.account_toml(account)
        body += (
            f'[[routes]]\nsource = "tv"\naccount = "{account}"\n'
            f'sizing = {{ mode = "fixed", volume = {LEGS * 0.002:.3f}, max_volume = 0.002, max = "split" }}\n'
        )
    webhook, api = free_port(), free_port()
    config = write_config(folder, body, webhook=webhook, api=api)
    daemon = _Daemon(config, api, webhook)
    ids = [f"c{n // 2:05d}{'o' if n % 2 == 0 else 'x'}" for n in range(kills * per_round)]
    acked: set[str] = set()
    report = CrashReport(kills=kills, signals=len(ids))
    for round_index in range(kills):
        daemon.start()
        window = ids[: (round_index + 1) * per_round]
        sender = _Sender(webhook, window, acked, rate, rng)
        sender.start()
        # The kill lands on a random request of the round: just as it is sent (mid ingest and
        # fan-out) or just as it is answered (orders in flight at the venues).
        target, stage = rng.randint(1, per_round), rng.choice(("sent", "answered"))
        eventually_sync(functools.partial(sender.reached, stage, target), timeout=60, interval=0.002)
        daemon.kill()
        sender.stop_flag.set()
        sender.join(10)
    daemon.start()
    sender = _Sender(webhook, ids, acked, rate * 4, rng)
    sender.start()
    sender.join(600)
    journal_dir = folder / "data" / "journal"

    def settled() -> bool:
        return not replay(journal_dir).unfinished()

    # Kills during recovery leave a backlog that the last run works through one order per venue
    # round trip per lane: allow for it.
    eventually_sync(settled, timeout=max(120.0, 0.5 * LEGS * len(ids)), interval=0.2)
    daemon.stop()

    state = replay(journal_dir)
    by_origin = {entry.signal.origin_id: entry for entry in state.signals.values()}
    for sim, account in zip(sims, accounts, strict=True):
        _check_account(report, account, _book(sim), ids, by_origin)
    mirror = folder / "data" / "mirror.jsonl"
    if mirror.exists():
        report.resumed_followers = sum(
            1 for line in mirror.read_text().splitlines() if '"event":"order_recovering"' in line
        )
    return report


def _check_account(report: CrashReport, account: str, book: Counter[str], ids: list[str], by_origin: dict) -> None:
    """Count one account's orders against the signals: each open's legs and each close's orders
    held once, every position an open made closed exactly once, nothing that belongs to no signal."""
    route = f"tv>{account}"
    opens = {sid: [client_order_id("tv", sid, route, leg) for leg in range(LEGS)] for sid in ids if _is_open(sid)}
    open_cids = {cid for cids in opens.values() for cid in cids}
    # A close acts on whatever was linked when it ran: any earlier open's positions.
    closes: dict[str, dict[str, str]] = {}
    earlier: list[str] = []
    for sid in ids:
        if _is_open(sid):
            earlier.extend(opens[sid])
        else:
            closes[sid] = {acting_order_id("tv", sid, route, "close", cid): cid for cid in earlier}
    closed_by = {cid: position for ids_ in closes.values() for cid, position in ids_.items()}
    closings: Counter[str] = Counter()
    for cid, count in book.items():
        if count > 1:
            report.duplicates += count - 1
            report.problems.append(f"{account}: order {cid} held {count} times")
        if cid in closed_by:
            closings[closed_by[cid]] += 1
        elif cid not in open_cids:
            report.duplicates += count
            report.problems.append(f"{account}: order {cid} belongs to no signal")
    for sid in ids:
        held = [cid for cid in (opens[sid] if _is_open(sid) else closes[sid]) if book.get(cid)]
        if _is_open(sid) and 0 < len(held) < LEGS:
            report.lost += 1
            report.problems.append(f"{account}: open {sid} placed {len(held)} of its {LEGS} orders")
        if held:
            report.follower_orders += 1
            continue
        entry = by_origin.get(sid)
        follower = entry.followers.get(account) if entry else None
        done = follower.done if follower else None
        if follower is not None and follower.state is FollowerState.FINISHED and done and done.get("reason"):
            report.skipped += 1
            report.skip_reasons[f"{done.get('status')}: {done['reason'][:100]}"] += 1
            continue
        report.lost += 1
        report.problems.append(f"{account}: signal {sid} never executed and has no recorded reason")
    for cid in open_cids:
        if book.get(cid) and closings[cid] != 1:
            report.problems.append(f"{account}: position opened by {cid} closed {closings[cid]} times")
            if closings[cid] > 1:
                report.duplicates += closings[cid] - 1
            else:
                report.lost += 1
