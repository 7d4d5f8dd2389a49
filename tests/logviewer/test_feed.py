"""The feed index: paging by seq, server-side filters, live appends, rotation, latency per venue."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson

from core.mirror import MirrorLog, encode
from logviewer.feed import INDEX_SLICE, FeedIndex, Filter, is_problem, latency_summary, log_files, read_log_lines
from tests.helpers import eventually


def rec(event: str, **fields) -> dict:
    return {"ts": datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC), "mono_ns": fields.pop("mono_ns", 1), "event": event,
            **fields}


def sample() -> list[dict]:
    """Two signals to three followers, with a skip, a rejection and a disconnect."""
    return [
        rec("connector_up", account="a", venue="paper", status="up"),
        rec("signal_accepted", signal_id="s1", source="tv", symbol="EURUSD", status="accepted", mono_ns=1000),
        rec("order_planned", signal_id="s1", source="tv", account="a", venue="paper", symbol="EURUSD",
            status="planned"),
        rec("order_sent", signal_id="s1", source="tv", account="a", venue="paper", symbol="EURUSD", status="sent",
            latency_us=120),
        rec("order_filled", signal_id="s1", source="tv", account="a", venue="paper", symbol="EURUSD",
            status="filled", latency_us=120, ack_us=300),
        rec("order_skipped", signal_id="s1", source="tv", account="b", venue="okx", symbol="EURUSD",
            status="skipped", reason="EURUSD is not traded on account b (no such instrument)"),
        rec("order_sent", signal_id="s1", source="tv", account="c", venue="okx", symbol="EURUSD", status="sent",
            latency_us=900),
        rec("order_rejected", signal_id="s1", source="tv", account="c", venue="okx", symbol="EURUSD",
            status="rejected", reason="Insufficient margin", detail={"code": "51008"}),
        rec("connector_down", account="c", venue="okx", status="down", reason="connection reset"),
        rec("signal_accepted", signal_id="s2", source="rest", symbol="XAUUSD", status="accepted"),
        rec("order_sent", signal_id="s2", source="rest", account="a", venue="paper", symbol="XAUUSD",
            status="sent", latency_us=80),
        rec("order_sent", signal_id="s2", source="rest", account="c", venue="okx", symbol="XAUUSD", status="sent",
            latency_us=2500),
    ]


def index_of(records: list[dict], **kwargs) -> FeedIndex:
    index = FeedIndex(Path("/nonexistent/mirror.jsonl"), **kwargs)
    index.extend(records)
    return index


def events_of(index: FeedIndex, flt: Filter, **kwargs) -> list[tuple[int, str]]:
    page = index.page(flt, **kwargs)
    return [(seq, orjson.loads(line)["event"]) for seq, line in zip(page.seqs, page.lines, strict=True)]


def test_seqs_count_from_one_in_log_order():
    index = index_of(sample())
    assert (index.oldest, index.head, len(index)) == (1, 12, 12)
    assert index.record(2)["signal_id"] == "s1" and index.record(2)["seq"] == 2


def test_newest_page_then_older_pages_by_before_and_offset():
    index = index_of(sample())
    page = index.page(Filter(), limit=5)
    assert page.seqs == [8, 9, 10, 11, 12] and page.matched == 12 and page.head == 12
    assert index.page(Filter(), before=8, limit=5).seqs == [3, 4, 5, 6, 7]
    older = index.page(Filter(), before=13, offset=5, limit=5)
    assert older.seqs == [3, 4, 5, 6, 7] and older.matched == 12
    assert index.page(Filter(), before=3, limit=5).seqs == [1, 2]
    assert index.page(Filter(), before=13, offset=50, limit=5).seqs == []


def test_after_gives_the_oldest_newer_events():
    index = index_of(sample())
    page = index.page(Filter(), after=9, limit=2)
    assert page.seqs == [10, 11] and page.matched == 3
    assert index.page(Filter(), after=12).seqs == []


def test_field_filters_and_across_fields_or_within_one():
    index = index_of(sample())
    flt = Filter.parse({"account": "c", "event": "order_sent"})
    assert events_of(index, flt) == [(7, "order_sent"), (12, "order_sent")]
    flt = Filter.parse({"account": "a, b", "signal": "ignored", "source": "tv"})
    assert [seq for seq, _ in events_of(index, flt)] == [3, 4, 5, 6]
    assert index.page(Filter.parse({"venue": "nowhere"})).matched == 0


def test_text_is_case_insensitive_and_combines_with_fields():
    index = index_of(sample())
    assert events_of(index, Filter.parse({"q": "insufficient MARGIN"})) == [(8, "order_rejected")]
    assert events_of(index, Filter.parse({"q": "xauusd", "account": "c"})) == [(12, "order_sent")]
    assert events_of(index, Filter.parse({"q": "xauusd", "account": "b"})) == []


def test_problems_only_keeps_skips_rejections_unknowns_failures_and_disconnects():
    index = index_of(sample())
    flt = Filter.parse({"problems": "1"})
    assert [e for _, e in events_of(index, flt)] == ["order_skipped", "order_rejected", "connector_down"]
    assert is_problem("order_unknown", "unknown") and is_problem("order_failed", None)
    assert is_problem("connector_reconnecting", "reconnecting") and not is_problem("order_filled", "filled")


def test_cached_view_grows_with_new_events_and_listeners_hear_them():
    index = index_of(sample())
    flt = Filter.parse({"account": "a"})
    assert index.page(flt).matched == 5
    heard: list[tuple[int, int]] = []
    remove = index.listen(lambda first, last: heard.append((first, last)))
    index.extend([rec("order_sent", account="a", venue="paper", latency_us=5), rec("order_sent", account="z")])
    assert heard == [(13, 14)]
    page = index.page(flt)
    assert page.matched == 6 and page.seqs[-1] == 13
    assert index.matching_between(flt, 13, 14) == [13]
    remove()
    index.extend([rec("order_sent", account="a")])
    assert heard == [(13, 14)]


def test_oldest_events_are_forgotten_beyond_the_cap():
    records = [rec("order_sent", account=f"acc{i % 3}", signal_id=f"s{i}", latency_us=i) for i in range(20_000)]
    index = index_of(records, max_events=5_000)
    assert len(index) < 20_000 and len(index) >= 5_000
    assert index.head == 20_000 and index.oldest == 20_000 - len(index) + 1
    page = index.page(Filter.parse({"account": "acc0"}), limit=3)
    assert all(index.record(s)["account"] == "acc0" for s in page.seqs)
    assert page.matched == sum(1 for s in range(index.oldest, index.head + 1) if (s - 1) % 3 == 0)
    assert index.signal_events("s0") == [] and index.signal_events("s19999")[0]["seq"] == 20_000
    assert index.record(index.oldest)["signal_id"] == f"s{index.oldest - 1}"


def test_page_body_is_json_with_seq_in_every_event():
    index = index_of(sample())
    body = orjson.loads(index.page(Filter.parse({"account": "c"}), limit=3).to_json_bytes())
    assert body["matched"] == 4 and body["head"] == 12
    assert [(e["seq"], e["event"]) for e in body["events"]] == [
        (8, "order_rejected"), (9, "connector_down"), (12, "order_sent")]
    assert body["events"][0]["detail"] == {"code": "51008"}


def test_latency_is_per_signal_and_venue_the_slowest_follower():
    index = index_of(sample())
    stats = index.latency(Filter())
    assert stats["venues"]["okx"]["count"] == 2 and stats["venues"]["okx"]["max_us"] == 2500
    assert stats["venues"]["paper"]["p50_us"] == 80 and stats["venues"]["paper"]["max_us"] == 120
    assert stats["all"]["count"] == 4
    only_tv = index.latency(Filter.parse({"source": "tv"}))
    assert only_tv["venues"]["okx"] == latency_summary([900]) and only_tv["venues"]["paper"]["count"] == 1


def test_latency_summary_percentiles_and_buckets():
    summary = latency_summary(list(range(1, 101)))
    assert (summary["p50_us"], summary["p99_us"], summary["max_us"]) == (50, 99, 100)
    assert summary["histogram"][0] == 50 and summary["histogram"][1] == 50 and sum(summary["histogram"]) == 100
    assert latency_summary([])["p50_us"] is None


def test_reads_rotated_files_oldest_first_and_keeps_the_newest(tmp_path):
    path = tmp_path / "mirror.jsonl"
    (tmp_path / "mirror.jsonl.2").write_bytes(b"".join(encode(rec("order_sent", seq_hint=i)) for i in range(3)))
    (tmp_path / "mirror.jsonl.1").write_bytes(b"".join(encode(rec("order_sent", seq_hint=i)) for i in range(3, 5)))
    path.write_bytes(encode(rec("order_sent", seq_hint=5)) + b'{"event": "half a li')
    assert [p.name for p in log_files(path)] == ["mirror.jsonl.2", "mirror.jsonl.1", "mirror.jsonl"]
    assert [orjson.loads(line)["seq_hint"] for line in read_log_lines(path, 100)] == [0, 1, 2, 3, 4, 5]
    assert [orjson.loads(line)["seq_hint"] for line in read_log_lines(path, 2)] == [4, 5]
    index = FeedIndex(path)
    index.load_sync()
    assert len(index) == 6 and index.record(6)["seq_hint"] == 5


async def test_attached_index_has_each_event_once_across_file_and_live_batches(tmp_path):
    path = tmp_path / "mirror.jsonl"
    path.write_bytes(encode(rec("daemon_started")))
    mirror = MirrorLog(path, flush_interval=0.001)
    mirror.start()
    try:
        mirror.emit("connector_up", account="a", status="up")
        await mirror.flush()
        index = FeedIndex(path)
        index.attach(mirror)
        mirror.emit("signal_accepted", signal_id="s1", source="tv")  # pending when the load starts
        await index.load(mirror)
        mirror.emit("order_sent", signal_id="s1", account="a", venue="paper", latency_us=42)
        await eventually(lambda: index.head == 4)
        assert [index.record(s)["event"] for s in range(1, 5)] == [
            "daemon_started", "connector_up", "signal_accepted", "order_sent"]
        assert [e["event"] for e in index.signal_events("s1")] == ["signal_accepted", "order_sent"]
        assert index.facets()["account"] == ["a"]
    finally:
        await mirror.close()


def test_unwatched_batches_are_indexed_when_read_and_watched_ones_at_once():
    index = FeedIndex(Path("/nonexistent/mirror.jsonl"))
    index.load_sync()
    first = [{"event": "order_sent", "account": "a", "signal_id": "s1", "latency_us": 10}]
    index.on_batch(first, [encode(r) for r in first])
    assert index._count == 0 and len(index._unindexed) == 1  # nobody watching: nothing indexed yet
    assert [e["event"] for e in index.signal_events("s1")] == ["order_sent"]  # a reader catches up
    seen: list[tuple[int, int]] = []
    index.listen(lambda lo, hi: seen.append((lo, hi)))
    second = [{"event": "order_filled", "account": "a", "signal_id": "s1"}]
    index.on_batch(second, [encode(r) for r in second])
    assert index._count == 2 and seen == [(index.head, index.head)]


async def test_unwatched_lines_are_indexed_a_slice_per_loop_turn():
    index = FeedIndex(Path("/nonexistent/mirror.jsonl"))
    index.load_sync()
    slices: list[int] = []
    append_lines = index._append_lines

    def noting(lines: list[bytes]) -> None:
        slices.append(len(lines))
        append_lines(lines)

    index._append_lines = noting  # type: ignore[method-assign]
    records = [
        {"event": "order_sent", "account": f"f{i % 7}", "signal_id": f"s{i}"} for i in range(2 * INDEX_SLICE + 88)
    ]
    index.on_batch(records, [encode(r) for r in records])
    assert index._count == 0  # nothing indexed in the mirror log's flush itself
    await eventually(lambda: index._count == 2 * INDEX_SLICE)
    assert slices == [INDEX_SLICE, INDEX_SLICE]  # a slice per loop turn, never the whole backlog
    assert len(index._unindexed) == 88  # less than a slice waits for the next batch or a read
    assert [e["event"] for e in index.signal_events(f"s{len(records) - 1}")] == ["order_sent"]
    assert index._count == len(records)
