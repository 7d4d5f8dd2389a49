"""The Markdown report of an end-to-end run (``benchmarks/results/e2e.md``)."""

from __future__ import annotations

from typing import Any


def _us(value: float | None) -> str:
    if value is None or value != value:
        return "–"
    return f"{value / 1000:.2f} ms" if value >= 10_000 else f"{value:.0f} µs"


def _range(pair: list[float]) -> str:
    return f"{_us(pair[0])} – {_us(pair[1])}"


def _stats(block: dict[str, Any]) -> str:
    return " / ".join(_us(block[k]) for k in ("p50", "p90", "p99", "max"))


def _every(copier: dict[str, Any]) -> str:
    every = copier.get("follower_arrival_us")
    return f"{_us(every['p50'])} / {_us(every['p99'])}" if every else "–"


def markdown(result: dict[str, Any]) -> str:
    """Tables per N: outside-clock propagation next to the daemon's own stamps, then the floor."""
    facts = result["machine"]
    niced = f"; every process at nice {result['nice']}" if result.get("nice") else ""
    if result.get("daemon_nice"):
        niced += (
            f"; the daemon and the floor server at nice {result['daemon_nice']} (`process.nice`), "
            "the simulators, sinks and load generator not"
        )
    placed = result.get("placement")
    if placed:
        niced += (
            f"; the daemon's event loop and the floor server on CPU {placed['loop_cpu']}, the simulators, "
            f"sinks and load generator on CPU {', '.join(str(c) for c in placed['other_cpus'])}"
        )
    lines = [
        f"# End-to-end latency ({result['when']})",
        "",
        f"Venue: **{result['venue']}** simulators (one simulator account per follower, WebSocket order "
        "entry); 5 warm-up webhooks, then the measured ones at the rate in the table; every stamp is "
        f"`time.monotonic_ns()` on one host{niced}.",
        "",
        "Propagation = last follower's order arrival at its simulator − the load generator's send. "
        "Every follower = each follower's own order arrival − send, over all orders (p50 / p99). "
        "Daemon t_wire − t0 = the daemon's own stamps from the mirror log (max over followers). "
        "Values are p50 / p90 / p99 / max.",
        "",
        "| N | signals @ rate | propagation (outside clocks) | every follower p50 / p99 | daemon t_wire − t0 | "
        "send → t0 | target p99 | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        c = row["copier"]
        target = row["target_p99_us"]
        lines.append(
            f"| {row['followers']} | {row['signals']} @ {row['rate']:g}/s | {_stats(c['propagation_us'])} | "
            f"{_every(c)} | {_stats(c['daemon_wire_us'])} | {_stats(c['send_to_t0_us'])} | "
            f"{_us(target) if target else '–'} | "
            f"{'yes' if row['meets_target'] else '**no**'} |"
        )
    lines += [
        "",
        "The floor: a minimal uvloop program that answers the same webhook by writing N prebuilt frames to "
        "N held-open loopback connections; its sinks stamp arrival. Copier ÷ floor is shown on the outside-clock "
        "propagation (p50, p99) and on each side's own t_wire − t0 (p50). Last wire → sim is the last order's "
        "time from the daemon's write to the simulator's stamp (loopback plus the simulator's own queue). "
        "CPU / signal is all the daemon's CPU while the signals came in, divided by their number, its work "
        "between signals (the warm keeper) included; idle CPU is its share of a core before the signals.",
        "",
        "| N | floor propagation | floor t_wire − t0 p50 | Copier ÷ floor (p50, p99; own) | last wire → sim p50 | "
        "CPU / signal (Copier, floor) | Copier idle CPU | signals/s sustained (CPU ceiling) | peak RSS | missing | "
        "load (1/5/15 min) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        c, f = row["copier"], row["floor"]
        ceiling = c.get("cpu_ceiling_signals_per_s")
        achieved = c.get("achieved_signals_per_s")
        lines.append(
            f"| {row['followers']} | {_stats(f['propagation_us'])} | {_us(f['wire_us']['p50'])} | "
            f"{row['copier_over_floor_p50']:.1f}× / {row['copier_over_floor_p99']:.1f}×; "
            f"{row.get('copier_over_floor_wire_p50', float('nan')):.1f}× | "
            f"{_us(c['last_wire_to_arrival_us']['p50'])} | "
            f"{c['cpu_per_signal_ms']:.2f} ms / {f['cpu_per_signal_ms']:.3f} ms | "
            f"{c.get('idle_cpu_percent', 0):.1f}% | {achieved or 0:.1f} ({ceiling or 0:.0f}) | "
            f"{c['peak_rss_kib'] / 1024:.0f} MiB | "
            f"{c['missing_orders']} | {c['load_before']} |"
        )
    if any(row.get("repeats", 1) > 1 for row in result["rows"]):
        lines += [
            "",
            "Spread over repeated runs (the tables show the run with the median p99):",
            "",
            "| N | runs | propagation p50 | propagation p99 | floor p50 | Copier ÷ floor p50 | CPU / signal | load |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in result["rows"]:
            sp = row["spread"]
            lines.append(
                f"| {row['followers']} | {row['repeats']} | {_range(sp['propagation_p50_us'])} | "
                f"{_range(sp['propagation_p99_us'])} | {_range(sp['floor_p50_us'])} | "
                f"{sp['ratio_p50'][0]:.1f}–{sp['ratio_p50'][1]:.1f}× | "
                f"{sp['cpu_per_signal_ms'][0]:.2f}–{sp['cpu_per_signal_ms'][1]:.2f} ms | {'; '.join(sp['load'])} |"
            )
    peer = result.get("peer")
    if peer:
        lines += ["", "## Peer: ccxt against the same Binance simulator", "", peer_table(peer)]
    lines += [
        "",
        f"Machine: {facts['cpu']}, {facts['cores']} cores, Python {facts['python']}, uvloop {facts['uvloop']}, "
        f"aiohttp {facts['aiohttp']}, {facts['platform']}. Hot path: {facts.get('hot_path', 'interpreted')}. "
        "The machine is shared: the load average is noted per N.",
        "",
    ]
    return "\n".join(lines)


def peer_table(peer: dict[str, Any]) -> str:
    """ccxt's ``create_order`` next to Copier's Binance connector against the same simulator, paced
    and back to back, and the whole daemon with one follower."""
    rows = [
        "| client | pace | latency to the venue (p50 / p90 / p99 / max) | CPU per order | ÷ ccxt CPU |",
        "|---|---|---|---|---|",
    ]
    for pace, label in (("paced", f"{peer.get('rate', 0):g}/s"), ("back_to_back", "back to back")):
        sides = peer.get(pace) or {}
        for role in ("connector-ws", "connector-rest", "ccxt"):
            side = sides.get(role)
            if side is None:
                continue
            ratio = side.get("cpu_ratio", 1.0)
            rows.append(
                f"| {side['transport']} | {label} | {_stats(side['latency_us'])} "
                f"| {side['cpu_per_order_ms']:.3f} ms | {ratio:.2f} |"
            )
    c = peer["copier"]
    rows += [
        f"| Copier daemon, one follower: webhook → order arrival, the whole ingest path, its warm keeper's "
        f"work between signals included (idle: {c.get('idle_cpu_percent', 0):.1f}% of a core) "
        f"| {peer.get('rate', 0):g}/s | {_stats(c['propagation_us'])} | {c['cpu_per_signal_ms']:.3f} ms "
        f"| {peer['cpu_ratio']:.2f} |",
        "",
        f"ccxt {(peer.get('paced') or {}).get('ccxt', {}).get('ccxt_version', '?')}; every client in its own "
        "process against a fresh Binance simulator, the same orders; CPU is the process's user + system time over "
        "the measured orders. Paced, every order finds the process idle (on this virtual machine a wake-up from "
        "idle costs a few hundred µs of CPU, paid by both); back to back, the next order goes when the last is "
        "answered, which shows each client's own work per order.",
    ]
    return "\n".join(rows)
