from __future__ import annotations

from decimal import Decimal

import orjson

from core.enums import Side
from core.mirror import MirrorLog
from tests.helpers import eventually


async def test_lines_are_json_with_required_fields(tmp_path):
    log = MirrorLog(tmp_path / "m.jsonl")
    log.start()
    log.emit("order_sent", signal_id="s1", account="a", side=Side.BUY, volume=Decimal("0.10"), latency_us=42,
             reason=None)
    await log.close()
    (line,) = (tmp_path / "m.jsonl").read_bytes().splitlines()
    record = orjson.loads(line)
    assert record["event"] == "order_sent" and record["side"] == "buy" and record["volume"] == "0.10"
    assert record["ts"].endswith("+00:00") and record["mono_ns"] > 0 and "reason" not in record


async def test_rotates_by_size_and_keeps_backups(tmp_path):
    path = tmp_path / "m.jsonl"
    log = MirrorLog(path, max_bytes=2000, backups=2)
    log.start()
    for index in range(200):
        log.emit("order_planned", signal_id=f"s{index}", detail={"pad": "x" * 40})
        if index % 20 == 19:
            await log.flush()
    await log.close()
    rotated = sorted(p.name for p in tmp_path.iterdir())
    assert rotated == ["m.jsonl", "m.jsonl.1", "m.jsonl.2"]
    for name in rotated:
        assert (tmp_path / name).stat().st_size < 2000 + 20 * 150
    kept = [
        int(orjson.loads(line)["signal_id"][1:])
        for name in ("m.jsonl.2", "m.jsonl.1", "m.jsonl")
        for line in (tmp_path / name).read_bytes().splitlines()
    ]
    assert kept == list(range(kept[0], 200)) and kept[0] > 0  # oldest dropped, the rest in order


async def test_emit_does_not_touch_the_file_and_subscribers_get_batches(tmp_path):
    log = MirrorLog(tmp_path / "m.jsonl", flush_interval=0.001)
    log.start()
    seen: list[str] = []
    log.subscribe(lambda batch: seen.extend(r["event"] for r in batch))
    log.emit("a")
    log.emit("b")
    assert (tmp_path / "m.jsonl").stat().st_size == 0  # emit only queues
    await eventually(lambda: seen == ["a", "b"])
    await log.close()
