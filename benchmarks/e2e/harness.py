"""Orchestration of one end-to-end run: per fan-out N, Copier and the floor, then the report.

    python -m benchmarks.e2e                    # N = 1, 10, 100, 1000 on OKX (per-N signals and rates)
    python -m benchmarks.e2e --followers 10 --signals 100 --rate 5 --venue bybit --repeat 3
    python -m benchmarks.e2e --quick            # N in {1, 10}, 40 signals: about half a minute

Per N:

1. simulator host processes (:mod:`benchmarks.e2e.venues`), one simulator account per follower,
   at most ``--accounts-per-process`` accounts per process;
2. ``copier run`` as its own process with a generated config: one TradingView source, N follower
   accounts on the venue pointing at their simulators, one route each;
3. a few warm-up webhooks, an idle CPU baseline, then the load generator process
   (:mod:`benchmarks.e2e.loadgen`) sends ``--signals`` webhooks at ``--rate`` per second;
4. when every follower's order is accounted for in the mirror log, the daemon's CPU time and peak
   RSS are read from ``/proc/<pid>``, the arrival stamps are fetched from every simulator, and the
   mirror log's ``t0`` / ``t_wire`` are joined to them by client order id;
5. the floor (:mod:`benchmarks.e2e.floor`) runs the same load against N sink connections spread
   over as many sink processes as there were simulator processes.

Propagation of a signal = the last follower's arrival stamp − the load generator's send stamp.
Results go to ``benchmarks/results/e2e.json`` and ``e2e.md`` (``--quick``: ``e2e-quick.*``;
``--out`` and ``--name`` to change them). See ``docs/benchmarks.md`` for how to read them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from benchmarks.e2e.report import markdown
from benchmarks.stats import machine, summary, write_results
from core.orders import client_order_id

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
TOKEN = "bench-token"
SOURCE = "tv"
TARGETS_P99_US = {1: 1_000, 10: 2_000, 100: 5_000, 1000: 50_000}
TERMINAL = ("order_sent", "order_rejected", "order_failed", "order_unknown", "order_skipped")
CLK_TCK = os.sysconf("SC_CLK_TCK")
SYMBOL = {"okx": "BTCUSDT", "bybit": "BTCUSDT", "binance": "BTCUSDT"}
CREDENTIALS: dict[str, dict[str, str]] = {
    "okx": {"api_key": "okx-sim-key", "api_secret": "okx-sim-secret", "passphrase": "okx-sim-pass"},
    "bybit": {"api_key": "sim-bybit-key", "api_secret": "sim-bybit-secret"},
    "binance": {"api_key": "simkey" + "0" * 58, "api_secret": "simsecret" + "1" * 55},
}


# -- processes -------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(folder: Path, body: str, *, webhook: int, api: int) -> Path:
    """``copier.toml`` in ``folder``: data folder, both listeners on loopback, then ``body``."""
    text = f'data_dir = "{folder}/data"\n[server]\nwebhook = "127.0.0.1:{webhook}"\napi = "127.0.0.1:{api}"\n'
    path = folder / "copier.toml"
    path.write_text(text + body)
    return path


@dataclass
class Child:
    """A child process whose first stdout line is its answer (a port, or a JSON line)."""

    process: subprocess.Popen[bytes]
    first_line: str
    name: str

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def spawn(args: list[str], name: str, log: Path, timeout: float = 120, cpus: set[int] | None = None) -> Child:
    """Start ``python -m …`` (on ``cpus`` when given) and wait for its first stdout line; stderr
    goes to ``log``."""
    with log.open("ab") as err:
        process = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=err, env=_env(), preexec_fn=_on(cpus)
        )
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or process.poll() is not None:
            process.kill()
            raise RuntimeError(f"{name} did not start; see {log}:\n{log.read_text()[-2000:]}")
        ready, _, _ = select.select([process.stdout], [], [], min(left, 1.0))
        if ready:
            chunk = os.read(process.stdout.fileno(), 1 << 20)
            if not chunk:
                continue
            line += chunk
    return Child(process, line.decode().strip(), name)


# -- placement -------------------------------------------------------------------------------------
# With two CPUs or more the run keeps the daemon's event loop (and the floor server) on one CPU and
# every stand-in for another machine (simulators, sinks, load generator, peer) on the others, as if
# the venues were remote: otherwise the scheduler wakes a simulator on the CPU the daemon's write
# came from, and the order's arrival waits for the fan-out to end (docs/benchmarks.md, "Priority
# and placement").


@dataclass(frozen=True)
class Placement:
    """The CPUs of one run: ``loop`` for the daemon's event loop and the floor server, ``rest`` for
    the stand-ins, ``every`` for the daemon's other threads."""

    loop: int
    rest: frozenset[int]
    every: frozenset[int]


