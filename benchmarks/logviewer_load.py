"""The log viewer with 100,000 events, measured in the real browser.

    python -m benchmarks.logviewer_load --events 100000 [--runs 5]

Writes a mirror log of realistic events (signals from three sources copied to six followers on
four venues, with skips, venue rejections, unknown outcomes, disconnects), starts ``copier run`` on
it as its own process, logs in with Chromium (Debian's, driven by Playwright) and measures:

- page open: from navigation start to the first rows of the list on screen (the page's own
  ``copier:first-rows`` mark), with the session cookie already set;
- filter answer: from the filter's change to the new rows on screen, for several kinds of filter
  (one field, two fields, text, problems only).

Results go to ``benchmarks/results/logviewer.md``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.stats import machine
from core.mirror import encode
from tests.e2e.daemon import running_daemon
from tests.helpers import eventually_sync

RESULTS = Path(__file__).parent / "results"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

FOLLOWERS = (
    ("paper-a", "paper"),
    ("paper-b", "paper"),
    ("okx-1", "okx"),
    ("bybit-1", "bybit"),
    ("bybit-2", "bybit"),
    ("mt5-ftmo", "mt5"),
)
SOURCES = ("tv", "rest", "telegram")
SYMBOLS = ("EURUSD", "XAUUSD", "GBPUSD", "BTCUSDT", "ETHUSDT", "US30", "USDJPY", "NAS100")
SKIPS = (
    "{symbol} is not traded on account {account} (no such instrument)",
    "volume 0.004 rounds down to 0 at step 0.01; below the minimum 0.01",
    "kill switch is on for {account}: new positions are stopped",
    "signal is 31 s old; the route allows 10 s",
    "{account} already holds 5 open positions (max_open_positions = 5)",
)
REJECTS = (
    ("51008", "Order failed. Insufficient margin"),
    ("110007", "ab not enough for new order"),
    ("10019", "Not enough money"),
)


def realistic_events(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """``count`` mirror log records telling the stories of signals copied to six followers."""
    rng = random.Random(seed)
    now = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
    mono = 10**12
    produced = 0
    serial = 0

    def rec(event: str, **fields: Any) -> dict[str, Any]:
        nonlocal produced
        produced += 1
        return {"ts": now, "mono_ns": mono, "event": event, **{k: v for k, v in fields.items() if v is not None}}

    yield rec("daemon_started", detail={"accounts": [a for a, _ in FOLLOWERS], "sources": list(SOURCES)})
    for account, venue in FOLLOWERS:
        yield rec("connector_up", account=account, venue=venue, status="up")
    while produced < count:
        serial += 1
        now += timedelta(milliseconds=rng.randint(200, 4000))
        mono += rng.randint(200, 4000) * 1_000_000
        source = rng.choice(SOURCES)
        roll = rng.random()
        if roll < 0.02:
            yield rec("signal_rejected", source=source, status="401", reason="invalid token")
            continue
        if roll < 0.03:
            account, venue = rng.choice(FOLLOWERS)
            yield rec("connector_down", account=account, venue=venue, status="down", reason="connection reset by peer")
            mono += 800_000_000
            yield rec("connector_up", account=account, venue=venue, status="up")
            continue
        signal_id = f"{int(now.timestamp() * 1e6):013x}{serial & 0xFFFFFF:06x}"
        symbol = rng.choice(SYMBOLS)
        side = rng.choice(("buy", "sell"))
        volume = f"{rng.choice((0.01, 0.05, 0.1, 0.25, 0.5, 1)):.2f}"
        t0 = mono
        yield rec(
            "signal_accepted",
            signal_id=signal_id,
            source=source,
            symbol=symbol,
            side=side,
            volume=volume,
            status="accepted",
            detail={"action": "open", "followers": len(FOLLOWERS), "origin_id": f"{source}-{serial}"},
        )
        for index, (account, venue) in enumerate(FOLLOWERS):
            base = {"signal_id": signal_id, "source": source, "account": account, "venue": venue, "symbol": symbol}
            fate = rng.random()
            mono = t0 + (index + 1) * rng.randint(20_000, 60_000)
            if fate < 0.06:
                reason = rng.choice(SKIPS).format(symbol=symbol, account=account)
                yield rec("order_skipped", side=side, status="skipped", reason=reason, **base)
                continue
            cid = f"cp{serial:08d}{index:02d}{'x' * 10}"
            yield rec("order_planned", side=side, volume=volume, client_order_id=cid, status="planned",
                      detail={"kind": "open", "sl": None, "tp": None}, **base)
            wire = int(rng.lognormvariate(5.6, 0.6)) + index * 40
            if fate < 0.09:
                code, reason = rng.choice(REJECTS)
                yield rec("order_rejected", side=side, volume=volume, client_order_id=cid, status="rejected",
                          reason=reason, detail={"code": code}, **base)
                continue
            if fate < 0.10:
                yield rec("order_unknown", side=side, volume=volume, client_order_id=cid, status="unknown",
                          reason="no answer within 5 s after the order left", **base)
                yield rec("order_reconciled", side=side, volume=volume, client_order_id=cid, status="filled", **base)
            mono = t0 + wire * 1000
            yield rec("order_sent", side=side, volume=volume, client_order_id=cid, status="sent", latency_us=wire,
                      **base)
            ack = wire + int(rng.lognormvariate(8.5, 0.5))
            mono = t0 + ack * 1000
            yield rec("order_filled", side=side, volume=volume, client_order_id=cid, status="filled",
                      price=f"{rng.uniform(1, 2000):.2f}", venue_order_id=str(rng.randint(10**8, 10**9)),
                      latency_us=wire, ack_us=ack, **base)
            yield rec("position_linked", side=side, volume=volume, client_order_id=cid,
                      detail={"source_position": f"{symbol}:{side}", "position_id": str(serial), "pending": False},
                      signal_id=signal_id, source=source, account=account, symbol=symbol)


def write_log(path: Path, count: int) -> int:
    """Write ``count`` events to ``path`` (one file, as the daemon would before rotating)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(path, "wb") as out:
        for record in realistic_events(count):
            if written >= count:
                break
            out.write(encode(record))
            written += 1
    return written


