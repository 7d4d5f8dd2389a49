"""A watched folder as a signal source.

Each filedrop source owns one inbox folder. A named task (``filedrop:{name}``) polls it every
``poll_interval`` seconds with the standard library only. A file is taken once its size and
modification time have stayed the same for ``settle`` seconds across at least two polls; names
that mark a partial or hidden file (``.tmp``, ``.part``, ``.crdownload``, a leading ``.`` or ``~``)
are never taken. Files are taken oldest first, one at a time, so a close dropped after its open is
routed after it.

Life of a file::

    inbox/orders.csv ─rename─► inbox/processing/orders.csv ─► inbox/done/orders.csv
                                                           └► inbox/rejected/orders.csv

The rename is the claim: it is atomic within one file system, so a file is taken once even with
two watchers on the same folder. Every row read as a signal goes to ``submit``; every row that
could not be read goes to the mirror log as ``signal_rejected`` and into ``<file>.errors.json``
next to the moved file (with its line number and reason). A file with at least one row handed
to the router goes to ``done/``; a file with none (every row bad, or not a list of orders at all)
goes to ``rejected/``.

Exactly once: ``inbox/.processed`` records, one JSON line each, the SHA-256 of every file whose
rows were handed to the router, written just before and just after the rows are submitted (a
buffered append, no flush awaited). A file with the same content dropped again, now or after a
restart, goes to ``done/`` with a ``<file>.duplicate.json`` note and is not executed. A file found
in ``processing/`` at start was interrupted: when the record shows its rows may have been
submitted it goes to ``rejected/`` with that reason (check the accounts; it is never resent
blind), otherwise it goes back to the inbox to be read again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.mirror import MirrorLog
from core.router import SubmitResult
from core.signal import Signal
from ingest.filedrop.parse import ParsedFile, parse_file

__all__ = ["FileOutcome", "FiledropConfig", "FiledropSource"]

log = logging.getLogger("copier.ingest.filedrop")

PARTIAL_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", ".swp", ".lock", "~")
RECORD_NAME = ".processed"
# An empty file is usually one a writer has just created; it gets longer to fill before it is taken.
EMPTY_GRACE = 2.0
KEEP_HASHES = 10_000


@dataclass(frozen=True, slots=True)
class FiledropConfig:
    """One watched folder.

    ``inbox`` is the folder to watch (created at start, with ``processing/``, ``done/`` and
    ``rejected/`` inside it). ``poll_interval`` is the time between scans in seconds (at most
    0.1); ``settle`` the time a file's size and modification time must stay unchanged before it is
    taken; ``max_bytes`` the largest file read (larger ones are rejected).
    """

    name: str
    inbox: Path
    poll_interval: float = 0.05
    settle: float = 0.1
    max_bytes: int = 4 * 1024 * 1024

    def __post_init__(self) -> None:
        if not 0 < self.poll_interval <= 0.1:
            raise ValueError("poll_interval must be more than 0 and at most 0.1 seconds")
        if self.settle < 0:
            raise ValueError("settle must not be negative")
        if self.max_bytes <= 0:
            raise ValueError("max_bytes must be positive")

    @classmethod
    def from_mapping(
        cls, name: str, table: Mapping[str, Any], *, base: Path | None = None, where: str = ""
    ) -> FiledropConfig:
        """Build from a ``[[sources]]`` table (``inbox``, ``poll_interval``, ``settle``, ``max_bytes``).

        A relative ``inbox`` is taken relative to ``base``. Errors name the key path ``where.key``.
        """
        prefix = f"{where}." if where else ""
        inbox = table.get("inbox")
        if not isinstance(inbox, str) or not inbox.strip():
            raise ConfigError("a filedrop source needs 'inbox', the folder to watch", f"{prefix}inbox")
        path = Path(inbox).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        values: dict[str, Any] = {}
        for key, kind in (("poll_interval", float), ("settle", float), ("max_bytes", int)):
            if key not in table:
                continue
            value = table[key]
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or (kind is int and not isinstance(value, int))
            ):
                raise ConfigError(f"must be a number, got {value!r}", f"{prefix}{key}")
            values[key] = kind(value)
        try:
            return cls(name, path, **values)
        except ValueError as exc:
            raise ConfigError(str(exc), prefix.rstrip(".")) from None


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What became of one file. ``status`` is ``done``, ``rejected`` or ``duplicate``."""

    name: str
    status: str
    path: Path
    sha256: str | None = None
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    ignored: int = 0
    reason: str | None = None
    format: str | None = None
    signal_ids: tuple[str, ...] = ()