PLACEMENT: Placement | None = None


def place(pin: bool) -> Placement | None:
    """Set this process (and so every stand-in it starts) on the CPUs other than the loop's."""
    global PLACEMENT
    allowed = os.sched_getaffinity(0)
    if not pin or len(allowed) < 2:
        PLACEMENT = None
        return None
    loop = min(allowed)
    PLACEMENT = Placement(loop, frozenset(allowed - {loop}), frozenset(allowed))
    os.sched_setaffinity(0, PLACEMENT.rest)
    return PLACEMENT


def _on(cpus: set[int] | frozenset[int] | None) -> Callable[[], None] | None:
    if cpus is None:
        return None
    chosen = set(cpus)
    return lambda: os.sched_setaffinity(0, chosen)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children_cpu_seconds(pid: int) -> float:
    """CPU time of a process's live child processes (the daemon's store projector)."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    total += cpu_seconds(int(child))
    return total


def cpu_seconds_precise(pid: int) -> float:
    """On-CPU time of a process's live threads in nanosecond resolution (/proc/<pid>/task/*/schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def memory_kib(pid: int) -> dict[str, int]:
    """Peak (VmHWM) and current (VmRSS) resident set of a process, in KiB."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmHWM:", "VmRSS:")):
            key, value = line.split(":", 1)
            found[key] = int(value.split()[0])
    return {"peak_rss_kib": found.get("VmHWM", 0), "rss_kib": found.get("VmRSS", 0)}


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as ``/proc/loadavg`` gives them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@contextlib.contextmanager
def simulators(
    venue: str, accounts: int, per_process: int, folder: Path, read_first: float = 0.0
) -> Iterator[list[dict[str, str]]]:
    """Simulator host processes for ``accounts`` accounts; yields each account's URLs.

    ``read_first``: see :func:`benchmarks.e2e.venues.serve`."""
    processes = max(1, math.ceil(accounts / per_process))
    sizes = [accounts // processes + (1 if i < accounts % processes else 0) for i in range(processes)]
    children: list[Child] = []
    try:
        for index, size in enumerate(sizes):
            args = ["-m", "benchmarks.e2e.venues", "--venue", venue, "--accounts", str(size)]
            args += ["--read-first", str(read_first)]
            children.append(spawn(args, f"{venue} simulators #{index}", folder / f"sim{index}.log"))
        urls = [url for child in children for url in json.loads(child.first_line)["accounts"]]
        yield urls
    finally:
        for child in children:
            child.stop()


def daemon_config(
    venue: str, urls: list[dict[str, str]], warm: float | None = None, nice: int = 0
) -> tuple[str, list[str]]:
    """The generated config body (after [server]) and the follower account names; ``warm`` sets
    ``router.warm_interval`` (None: the daemon's default), ``nice`` its ``process.nice``; the
    run's :data:`PLACEMENT` its ``process.cpus``."""
    lines = [
        "[process]",
        f"nice = {nice}",
        *([f"cpus = [{PLACEMENT.loop}]"] if PLACEMENT is not None else []),
        "[log]",
        "max_bytes = 4294967296",
        "[router]",
        "dedupe_window = 86400",
        *([f"warm_interval = {warm}"] if warm is not None else []),
        "[[sources]]",
        f'name = "{SOURCE}"',
        'kind = "tradingview"',
        f'token = "{TOKEN}"',
    ]
    names: list[str] = []
    for index, url in enumerate(urls):
        name = f"f{index:04d}"
        names.append(name)
        lines += ["[[accounts]]", f'name = "{name}"', f'venue = "{venue}"']
        for key, value in {**CREDENTIALS[venue], **url}.items():
            lines.append(f'{key} = "{value}"')
    for name in names:
        lines += ["[[routes]]", f'source = "{SOURCE}"', f'account = "{name}"']
    return "\n".join(lines) + "\n", names


@dataclass
class Daemon:
    """A running ``copier run`` process and what the harness reads from it."""

    process: subprocess.Popen[bytes]
    webhook_port: int
    api_port: int
    mirror: Path
    key: str
    _offset: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)

    def read_events(self) -> list[dict[str, Any]]:
        """Mirror log lines written since the last call (complete lines only)."""
        if not self.mirror.exists():
            return []
        with self.mirror.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        fresh = [orjson.loads(line) for line in data[:end].splitlines() if line.strip()]
        self.events.extend(fresh)
        return fresh

    def healthy(self) -> bool:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.api_port}/api/v1/health", headers={"Authorization": f"Bearer {self.key}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return bool(response.status == 200)
        except OSError:
            return False