CONFIG = """
[log]
max_bytes = 1073741824
[[sources]]
name = "tv"
kind = "tradingview"
token = "bench-token"
[[accounts]]
name = "paper-a"
venue = "paper"
balance = 10000
[[accounts]]
name = "paper-b"
venue = "paper"
balance = 5000
[[routes]]
source = "tv"
account = "paper-a"
[[routes]]
source = "tv"
account = "paper-b"
"""

# Each run asks for a different view, so that no answer comes from the server's cache of views.
FILTERS: tuple[tuple[str, list[dict[str, Any]]], ...] = (
    ("account", [{"#f-account": a} for a in ("okx-1", "bybit-1", "bybit-2", "mt5-ftmo", "paper-a")]),
    ("event", [{"#f-event": e} for e in ("order_rejected", "order_skipped", "order_unknown", "order_sent",
                                         "position_linked")]),
    ("text", [{"#f-q": q} for q in ("insufficient margin", "not enough", "rounds down", "kill switch",
                                    "already holds")]),
    ("problems only (alone, then with one source or venue)",
     [{"#f-problems": True}, *({f: v, "#f-problems": True} for f, v in (("#f-source", "tv"), ("#f-source", "rest"),
                                                                       ("#f-venue", "okx"), ("#f-venue", "bybit")))]),
    ("symbol + venue", [{"#f-symbol": s, "#f-venue": v} for s, v in (("XAUUSD", "bybit"), ("EURUSD", "okx"),
                                                                   ("BTCUSDT", "mt5"), ("US30", "paper"),
                                                                   ("NAS100", "bybit"))]),
)

MEASURE_FILTER = """
async ([selector, value]) => {
  const list = document.querySelector('#rows');
  const before = list.dataset.view;
  const t0 = performance.now();
  const el = document.querySelector(selector);
  if (el.type === 'checkbox') { el.checked = value; } else { el.value = value; }
  el.dispatchEvent(new Event('change', {bubbles: true}));
  await new Promise((resolve) => {
    const check = () => (list.dataset.view !== before && list.dataset.state === 'ready')
      ? resolve() : requestAnimationFrame(check);
    check();
  });
  return {ms: performance.now() - t0, matched: Number(list.dataset.matched)};
}
"""


MEASURE_JUMP = """
async (fraction) => {
  const scroller = document.querySelector('#scroller');
  const t0 = performance.now();
  scroller.scrollTop = scroller.scrollHeight * fraction;
  await new Promise((resolve) => {
    const check = () => {
      const top = Math.floor(scroller.scrollTop / 26);
      const row = document.querySelector(`#rows .row[data-index="${top}"]:not([hidden])`);
      const pending = document.querySelectorAll('#rows .row.pending:not([hidden])');
      (row && !row.classList.contains('pending') && pending.length === 0) ? resolve() : requestAnimationFrame(check);
    };
    requestAnimationFrame(check);
  });
  return performance.now() - t0;
}
"""


