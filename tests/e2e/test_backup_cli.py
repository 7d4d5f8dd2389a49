"""``copier backup`` of a running daemon and ``copier restore`` into a fresh data folder."""

from __future__ import annotations

import asyncio

from copier.journal import replay
from copier.store.store import Store
from tests.e2e.daemon import running_daemon
from tests.e2e.test_daemon_paper import CONFIG, TOKEN
from tests.e2e.test_secrets import copier
from tests.helpers import eventually_sync


async def signals_in(url: str) -> int:
    store = await Store.open(url)
    try:
        return await store.count("signals")
    finally:
        await store.close()


def test_backup_while_running_then_restore(tmp_path):
    archive = tmp_path / "snapshot.tar.gz"
    with running_daemon(tmp_path, CONFIG, env={"TV_TOKEN": TOKEN}) as daemon:
        for n in range(5):
            status, _ = daemon.post(f"/webhook/tv?token={TOKEN}",
                                    {"action": "buy", "symbol": "EURUSD", "volume": 0.01, "id": f"b{n}"})
            assert status == 200
        db = f"sqlite+aiosqlite:///{daemon.data / 'copier.db'}"
        eventually_sync(lambda: asyncio.run(signals_in(db)) == 5)
        done = copier("backup", str(archive), "--config", str(tmp_path / "copier.toml"), env={"TV_TOKEN": TOKEN})
        assert done.returncode == 0, done.stderr

    restored = tmp_path / "restored"
    other = tmp_path / "other.toml"
    other.write_text((tmp_path / "copier.toml").read_text().replace(f'{tmp_path}/data', str(restored)))
    done = copier("restore", str(archive), "--config", str(other), env={"TV_TOKEN": TOKEN})
    assert done.returncode == 0, done.stderr
    assert asyncio.run(signals_in(f"sqlite+aiosqlite:///{restored / 'copier.db'}")) == 5
    assert len(replay(restored / "journal").signals) == 5
    again = copier("restore", str(archive), "--config", str(other), env={"TV_TOKEN": TOKEN})
    assert again.returncode == 1 and "restore failed" in again.stderr and "Traceback" not in again.stderr
