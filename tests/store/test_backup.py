"""Backup while the daemon writes, restore into an empty folder, refusals and damaged archives."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from copier.credentials import STORE_FILE, CredentialStore
from copier.journal import Journal, read_records, replay
from copier.store import Store, default_url
from copier.store.backup import MANIFEST, BackupError, backup, read_manifest, restore
from core.enums import Action, Side
from core.orders import IntentKind, OrderIntent, client_order_id
from core.signal import Signal
from tests.helpers import eventually

TABLES = ("signals", "signal_followers", "orders", "fills", "position_links", "api_keys", "audit_events")


def _signal(n: int) -> Signal:
    return Signal(
        source="tv",
        action=Action.OPEN,
        symbol="EURUSD",
        side=Side.BUY,
        volume=Decimal("0.01") * (n % 7 + 1),
        origin_id=f"o-{n}",
        raw=f"buy EURUSD #{n}",
        received_at=datetime(2024, 1, 1, tzinfo=UTC),
    )


def _write(journal: Journal, n: int) -> list[dict[str, object]]:
    """Journal one signal with a filled order; return the records for the store."""
    records: list[dict[str, object]] = []
    journal.listener = records.append
    signal = _signal(n)
    cid = client_order_id("tv", signal.dedupe_key, "tv>paper-a", 0)
    journal.signal(signal, ["paper-a"])
    journal.intent(signal.id, "paper-a", "tv>paper-a", 0, OrderIntent(IntentKind.OPEN, cid, "EURUSD", Side.BUY))
    journal.sent(signal.id, cid)
    journal.result(signal.id, cid, "filled", venue_order_id=f"v{n}", filled=Decimal("0.01"))
    journal.done(signal.id, "paper-a", "filled")
    return records


async def _rows(store: Store) -> dict[str, list[dict[str, object]]]:
    return {table: await store.rows(table) for table in TABLES}


async def _open(data: Path) -> Store:
    store = await Store.open(default_url(data))
    await store.migrate()
    return store


async def test_backup_while_writing_then_restore_gives_the_same_rows(tmp_path: Path) -> None:
    data, restored = tmp_path / "data", tmp_path / "restored"
    store = await _open(data)
    journal = Journal(data / "journal", fsync="never", max_segment_bytes=16 * 1024)
    creds = CredentialStore(data / STORE_FILE, os.urandom(32))
    creds.put("binance-1", {"api_key": "k", "api_secret": "s"})
    written = 0
    stop = asyncio.Event()

    async def writer() -> None:
        nonlocal written
        while not stop.is_set():
            await store.apply(_write(journal, written))
            written += 1

    try:
        task = asyncio.create_task(writer())
        await eventually(lambda: written >= 50, timeout=30)
        before = await store.count("signals")
        manifest = await asyncio.to_thread(backup, data, store.url, tmp_path / "b.tar.gz")
        stop.set()
        await task
        final = await _rows(store)
    finally:
        journal.close()
        await store.close()

    assert manifest["store"] == {"backend": "sqlite", "file": "copier.db"}
    names = {f["path"] for f in manifest["files"]}
    assert {"copier.db", STORE_FILE} <= names and sum(n.startswith("journal/") for n in names) > 1

    restore(tmp_path / "b.tar.gz", restored)
    copy = await Store.open(default_url(restored))
    try:
        assert await copy.migrate() == []
        got = await _rows(copy)
    finally:
        await copy.close()
    # A snapshot: every row it holds is the row the live store has, and nothing written before it is missing.
    assert len(got["signals"]) >= before
    for table, rows in got.items():
        live = {orjson.dumps(r, default=str) for r in final[table]}
        assert all(orjson.dumps(r, default=str) in live for r in rows), table
    # The journal in the archive is never older than the store in it.
    journal_ids = list(replay(restored / "journal").signals)
    assert {r["id"] for r in got["signals"]} <= set(journal_ids)
    assert journal_ids == list(replay(data / "journal").signals)[: len(journal_ids)]
    assert (restored / STORE_FILE).read_bytes() == (data / STORE_FILE).read_bytes()


async def test_quiet_backup_restores_every_row_and_record(tmp_path: Path) -> None:
    data, restored = tmp_path / "data", tmp_path / "restored"
    store = await _open(data)
    try:
        with Journal(data / "journal", fsync="never") as journal:
            for n in range(20):
                await store.apply(_write(journal, n))
        await store.put_api_key("ops", "secret-key-1", ["read"])
        original = await _rows(store)
        backup(data, store.url, tmp_path / "b.tar.gz")
    finally:
        await store.close()
    restore(tmp_path / "b.tar.gz", restored)
    copy = await Store.open(default_url(restored))
    try:
        assert await _rows(copy) == original
    finally:
        await copy.close()
    assert list(read_records(restored / "journal")) == list(read_records(data / "journal"))


async def test_restore_refuses_a_folder_in_use_unless_forced(tmp_path: Path) -> None:
    data, target = tmp_path / "data", tmp_path / "target"
    store = await _open(data)
    try:
        with Journal(data / "journal", fsync="never") as journal:
            await store.apply(_write(journal, 1))
        backup(data, store.url, tmp_path / "b.tar.gz")
    finally:
        await store.close()
    with Journal(target / "journal", fsync="never") as other:
        other.append({"t": "probe", "n": 99})
        other.rotate()
        other.append({"t": "probe", "n": 100})
    with pytest.raises(BackupError, match="not empty"):
        restore(tmp_path / "b.tar.gz", target)
    assert [r["n"] for r in read_records(target / "journal")] == [99, 100]
    restore(tmp_path / "b.tar.gz", target, force=True)
    assert list(read_records(target / "journal")) == list(read_records(data / "journal"))
    copy = await Store.open(default_url(target))
    try:
        assert await copy.count("signals") == 1
    finally:
        await copy.close()


def _repack(src: Path, dst: Path, change: dict[str, bytes]) -> None:
    with tarfile.open(src, "r:gz") as tar, tarfile.open(dst, "w:gz") as out:
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            blob = change.get(member.name, handle.read() if handle else b"")
            info = tarfile.TarInfo(member.name)
            info.size = len(blob)
            out.addfile(info, io.BytesIO(blob))
        for name, blob in change.items():
            if name not in tar.getnames():
                info = tarfile.TarInfo(name)
                info.size = len(blob)
                out.addfile(info, io.BytesIO(blob))


def test_damaged_or_foreign_archives_are_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Journal(data / "journal", fsync="never") as journal:
        _write(journal, 1)
    good = tmp_path / "good.tar.gz"
    backup(data, None, good)
    segment = next(f["path"] for f in read_manifest(good)["files"])

    _repack(good, tmp_path / "altered.tar.gz", {segment: b'{"t":"probe"}\n'})
    with pytest.raises(BackupError, match="checksum"):
        restore(tmp_path / "altered.tar.gz", tmp_path / "r1")
    _repack(good, tmp_path / "escape.tar.gz", {"../evil": b"x"})
    with pytest.raises(BackupError, match="unsafe path"):
        restore(tmp_path / "escape.tar.gz", tmp_path / "r2")
    _repack(good, tmp_path / "foreign.tar.gz", {MANIFEST: orjson.dumps({"format": 99, "files": []})})
    with pytest.raises(BackupError, match="format"):
        restore(tmp_path / "foreign.tar.gz", tmp_path / "r3")
    assert not (tmp_path / "r1").exists() or not any((tmp_path / "r1").iterdir())


def test_postgresql_backup_holds_journal_and_credentials_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Journal(data / "journal", fsync="never") as journal:
        _write(journal, 1)
    CredentialStore(data / STORE_FILE, os.urandom(32)).put("okx", {"api_key": "k"})
    manifest = backup(data, "postgresql+asyncpg://copier:pw@db.internal/copier", tmp_path / "pg.tar.gz")
    assert manifest["store"]["backend"] == "postgresql" and "pg_dump" in manifest["store"]["note"]
    assert sorted(f["path"] for f in manifest["files"]) == [STORE_FILE, "journal/journal-00000001.jsonl"]
    assert b"pw" not in orjson.dumps(read_manifest(tmp_path / "pg.tar.gz"))