def measure(events: int, runs: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        mirror = folder / "data" / "mirror.jsonl"
        started = time.perf_counter()
        write_log(mirror, events)
        size_mb = mirror.stat().st_size / 1e6
        write_s = time.perf_counter() - started
        with running_daemon(folder, CONFIG) as daemon:
            base = daemon.api
            # the index loads in a thread as the daemon starts; the first request waits for it
            t_index = time.perf_counter()
            eventually_sync(lambda: daemon.api_get("/api/v1/events?limit=1")[1]["head"] >= events, timeout=60)
            index_s = time.perf_counter() - t_index
            results: dict[str, Any] = {"events": events, "log_mb": round(size_mb, 1), "write_s": round(write_s, 2),
                                       "index_s": round(index_s, 2)}
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = browser.new_context(viewport={"width": 1440, "height": 900})
                page = context.new_page()
                page.goto(base + "/logs")
                page.fill("#key", daemon.key)
                page.click("button[type=submit]")
                page.wait_for_selector("#rows .row")
                opens = []
                for _ in range(runs):
                    page.goto(base + "/logs", wait_until="commit")
                    page.wait_for_function("() => performance.getEntriesByName('copier:first-rows').length > 0")
                    opens.append(page.evaluate("() => performance.getEntriesByName('copier:first-rows')[0].startTime"))
                results["open_ms"] = opens
                jumps = []
                for fraction in (0.5, 0.25, 0.75, 0.9, 0.1)[:runs]:
                    page.goto(base + "/logs", wait_until="commit")
                    page.wait_for_function("() => document.querySelector('#latency')?.dataset.state === 'ready'")
                    jumps.append(page.evaluate(MEASURE_JUMP, fraction))
                results["jump_ms"] = jumps
                filters: dict[str, Any] = {}
                for name, variants in FILTERS:
                    times = []
                    matched = []
                    for settings in variants[:runs]:
                        page.goto(base + "/logs", wait_until="commit")
                        # the page has settled (rows, latency panel) before the filter changes
                        page.wait_for_function("() => document.querySelector('#latency')?.dataset.state === 'ready'")
                        items = list(settings.items())
                        for sel, val in items[:-1]:
                            if val is True:
                                page.check(sel)
                            else:
                                page.fill(sel, val)
                        out = page.evaluate(MEASURE_FILTER, list(items[-1]))
                        times.append(out["ms"])
                        matched.append(out["matched"])
                    filters[name] = {"ms": times, "matched": matched}
                results["filters"] = filters
                browser.close()
    return results


def report(results: dict[str, Any]) -> str:
    def fmt(values: list[float]) -> str:
        return f"median {statistics.median(values):.0f} ms, max {max(values):.0f} ms (n={len(values)})"

    lines = [
        "# Log viewer load",
        "",
        "`python -m benchmarks.logviewer_load --events "
        f"{results['events']}` — {results['events']:,} events in the mirror log ({results['log_mb']} MB), the real "
        "daemon process, headless Chromium driven by Playwright.",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()),
        "",
        "| measurement | result | target |",
        "|---|---|---|",
        f"| page open (navigation → first rows on screen) | {fmt(results['open_ms'])} | < 2000 ms |",
        f"| scroll: jump into the middle of the list → those rows on screen | {fmt(results['jump_ms'])} | |",
    ]
    for name, data in results["filters"].items():
        counts = f"{min(data['matched']):,}–{max(data['matched']):,} matches"
        lines.append(f"| filter: {name} ({counts}) | {fmt(data['ms'])} | < 300 ms |")
    lines += [
        "",
        "Page open is measured with the session cookie set, from the navigation's start to the page's own",
        "`copier:first-rows` performance mark (set after the first page of rows is in the DOM). A filter",
        "answer is measured inside the page from the control's change event to the new rows on screen;",
        "the server filters, the browser renders only the visible rows. Each run asks for another view, so",
        "no answer comes from the server's cache of views. A jump moves the scroll bar to 10–90 % of the",
        "list and waits until the page of rows there has been fetched and drawn.",
        "",
        f"Indexing the {results['log_mb']} MB log when the daemon starts (in a thread, off the event loop):",
        f"{results['index_s']} s until the first request is answered.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results = measure(args.events, args.runs)
    RESULTS.mkdir(exist_ok=True)
    text = report(results)
    (RESULTS / "logviewer.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
