"""The journal: record format, replay states, torn lines, rotation, compaction, fsync policies, kill -9."""

from __future__ import annotations

import dataclasses
import os
import signal as signals
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from copier.journal import (
    FollowerState,
    Journal,
    JournalError,
    JournalState,
    intent_from_json,
    intent_to_json,
    read_records,
    replay,
    segments,
    signal_from_json,
    signal_to_json,
)
from core.enums import Action, LevelUnit, OrderType, Side, VolumeKind
from core.orders import IntentKind, OrderIntent, client_order_id
from core.signal import Level, Signal
from tests.helpers import eventually

ROOT = Path(__file__).resolve().parents[2]


def _signal(origin: str = "o-1", received_at: datetime | None = None) -> Signal:
    signal = Signal(
        source="tv",
        action=Action.OPEN,
        symbol="XAUUSD",
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        volume=Decimal("0.0100"),
        volume_kind=VolumeKind.RISK_PERCENT,
        price=Decimal("2301.55"),
        price_range=(Decimal("2300"), Decimal("2302.5")),
        sl=Level(Decimal("25"), LevelUnit.PIPS),
        tps=(Level(Decimal("2290.1")), Level(Decimal("1.5"), LevelUnit.PERCENT)),
        comment="gold short",
        position_ref="t-77",
        origin_id=origin,
        sent_at=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        raw="sell gold 2301.55 sl 25 pips",
    )
    return dataclasses.replace(signal, received_at=received_at) if received_at else signal


def _intent(signal: Signal, account: str, leg: int = 0) -> OrderIntent:
    cid = client_order_id(signal.source, signal.dedupe_key, f"tv>{account}", leg)
    return OrderIntent(IntentKind.OPEN, cid, "XAUUSD", Side.SELL, Decimal("0.05"))


def test_signal_and_intent_round_trip_through_json() -> None:
    signal = _signal()
    line = orjson.dumps(signal_to_json(signal))
    back = signal_from_json(orjson.loads(line))
    assert back == dataclasses.replace(signal, received_ns=back.received_ns)
    assert back.volume is not None and str(back.volume) == "0.0100"
    bare = Signal(source="rest", action=Action.CLOSE_ALL)
    again = signal_from_json(orjson.loads(orjson.dumps(bare.to_json())))
    assert again == dataclasses.replace(bare, received_ns=again.received_ns)

    intent = OrderIntent(
        IntentKind.MODIFY,
        "cpabc",
        "XAUUSD",
        Side.BUY,
        Decimal("0"),
        order_type=OrderType.STOP,
        price=Decimal("2310.0"),
        sl=Decimal("2290"),
        tp=Decimal("2330.5"),
        position_id="p-1",
        order_id="o-2",
        reduce_only=True,
        comment="cp:abc",
        signal_price=Decimal("2309.9"),
    )
    assert intent_from_json(orjson.loads(orjson.dumps(intent_to_json(intent)))) == intent
    plain = OrderIntent(IntentKind.OPEN, "cpdef", "EURUSD", Side.SELL, Decimal("1.5"))
    assert intent_from_json(intent_to_json(plain)) == plain


def test_replay_gives_every_follower_its_state(tmp_path: Path) -> None:
    signal = _signal()
    followers = ["accepted", "planned", "sent", "unknown", "filled", "skipped", "more"]
    intents = {name: _intent(signal, name) for name in followers}
    with Journal(tmp_path, fsync="never") as journal:
        journal.signal(signal, followers)
        journal.intent(signal.id, "planned", "tv>planned", 0, intents["planned"])
        journal.intent(signal.id, "sent", "tv>sent", 0, intents["sent"])
        journal.sent(signal.id, intents["sent"].client_order_id)
        journal.intent(signal.id, "unknown", "tv>unknown", 0, intents["unknown"])
        journal.sent(signal.id, intents["unknown"].client_order_id)
        journal.result(signal.id, intents["unknown"].client_order_id, "unknown", reason="timeout after send")
        journal.intent(signal.id, "filled", "tv>filled", 0, intents["filled"], venue="paper")
        journal.sent(signal.id, intents["filled"].client_order_id)
        journal.result(
            signal.id, intents["filled"].client_order_id, "filled", venue_order_id="v1", filled=Decimal("0.05")
        )
        journal.done(signal.id, "filled", "filled")
        journal.done(signal.id, "skipped", "skipped", "no stop given for risk sizing")
        # "more": its first order finished, but the follower's job did not reach its end.
        journal.intent(signal.id, "more", "tv>more", 0, intents["more"])
        journal.sent(signal.id, intents["more"].client_order_id)
        journal.result(signal.id, intents["more"].client_order_id, "rejected", reason="no money", code="-2019")

    state = replay(tmp_path)
    got = {name: state.follower(signal.id, name).state for name in followers}  # type: ignore[union-attr]
    assert got == {
        "accepted": FollowerState.ACCEPTED,
        "planned": FollowerState.PLANNED,
        "sent": FollowerState.SENT,
        "unknown": FollowerState.SENT,
        "filled": FollowerState.FINISHED,
        "skipped": FollowerState.FINISHED,
        "more": FollowerState.ACCEPTED,
    }
    assert [f.account for f in state.unfinished()] == ["accepted", "planned", "sent", "unknown", "more"]
    entry = state.signals[signal.id]
    assert entry.signal == dataclasses.replace(signal, received_ns=entry.signal.received_ns)
    assert not entry.finished
    order = state.orders[intents["filled"].client_order_id]
    assert (order.account, order.route, order.leg, order.venue, order.status) == (
        "filled",
        "tv>filled",
        0,
        "paper",
        "filled",
    )
    assert order.intent == intents["filled"]
    assert order.result is not None and order.result["vid"] == "v1"
    assert state.follower(signal.id, "skipped").done["reason"] == "no stop given for risk sizing"  # type: ignore[union-attr,index]

    # Folding the same records again changes nothing.
    twice = JournalState()
    for record in [*read_records(tmp_path), *read_records(tmp_path)]:
        twice.apply(record)
    assert {n: twice.follower(signal.id, n).state for n in followers} == got  # type: ignore[union-attr]
    assert len(twice.orders) == len(state.orders) == 5


