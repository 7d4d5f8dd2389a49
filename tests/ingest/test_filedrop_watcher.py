"""The filedrop watcher on a real folder, with a real router over real paper accounts."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.paper import PaperConfig, PaperConnector
from core.errors import ConfigError
from core.mirror import MirrorLog
from core.router import Route, Router
from ingest.filedrop import FiledropConfig, FiledropSource
from tests.helpers import eventually

D = Decimal

ORDERS = "action,symbol,volume\nbuy,EURUSD,0.1\nsell,XAUUSD,0.2\n"


@dataclass
class Rig:
    source: FiledropSource
    router: Router
    account: PaperConnector
    mirror: MirrorLog
    inbox: Path

    def drop(self, name: str, text: str | bytes) -> Path:
        """Write the file the way a careful tool does: under a temporary name, then renamed."""
        data = text.encode() if isinstance(text, str) else text
        temp = self.inbox / (name + ".tmp")
        temp.write_bytes(data)
        os.replace(temp, self.inbox / name)
        return self.inbox / name

    async def volumes(self) -> list[tuple[str, Decimal]]:
        await self.router.drain()
        return sorted((p.symbol, p.volume) for p in await self.account.positions())

    async def events(self, name: str | None = None) -> list[dict]:
        await self.mirror.flush()
        lines = self.mirror.path.read_text().splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
        return [r for r in records if name is None or r["event"] == name]


@asynccontextmanager
async def rig(tmp: Path, *, watch: bool = True, settle: float = 0.0, account: str = "a"):
    mirror = MirrorLog(tmp / "mirror.jsonl", flush_interval=0.001)
    mirror.start()
    conn = PaperConnector(PaperConfig(account))
    await conn.start()
    router = Router(routes=[Route("drop", account)], connectors={account: conn}, mirror=mirror)
    inbox = tmp / "inbox"
    source = FiledropSource(FiledropConfig("drop", inbox, poll_interval=0.01, settle=settle), router.submit, mirror)
    if watch:
        await source.start()
    else:
        await source.prepare()
    try:
        yield Rig(source, router, conn, mirror, inbox)
    finally:
        await source.stop()
        await router.drain()
        await router.stop()
        await conn.stop()
        await mirror.close()


def names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


async def test_a_dropped_csv_is_traded_and_moved_to_done(tmp_path):
    async with rig(tmp_path) as r:
        assert r.source.task is not None and r.source.task.get_name() == "filedrop:drop"
        r.drop("orders.csv", ORDERS)
        await eventually(lambda: len(r.source.history) == 1)
        assert names(r.inbox / "done") == {"orders.csv"}  # no errors.json for a clean file
        assert "orders.csv" not in names(r.inbox) and names(r.inbox / "processing") == set()
        assert await r.volumes() == [("EURUSD", D("0.10")), ("XAUUSD", D("0.20"))]
        accepted = await r.events("signal_accepted")
        digest = hashlib.sha256(ORDERS.encode()).hexdigest()[:16]
        assert {e["detail"]["origin_id"] for e in accepted} == {f"fd:{digest}:1", f"fd:{digest}:2"}
        (processed,) = await r.events("file_processed")
        assert processed["status"] == "done" and processed["detail"]["accepted"] == 2
        outcome = r.source.history[-1]
        assert (outcome.status, outcome.accepted, outcome.path) == ("done", 2, r.inbox / "done" / "orders.csv")


async def test_partial_files_are_left_alone_until_they_settle(tmp_path):
    async with rig(tmp_path, watch=False) as r:
        (r.inbox / "early.csv.part").write_text(ORDERS)
        (r.inbox / ".hidden.csv").write_text(ORDERS)
        growing = r.inbox / "growing.csv"
        growing.write_text("action,symbol,volume\n")
        await r.source.scan()  # first sight: remembered, not taken
        assert "growing.csv" in names(r.inbox)
        with growing.open("a") as handle:
            handle.write("buy,EURUSD,0.1\n")
        await r.source.scan()  # it changed since the last scan: still not taken
        assert "growing.csv" in names(r.inbox)
        outcomes = await r.source.scan()  # unchanged across two scans: taken
        assert [o.name for o in outcomes] == ["growing.csv"] and outcomes[0].accepted == 1
        for _ in range(3):
            await r.source.scan()
        assert {"early.csv.part", ".hidden.csv"} <= names(r.inbox)
        os.replace(r.inbox / "early.csv.part", r.inbox / "early.csv")
        assert await r.source.scan() == []
        assert [o.name for o in await r.source.scan()] == ["early.csv"]
        assert ".hidden.csv" in names(r.inbox)
        assert await r.volumes() == [("EURUSD", D("0.10")), ("EURUSD", D("0.10")), ("XAUUSD", D("0.20"))]


async def test_a_file_must_stay_quiet_for_the_settle_time(tmp_path):
    async with rig(tmp_path, watch=False, settle=3600) as r:
        r.drop("orders.csv", ORDERS)
        for _ in range(3):
            assert await r.source.scan() == []
        assert "orders.csv" in names(r.inbox)


async def test_good_rows_go_through_and_bad_rows_are_listed_next_to_the_file(tmp_path):
    async with rig(tmp_path) as r:
        r.drop("mixed.csv", "action,symbol,volume\nbuy,EURUSD,0.1\nbuy,EURUSD,lots\nhold,EURUSD,1\nsell,GBPUSD,0.3\n")
        await eventually(lambda: len(r.source.history) == 1)
        report = json.loads((r.inbox / "done" / "mixed.csv.errors.json").read_text())
        assert report["status"] == "done" and report["accepted"] == 2
        assert [(e["line"], e["field"]) for e in report["errors"]] == [(3, "volume"), (4, "action")]
        assert "unknown action 'hold'" in report["errors"][1]["reason"]
        assert await r.volumes() == [("EURUSD", D("0.10")), ("GBPUSD", D("0.30"))]
        rejected = await r.events("signal_rejected")
        assert [(e["source"], e["detail"]["file"], e["detail"]["line"]) for e in rejected] == [
            ("drop", "mixed.csv", 3),
            ("drop", "mixed.csv", 4),
        ]


async def test_files_with_no_good_row_or_no_orders_are_rejected(tmp_path):
    async with rig(tmp_path) as r:
        r.drop("bad.csv", "action,symbol,volume\nbuy,EURUSD,-1\nfly,EURUSD,1\n")
        r.drop("state.json", json.dumps({"source_orders": {}, "target_positions": {}}))
        r.drop(
            "pings.csv",
            "timestamp,account_id,account_type,status,action,data,master_id,platform\n"
            "2024-01-15T10:30:00Z,1,master,online,ping,{},,MT4\n",
        )
        await eventually(lambda: len(r.source.history) == 3)
        assert len(names(r.inbox / "rejected")) == 6
        bad = json.loads((r.inbox / "rejected" / "bad.csv.errors.json").read_text())
        assert bad["status"] == "rejected" and "no row could be read" in bad["reason"]
        assert [e["line"] for e in bad["errors"]] == [2, 3]
        state = json.loads((r.inbox / "rejected" / "state.json.errors.json").read_text())
        assert "saved state" in state["reason"]
        pings = json.loads((r.inbox / "rejected" / "pings.csv.errors.json").read_text())
        assert "no order rows" in pings["reason"] and pings["ignored"][0]["line"] == 2
        assert await r.volumes() == []
        reasons = [e["reason"] for e in await r.events("signal_rejected")]
        assert any("saved state" in reason for reason in reasons) and len(reasons) == 4


async def test_the_same_file_is_executed_once_even_across_restarts(tmp_path):
    async with rig(tmp_path) as r:
        r.drop("orders.csv", ORDERS)
        await eventually(lambda: "orders.csv" in names(r.inbox / "done"))
        r.drop("orders.csv", ORDERS)
        await eventually(lambda: "orders.1.csv.duplicate.json" in names(r.inbox / "done"))
        note = json.loads((r.inbox / "done" / "orders.1.csv.duplicate.json").read_text())
        assert note["status"] == "duplicate" and "not executed again" in note["note"]
        assert len(await r.volumes()) == 2
    # A new process: a fresh router (its dedupe memory is empty) over a fresh account, same inbox.
    async with rig(tmp_path, account="b") as r:
        r.drop("copy-of-orders.csv", ORDERS)
        await eventually(lambda: "copy-of-orders.csv.duplicate.json" in names(r.inbox / "done"))
        r.drop("new.csv", ORDERS + "buy,USDJPY,0.5\n")
        await eventually(lambda: len(r.source.history) == 2)
        assert "new.csv" in names(r.inbox / "done")
        assert await r.volumes() == [("EURUSD", D("0.10")), ("USDJPY", D("0.50")), ("XAUUSD", D("0.20"))]
        assert [o.status for o in r.source.history] == ["duplicate", "done"]


async def test_an_interrupted_file_is_not_resent_blind(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "processing").mkdir(parents=True)
    cut = "action,symbol,volume\nbuy,EURUSD,0.1\n"
    (inbox / "processing" / "cut.csv").write_text(cut)
    (inbox / "processing" / "unread.csv").write_text("action,symbol,volume\nbuy,XAUUSD,0.3\n")
    entry = {"sha256": hashlib.sha256(cut.encode()).hexdigest(), "file": "cut.csv", "at": "t", "state": "submitting"}
    (inbox / ".processed").write_text(json.dumps(entry) + "\n")
    async with rig(tmp_path) as r:
        assert "cut.csv" in names(inbox / "rejected")
        report = json.loads((inbox / "rejected" / "cut.csv.errors.json").read_text())
        assert "interrupted" in report["reason"] and "check the follower accounts" in report["reason"]
        await eventually(lambda: "unread.csv" in names(inbox / "done"))
        assert await r.volumes() == [("XAUUSD", D("0.30"))]


async def test_two_watchers_on_one_folder_take_each_file_once(tmp_path):
    async with rig(tmp_path, watch=False) as r:
        other = FiledropSource(FiledropConfig("drop", r.inbox, settle=0), r.router.submit, r.mirror)
        await other.prepare()
        try:
            for n in range(6):
                r.drop(f"f{n}.csv", f"action,symbol,volume\nbuy,EURUSD,0.{n + 1}\n")
            for _ in range(2):
                await asyncio.gather(r.source.scan(), other.scan())
        finally:
            await other.stop()
        taken = [o.name for o in (*r.source.history, *other.history)]
        assert sorted(taken) == [f"f{n}.csv" for n in range(6)]
        assert names(r.inbox / "done") == {f"f{n}.csv" for n in range(6)}
        assert len(await r.volumes()) == 6


async def test_a_failed_scan_is_logged_and_the_watch_goes_on(tmp_path, caplog):
    async with rig(tmp_path) as r:
        shutil.rmtree(r.inbox)
        await eventually(lambda: r.source.state == "error")
        assert "FileNotFoundError" in (r.source.last_error or "")
        assert "scan failed" in caplog.text
        assert r.source.task is not None and not r.source.task.done()
        for folder in ("processing", "done", "rejected"):
            (r.inbox / folder).mkdir(parents=True)
        r.drop("orders.csv", ORDERS)
        await eventually(lambda: len(r.source.history) == 1)
        assert "orders.csv" in names(r.inbox / "done")
        assert r.source.state == "running" and r.source.last_error is None


async def test_stop_cancels_the_task(tmp_path):
    async with rig(tmp_path) as r:
        task = r.source.task
        assert task is not None
        await r.source.stop()
        assert task.cancelled() and r.source.state == "stopped" and r.source.task is None


def test_config_from_a_sources_table(tmp_path):
    config = FiledropConfig.from_mapping("drop", {"inbox": "in", "settle": 0.5}, base=tmp_path, where="sources[0]")
    assert config.inbox == tmp_path / "in" and config.settle == 0.5 and config.poll_interval == 0.05
    with pytest.raises(ConfigError) as missing:
        FiledropConfig.from_mapping("drop", {}, where="sources[0]")
    assert missing.value.path == "sources[0].inbox"
    with pytest.raises(ConfigError) as slow:
        FiledropConfig.from_mapping("drop", {"inbox": "x", "poll_interval": 1}, where="sources[0]")
    assert "at most 0.1" in str(slow.value)
    with pytest.raises(ConfigError) as wrong:
        FiledropConfig.from_mapping("drop", {"inbox": "x", "settle": "soon"}, where="sources[0]")
    assert wrong.value.path == "sources[0].settle"
