"""``copier backup`` and ``copier restore``: one tar.gz with a manifest.

A backup holds, relative to the data folder:

- the SQLite store (``copier.db``), copied with SQLite's online backup API, which reads a consistent
  snapshot while the daemon keeps writing (WAL readers do not block the writer);
- the journal segments (``journal/…``), each cut at its last complete line;
- the encrypted credential file (``credentials.enc``); the master key only when asked for, since
  an archive holding both the lock and its key protects nothing;
- ``manifest.json``: format, time, store backend and every file's size and SHA-256.

The store is copied before the journal, so the journal in an archive is never older than the store:
after a restore, replaying the journal brings the store up to the journal's end.

With PostgreSQL the archive holds only the journal and the credentials; back the database up with
``pg_dump`` (and restore it with ``pg_restore``/``psql``) at the same time.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from copier.credentials import KEY_FILE, STORE_FILE
from copier.journal import segments
from copier.store.store import sqlite_path

MANIFEST = "manifest.json"
FORMAT = 1
JOURNAL_DIR = "journal"
PG_NOTE = "PostgreSQL is not in this archive: back it up with pg_dump and restore it with pg_restore or psql."


class BackupError(Exception):
    """A backup could not be written, or an archive cannot be restored."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _snapshot_sqlite(src_path: Path, dst_path: Path) -> None:
    src = sqlite3.connect(src_path, timeout=30)
    try:
        dst = sqlite3.connect(dst_path)
        try:
            # One step: the whole copy is read under one read transaction, so it is a snapshot.
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
            problem = dst.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise BackupError(f"the store snapshot failed its check: {problem}")
        finally:
            dst.close()
    finally:
        src.close()


def _complete_lines(data: bytes) -> bytes:
    return data[: data.rfind(b"\n") + 1]


def backup(
    data_dir: Path | str,
    store_url: str | None,
    out_file: Path | str,
    *,
    journal_dir: Path | str | None = None,
    credentials_file: Path | str | None = None,
    include_key: bool = False,
) -> dict[str, Any]:
    """Write a consistent archive of the store (SQLite), the journal and the credentials.

    Safe while the daemon runs. Returns the manifest.
    """
    data = Path(data_dir)
    out = Path(out_file)
    journal = Path(journal_dir) if journal_dir else data / JOURNAL_DIR
    creds = Path(credentials_file) if credentials_file else data / STORE_FILE
    entries: list[tuple[str, bytes]] = []
    store_info: dict[str, Any] = {"backend": "none"}

    db = sqlite_path(store_url) if store_url else None
    if db is not None:
        if not db.exists():
            raise BackupError(f"the store {db} does not exist")
        with tempfile.TemporaryDirectory(prefix="copier-backup-") as tmp:
            snap = Path(tmp) / "store.db"
            _snapshot_sqlite(db, snap)
            try:
                name = db.resolve().relative_to(data.resolve()).as_posix()
            except ValueError:
                name = db.name
            entries.append((name, snap.read_bytes()))
        store_info = {"backend": "sqlite", "file": name}
    elif store_url:
        store_info = {"backend": store_url.split(":", 1)[0].split("+", 1)[0], "note": PG_NOTE}

    for path in segments(journal):
        entries.append((f"{JOURNAL_DIR}/{path.name}", _complete_lines(path.read_bytes())))
    if creds.exists():
        entries.append((STORE_FILE, creds.read_bytes()))
    if include_key:
        key = data / KEY_FILE
        if key.exists():
            entries.append((KEY_FILE.as_posix(), key.read_bytes()))

    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "store": store_info,
        "files": [{"path": name, "size": len(blob), "sha256": _sha256(blob)} for name, blob in entries],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            for name, blob in [(MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2)), *entries]:
                info = tarfile.TarInfo(name)
                info.size = len(blob)
                info.mode = 0o600
                info.mtime = int(time.time())
                tar.addfile(info, io.BytesIO(blob))
        os.replace(tmp_out, out)
    except BaseException:
        tmp_out.unlink(missing_ok=True)
        raise
    return manifest


def read_manifest(file: Path | str) -> dict[str, Any]:
    """The manifest of a backup archive."""
    with tarfile.open(file, "r:gz") as tar:
        return _manifest(tar)


def _manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        member = tar.getmember(MANIFEST)
    except KeyError:
        raise BackupError("not a Copier backup: no manifest.json") from None
    handle = tar.extractfile(member)
    if handle is None:
        raise BackupError("not a Copier backup: manifest.json is not a file")
    manifest = orjson.loads(handle.read())
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"unsupported backup format {manifest.get('format') if isinstance(manifest, dict) else None}")
    return manifest


def _safe_name(name: str) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise BackupError(f"refusing archive member with an unsafe path: {name!r}")
    return path.as_posix()


def restore(file: Path | str, data_dir: Path | str, *, force: bool = False) -> dict[str, Any]:
    """Unpack a backup into ``data_dir`` (the daemon must be stopped). Returns the manifest.

    Refuses a data folder that is not empty unless ``force``; with ``force`` the store, the journal
    and the credential file it holds are replaced (other files are left alone). Every file is
    checked against the manifest's SHA-256 before anything in the data folder changes.
    """
    data = Path(data_dir)
    if data.exists() and any(data.iterdir()) and not force:
        raise BackupError(f"{data} is not empty; restore into an empty folder or force it")
    with tarfile.open(file, "r:gz") as tar:
        manifest = _manifest(tar)
        expected = {_safe_name(f["path"]): f for f in manifest["files"]}
        blobs: dict[str, bytes] = {}
        for member in tar.getmembers():
            if member.name == MANIFEST:
                continue
            name = _safe_name(member.name)
            if name not in expected or not member.isfile():
                raise BackupError(f"archive member {member.name!r} is not in the manifest")
            handle = tar.extractfile(member)
            blob = handle.read() if handle else b""
            if _sha256(blob) != expected[name]["sha256"]:
                raise BackupError(f"{name} does not match its checksum: the archive is damaged")
            blobs[name] = blob
        missing = set(expected) - set(blobs)
        if missing:
            raise BackupError(f"archive is missing {', '.join(sorted(missing))}")

    data.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=data))
    try:
        for name, blob in blobs.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
                handle.flush()
                os.fsync(handle.fileno())
        if force:
            _clear_targets(data, manifest)
        for name in blobs:
            target = data / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, target)
        if (data / "secrets").exists():
            os.chmod(data / "secrets", 0o700)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _clear_targets(data: Path, manifest: dict[str, Any]) -> None:
    shutil.rmtree(data / JOURNAL_DIR, ignore_errors=True)
    store_file = manifest.get("store", {}).get("file")
    if store_file:
        db = data / _safe_name(store_file)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    names = {f["path"] for f in manifest["files"]}
    for name in names:
        if not name.startswith(f"{JOURNAL_DIR}/"):
            (data / _safe_name(name)).unlink(missing_ok=True)