@dataclass(slots=True)
class _Claimed:
    name: str
    path: Path
    sha256: str | None = None
    parsed: ParsedFile | None = None
    error: str | None = None
    duplicate_of: dict[str, Any] | None = None


@dataclass(slots=True)
class _Report:
    accepted: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)


class FiledropSource:
    """Watches one inbox and hands every order row of every dropped file to ``submit``.

    ``state`` is ``idle`` before :meth:`start`, ``running`` while scans succeed, ``error`` after a
    failed scan (``last_error`` says why; scanning goes on) and ``stopped`` after :meth:`stop`.
    ``history`` keeps the outcome of the most recent files.
    """

    def __init__(
        self,
        config: FiledropConfig,
        submit: Callable[[Signal], SubmitResult],
        mirror: MirrorLog | None = None,
    ) -> None:
        self.config = config
        self._submit = submit
        self._mirror = mirror
        self.inbox = config.inbox
        self.processing = config.inbox / "processing"
        self.done = config.inbox / "done"
        self.rejected = config.inbox / "rejected"
        self._record_path = config.inbox / RECORD_NAME
        self._record_fd: int | None = None
        self._hashes: dict[str, dict[str, Any]] = {}
        self._watch: dict[str, tuple[tuple[int, int], float]] = {}
        self._task: asyncio.Task[None] | None = None
        self.history: deque[FileOutcome] = deque(maxlen=200)
        self.state = "idle"
        self.last_error: str | None = None
        self.scans = 0

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    # -- life cycle -----------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Create the folders, read the record and settle files an interrupted run left behind.

        :meth:`start` calls it; after it alone, :meth:`scan` can be driven by hand.
        """
        if self._record_fd is not None:
            return
        await asyncio.to_thread(self._open)
        for outcome in await asyncio.to_thread(self._recover):
            if outcome.status == "rejected" and outcome.reason:
                self._emit_rejected(outcome.name, outcome.reason, None)
            self._finished(outcome)

    async def start(self) -> None:
        """Prepare the inbox and start watching it in the task ``filedrop:{name}``."""
        if self._task is not None and not self._task.done():
            return
        await self.prepare()
        self.state = "running"
        self._task = asyncio.create_task(self._run(), name=f"filedrop:{self.name}")
        self._task.add_done_callback(self._task_ended)
        log.info("filedrop source %s watching %s", self.name, self.inbox)

    async def stop(self) -> None:
        """Stop watching and wait for the file in hand to finish; a cancellation of the caller is passed on."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
        if self._record_fd is not None:
            os.close(self._record_fd)
            self._record_fd = None
        self.state = "stopped"

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.state, self.last_error = "error", f"{type(exc).__name__}: {exc}"
            log.error("filedrop source %s stopped watching: %s", self.name, self.last_error, exc_info=exc)

    async def _run(self) -> None:
        while True:
            try:
                await self.scan()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one bad scan must not end the watch
                self.state, self.last_error = "error", f"{type(exc).__name__}: {exc}"
                log.exception("filedrop source %s: scan failed", self.name)
            await asyncio.sleep(self.config.poll_interval)

    # -- scanning -------------------------------------------------------------------------------

    async def scan(self) -> list[FileOutcome]:
        """One pass over the inbox: take and process every file that has settled."""
        outcomes = []
        for name in self._settled():
            outcome = await self._process(name)
            if outcome is not None:
                outcomes.append(outcome)
        self.scans += 1
        if self.state == "error":
            self.state, self.last_error = "running", None
        return outcomes

    def _settled(self) -> list[str]:
        now = time.monotonic()
        present: set[str] = set()
        ready: list[tuple[int, str]] = []
        with os.scandir(self.inbox) as entries:
            for entry in entries:
                if _skipped_name(entry.name) or not entry.is_file(follow_symlinks=False):
                    continue
                try:
                    stat = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                present.add(entry.name)
                shape = (stat.st_size, stat.st_mtime_ns)
                seen = self._watch.get(entry.name)
                if seen is None or seen[0] != shape:
                    self._watch[entry.name] = (shape, now)
                    continue
                quiet = max(self.config.settle, EMPTY_GRACE) if stat.st_size == 0 else self.config.settle
                if now - seen[1] >= quiet:
                    ready.append((stat.st_mtime_ns, entry.name))
        for gone in self._watch.keys() - present:
            del self._watch[gone]
        return [name for _, name in sorted(ready)]

    # -- one file -------------------------------------------------------------------------------

    async def _process(self, name: str) -> FileOutcome | None:
        self._watch.pop(name, None)
        target = _free_name(self.processing, name)
        try:
            os.rename(self.inbox / name, target)
        except FileNotFoundError:
            return None  # taken by another watcher, or deleted
        except OSError as exc:  # e.g. still open for writing on Windows: try again next scan
            log.info("filedrop source %s: cannot take %s yet (%s)", self.name, name, exc)
            return None
        claimed = await asyncio.to_thread(self._read, _Claimed(name, target))
        if claimed.duplicate_of is not None:
            outcome = await asyncio.to_thread(self._file_duplicate, claimed)
        elif claimed.parsed is None or claimed.parsed.error is not None or not claimed.parsed.signals:
            reason = _rejection(claimed)
            parsed = claimed.parsed
            if parsed is None or parsed.error is not None or not parsed.errors:
                self._emit_rejected(claimed.name, reason, None)
            else:
                for error in parsed.errors:
                    self._emit_rejected(claimed.name, error.reason, error.line, error.field)
            outcome = await asyncio.to_thread(self._file_rejected, claimed, reason)
        else:
            report = self._submit_rows(claimed)
            outcome = await asyncio.to_thread(self._file_submitted, claimed, report)
        self._finished(outcome)
        return outcome

    def _read(self, claimed: _Claimed) -> _Claimed:
        """In a worker thread: read, hash and parse the claimed file."""
        try:
            size = claimed.path.stat().st_size
            if size > self.config.max_bytes:
                claimed.error = f"the file is {size} bytes, more than the {self.config.max_bytes} allowed"
                return claimed
            data = claimed.path.read_bytes()
        except OSError as exc:
            claimed.error = f"cannot read the file: {exc.strerror or exc}"
            return claimed
        t0 = time.monotonic_ns()
        claimed.sha256 = hashlib.sha256(data).hexdigest()
        claimed.duplicate_of = self._hashes.get(claimed.sha256)
        if claimed.duplicate_of is not None:
            return claimed
        try:
            claimed.parsed = parse_file(data, name=claimed.name, source=self.name, received_ns=t0)
        except Exception as exc:  # a parser fault must reject the file, not stop the source
            log.exception("filedrop source %s: reading %s failed", self.name, claimed.name)
            claimed.error = f"internal error while reading the file: {exc}"
        return claimed

    def _submit_rows(self, claimed: _Claimed) -> _Report:
        """On the event loop, without awaiting: record the claim, submit every row, record the end."""
        parsed, digest = claimed.parsed, claimed.sha256
        assert parsed is not None and digest is not None
        entry = {"sha256": digest, "file": claimed.name, "at": _now(), "state": "submitting"}
        self._append_record(entry)
        self._hashes[digest] = entry
        report = _Report()
        for row in parsed.signals:
            try:
                result = self._submit(row.signal)
            except Exception as exc:  # one failing row must not strand the rest of the file
                log.exception("filedrop source %s: submitting %s line %s failed", self.name, claimed.name, row.line)
                reason = f"internal error while routing the row: {exc}"
                report.failed.append({"line": row.line, "row": row.row, "reason": reason})
                self._emit_rejected(claimed.name, reason, row.line)
                continue
            item = {"line": row.line, "row": row.row, "signal_id": result.signal_id}
            if result.accepted:
                report.accepted.append(item)
            else:
                item["reason"] = f"duplicate of signal {result.duplicate_of} (same id {row.signal.dedupe_key!r})"
                report.duplicates.append(item)
        for error in parsed.errors:
            self._emit_rejected(claimed.name, error.reason, error.line, error.field)
        done = {
            "sha256": digest,
            "file": claimed.name,
            "at": _now(),
            "state": "submitted",
            "accepted": len(report.accepted),
        }
        self._append_record(done)
        self._hashes[digest] = done
        return report

    def _emit_rejected(self, file: str, reason: str, line: int | None, field_name: str | None = None) -> None:
        if self._mirror is None:
            return
        detail: dict[str, Any] = {"file": file, "line": line}
        if field_name is not None:
            detail["field"] = field_name
        self._mirror.emit("signal_rejected", source=self.name, status="rejected", reason=reason, detail=detail)

    def _finished(self, outcome: FileOutcome) -> None:
        self.history.append(outcome)
        log.info(
            "filedrop source %s: %s → %s (%d accepted, %d rejected rows)%s",
            self.name,
            outcome.name,
            outcome.status,
            outcome.accepted,
            outcome.rejected,
            f": {outcome.reason}" if outcome.reason else "",
        )
        if self._mirror is not None:
            self._mirror.emit(
                "file_processed",
                source=self.name,
                status=outcome.status,
                reason=outcome.reason,
                detail={
                    "file": outcome.name,
                    "moved_to": str(outcome.path),
                    "sha256": outcome.sha256,
                    "accepted": outcome.accepted,
                    "duplicates": outcome.duplicates,
                    "rejected": outcome.rejected,
                    "ignored": outcome.ignored,
                },
            )

    # -- endings (worker thread) ----------------------------------------------------------------

    def _file_submitted(self, claimed: _Claimed, report: _Report) -> FileOutcome:
        parsed = claimed.parsed
        assert parsed is not None
        final = self._move(claimed.path, self.done, claimed.name)
        if parsed.errors or parsed.ignored or report.duplicates or report.failed:
            self._write_sidecar(final, ".errors.json", self._errors_body(claimed, "done", None, report))
        return FileOutcome(
            claimed.name,
            "done",
            final,
            claimed.sha256,
            accepted=len(report.accepted),
            duplicates=len(report.duplicates),
            rejected=len(parsed.errors) + len(report.failed),
            ignored=len(parsed.ignored),
            format=parsed.format,
            signal_ids=tuple(item["signal_id"] for item in report.accepted),
        )

    def _file_rejected(self, claimed: _Claimed, reason: str) -> FileOutcome:
        parsed = claimed.parsed
        final = self._move(claimed.path, self.rejected, claimed.name)
        self._write_sidecar(final, ".errors.json", self._errors_body(claimed, "rejected", reason, _Report()))
        return FileOutcome(
            claimed.name,
            "rejected",
            final,
            claimed.sha256,
            rejected=len(parsed.errors) if parsed else 0,
            ignored=len(parsed.ignored) if parsed else 0,
            reason=reason,
            format=parsed.format if parsed else None,
        )

    def _file_duplicate(self, claimed: _Claimed) -> FileOutcome:
        first = claimed.duplicate_of or {}
        note = (
            f"same content as {first.get('file')!r} processed at {first.get('at')}; its orders were not executed again"
        )
        final = self._move(claimed.path, self.done, claimed.name)
        self._write_sidecar(
            final,
            ".duplicate.json",
            {"file": claimed.name, "sha256": claimed.sha256, "status": "duplicate", "note": note, "first": first},
        )
        return FileOutcome(claimed.name, "duplicate", final, claimed.sha256, reason=note)

    def _errors_body(self, claimed: _Claimed, status: str, reason: str | None, report: _Report) -> dict[str, Any]:
        parsed = claimed.parsed
        body: dict[str, Any] = {
            "file": claimed.name,
            "sha256": claimed.sha256,
            "status": status,
            "reason": reason,
            "format": parsed.format if parsed else None,
            "accepted": len(report.accepted),
            "errors": ([e.to_json() for e in parsed.errors] if parsed else []) + report.failed,
            "duplicates": report.duplicates,
            "ignored": [e.to_json() for e in parsed.ignored] if parsed else [],
        }
        if parsed is not None and parsed.ignored_columns:
            body["ignored_columns"] = list(parsed.ignored_columns)
        return body

    def _move(self, path: Path, folder: Path, name: str) -> Path:
        target = _free_name(folder, name)
        os.replace(path, target)
        return target

    @staticmethod
    def _write_sidecar(moved: Path, suffix: str, body: dict[str, Any]) -> None:
        path = moved.with_name(moved.name + suffix)
        temp = path.with_name(path.name + ".tmp")
        temp.write_text(json.dumps(body, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        os.replace(temp, path)

    # -- the record -----------------------------------------------------------------------------

    def _open(self) -> None:
        for folder in (self.inbox, self.processing, self.done, self.rejected):
            folder.mkdir(parents=True, exist_ok=True)
        latest: dict[str, dict[str, Any]] = {}
        lines = 0
        if self._record_path.exists():
            for line in self._record_path.read_text(encoding="utf-8", errors="replace").splitlines():
                lines += 1
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a crash
                if isinstance(entry, dict) and isinstance(entry.get("sha256"), str):
                    latest.pop(entry["sha256"], None)
                    latest[entry["sha256"]] = entry
        if len(latest) > KEEP_HASHES:
            latest = dict(list(latest.items())[-KEEP_HASHES:])
        if lines > 2 * len(latest) + 100:
            temp = self._record_path.with_name(RECORD_NAME + ".tmp")
            temp.write_text("".join(json.dumps(e) + "\n" for e in latest.values()), encoding="utf-8")
            os.replace(temp, self._record_path)
        self._hashes = latest
        self._record_fd = os.open(self._record_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _append_record(self, entry: dict[str, Any]) -> None:
        if self._record_fd is None:
            raise RuntimeError("the filedrop source is not started")
        os.write(self._record_fd, (json.dumps(entry) + "\n").encode())

    def _recover(self) -> list[FileOutcome]:
        """Files left in ``processing/`` by an interrupted run."""
        outcomes = []
        for path in sorted(self.processing.iterdir()):
            if not path.is_file():
                continue
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                continue
            entry = self._hashes.get(digest)
            if entry is None:
                os.replace(path, _free_name(self.inbox, path.name))
                log.info("filedrop source %s: %s was not yet read; back to the inbox", self.name, path.name)
                continue
            claimed = _Claimed(path.name, path, sha256=digest)
            if entry.get("state") == "submitting":
                reason = (
                    f"processing was interrupted at {entry.get('at')} while its rows were being handed to the "
                    "router; it is not run again so that nothing is doubled: check the follower accounts"
                )
                final = self._move(path, self.rejected, path.name)
                body = self._errors_body(claimed, "rejected", reason, _Report())
                self._write_sidecar(final, ".errors.json", body)
                outcomes.append(FileOutcome(path.name, "rejected", final, digest, reason=reason))
            else:
                final = self._move(path, self.done, path.name)
                outcomes.append(
                    FileOutcome(
                        path.name,
                        "done",
                        final,
                        digest,
                        accepted=int(entry.get("accepted", 0)),
                        reason="finished before the restart",
                    )
                )
        return outcomes


def _rejection(claimed: _Claimed) -> str:
    parsed = claimed.parsed
    if claimed.error is not None or parsed is None:
        return claimed.error or "the file could not be read"
    if parsed.error is not None:
        return parsed.error
    if parsed.errors:
        return f"no row could be read as an order ({len(parsed.errors)} rejected)"
    return f"no order rows ({len(parsed.ignored)} rows are not orders)"


def _skipped_name(name: str) -> bool:
    lower = name.lower()
    return (
        lower.startswith((".", "~"))
        or lower.endswith(PARTIAL_SUFFIXES)
        or lower.endswith((".errors.json", ".duplicate.json"))
    )


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/stem.N.suffix`` when that is taken."""
    target = folder / name
    if not target.exists():
        return target
    stem, dot, suffix = name.rpartition(".")
    if not stem:
        stem, dot, suffix = name, "", ""
    for n in range(1, 100_000):
        candidate = folder / f"{stem}.{n}{dot}{suffix}"
        if not candidate.exists():
            return candidate
    return folder / f"{name}.{time.time_ns()}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