@contextlib.contextmanager
def copier_daemon(folder: Path, body: str, followers: int) -> Iterator[Daemon]:
    """``copier run`` as its own process with the generated config; stopped with SIGTERM."""
    webhook, api = free_port(), free_port()
    config = write_config(folder, body, webhook=webhook, api=api)
    key = "bench-admin-" + os.urandom(6).hex()
    log = folder / "daemon.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "copier.cli", "run", "--config", str(config)],
            cwd=ROOT,
            env={**_env(), "COPIER_API_KEY": key},
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_on(PLACEMENT.every if PLACEMENT is not None else None),
        )
    daemon = Daemon(process, webhook, api, folder / "data" / "mirror.jsonl", key)
    try:
        deadline = time.monotonic() + 60 + followers * 0.2
        while not daemon.healthy():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daemon did not start; see {log}:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield daemon
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def send(port: int, signals: int, rate: float, prefix: str, folder: Path, symbol: str) -> list[int]:
    """Run the load generator process; returns its send stamps."""
    out = folder / f"sends-{prefix}.json"
    args = [
        sys.executable, "-m", "benchmarks.e2e.loadgen", "--port", str(port),
        "--path", f"/webhook/{SOURCE}?token={TOKEN}", "--signals", str(signals), "--rate", str(rate),
        "--id-prefix", prefix, "--symbol", symbol, "--out", str(out),
    ]  # fmt: skip
    subprocess.run(args, cwd=ROOT, env=_env(), check=True)
    result = orjson.loads(out.read_bytes())
    bad = [s for s in result["statuses"] if s != 200]
    if bad:
        raise RuntimeError(f"{len(bad)} webhooks were not accepted: {bad[:5]}")
    return [int(s) for s in result["sends_ns"]]


def fetch_arrivals(urls: list[dict[str, str]]) -> dict[str, int]:
    """client order id → arrival stamp, from every simulator's ``/__sim/orders``."""

    def one(url: dict[str, str]) -> list[dict[str, Any]]:
        with urllib.request.urlopen(url["base_url"] + "/__sim/orders", timeout=30) as response:
            rows: list[dict[str, Any]] = orjson.loads(response.read())
            return rows

    arrivals: dict[str, int] = {}
    with ThreadPoolExecutor(8) as pool:
        for rows in pool.map(one, urls):
            for row in rows:
                cid = str(row.get("client_order_id") or row.get("clientOrderId") or "")
                arrivals.setdefault(cid, int(row["arrived_ns"]))
    return arrivals


def wait_orders(daemon: Daemon, prefix: str, expected: int, timeout: float) -> None:
    """Until the mirror log has a terminal event for ``expected`` orders of signals ``prefix-*``."""
    ids: set[str] = set()
    done = 0
    deadline = time.monotonic() + timeout
    while True:
        for event in daemon.read_events():
            kind = event.get("event")
            if kind == "signal_accepted" and str((event.get("detail") or {}).get("origin_id", "")).startswith(prefix):
                ids.add(event["signal_id"])
            elif kind in TERMINAL and event.get("signal_id") in ids:
                done += 1
        if done >= expected:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {done} of {expected} orders of {prefix} finished within {timeout:.0f} s")
        time.sleep(0.05)


