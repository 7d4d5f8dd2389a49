"""The hot-path journal: one ``write(2)`` per accepted signal and per order state change.

A journal is a folder of segment files ``journal-00000001.jsonl``, ``journal-00000002.jsonl``, …,
each holding one orjson object per line. Every append hands its bytes to the kernel before it
returns, so a record survives the process being killed; surviving a power loss depends on the fsync
policy (``never``, ``interval`` — a background thread syncs every ``fsync_interval`` seconds when
something was written — or ``always``).

Record types (``t``), every record carrying ``sig`` (the signal id) and ``ts`` (wall clock, µs):

``signal``  the accepted signal (``signal``: :meth:`Signal.to_json` plus ``raw``) and the
            ``followers`` (account names) it was dispatched to;
``intent``  an order planned for a follower: ``acct``, ``route``, ``leg``, ``cid``, ``venue`` and
            the ``intent`` (:func:`intent_to_json`);
``sent``    the order's bytes are about to be handed to the venue (``cid``);
``result``  the venue's answer or the router's verdict for ``cid``: ``status``, ``vid`` (venue order
            id), ``pos`` (position id), ``filled``, ``price``, ``reason``, ``code``, ``lat``/``ack`` (µs);
``done``    the follower's job for the signal is over (``acct``, ``status``, ``reason``): every order it
            planned has a result, or it was skipped with the reason;
``adopted`` an order found at a venue under Copier's client id prefix that the journal did not know
            (:func:`adopted_record`; ``sig`` is None). Replay leaves it to :mod:`copier.recovery`.

:func:`replay` reads a journal back (a torn last line, left by a crash mid-write, is ignored) and
gives each (signal, follower) its :class:`FollowerState`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson

from core.enums import Action, LevelUnit, OrderType, Side, VolumeKind
from core.links import Leg
from core.orders import IntentKind, OrderIntent, VenueOrder
from core.priority import background
from core.signal import Level, Signal

SEGMENT_RE = re.compile(r"^journal-(\d{8})\.jsonl$")
COMPACTED_RE = re.compile(r"^journal-(\d{8})-(\d{8})\.compacted$")

# Order statuses after which nothing more happens to the order at the venue.
FINAL_STATUSES = frozenset(
    {"filled", "accepted", "modified", "canceled", "closed", "rejected", "failed", "skipped", "expired"}
)


class FsyncPolicy(StrEnum):
    """When appended bytes are forced to the disk (they reach the OS on every append regardless)."""

    NEVER = "never"
    INTERVAL = "interval"
    ALWAYS = "always"


class JournalError(Exception):
    """The journal folder cannot be used (unreadable segment, corrupt record before the last line)."""


# -- value conversions ----------------------------------------------------------------------


def _dec(value: Decimal | None) -> str | None:
    return format(value, "f") if value is not None else None


def _undec(value: Any) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _dt(value: Any) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _level(value: Any) -> Level | None:
    if value is None:
        return None
    return Level(Decimal(value["value"]), LevelUnit(value.get("unit", "price")))


def _signal_record(signal: Signal, followers: Iterable[str]) -> dict[str, Any]:
    return {
        "t": "signal",
        "sig": signal.id,
        "ts": _now_us(),
        "signal": signal_to_json(signal),
        "followers": list(followers),
    }


def signal_to_json(signal: Signal) -> dict[str, Any]:
    """:meth:`Signal.to_json` plus the raw input, which recovery needs to rebuild the signal."""
    data = signal.to_json()
    data["raw"] = signal.raw
    return data


def signal_from_json(data: dict[str, Any]) -> Signal:
    """The inverse of :meth:`Signal.to_json` (and of :func:`signal_to_json`).

    ``received_ns`` is a monotonic stamp that means nothing in another process, so the rebuilt
    signal gets the current one; ``received_at`` keeps the original wall-clock time.
    """
    price_range = data.get("price_range")
    received_at = _dt(data.get("received_at"))
    extra: dict[str, Any] = {}
    if received_at is not None:
        extra["received_at"] = received_at
    return Signal(
        source=data["source"],
        action=Action(data["action"]),
        symbol=data.get("symbol"),
        side=Side(data["side"]) if data.get("side") else None,
        order_type=OrderType(data.get("order_type") or "market"),
        volume=_undec(data.get("volume")),
        volume_kind=VolumeKind(data.get("volume_kind") or "lots"),
        price=_undec(data.get("price")),
        price_range=(Decimal(price_range[0]), Decimal(price_range[1])) if price_range else None,
        sl=_level(data.get("sl")),
        tps=tuple(lv for lv in (_level(tp) for tp in data.get("tps") or ()) if lv is not None),
        comment=data.get("comment"),
        position_ref=data.get("position_ref"),
        origin_id=data.get("origin_id"),
        sent_at=_dt(data.get("sent_at")),
        raw=data.get("raw") or "",
        id=data["id"],
        **extra,
    )


def intent_to_json(intent: OrderIntent) -> dict[str, Any]:
    """A compact JSON view of an :class:`OrderIntent` (decimals as strings, empty fields left out)."""
    out: dict[str, Any] = {
        "kind": intent.kind.value,
        "cid": intent.client_order_id,
        "symbol": intent.symbol,
        "side": intent.side.value,
        "volume": format(intent.volume, "f"),
    }
    if intent.order_type is not OrderType.MARKET:
        out["type"] = intent.order_type.value
    for key, value in (("price", intent.price), ("sl", intent.sl), ("tp", intent.tp), ("sp", intent.signal_price)):
        if value is not None:
            out[key] = format(value, "f")
    if intent.position_id is not None:
        out["pos"] = intent.position_id
    if intent.order_id is not None:
        out["oid"] = intent.order_id
    if intent.reduce_only:
        out["ro"] = True
    if intent.comment:
        out["comment"] = intent.comment
    return out


def intent_from_json(data: dict[str, Any]) -> OrderIntent:
    """The inverse of :func:`intent_to_json`."""
    return OrderIntent(
        kind=IntentKind(data["kind"]),
        client_order_id=data["cid"],
        symbol=data["symbol"],
        side=Side(data["side"]),
        volume=Decimal(data.get("volume", "0")),
        order_type=OrderType(data.get("type", "market")),
        price=_undec(data.get("price")),
        sl=_undec(data.get("sl")),
        tp=_undec(data.get("tp")),
        position_id=data.get("pos"),
        order_id=data.get("oid"),
        reduce_only=bool(data.get("ro", False)),
        comment=data.get("comment", ""),
        signal_price=_undec(data.get("sp")),
    )


def _intent_record(
    signal_id: str,
    account: str,
    route: str,
    leg: int,
    intent: OrderIntent,
    venue: str | None,
    link: Mapping[str, Any] | None,
    ts: int,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "t": "intent",
        "sig": signal_id,
        "ts": ts,
        "acct": account,
        "route": route,
        "leg": leg,
        "cid": intent.client_order_id,
        "intent": intent_to_json(intent),
    }
    if venue is not None:
        record["venue"] = venue
    if link is not None:
        record["link"] = dict(link)
    return record


_RESULT_KEYS = (
    ("venue_order_id", "vid"),
    ("position_id", "pos"),
    ("reason", "reason"),
    ("latency_us", "lat"),
    ("ack_us", "ack"),
)


def _result_record(signal_id: str, cid: str, status: str, result: Mapping[str, Any], ts: int) -> dict[str, Any]:
    record: dict[str, Any] = {"t": "result", "sig": signal_id, "ts": ts, "cid": cid, "status": status}
    for key, name in _RESULT_KEYS:
        if result.get(key) is not None:
            record[name] = result[key]
    for key in ("filled", "price"):
        if result.get(key) is not None:
            record[key] = _dec(result[key])
    if result.get("code") is not None:
        record["code"] = str(result["code"])
    return record


def _now_us() -> int:
    return time.time_ns() // 1000


def adopted_record(
    account: str, venue: str, order: VenueOrder, reason: str, link: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """An ``adopted`` record: ``order`` as the venue reported it, for an order the journal did not know.

    ``sig`` is None (no signal is known for it); ``kind`` is ``open`` or ``close`` (reduce-only);
    ``at`` is the venue's creation time (ms); ``link``, when present, is the position link made for
    it (the fields of :class:`~core.links.Leg`, so recovery can rebuild it).
    """
    record: dict[str, Any] = {
        "t": "adopted",
        "sig": None,
        "ts": _now_us(),
        "acct": account,
        "venue": venue,
        "cid": order.client_order_id,
        "kind": IntentKind.CLOSE.value if order.reduce_only else IntentKind.OPEN.value,
        "symbol": order.symbol,
        "side": order.side.value,
        "volume": format(order.volume, "f"),
        "filled": format(order.filled_volume, "f"),
        "status": order.status.value,
        "at": order.time_ms,
        "reason": reason,
    }
    if order.order_type is not OrderType.MARKET:
        record["type"] = order.order_type.value
    for key, value in (
        ("vid", order.venue_order_id),
        ("pos", order.position_id),
        ("price", _dec(order.average_price)),
        ("px", _dec(order.price)),
    ):
        if value is not None:
            record[key] = value
    if link is not None:
        record["link"] = dict(link)
    return record


# -- segments -------------------------------------------------------------------------------


def _segment_name(seq: int) -> str:
    return f"journal-{seq:08d}.jsonl"


def segments(folder: Path) -> list[Path]:
    """The journal's segment files in replay order.

    A committed compaction (``journal-A-B.compacted``) stands in for segments A..B that a crash may
    have left behind; :class:`Journal` finishes such a compaction when it opens.
    """
    if not folder.is_dir():
        return []
    plain: dict[int, Path] = {}
    compacted: list[tuple[int, int, Path]] = []
    for entry in folder.iterdir():
        if match := SEGMENT_RE.match(entry.name):
            plain[int(match.group(1))] = entry
        elif match := COMPACTED_RE.match(entry.name):
            compacted.append((int(match.group(1)), int(match.group(2)), entry))
    ordered: dict[int, Path] = dict(plain)
    for first, last, path in compacted:
        for seq in range(first, last + 1):
            ordered.pop(seq, None)
        ordered[last] = path
    return [ordered[seq] for seq in sorted(ordered)]


def _finish_compaction(folder: Path) -> None:
    for entry in list(folder.iterdir()) if folder.is_dir() else ():
        match = COMPACTED_RE.match(entry.name)
        if not match:
            continue
        first, last = int(match.group(1)), int(match.group(2))
        for seq in range(first, last + 1):
            with contextlib.suppress(FileNotFoundError):
                (folder / _segment_name(seq)).unlink()
        os.replace(entry, folder / _segment_name(last))
        _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_records(folder: Path) -> Iterator[dict[str, Any]]:
    """Every record of the journal in order.

    A line that does not parse is tolerated only as the very last line of the last segment (a write
    torn by a crash); anywhere else it raises :class:`JournalError`.
    """
    paths = segments(folder)
    for index, path in enumerate(paths):
        data = path.read_bytes()
        lines = data.split(b"\n")
        # A complete file ends with a newline, leaving an empty last element.
        last_line = len(lines) - 1
        for number, line in enumerate(lines):
            if not line:
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                if index == len(paths) - 1 and number == last_line:
                    return
                raise JournalError(f"{path.name}: line {number + 1} is not a journal record") from None
            if isinstance(record, dict):
                yield record


# -- writer ---------------------------------------------------------------------------------


class Journal:
    """Appends records to the current segment; rotates by size; syncs by policy.

    Appends come from one thread (the event loop's); the background fsync thread and
    :meth:`compact` (which may run in a worker thread) coordinate with it through a lock that an
    append holds only for the ``write(2)`` and the fsync thread only to duplicate the descriptor.
    """

    def __init__(
        self,
        folder: Path | str,
        *,
        fsync: FsyncPolicy | str = FsyncPolicy.INTERVAL,
        fsync_interval: float = 0.05,
        max_segment_bytes: int = 64 * 1024 * 1024,
        listener: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.policy = FsyncPolicy(fsync)
        self.fsync_interval = fsync_interval
        self.max_segment_bytes = max_segment_bytes
        self.listener = listener
        self._lock = threading.Lock()
        self._deferred: list[dict[str, Any]] = []
        self._flush_scheduled = False
        self._fd = -1
        self._seq = 0
        self._size = 0
        self._written = 0
        self._synced = 0
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self.folder.mkdir(parents=True, exist_ok=True)
        _finish_compaction(self.folder)
        existing = segments(self.folder)
        last = SEGMENT_RE.match(existing[-1].name) if existing else None
        self._open_segment(int(last.group(1)) if last else 1)
        if self.policy is FsyncPolicy.INTERVAL:
            self._thread = threading.Thread(target=self._sync_loop, name="journal-fsync", daemon=True)
            self._thread.start()

    def __repr__(self) -> str:
        return f"Journal({str(self.folder)!r}, fsync={self.policy.value!r}, segment={self._seq})"

    # -- appends ----------------------------------------------------------------------------

    def append(self, record: dict[str, Any]) -> None:
        """Write one record; when this returns, the bytes are in the OS page cache."""
        self._write(orjson.dumps(record) + b"\n", 1)
        if self.listener is not None:
            self.listener(record)

    def defer(self, *records: dict[str, Any]) -> None:
        """Queue records to be written together at the end of the current event-loop turn.

        For records whose loss in a crash recovery already covers (an order's outcome is asked of
        the venue again by its client order id): one ``write(2)`` per turn instead of one per record.
        Without a running loop they are written at once.
        """
        self._deferred.extend(records)
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush_deferred()
            return
        self._flush_scheduled = True
        loop.call_soon(self.flush_deferred)

    def flush_deferred(self) -> None:
        """Write every deferred record now."""
        self._flush_scheduled = False
        records, self._deferred = self._deferred, []
        if not records or self._fd < 0:
            return
        self._write(b"".join(orjson.dumps(r) + b"\n" for r in records), len(records))
        if self.listener is not None:
            for record in records:
                self.listener(record)

    def _write(self, line: bytes, count: int) -> None:
        with self._lock:
            if self._fd < 0:
                raise JournalError("the journal is closed")
            if self._size + len(line) > self.max_segment_bytes and self._size:
                self._rotate_locked()
            os.write(self._fd, line)
            self._size += len(line)
            self._written += count
            if self.policy is FsyncPolicy.ALWAYS:
                os.fsync(self._fd)
                self._synced = self._written

    def signal(self, signal: Signal, followers: Iterable[str]) -> None:
        """Record an accepted signal and the follower accounts it is dispatched to."""
        self.append(_signal_record(signal, followers))

    def encode_signal(self, signal: Signal, followers: Iterable[str]) -> bytes:
        """The bytes :meth:`signal` would append, without writing them."""
        return orjson.dumps(_signal_record(signal, followers)) + b"\n"

    def intent(
        self,
        signal_id: str,
        account: str,
        route: str,
        leg: int,
        intent: OrderIntent,
        venue: str | None = None,
        link: Mapping[str, Any] | None = None,
    ) -> None:
        """Record an order planned for ``account`` (before anything is sent).

        ``link`` says what the order does to position links once it has an outcome (see
        :mod:`copier.recovery`), so links can be rebuilt from the journal alone.
        """
        self.append(_intent_record(signal_id, account, route, leg, intent, venue, link, _now_us()))

    def sent(self, signal_id: str, client_order_id: str) -> None:
        """Record that the order's bytes are being handed to the venue: from here its outcome may be unknown."""
        self.append({"t": "sent", "sig": signal_id, "ts": _now_us(), "cid": client_order_id})

    def result(
        self,
        signal_id: str,
        client_order_id: str,
        status: str,
        *,
        venue_order_id: str | None = None,
        position_id: str | None = None,
        filled: Decimal | None = None,
        price: Decimal | None = None,
        reason: str | None = None,
        code: str | int | None = None,
        latency_us: int | None = None,
        ack_us: int | None = None,
    ) -> None:
        """Record the order's outcome (``unknown`` keeps it open for reconciliation)."""
        result = {"venue_order_id": venue_order_id, "position_id": position_id, "filled": filled, "price": price,
                  "reason": reason, "code": code, "latency_us": latency_us, "ack_us": ack_us}  # fmt: skip
        self.append(_result_record(signal_id, client_order_id, status, result, _now_us()))

    def outcome(
        self,
        signal_id: str,
        account: str,
        route: str,
        leg: int,
        intent: OrderIntent,
        venue: str | None,
        link: Mapping[str, Any] | None,
        status: str,
        **result: Any,
    ) -> None:
        """An order's intent and its outcome (the keywords of :meth:`result`), written together
        after the venue answered.

        Nothing is journaled before the send: recovery plans an unfinished follower again and
        asks the venue by the (deterministic) client order id before sending anything.
        """
        now = _now_us()
        self.defer(
            _intent_record(signal_id, account, route, leg, intent, venue, link, now),
            _result_record(signal_id, intent.client_order_id, status, result, now),
        )

    def adopted(
        self, account: str, venue: str, order: VenueOrder, reason: str, link: Mapping[str, Any] | None = None
    ) -> None:
        """Record an order found at the venue under Copier's client id prefix that the journal did
        not know (see :func:`adopted_record`); written at once, like a signal."""
        self.append(adopted_record(account, venue, order, reason, link))

    def link(self, leg: Leg, *, closed: bool = False) -> None:
        """Record a link's new state for the SQL store (recovery rebuilds links from orders instead)."""
        from copier.store.store import link_record

        self.defer(link_record(leg, closed=closed))

    def settled(self, leg: Leg, status: str) -> None:
        """Record that a pending open has since filled or ended unfilled at the venue (a
        ``settled`` record, keyed by the open's client order id, applied by ``rebuild_links``)."""
        record: dict[str, Any] = {"t": "settled", "ts": _now_us(), "cid": leg.client_order_id, "status": status}
        if status == "filled":
            record["filled"] = _dec(leg.volume)
            if leg.position_id is not None:
                record["pos"] = leg.position_id
            if leg.open_price is not None:
                record["price"] = _dec(leg.open_price)
        self.defer(record)
        self.link(leg, closed=status != "filled")

    def done(self, signal_id: str, account: str, status: str, reason: str | None = None) -> None:
        """Record that ``account`` is finished with the signal (its last status, and why when it did not trade)."""
        record: dict[str, Any] = {"t": "done", "sig": signal_id, "ts": _now_us(), "acct": account, "status": status}
        if reason is not None:
            record["reason"] = reason
        self.defer(record)

    # -- durability -------------------------------------------------------------------------

    @property
    def unsynced(self) -> int:
        """How many appended records may not be on the disk yet (0 right after a sync)."""
        return self._written - self._synced

    def sync(self) -> None:
        """Force everything appended so far to the disk.

        The fsync runs on a duplicate of the segment's descriptor outside the append lock, so
        appends never wait for the disk (a rotation meanwhile closes only the original).
        """
        with self._lock:
            if self._fd < 0 or self._synced == self._written:
                return
            fd, target = os.dup(self._fd), self._written
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        with self._lock:
            self._synced = max(self._synced, target)

    def _sync_loop(self) -> None:
        background()
        while not self._closed.wait(self.fsync_interval):
            try:
                self.sync()
            except OSError:
                # The next tick retries; a persistent failure shows on close.
                continue

    def close(self) -> None:
        """Write deferred records, sync (unless the policy is ``never``) and close the current segment."""
        self.flush_deferred()
        self._closed.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            if self._fd < 0:
                return
            if self.policy is not FsyncPolicy.NEVER:
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- segments ---------------------------------------------------------------------------

    @property
    def current_segment(self) -> Path:
        return self.folder / _segment_name(self._seq)

    def _open_segment(self, seq: int) -> None:
        path = self.folder / _segment_name(seq)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._seq = seq
        self._size = os.fstat(self._fd).st_size
        if self._size:
            # A crash may have left a torn last line: cut it off, so that the next record
            # starts a line of its own and only a complete journal precedes it.
            keep = _complete_length(path, self._size)
            if keep != self._size:
                os.ftruncate(self._fd, keep)
                self._size = keep
        _fsync_dir(self.folder)

    def _rotate_locked(self) -> None:
        if self.policy is not FsyncPolicy.NEVER:
            os.fsync(self._fd)
        os.close(self._fd)
        self._open_segment(self._seq + 1)

    def rotate(self) -> Path:
        """Start a new segment; returns the one just closed."""
        with self._lock:
            closed = self.current_segment
            self._rotate_locked()
            return closed

    def compact(self, older_than: float, *, now: datetime | None = None) -> int:
        """Drop the records of finished signals received more than ``older_than`` seconds ago.

        The current segment is rotated first; the closed segments are rewritten into one file that
        is committed by a rename, so a crash during compaction loses nothing. Safe to call from a
        worker thread while appends continue. Returns how many signals were dropped.
        """
        closed = self.rotate()
        closed_seq = int(SEGMENT_RE.match(closed.name).group(1))  # type: ignore[union-attr]
        state = replay(self.folder)
        cutoff = (now or datetime.now(UTC)).timestamp() - older_than
        drop = {
            sid
            for sid, entry in state.signals.items()
            if entry.finished and entry.received_at is not None and entry.received_at.timestamp() < cutoff
        }
        paths = [p for p in segments(self.folder) if _last_seq(p) <= closed_seq]
        if not drop or not paths:
            return 0
        first = _first_seq(paths[0])
        tmp = self.folder / f"journal-{first:08d}-{closed_seq:08d}.tmp"
        with open(tmp, "wb") as out:
            for path in paths:
                for line in path.read_bytes().split(b"\n"):
                    if not line:
                        continue
                    try:
                        record = orjson.loads(line)
                    except orjson.JSONDecodeError:
                        continue
                    if isinstance(record, dict) and record.get("sig") in drop:
                        continue
                    out.write(line + b"\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.folder / f"journal-{first:08d}-{closed_seq:08d}.compacted")
        _fsync_dir(self.folder)
        _finish_compaction(self.folder)
        return len(drop)


def _complete_length(path: Path, size: int) -> int:
    """The length of ``path`` up to and including its last newline (0 when it has none)."""
    with open(path, "rb") as handle:
        end = size
        while end > 0:
            start = max(0, end - 65536)
            handle.seek(start)
            found = handle.read(end - start).rfind(b"\n")
            if found >= 0:
                return start + found + 1
            end = start
    return 0


def _first_seq(path: Path) -> int:
    match = SEGMENT_RE.match(path.name) or COMPACTED_RE.match(path.name)
    assert match is not None
    return int(match.group(1))


def _last_seq(path: Path) -> int:
    match = SEGMENT_RE.match(path.name) or COMPACTED_RE.match(path.name)
    assert match is not None
    return int(match.group(match.lastindex or 1))


# -- replay ---------------------------------------------------------------------------------


class FollowerState(StrEnum):
    """Where a (signal, follower) pair stood when the journal ends."""

    ACCEPTED = "accepted"  # dispatched, nothing planned yet (or more orders may still be planned)
    PLANNED = "planned"  # an order is planned and was never sent: safe to send
    SENT = "sent"  # an order left with no known outcome: ask the venue by client order id first
    FINISHED = "finished"  # every order has its outcome, or the follower was skipped with a reason


@dataclass(slots=True)
class OrderProgress:
    """One order as the journal knows it."""

    client_order_id: str
    signal_id: str
    account: str
    route: str
    leg: int
    intent: OrderIntent
    venue: str | None = None
    sent: bool = False
    status: str = "planned"
    result: dict[str, Any] | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(slots=True)
class FollowerProgress:
    """One follower's part in one signal."""

    signal_id: str
    account: str
    orders: list[OrderProgress] = field(default_factory=list)
    done: dict[str, Any] | None = None

    @property
    def state(self) -> FollowerState:
        if any(o.sent and not o.final for o in self.orders):
            return FollowerState.SENT
        if any(not o.final for o in self.orders):
            return FollowerState.PLANNED
        if self.done is not None:
            return FollowerState.FINISHED
        return FollowerState.ACCEPTED


@dataclass(slots=True)
class SignalProgress:
    """An accepted signal and its followers."""

    signal_id: str
    data: dict[str, Any]
    signal: Signal
    followers: dict[str, FollowerProgress] = field(default_factory=dict)

    @property
    def received_at(self) -> datetime | None:
        return _dt(self.data.get("received_at"))

    @property
    def finished(self) -> bool:
        return all(f.state is FollowerState.FINISHED for f in self.followers.values())


@dataclass(slots=True)
class JournalState:
    """What :func:`replay` found: signals in journal order, orders by client order id."""

    signals: dict[str, SignalProgress] = field(default_factory=dict)
    orders: dict[str, OrderProgress] = field(default_factory=dict)
    records: int = 0
    orphans: int = 0

    def follower(self, signal_id: str, account: str) -> FollowerProgress | None:
        entry = self.signals.get(signal_id)
        return entry.followers.get(account) if entry else None

    def unfinished(self) -> list[FollowerProgress]:
        """Every (signal, follower) that recovery still has to act on, in journal order."""
        return [f for s in self.signals.values() for f in s.followers.values() if f.state is not FollowerState.FINISHED]

    def apply(self, record: dict[str, Any]) -> None:
        """Fold one record into the state (replaying a record twice changes nothing).

        Records of other types (links, audit events that share the journal) are counted and skipped.
        """
        self.records += 1
        kind = record.get("t")
        sid = record.get("sig")
        if kind == "signal":
            entry = self.signals.get(sid) if isinstance(sid, str) else None
            if entry is None and isinstance(sid, str):
                entry = self.signals[sid] = SignalProgress(sid, record["signal"], signal_from_json(record["signal"]))
            if entry is not None:
                for account in record.get("followers", ()):
                    entry.followers.setdefault(account, FollowerProgress(entry.signal_id, account))
            return
        if kind not in ("intent", "sent", "result", "done"):
            return
        entry = self.signals.get(sid) if isinstance(sid, str) else None
        if entry is None:
            self.orphans += 1
            return
        if kind == "intent":
            cid = record["cid"]
            if cid in self.orders:
                return
            account = record["acct"]
            follower = entry.followers.setdefault(account, FollowerProgress(entry.signal_id, account))
            planned = OrderProgress(
                cid,
                entry.signal_id,
                account,
                record.get("route", ""),
                int(record.get("leg", 0)),
                intent_from_json(record["intent"]),
                record.get("venue"),
            )
            self.orders[cid] = planned
            follower.orders.append(planned)
            return
        order = self.orders.get(record.get("cid", "")) if kind in ("sent", "result") else None
        if kind == "sent":
            if order is None:
                self.orphans += 1
            elif not order.final:
                order.sent = True
                if order.status == "planned":
                    order.status = "sent"
        elif kind == "result":
            status = record.get("status", "")
            if order is None:
                self.orphans += 1
            elif not order.final or status in FINAL_STATUSES:
                # A late non-final answer never reopens a finished order; a final one may refine it
                # (an accepted limit order that fills later).
                order.sent = order.sent or status not in ("failed", "skipped")
                order.status = status
                order.result = record
        elif kind == "done":
            account = record["acct"]
            follower = entry.followers.setdefault(account, FollowerProgress(entry.signal_id, account))
            follower.done = record


def replay(folder: Path | str) -> JournalState:
    """Read the whole journal and compute every (signal, follower)'s state."""
    state = JournalState()
    for record in read_records(Path(folder)):
        state.apply(record)
    return state
