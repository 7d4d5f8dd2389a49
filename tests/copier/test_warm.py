"""The warm keeper: it rehearses the last alert's path between signals and trades nothing."""

from __future__ import annotations

from decimal import Decimal

from benchmarks.tradingview_corpus import edge_harness
from copier.warm import WarmKeeper
from core.mirror import MirrorLog
from core.router import Router
from tests.helpers import eventually

ALERT = b'{"ticker": "EURUSD", "action": "buy", "contracts": "0.1", "id": "warm-1"}'


async def test_the_keeper_rehearses_the_last_alert_and_trades_nothing(tmp_path):
    async with edge_harness(tmp_path) as h:
        assert h.edge.rehearse() == []  # nothing accepted yet: nothing to rehearse
        out = await h.post(ALERT)
        assert out.status == 200 and out.answer is not None
        await h.router.drain()
        record = h.router.outcomes.get(out.answer["signal_id"])
        assert record is not None
        (again,) = h.edge.rehearse()
        assert again.origin_id == record.signal.origin_id and again.id != record.signal.id
        assert h.router.rehearse(again, followers=4) == 2  # both paper followers planned
        keeper = WarmKeeper(h.edge.rehearse, h.router, interval=0.001, followers=4, busy=lambda: False)
        keeper.start()
        await eventually(lambda: keeper.rehearsals >= 10)
        await keeper.stop()
        assert not keeper.running
        for conn in h.connectors.values():
            assert [p.volume for p in await conn.positions()] == [Decimal("0.10")]
        # The same alert again is still the duplicate of the one trade.
        resent = await h.post(ALERT)
        assert resent.answer is not None and resent.answer.get("duplicate") is True


async def test_the_keeper_waits_while_the_router_is_busy_and_is_off_at_zero(tmp_path):
    mirror = MirrorLog(tmp_path / "mirror.jsonl")
    router = Router(routes=[], connectors={}, mirror=mirror)
    busy = [True]
    waiting = WarmKeeper(list, router, interval=0.001, followers=1, busy=lambda: busy[0])
    clock = WarmKeeper(list, router, interval=0.001, followers=1, busy=lambda: False)
    off = WarmKeeper(list, router, interval=0.0, followers=1, busy=lambda: False)
    for keeper in (waiting, clock, off):
        keeper.start()
    try:
        assert not off.running
        await eventually(lambda: clock.rehearsals >= 10)
        assert waiting.rehearsals == 0
        busy[0] = False
        await eventually(lambda: waiting.rehearsals >= 1)
    finally:
        for keeper in (waiting, clock, off):
            await keeper.stop()


async def test_a_failing_rehearsal_is_logged_once_and_the_keeper_goes_on(tmp_path, caplog):
    mirror = MirrorLog(tmp_path / "mirror.jsonl")
    router = Router(routes=[], connectors={}, mirror=mirror)

    def broken() -> list:
        raise ValueError("an alert that no longer parses")

    keeper = WarmKeeper(broken, router, interval=0.001, followers=1, busy=lambda: False)
    keeper.start()
    try:
        await eventually(lambda: keeper.rehearsals >= 10)
        assert keeper.running
    finally:
        await keeper.stop()
    failures = [r for r in caplog.records if "rehearsal failed" in r.getMessage()]
    assert len(failures) == 1 and "no longer parses" in failures[0].getMessage()