def test_a_late_unknown_never_reopens_a_finished_order(tmp_path: Path) -> None:
    signal = _signal()
    intent = _intent(signal, "a")
    with Journal(tmp_path, fsync="never") as journal:
        journal.signal(signal, ["a"])
        journal.intent(signal.id, "a", "tv>a", 0, intent)
        journal.sent(signal.id, intent.client_order_id)
        journal.result(signal.id, intent.client_order_id, "accepted", venue_order_id="v1")
        journal.result(signal.id, intent.client_order_id, "unknown")
        journal.result(signal.id, intent.client_order_id, "filled", venue_order_id="v1")
        journal.done(signal.id, "a", "filled")
    state = replay(tmp_path)
    assert state.orders[intent.client_order_id].status == "filled"
    assert state.follower(signal.id, "a").state is FollowerState.FINISHED  # type: ignore[union-attr]


def test_torn_last_line_is_ignored_then_cut_off_on_reopen(tmp_path: Path) -> None:
    with Journal(tmp_path, fsync="never") as journal:
        for n in range(3):
            journal.append({"t": "probe", "n": n})
        segment = journal.current_segment
    with open(segment, "ab") as handle:
        handle.write(b'{"t":"probe","n":3,"pa')
    assert [r["n"] for r in read_records(tmp_path)] == [0, 1, 2]

    with Journal(tmp_path, fsync="never") as journal:
        journal.append({"t": "probe", "n": 4})
    assert [r["n"] for r in read_records(tmp_path)] == [0, 1, 2, 4]
    assert segment.read_bytes().endswith(b'"n":4}\n')

    # A segment holding nothing but a long torn record.
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "journal-00000001.jsonl").write_bytes(b'{"t":"probe","pad":"' + b"z" * 200_000)
    assert list(read_records(lone)) == []
    with Journal(lone, fsync="never") as journal:
        journal.append({"t": "probe", "n": 5})
    assert [r["n"] for r in read_records(lone)] == [5]


def test_a_damaged_line_before_the_end_is_an_error(tmp_path: Path) -> None:
    with Journal(tmp_path, fsync="never") as journal:
        journal.append({"t": "probe", "n": 0})
        segment = journal.current_segment
    segment.write_bytes(b'{"t":"probe","n":0}\n{broken\n{"t":"probe","n":2}\n')
    with pytest.raises(JournalError, match="line 2"):
        list(read_records(tmp_path))


def test_segments_rotate_by_size_and_replay_in_order(tmp_path: Path) -> None:
    with Journal(tmp_path, fsync="never", max_segment_bytes=200) as journal:
        for n in range(40):
            journal.append({"t": "probe", "n": n, "pad": "y" * 20})
    paths = segments(tmp_path)
    assert len(paths) > 5
    assert all(p.stat().st_size <= 200 for p in paths)
    assert [r["n"] for r in read_records(tmp_path)] == list(range(40))
    # Reopening continues in the last segment.
    with Journal(tmp_path, fsync="never", max_segment_bytes=200) as journal:
        assert journal.current_segment == paths[-1]
        journal.append({"t": "probe", "n": 40})
    assert [r["n"] for r in read_records(tmp_path)][-2:] == [39, 40]