def start_profiler(pid: int, folder: Path, n: int) -> subprocess.Popen[bytes]:
    """py-spy sampling the daemon (all threads, native frames) into collapsed stacks."""
    folder.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    args = [spy, "record", "--pid", str(pid), "--rate", "1000", "--nonblocking", "--threads", "--format", "raw",
            "--output", str(folder / f"daemon-n{n}.txt")]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    return process


def stop_profiler(process: subprocess.Popen[bytes]) -> None:
    """Ask py-spy to write its samples and exit."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()


def copier_run(
    venue: str,
    n: int,
    signals: int,
    rate: float,
    per_process: int,
    folder: Path,
    profile: Path | None = None,
    read_first: float = 0.0,
    warm_interval: float | None = None,
    nice: int = 0,
) -> dict[str, Any]:
    """One Copier measurement at fan-out ``n`` (``warm_interval``: the daemon's, None for its default;
    ``nice``: the daemon's priority)."""
    symbol = SYMBOL[venue]
    with simulators(venue, n, per_process, folder, read_first) as urls:
        body, names = daemon_config(venue, urls, warm_interval, nice)
        with copier_daemon(folder, body, n) as daemon:
            pid = daemon.process.pid
            started = memory_kib(pid)
            warm = 5
            send(daemon.webhook_port, warm, max(rate, 5.0), "warm", folder, symbol)
            wait_orders(daemon, "warm", warm * n, 60 + n * 0.1)
            idle_from = time.monotonic()
            idle_cpu = cpu_seconds_precise(pid)
            time.sleep(3.0)
            idle_rate = (cpu_seconds_precise(pid) - idle_cpu) / (time.monotonic() - idle_from)
            prefix = f"run{n}"
            load = load_average()
            profiler = start_profiler(pid, profile, n) if profile else None
            cpu0, wall0, children0 = cpu_seconds_precise(pid), time.monotonic(), children_cpu_seconds(pid)
            sends = send(daemon.webhook_port, signals, rate, prefix, folder, symbol)
            wait_orders(daemon, prefix, signals * n, 120 + n * signals * 0.01)
            cpu1, wall1, children1 = cpu_seconds_precise(pid), time.monotonic(), children_cpu_seconds(pid)
            if profiler is not None:
                stop_profiler(profiler)
            memory = memory_kib(pid)
            arrivals = fetch_arrivals(urls)
            events = list(daemon.events)
    cpu_total = cpu1 - cpu0
    cpu_net = max(0.0, cpu_total - idle_rate * (wall1 - wall0))
    result = join(events, arrivals, sends, names, prefix)
    result.update(
        followers=n,
        signals=signals,
        rate=rate,
        venue=venue,
        simulator_processes=max(1, math.ceil(n / per_process)),
        simulator_read_first_ms=read_first * 1000,
        # Everything the daemon used while the signals came in, its work between them (the warm
        # keeper) included; "net" takes off the idle rate measured before.
        cpu_per_signal_ms=cpu_total / signals * 1000,
        cpu_per_signal_net_ms=cpu_net / signals * 1000,
        children_cpu_per_signal_ms=(children1 - children0) / signals * 1000,
        idle_cpu_percent=idle_rate * 100,
        cpu_ceiling_signals_per_s=signals / cpu_net if cpu_net > 0 else None,
        rss_at_start_kib=started["rss_kib"],
        **memory,
        load_before=load,
        load_after=load_average(),
    )
    return result


def join(
    events: list[dict[str, Any]], arrivals: dict[str, int], sends: list[int], names: list[str], prefix: str
) -> dict[str, Any]:
    """Outside-clock propagation and the daemon's own stamps, per signal."""
    t0: dict[int, int] = {}
    signal_index: dict[str, int] = {}
    for event in events:
        if event.get("event") == "signal_accepted":
            origin = str((event.get("detail") or {}).get("origin_id", ""))
            if origin.startswith(prefix + "-"):
                index = int(origin.rsplit("-", 1)[1])
                signal_index[event["signal_id"]] = index
                t0[index] = int(event["mono_ns"])
    wire: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for event in events:
        if event.get("event") == "order_sent" and event.get("signal_id") in signal_index:
            wire[signal_index[event["signal_id"]]].append((int(event["latency_us"]), int(event["mono_ns"])))
    propagation: list[float] = []
    first: list[float] = []
    every: list[float] = []
    daemon_max: list[float] = []
    ingress: list[float] = []
    per_order_wire: list[float] = []
    tail: list[float] = []
    missing = 0
    for index, sent in enumerate(sends):
        stamps = []
        for name in names:
            cid = client_order_id(SOURCE, f"{prefix}-{index}", f"{SOURCE}>{name}", 0)
            arrived = arrivals.get(cid)
            if arrived is None:
                missing += 1
            else:
                stamps.append(arrived)
        if len(stamps) == len(names):
            propagation.append((max(stamps) - sent) / 1000)
            first.append((min(stamps) - sent) / 1000)
            every.extend((stamp - sent) / 1000 for stamp in stamps)
        if index in t0:
            ingress.append((t0[index] - sent) / 1000)
        if wire.get(index):
            daemon_max.append(float(max(lat for lat, _ in wire[index])))
            per_order_wire.extend(float(lat) for lat, _ in wire[index])
            if stamps:
                tail.append((max(stamps) - max(ns for _, ns in wire[index])) / 1000)
    span = (max(arrivals.values(), default=0) - sends[0]) / 1e9 if sends else 0.0
    return {
        "propagation_us": summary(propagation),
        "first_follower_us": summary(first),
        "follower_arrival_us": summary(every),
        "daemon_wire_us": summary(daemon_max),
        "daemon_wire_per_order_us": summary(per_order_wire),
        "send_to_t0_us": summary(ingress),
        "last_wire_to_arrival_us": summary(tail),
        "missing_orders": missing,
        "achieved_signals_per_s": len(sends) / span if span > 0 else None,
    }


# -- the floor -------------------------------------------------------------------------------------


def floor_run(n: int, signals: int, rate: float, sink_processes: int, folder: Path, nice: int = 0) -> dict[str, Any]:
    """The floor at fan-out ``n`` under the same load, its server at the daemon's priority ``nice``."""
    sinks: list[Child] = []
    server: Child | None = None
    try:
        for index in range(sink_processes):
            args = ["-m", "benchmarks.e2e.floor", "sink", "--out", str(folder / f"floor-sink{index}.json")]
            sinks.append(spawn(args, f"floor sink #{index}", folder / f"floor-sink{index}.log"))
        ports = ",".join(child.first_line for child in sinks)
        args = ["-m", "benchmarks.e2e.floor", "server", "--sinks", ports, "--connections", str(n),
                "--out", str(folder / "floor-server.json"), "--nice", str(nice)]  # fmt: skip
        server = spawn(
            args, "floor server", folder / "floor-server.log", cpus={PLACEMENT.loop} if PLACEMENT is not None else None
        )
        pid = server.process.pid
        warm = 5
        send(int(server.first_line), warm, max(rate, 5.0), "warm", folder, "BTCUSDT")
        load = load_average()
        cpu0 = cpu_seconds_precise(pid)
        sends = send(int(server.first_line), signals, rate, f"floor{n}", folder, "BTCUSDT")
        time.sleep(0.5)
        cpu1 = cpu_seconds_precise(pid)
        memory = memory_kib(pid)
    finally:
        if server is not None:
            server.stop()
        for child in sinks:
            child.stop()
    per_connection = [
        stamps[warm:] for index in range(len(sinks))
        for stamps in orjson.loads((folder / f"floor-sink{index}.json").read_bytes())["arrivals"]
    ]  # fmt: skip
    own = orjson.loads((folder / "floor-server.json").read_bytes())
    propagation, wire = [], []
    for index, sent in enumerate(sends):
        stamps = [conn[index] for conn in per_connection if len(conn) > index]
        if len(stamps) == n:
            propagation.append((max(stamps) - sent) / 1000)
        t0, t_wire = own["t0_ns"][warm + index], own["t_wire_ns"][warm + index]
        wire.append((t_wire - t0) / 1000)
    return {
        "followers": n,
        "propagation_us": summary(propagation),
        "wire_us": summary(wire),
        "cpu_per_signal_ms": (cpu1 - cpu0) / signals * 1000,
        "sink_processes": sink_processes,
        **memory,
        "load_before": load,
    }


# -- entry point -----------------------------------------------------------------------------------


def per_n(text: str, n: int) -> float:
    """``"5"`` → 5 for every N; ``"1:20,1000:0.5"`` → the value for ``n`` (the nearest N at or below)."""
    if ":" not in text:
        return float(text)
    table = sorted((int(k), float(v)) for k, v in (item.split(":") for item in text.split(",")))
    chosen = table[0][1]
    for key, value in table:
        if key <= n:
            chosen = value
    return chosen


def _spread(values: list[float]) -> list[float]:
    return [min(values), max(values)]


def measure_n(args: argparse.Namespace, n: int) -> dict[str, Any]:
    """``--repeat`` runs of Copier and the floor at fan-out ``n``; the median run plus the spread."""
    signals, rate = int(per_n(args.signals, n)), per_n(args.rate, n)
    runs: list[dict[str, Any]] = []
    for attempt in range(args.repeat):
        folder = Path(tempfile.mkdtemp(prefix=f"copier-e2e-{n}-"))
        try:
            print(f"[e2e] N={n} run {attempt + 1}/{args.repeat}: Copier on {args.venue}, {signals} signals "
                  f"at {rate:g}/s (load {load_average()})", flush=True)  # fmt: skip
            copier = copier_run(
                args.venue,
                n,
                signals,
                rate,
                args.accounts_per_process,
                folder,
                args.profile,
                args.read_first,
                args.warm,
                args.daemon_nice,
            )
            floor = floor_run(n, signals, rate, copier["simulator_processes"], folder, args.daemon_nice)
        except Exception:
            print(f"[e2e] N={n} failed; logs kept in {folder}", flush=True)
            raise
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
        p, f = copier["propagation_us"], floor["propagation_us"]
        ratios = {
            "ratio_p50": p["p50"] / f["p50"],
            "ratio_p99": p["p99"] / f["p99"],
            "wire_ratio_p50": copier["daemon_wire_us"]["p50"] / floor["wire_us"]["p50"],
        }
        runs.append({"copier": copier, "floor": floor, **ratios})
        print(
            f"[e2e] N={n}: propagation p50 {p['p50']:.0f} µs p99 {p['p99']:.0f} µs max {p['max']:.0f} µs; "
            f"daemon t_wire−t0 p50 {copier['daemon_wire_us']['p50']:.0f} µs; floor p50 {f['p50']:.0f} µs "
            f"p99 {f['p99']:.0f} µs; Copier÷floor {p['p50'] / f['p50']:.1f}× (p99 {p['p99'] / f['p99']:.1f}×); "
            f"CPU {copier['cpu_per_signal_ms']:.2f} ms/signal; load {copier['load_before']}",
            flush=True,
        )
    ordered = sorted(runs, key=lambda r: r["copier"]["propagation_us"]["p99"])
    median = ordered[len(ordered) // 2]
    target = TARGETS_P99_US.get(n)
    return {
        "followers": n,
        "signals": signals,
        "rate": rate,
        "copier": median["copier"],
        "floor": median["floor"],
        "copier_over_floor_p50": median["ratio_p50"],
        "copier_over_floor_p99": median["ratio_p99"],
        "copier_over_floor_wire_p50": median["wire_ratio_p50"],
        "target_p99_us": target,
        "meets_target": target is None or median["copier"]["propagation_us"]["p99"] <= target,
        "repeats": len(runs),
        "spread": {
            "propagation_p50_us": _spread([r["copier"]["propagation_us"]["p50"] for r in runs]),
            "propagation_p99_us": _spread([r["copier"]["propagation_us"]["p99"] for r in runs]),
            "floor_p50_us": _spread([r["floor"]["propagation_us"]["p50"] for r in runs]),
            "ratio_p50": _spread([r["ratio_p50"] for r in runs]),
            "cpu_per_signal_ms": _spread([r["copier"]["cpu_per_signal_ms"] for r in runs]),
            "load": [r["copier"]["load_before"] for r in runs],
        },
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every N of ``--followers`` (and the peer when asked); the result document."""
    rows = [measure_n(args, n) for n in args.followers]
    result: dict[str, Any] = {
        "venue": args.venue,
        "quick": args.quick,
        "nice": args.nice,
        "daemon_nice": args.daemon_nice,
        "placement": (
            {"loop_cpu": PLACEMENT.loop, "other_cpus": sorted(PLACEMENT.rest)} if PLACEMENT is not None else None
        ),
        "rows": rows,
        "machine": machine(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    if args.peer:
        from benchmarks.e2e.peer import peer_run

        signals, rate = int(per_n(args.signals, 1)), per_n(args.rate, 1)
        result["peer"] = peer_run(signals, rate, args.accounts_per_process)
    return result


# The daemon's priority in the benchmark, as docs/configuration.md recommends for a deployment; the
# floor server gets the same, the simulators (stand-ins for other machines) do not.
DAEMON_NICE = -10


def add_read_first(parser: argparse.ArgumentParser) -> None:
    """The ``--read-first`` option of every script that starts simulator hosts for the daemon."""
    parser.add_argument(
        "--read-first",
        type=float,
        default=0.002,
        metavar="SECONDS",
        help="simulator hosts answer orders after their sockets were quiet this long (0: at once)",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--followers", default="1,10,100,1000", help="comma-separated fan-outs N")
    parser.add_argument(
        "--signals", default="1:200,100:100,1000:30", help="webhooks per N after 5 warm-up ones: 200 or 1:200,1000:30"
    )
    parser.add_argument("--rate", default="1:10,100:4,1000:0.5", help="webhooks per second: 5 or 1:10,1000:0.5")
    parser.add_argument("--repeat", type=int, default=1, help="runs per N; the median run is reported with the spread")
    parser.add_argument("--venue", choices=("okx", "bybit", "binance"), default="okx")
    parser.add_argument("--accounts-per-process", type=int, default=250, help="simulator accounts per process")
    parser.add_argument(
        "--quick", action="store_true", help="N in {1, 10}, 40 signals at 20/s, into e2e-quick.* (make bench)"
    )
    add_read_first(parser)
    parser.add_argument("--peer", action="store_true", help="also ccxt create_order vs Copier on Binance")
    parser.add_argument("--nice", type=int, default=0, help="niceness of every process of the run (negative: root)")
    parser.add_argument(
        "--daemon-nice",
        type=int,
        default=DAEMON_NICE if os.geteuid() == 0 else 0,
        help="the daemon's process.nice, and the floor server's niceness"
        f" (default {DAEMON_NICE} as root, else 0; simulators, sinks and load generator stay at --nice)",
    )
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="let the scheduler place every process (default: the daemon's loop and the floor server on"
        " one CPU, the stand-ins on the others)",
    )
    parser.add_argument(
        "--warm", type=float, metavar="SECONDS", help="the daemon's router.warm_interval (default: its own)"
    )
    parser.add_argument("--profile", type=Path, help="sample the daemon with py-spy into this folder")
    parser.add_argument("--keep", action="store_true", help="keep the run folders (configs, logs, stamps)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    parser.add_argument("--name", default="e2e", help="file stem of the results (e2e → e2e.json, e2e.md)")
    args = parser.parse_args(argv)
    place(args.pin)
    if args.quick:
        args.followers, args.signals, args.rate = "1,10", "40", "20"
        if args.name == "e2e":
            args.name = "e2e-quick"
    args.followers = [int(n) for n in str(args.followers).split(",")]
    if args.nice:
        os.nice(args.nice)
    result = run(args)
    write_results(args.name, result, markdown(result), args.out)
