"""The log viewer's feed: an in-memory index over the mirror log for paging, filtering and live tail.

The index holds the most recent ``max_events`` events of the mirror log (the rotated files and the
live one, oldest first) plus every event flushed since. Each event gets a sequence number ``seq``
(1, 2, … in log order, stable while the process runs) that pages are cut by: ``before=seq`` and
``after=seq``. Next to the encoded line it keeps a few columns (event, source, account, venue,
symbol, status, signal id, wire latency, a "problem" flag) so filters run without decoding JSON.

Filters are ANDed across fields and ORed within one field (``account=a,b``). ``q`` is a
case-insensitive substring of the event's JSON line. The match list of a filter is cached and
extended as events arrive, so paging through one view costs a binary search.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from core.mirror import MirrorLog, Record, encode

#: The fields a filter can name, each a column of the index.
FILTER_FIELDS = ("event", "source", "account", "venue", "symbol", "status")

#: Lines kept unindexed while no page listens, before they are indexed at once whatever that costs.
MAX_UNINDEXED = 50_000

#: Lines indexed per event-loop turn while no page listens. The index is built as the lines come
#: in, a slice at a time, rather than tens of thousands of lines in one call (and one collection of
#: all they allocated after it), which held up every webhook and order for tens of milliseconds.
INDEX_SLICE = 256

#: Events that are problems whatever their status.
PROBLEM_EVENTS = frozenset(
    {
        "signal_rejected",
        "order_skipped",
        "order_rejected",
        "order_unknown",
        "order_failed",
        "connector_down",
        "connector_reconnecting",
        "guard_tripped",
    }
)
_PROBLEM_SUFFIXES = ("_rejected", "_skipped", "_unknown", "_failed", "_down")
_PROBLEM_STATUSES = frozenset({"rejected", "skipped", "unknown", "failed", "down", "reconnecting"})

#: Events whose ``latency_us`` is a follower's wire latency (t_wire − t0).
LATENCY_EVENTS = frozenset({"order_sent", "order_acked", "order_filled"})


def is_problem(event: str, status: str | None) -> bool:
    """Skips, rejections, unknown outcomes, failures and disconnects."""
    return event in PROBLEM_EVENTS or event.endswith(_PROBLEM_SUFFIXES) or status in _PROBLEM_STATUSES


@dataclass(frozen=True, slots=True)
class Filter:
    """A normalized view: allowed values per field, a text needle and the problems switch."""

    fields: tuple[tuple[str, frozenset[str]], ...] = ()
    q: str = ""
    problems: bool = False

    @classmethod
    def parse(cls, params: Mapping[str, str | None]) -> Filter:
        """From query parameters: comma-separated values per field, ``q`` and ``problems=1``."""
        chosen = []
        for name in FILTER_FIELDS:
            raw = params.get(name) or ""
            values = frozenset(v.strip() for v in raw.split(",") if v.strip())
            if values:
                chosen.append((name, values))
        problems = (params.get("problems") or "").lower() in ("1", "true", "yes", "on")
        return cls(tuple(chosen), (params.get("q") or "").strip(), problems)

    @property
    def empty(self) -> bool:
        return not self.fields and not self.q and not self.problems


@dataclass(slots=True)
class Page:
    """Events in ascending ``seq`` and where they sit in the view."""

    lines: list[bytes]
    seqs: list[int]
    matched: int
    head: int
    oldest: int

    def to_json_bytes(self) -> bytes:
        """The response body, built from the stored lines without decoding them."""
        events = b",".join(_with_seq(seq, line) for seq, line in zip(self.seqs, self.lines, strict=True))
        meta = orjson.dumps({"matched": self.matched, "head": self.head, "oldest": self.oldest})
        return meta[:-1] + b',"events":[' + events + b"]}"


def _with_seq(seq: int, line: bytes) -> bytes:
    body = line.rstrip(b"\n")
    return b'{"seq":' + str(seq).encode() + (b"," + body[1:] if len(body) > 2 else b"}")


@dataclass(slots=True)
class _Matches:
    seqs: list[int]
    upto: int  # last seq evaluated


CHUNK = 8192


@dataclass(slots=True)
class _Chunk:
    """Up to ``CHUNK`` consecutive lines: as written, lowercased (for text search), and where each starts."""

    first: int
    raw: bytearray = field(default_factory=bytearray)
    low: bytearray = field(default_factory=bytearray)
    starts: array[int] = field(default_factory=lambda: array("q"))

    def add(self, line: bytes) -> None:
        self.starts.append(len(self.raw))
        self.raw += line
        self.low += line.lower()

    def line(self, index: int) -> bytes:
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.raw)
        return bytes(self.raw[self.starts[index] : end])

    def find(self, needle: bytes, lo: int, hi: int) -> list[int]:
        """Indexes in ``lo..hi`` of the lines that contain ``needle`` (lowercase)."""
        starts = self.starts
        low = self.low
        pos = starts[lo]
        stop = starts[hi + 1] if hi + 1 < len(starts) else len(low)
        out: list[int] = []
        while True:
            pos = low.find(needle, pos, stop)
            if pos < 0:
                return out
            index = bisect.bisect_right(starts, pos) - 1
            out.append(index)
            if index + 1 >= len(starts):
                return out
            pos = starts[index + 1]

    def contains(self, index: int, needle: bytes) -> bool:
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.low)
        return self.low.find(needle, self.starts[index], end) >= 0


@dataclass(slots=True)
class _Listener:
    notify: Callable[[int, int], None]


@dataclass
class FeedIndex:
    """The mirror log's events, indexed. Create it, ``attach`` it to the running ``MirrorLog``,
    then ``await load()`` (or let the first request do it)."""

    path: Path
    max_events: int = 200_000
    _chunks: list[_Chunk] = field(default_factory=list)
    _count: int = 0
    _cols: dict[str, list[str | None]] = field(default_factory=lambda: {f: [] for f in FILTER_FIELDS})
    _signal: list[str | None] = field(default_factory=list)
    _latency: list[int] = field(default_factory=list)
    _problem: bytearray = field(default_factory=bytearray)
    _postings: dict[str, dict[str, list[int]]] = field(default_factory=lambda: {f: {} for f in FILTER_FIELDS})
    _by_signal: dict[str, list[int]] = field(default_factory=dict)
    _base: int = 1  # seq of the oldest retained event
    _cache: OrderedDict[Filter, _Matches] = field(default_factory=OrderedDict)
    _listeners: list[_Listener] = field(default_factory=list)
    _early: list[bytes] = field(default_factory=list)
    _loaded: bool = False
    _loading: asyncio.Lock | None = None
    _loader: asyncio.Task[None] | None = None
    _intern: dict[str, str] = field(default_factory=dict)
    _unindexed: list[bytes] = field(default_factory=list)
    _slicing: asyncio.Handle | None = None

    # -- building ----------------------------------------------------------------------------

    def attach(self, mirror: MirrorLog) -> Callable[[], None]:
        """Receive every batch the mirror log flushes from now on; returns the detach function."""
        return mirror.subscribe_lines(self.on_batch)

    def on_batch(self, batch: list[Record], lines: list[bytes] | None = None) -> None:
        """A mirror log subscriber: index a flushed batch and wake the live feeds.

        The mirror log hands over the lines it encoded, so records are neither encoded nor parsed
        again on the event loop.
        """
        if lines is None:
            lines = [encode(record) for record in batch]
        if not self._loaded:
            self._early.extend(lines)
            return
        if self._listeners:
            self._catch_up()
            self._append(zip(batch, lines, strict=True))
            return
        # Nobody is watching: nothing is indexed in the mirror log's flush, which runs between
        # orders; the lines are indexed a slice per loop turn after it (or at once when read).
        self._unindexed.extend(lines)
        if len(self._unindexed) >= MAX_UNINDEXED:
            self._catch_up()
        elif len(self._unindexed) >= INDEX_SLICE and self._slicing is None:
            try:
                self._slicing = asyncio.get_running_loop().call_soon(self._index_slice)
            except RuntimeError:  # no event loop (a tool reading the log): on the next read
                pass

    def _index_slice(self) -> None:
        """Index one slice of the unindexed lines, and schedule the next while a slice is left."""
        self._slicing = None
        lines = self._unindexed[:INDEX_SLICE]
        del self._unindexed[:INDEX_SLICE]
        self._append_lines(lines)
        if len(self._unindexed) >= INDEX_SLICE:
            self._slicing = asyncio.get_running_loop().call_soon(self._index_slice)

    def _catch_up(self) -> None:
        if self._unindexed:
            lines, self._unindexed = self._unindexed, []
            self._append_lines(lines)

    @property
    def loaded(self) -> bool:
        return self._loaded

    async def load(self, mirror: MirrorLog | None = None) -> None:
        """Read the mirror log files (in a thread) once; batches flushed meanwhile are kept and merged.

        Pass the attached ``mirror`` so that what it flushed before ``attach`` is on disk first.
        """
        if self._loaded:
            return
        if self._loading is None:
            self._loading = asyncio.Lock()
        async with self._loading:
            if self._loaded:
                return
            if mirror is not None:
                await mirror.flush()
            lines = await asyncio.to_thread(read_log_lines, self.path, self.max_events)
            self._merge_loaded(lines)

    def start_loading(self, mirror: MirrorLog | None = None) -> None:
        """Begin ``load`` in the background when an event loop runs here (else the first request loads)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._loader is None:
            self._loader = loop.create_task(self.load(mirror), name="logviewer-index")

    def load_sync(self) -> None:
        """Read the mirror log files now, in this thread (tests, tools)."""
        if not self._loaded:
            self._merge_loaded(read_log_lines(self.path, self.max_events))

    def _merge_loaded(self, lines: list[bytes]) -> None:
        # A batch flushed after subscribing may also have reached the file before it was read:
        # the writer encodes records exactly as ``encode`` does, so equal bytes mean the same event.
        tail = set(lines[-50_000:])
        early, self._early = self._early, []
        self._loaded = True
        self._append_lines(lines + [line for line in early if line not in tail])

    def extend(self, records: Iterable[Record]) -> None:
        """Index records directly (tests, tools); the index counts as loaded."""
        self._loaded = True
        self._append_lines([encode(r) for r in records])

    def _append_lines(self, lines: list[bytes]) -> None:
        parsed = []
        for line in lines:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict):
                parsed.append((record, line))
        self._append(parsed)

    def _append(self, pairs: Iterable[tuple[Record, bytes]]) -> None:
        first = self._base + self._count
        cols = self._cols
        postings = self._postings
        intern = self._intern
        seq = first
        for record, line in pairs:
            if not self._chunks or len(self._chunks[-1].starts) >= CHUNK:
                self._chunks.append(_Chunk(seq))
            self._chunks[-1].add(line if line.endswith(b"\n") else line + b"\n")
            self._count += 1
            for name in FILTER_FIELDS:
                value = record.get(name)
                if value is None:
                    cols[name].append(None)
                    continue
                text = value if isinstance(value, str) else str(value)
                text = intern.setdefault(text, text)
                cols[name].append(text)
                postings[name].setdefault(text, []).append(seq)
            signal_id = record.get("signal_id")
            if isinstance(signal_id, str):
                self._signal.append(signal_id)
                self._by_signal.setdefault(signal_id, []).append(seq)
            else:
                self._signal.append(None)
            latency = record.get("latency_us")
            self._latency.append(latency if isinstance(latency, int) and not isinstance(latency, bool) else -1)
            event = record.get("event")
            status = record.get("status")
            self._problem.append(
                is_problem(event if isinstance(event, str) else "", status if isinstance(status, str) else None)
            )
            seq += 1
        while self._count - CHUNK >= self.max_events and len(self._chunks) > 1:
            self._trim()
        if seq > first:
            for listener in list(self._listeners):
                listener.notify(first, seq - 1)

    def _trim(self) -> None:
        """Forget the oldest chunk of events."""
        count = len(self._chunks.pop(0).starts)
        self._count -= count
        self._base += count
        for name in FILTER_FIELDS:
            del self._cols[name][:count]
            for value, seqs in list(self._postings[name].items()):
                cut = bisect.bisect_left(seqs, self._base)
                if cut == len(seqs):
                    del self._postings[name][value]
                elif cut:
                    del seqs[:cut]
        del self._signal[:count]
        del self._latency[:count]
        del self._problem[:count]
        for signal_id, seqs in list(self._by_signal.items()):
            if seqs[-1] < self._base:
                del self._by_signal[signal_id]
        self._cache.clear()

    # -- reading -----------------------------------------------------------------------------

    @property
    def head(self) -> int:
        """The newest seq (``oldest - 1`` when empty)."""
        self._catch_up()
        return self._base + self._count - 1

    @property
    def oldest(self) -> int:
        return self._base

    def __len__(self) -> int:
        self._catch_up()
        return self._count

    def _locate(self, seq: int) -> tuple[_Chunk, int]:
        offset = seq - self._base
        return self._chunks[offset // CHUNK], offset % CHUNK

    def line(self, seq: int) -> bytes:
        """The stored line (with its newline) of a retained seq."""
        self._catch_up()
        chunk, index = self._locate(seq)
        return chunk.line(index)

    def record(self, seq: int) -> dict[str, Any]:
        """The decoded event with its ``seq``."""
        out: dict[str, Any] = orjson.loads(self.line(seq))
        out["seq"] = seq
        return out

    def facets(self) -> dict[str, list[str]]:
        """The values each filter field takes among the retained events."""
        self._catch_up()
        return {name: sorted(self._postings[name]) for name in FILTER_FIELDS}

    def matches(self, flt: Filter) -> list[int]:
        """Every retained seq the filter matches, ascending (cached, extended as events arrive)."""
        self._catch_up()
        cached = self._cache.get(flt)
        head = self.head
        if cached is not None:
            self._cache.move_to_end(flt)
            if cached.upto < head:
                cached.seqs.extend(self._evaluate(flt, cached.upto + 1, head))
                cached.upto = head
            return cached.seqs
        seqs = self._evaluate(flt, self._base, head)
        self._cache[flt] = _Matches(seqs, head)
        while len(self._cache) > 32:
            self._cache.popitem(last=False)
        return seqs

    def _evaluate(self, flt: Filter, lo: int, hi: int) -> list[int]:
        """Matching seqs in ``lo..hi``: start from the smallest posting list, then check the rest."""
        if hi < lo:
            return []
        base = self._base
        candidates: Iterable[int] | None = None
        rest: list[tuple[str, frozenset[str]]] = []
        if flt.fields:
            sizes = []
            for name, values in flt.fields:
                postings = self._postings[name]
                sizes.append((sum(len(postings.get(v, ())) for v in values), name, values))
            sizes.sort(key=lambda item: item[0])
            _, name, values = sizes[0]
            lists = [self._postings[name].get(v, []) for v in values]
            merged: list[int] = []
            for seqs in lists:
                start = bisect.bisect_left(seqs, lo)
                end = bisect.bisect_right(seqs, hi)
                merged.extend(seqs[start:end])
            if len(lists) > 1:
                merged.sort()
            candidates = merged
            rest = [(n, v) for _, n, v in sizes[1:]]
        out: list[int] = list(candidates) if candidates is not None else list(range(lo, hi + 1))
        for name, values in rest:
            col = self._cols[name]
            out = [s for s in out if col[s - base] in values]
        if flt.problems:
            problem = self._problem
            out = [s for s in out if problem[s - base]]
        if flt.q:
            out = self._search(flt.q.encode().lower(), out, lo, hi, narrowed=candidates is not None)
        return out

    def _search(self, needle: bytes, out: list[int], lo: int, hi: int, *, narrowed: bool) -> list[int]:
        """Keep the seqs of ``out`` whose line contains ``needle``: line by line when the other filters
        left few, else one scan of the lowercased chunks."""
        if narrowed and len(out) < 4096:
            keep = []
            for seq in out:
                chunk, index = self._locate(seq)
                if chunk.contains(index, needle):
                    keep.append(seq)
            return keep
        found: list[int] = []
        for chunk in self._chunks:
            last = chunk.first + len(chunk.starts) - 1
            if last < lo or chunk.first > hi:
                continue
            start, end = max(lo, chunk.first), min(hi, last)
            found.extend(chunk.first + i for i in chunk.find(needle, start - chunk.first, end - chunk.first))
        if len(out) == hi - lo + 1:
            return found
        wanted = set(found)
        return [seq for seq in out if seq in wanted]

    def page(
        self, flt: Filter, *, before: int | None = None, after: int | None = None, limit: int = 200, offset: int = 0
    ) -> Page:
        """A page of the view, ascending by seq.

        ``before``: the newest ``limit`` matches older than ``before``, skipping the ``offset`` newest
        of them; ``matched`` counts every match older than ``before``. ``after``: the oldest ``limit``
        matches newer than ``after``; ``matched`` counts every match newer than ``after``. Neither: the
        newest ``limit`` matches (skipping ``offset``); ``matched`` counts all.
        """
        self._catch_up()
        limit = max(0, min(limit, 5000))
        offset = max(0, offset)
        seqs = self.matches(flt)
        if after is not None:
            start = bisect.bisect_right(seqs, after)
            chosen = seqs[start : start + limit]
            matched = len(seqs) - start
        else:
            end = bisect.bisect_left(seqs, before) if before is not None else len(seqs)
            matched = end
            stop = max(0, end - offset)
            chosen = seqs[max(0, stop - limit) : stop]
        return Page([self.line(s) for s in chosen], list(chosen), matched, self.head, self._base)

    def matching_between(self, flt: Filter, lo: int, hi: int) -> list[int]:
        """Matching seqs in ``lo..hi`` (the live feed's new events), without touching the cache."""
        return self._evaluate(flt, max(lo, self._base), min(hi, self.head))

    def signal_events(self, signal_id: str) -> list[dict[str, Any]]:
        """Every retained event of one signal, in log order."""
        self._catch_up()
        return [self.record(s) for s in self._by_signal.get(signal_id, ()) if s >= self._base]

    def latency(self, flt: Filter) -> dict[str, Any]:
        """Propagation over the view, per venue: for each (signal, venue) the maximum wire latency of its
        followers; then count, p50, p99, max and a histogram with log-spaced buckets."""
        self._catch_up()
        chosen = dict(flt.fields).get("event")
        events = chosen & LATENCY_EVENTS if chosen is not None else frozenset({"order_sent"})
        fields = (*((n, v) for n, v in flt.fields if n != "event"), ("event", frozenset(events)))
        base = self._base
        latency = self._latency
        signal = self._signal
        venue = self._cols["venue"]
        worst: dict[tuple[str, str], int] = {}
        for s in self.matches(Filter(fields, flt.q, flt.problems)) if events else ():
            i = s - base
            value = latency[i]
            if value < 0:
                continue
            key = (venue[i] or "?", signal[i] or f"#{s}")
            if value > worst.get(key, -1):
                worst[key] = value
        per_venue: dict[str, list[int]] = {}
        for (name, _), value in worst.items():
            per_venue.setdefault(name, []).append(value)
        everything = [v for values in per_venue.values() for v in values]
        out = {name: latency_summary(values) for name, values in sorted(per_venue.items())}
        return {"venues": out, "all": latency_summary(everything), "bounds_us": list(HISTOGRAM_BOUNDS_US)}

    # -- live --------------------------------------------------------------------------------

    def listen(self, notify: Callable[[int, int], None]) -> Callable[[], None]:
        """Call ``notify(first_seq, last_seq)`` for every appended run of events; returns the remover."""
        self._catch_up()
        listener = _Listener(notify)
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None


#: Upper bounds (µs) of the histogram buckets; a last bucket holds everything above.
HISTOGRAM_BOUNDS_US = (50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000)


def percentile(ordered: list[int], fraction: float) -> int | None:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return None
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def latency_summary(values: list[int]) -> dict[str, Any]:
    ordered = sorted(values)
    counts = [0] * (len(HISTOGRAM_BOUNDS_US) + 1)
    for value in ordered:
        counts[bisect.bisect_left(HISTOGRAM_BOUNDS_US, value)] += 1
    return {
        "count": len(ordered),
        "p50_us": percentile(ordered, 0.50),
        "p99_us": percentile(ordered, 0.99),
        "max_us": ordered[-1] if ordered else None,
        "histogram": counts,
    }


def log_files(path: Path) -> list[Path]:
    """The mirror log and its rotated files, oldest first."""
    rotated = []
    for candidate in path.parent.glob(path.name + ".*"):
        suffix = candidate.name[len(path.name) + 1 :]
        if suffix.isdigit():
            rotated.append((int(suffix), candidate))
    files = [p for _, p in sorted(rotated, reverse=True)]
    if path.exists():
        files.append(path)
    return files


def read_log_lines(path: Path, max_events: int) -> list[bytes]:
    """The newest ``max_events`` complete lines of the mirror log files, oldest first."""
    chunks: list[list[bytes]] = []
    count = 0
    for file in reversed(log_files(path)):
        try:
            data = file.read_bytes()
        except OSError:
            continue
        lines = [line + b"\n" for line in data.split(b"\n") if line.strip()]
        if data and not data.endswith(b"\n") and lines:
            lines.pop()  # a line the writer has not finished
        chunks.append(lines)
        count += len(lines)
        if count >= max_events:
            break
    out = [line for chunk in reversed(chunks) for line in chunk]
    return out[-max_events:] if max_events else []


def iter_chunks(seqs: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(seqs), size):
        yield seqs[start : start + size]