def _finished(journal: Journal, signal: Signal, account: str) -> None:
    intent = _intent(signal, account)
    journal.signal(signal, [account])
    journal.intent(signal.id, account, f"tv>{account}", 0, intent)
    journal.sent(signal.id, intent.client_order_id)
    journal.result(signal.id, intent.client_order_id, "filled")
    journal.done(signal.id, account, "filled")


def test_compaction_drops_only_old_finished_signals(tmp_path: Path) -> None:
    now = datetime(2024, 6, 1, 12, tzinfo=UTC)
    old_done = _signal("old-done", now - timedelta(days=3))
    old_open = _signal("old-open", now - timedelta(days=3))
    new_done = _signal("new-done", now - timedelta(minutes=5))
    with Journal(tmp_path, fsync="never", max_segment_bytes=600) as journal:
        _finished(journal, old_done, "a")
        journal.signal(old_open, ["a"])
        journal.intent(old_open.id, "a", "tv>a", 0, _intent(old_open, "a"))
        _finished(journal, new_done, "a")
        before = replay(tmp_path)
        assert journal.compact(older_than=86400, now=now) == 1
        journal.append({"t": "probe", "n": 1})
        journal.done(old_open.id, "a", "filled")
    after = replay(tmp_path)
    assert list(after.signals) == [old_open.id, new_done.id]
    assert after.orphans == 0
    assert after.follower(old_open.id, "a").state is FollowerState.PLANNED  # type: ignore[union-attr]
    assert after.follower(new_done.id, "a").state is FollowerState.FINISHED  # type: ignore[union-attr]
    assert len(before.signals) == 3
    assert not any(p.name.endswith((".tmp", ".compacted")) for p in tmp_path.iterdir())


def test_a_compaction_interrupted_after_its_commit_is_finished_on_open(tmp_path: Path) -> None:
    with Journal(tmp_path, fsync="never", max_segment_bytes=60) as journal:
        for n in range(6):
            journal.append({"t": "probe", "sig": f"s{n}", "n": n})
    originals = segments(tmp_path)
    assert len(originals) >= 3
    # The state a crash leaves right after the rename that commits a compaction of the first two.
    (tmp_path / "journal-00000001-00000002.compacted").write_bytes(b'{"t":"probe","n":100}\n')
    names = [r["n"] for r in read_records(tmp_path)]
    assert names[0] == 100 and 0 not in names and 1 not in names
    with Journal(tmp_path, fsync="never", max_segment_bytes=60):
        pass
    assert [r["n"] for r in read_records(tmp_path)] == names
    assert (tmp_path / "journal-00000002.jsonl").read_bytes() == b'{"t":"probe","n":100}\n'
    assert not (tmp_path / "journal-00000001.jsonl").exists()


async def test_fsync_policies(tmp_path: Path) -> None:
    with Journal(tmp_path / "interval", fsync="interval", fsync_interval=0.01) as journal:
        for n in range(10):
            journal.append({"t": "probe", "n": n})
        await eventually(lambda: journal.unsynced == 0)
    with Journal(tmp_path / "always", fsync="always") as journal:
        journal.append({"t": "probe"})
        assert journal.unsynced == 0
    with Journal(tmp_path / "never", fsync="never") as journal:
        journal.append({"t": "probe"})
        journal.append({"t": "probe"})
        assert journal.unsynced == 2
        journal.sync()
        assert journal.unsynced == 0
    with pytest.raises(JournalError, match="closed"):
        journal.append({"t": "probe"})
    with pytest.raises(ValueError):
        Journal(tmp_path / "bad", fsync="sometimes")


def test_listener_sees_every_record(tmp_path: Path) -> None:
    seen: list[dict[str, object]] = []
    signal = _signal()
    with Journal(tmp_path, fsync="never", listener=seen.append) as journal:
        journal.signal(signal, ["a", "b"])
        journal.done(signal.id, "a", "skipped", "kill switch is on")
    assert seen == list(read_records(tmp_path))
    assert [r["t"] for r in seen] == ["signal", "done"]


def test_records_survive_kill_9_of_the_writer(tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.store.journal_child", str(folder), "10000000"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    acknowledged = -1
    try:
        for line in child.stdout:
            acknowledged = int(line)
            if acknowledged >= 20000:
                child.send_signal(signals.SIGKILL)
                break
        # Counters printed before the kill landed are acknowledged appends too.
        for line in child.stdout:
            if line.endswith(b"\n"):
                acknowledged = int(line)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signals.SIGKILL
    numbers = [r["n"] for r in read_records(folder)]
    assert len(segments(folder)) > 1
    # Every acknowledged append is there, in order, once; at most the one in flight beyond it.
    assert numbers[: acknowledged + 1] == list(range(acknowledged + 1))
    assert len(numbers) - (acknowledged + 1) in (0, 1)
