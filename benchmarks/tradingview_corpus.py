"""Every TradingView alert body of the real-world corpus through the real webhook edge.

    python -m benchmarks.tradingview_corpus [--corpus ../shared/corpus/tradingview/alerts.jsonl]

Starts the aiohttp ingest edge in this process with a router over two paper accounts, posts each
body with a valid token (``text/plain`` unless the body is valid JSON, as TradingView does), and
counts the answers per outcome: accepted, duplicate, and each 4xx status with the field it names.
A 5xx or an exception is a failure (exit code 1). Prints a table and writes
``benchmarks/results/tradingview_corpus.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.stats import machine, summary
from connectors.paper import PaperConfig, PaperConnector
from core.mirror import MirrorLog
from core.router import Route, Router
from ingest.edge import READ_TIMEOUT, IngestEdge, WebhookSource

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "tradingview" / "alerts.jsonl"
RESULTS = Path(__file__).parent / "results"
TOKEN = "corpus-token"


@dataclass(frozen=True, slots=True)
class Outcome:
    """One body's answer: HTTP status (0 when the request itself failed) and what it said."""

    id: str
    form: str
    status: int
    answer: dict[str, Any] | None
    error: str | None
    seconds: float

    @property
    def label(self) -> str:
        if self.error is not None:
            return "exception"
        if self.status == 200 and self.answer and self.answer.get("duplicate"):
            return "200 duplicate"
        if self.status == 200:
            return "200 accepted"
        field = (self.answer or {}).get("field")
        return f"{self.status} {field}" if field else str(self.status)

    @property
    def message(self) -> str:
        if self.error is not None:
            return self.error
        return str((self.answer or {}).get("error") or "")


@dataclass(slots=True)
class Harness:
    """A running edge: ``url`` of the source's webhook, the HTTP session and the router behind it."""

    url: str
    session: aiohttp.ClientSession
    router: Router
    connectors: dict[str, PaperConnector]
    edge: IngestEdge

    async def post(self, body: bytes, *, query: str = f"?token={TOKEN}", content_type: str | None = None) -> Outcome:
        kind = content_type or ("application/json" if _is_json(body) else "text/plain; charset=utf-8")
        started = time.perf_counter()
        try:
            async with self.session.post(self.url + query, data=body, headers={"Content-Type": kind}) as response:
                text = await response.text()
                try:
                    answer = json.loads(text)
                except ValueError:
                    answer = {"error": text}
                return Outcome("", kind, response.status, answer, None, time.perf_counter() - started)
        except Exception as exc:  # a failure to report, not to hide
            return Outcome("", kind, 0, None, f"{type(exc).__name__}: {exc}", time.perf_counter() - started)


@asynccontextmanager
async def edge_harness(
    folder: Path,
    *,
    options: Mapping[str, Any] | None = None,
    token: str | None = TOKEN,
    read_timeout: float = READ_TIMEOUT,
    tls: ssl.SSLContext | None = None,
    trust: ssl.SSLContext | None = None,
) -> AsyncIterator[Harness]:
    """The ingest edge on a free port with source ``tv`` routed to paper accounts ``a`` and ``b``
    (over TLS with ``tls``, its client verifying the edge with ``trust``)."""
    mirror = MirrorLog(folder / "mirror.jsonl", flush_interval=0.001)
    mirror.start()
    connectors = {
        "a": PaperConnector(PaperConfig.from_mapping("a", {"balance": 10000}, prefix="")),
        "b": PaperConnector(PaperConfig.from_mapping("b", {"balance": 5000, "mode": "netting"}, prefix="")),
    }
    for conn in connectors.values():
        await conn.start()
    router = Router(routes=[Route("tv", "a"), Route("tv", "b")], connectors=connectors, mirror=mirror)
    source = WebhookSource("tv", token=token, options=dict(options or {}))
    edge = IngestEdge({"tv": source}, router.submit, mirror, read_timeout=read_timeout)
    port = await edge.start("127.0.0.1", 0, tls)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust) if trust is not None else None)
    scheme = "https" if tls is not None else "http"
    try:
        yield Harness(f"{scheme}://127.0.0.1:{port}/webhook/tv", session, router, connectors, edge)
    finally:
        await session.close()
        await edge.close()
        await router.drain()
        await router.stop()
        for conn in connectors.values():
            await conn.stop()
        await mirror.close()


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def load_corpus(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


async def run_corpus(rows: list[dict[str, Any]], folder: Path) -> list[Outcome]:
    """Post every row's ``body`` through a fresh edge; one outcome per row, in order."""
    outcomes = []
    async with edge_harness(folder) as harness:
        for row in rows:
            result = await harness.post(row["body"].encode("utf-8"))
            outcomes.append(
                Outcome(
                    row["id"], str(row.get("format", "")), result.status, result.answer, result.error, result.seconds
                )
            )
    return outcomes


def report(outcomes: list[Outcome], corpus: Path) -> str:
    counts = Counter(o.label for o in outcomes)
    example: dict[str, str] = {}
    for o in outcomes:
        example.setdefault(o.label, f"{o.id}: {o.message}" if o.message else o.id)
    times = summary([o.seconds * 1e6 for o in outcomes])
    info = machine()
    lines = [
        f"# TradingView corpus through the webhook edge ({datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC)",
        "",
        f"{len(outcomes)} bodies from `{corpus.name}`, each posted once with a valid token to the in-process "
        "ingest edge (router over two paper accounts). A 5xx or an exception would be a failure.",
        "",
        "| outcome | count | example |",
        "|---|---|---|",
    ]
    for label, count in sorted(counts.items(), key=lambda item: (item[0][:3], -item[1])):
        lines.append(f"| {label} | {count} | {_cell(example[label])} |")
    lines += [
        "",
        f"Answer time µs: p50 {times['p50']:.0f}, p90 {times['p90']:.0f}, max {times['max']:.0f}.",
        "",
        "| id | format | status | answer |",
        "|---|---|---|---|",
    ]
    for o in outcomes:
        lines.append(f"| {o.id} | {o.form} | {o.label} | {_cell(o.message)} |")
    lines += ["", f"Machine: {info.get('cpu', '')}, Python {info.get('python', '')}."]
    return "\n".join(lines) + "\n"


def _cell(text: str, limit: int = 160) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--out", type=Path, default=RESULTS / "tradingview_corpus.md")
    args = parser.parse_args(argv)
    if not args.corpus.exists():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 2
    rows = load_corpus(args.corpus)
    with tempfile.TemporaryDirectory() as tmp:
        outcomes = asyncio.run(run_corpus(rows, Path(tmp)))
    text = report(outcomes, args.corpus)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    counts = Counter(o.label for o in outcomes)
    width = max(len(label) for label in counts)
    print(f"{'outcome':<{width}}  count")
    for label, count in sorted(counts.items(), key=lambda item: (item[0][:3], -item[1])):
        print(f"{label:<{width}}  {count:5d}")
    print(f"total{'':<{width - 5}}  {len(outcomes):5d}   (written to {args.out})")
    bad = [o for o in outcomes if o.error is not None or o.status >= 500 or o.status == 0]
    for o in bad:
        print(f"FAILURE {o.id}: {o.status} {o.message}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
