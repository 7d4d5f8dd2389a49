"""Router behaviour against real paper accounts (no mocks)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.paper import PaperConfig, PaperConnector
from core.enums import Action, LevelUnit, OrderType, Side, VolumeKind
from core.errors import OutcomeUnknown
from core.guards import Guards
from core.mirror import MirrorLog
from core.orders import ExecutionReport, IntentKind, OrderIntent
from core.router import RetryPolicy, Route, Router
from core.signal import Level, Signal
from core.sizing import Sizing, SizingMode
from tests.helpers import eventually

D = Decimal


@asynccontextmanager
async def router_with(tmp: Path, routes, accounts: dict[str, dict], *, connector=PaperConnector, **kwargs):
    mirror = MirrorLog(tmp / "mirror.jsonl", flush_interval=0.001)
    mirror.start()
    connectors = {}
    for name, options in accounts.items():
        conn = connector(PaperConfig.from_mapping(name, options, prefix=""))
        await conn.start()
        connectors[name] = conn
    router = Router(routes=routes, connectors=connectors, mirror=mirror, **kwargs)
    try:
        yield router, connectors, mirror
    finally:
        await router.drain()
        await router.stop()
        await mirror.close()


def events(mirror: MirrorLog) -> list[dict]:
    return [orjson.loads(line) for line in mirror.path.read_bytes().splitlines()]


def buy(symbol="EURUSD", volume="0.1", **kw) -> Signal:
    return Signal(source="tv", action=Action.OPEN, symbol=symbol, side=Side.BUY, volume=D(volume), **kw)


async def volumes(conn) -> list[Decimal]:
    return sorted(p.volume for p in await conn.positions())


async def test_fan_out_sizes_each_follower(tmp_path):
    routes = [
        Route("tv", "a", Sizing(SizingMode.MULTIPLIER, factor=D(2))),
        Route("tv", "b", Sizing(SizingMode.EQUITY_RATIO, source_equity=D(20000))),
    ]
    async with router_with(tmp_path, routes, {"a": {}, "b": {"balance": 5000}}) as (router, conns, _):
        result = router.submit(buy(volume="0.3"))
        assert result.accepted and result.followers == 2
        await router.drain()
        assert await volumes(conns["a"]) == [D("0.60")]
        assert await volumes(conns["b"]) == [D("0.07")]  # 0.3 × 5000/20000 = 0.075 → 0.07


async def test_dedupe_by_origin_id(tmp_path):
    async with router_with(tmp_path, [Route("tv", "a")], {"a": {}}) as (router, conns, mirror):
        first = router.submit(buy(origin_id="alert-1"))
        second = router.submit(buy(origin_id="alert-1"))
        third = router.submit(buy(origin_id="alert-2"))
        assert first.accepted and not second.accepted and third.accepted
        assert second.duplicate_of == first.signal_id
        await router.drain()
        assert len(await conns["a"].positions()) == 2
        await mirror.flush()
        assert any(e["event"] == "signal_duplicate" for e in events(mirror))


async def test_dedupe_window_expires(tmp_path):
    async with router_with(tmp_path, [Route("tv", "a")], {"a": {}}, dedupe_window=0.0) as (router, conns, _):
        assert router.submit(buy(origin_id="x")).accepted
        await eventually(lambda: router.submit(buy(origin_id="x")).accepted)


async def test_lane_keeps_order_open_then_close(tmp_path):
    async with router_with(tmp_path, [Route("tv", "a")], {"a": {"latency_us": 2000}}) as (router, conns, _):
        router.submit(buy())
        router.submit(Signal(source="tv", action=Action.CLOSE, symbol="EURUSD"))
        await router.drain()
        assert await conns["a"].positions() == []


async def test_partial_close_is_proportional_and_rounded(tmp_path):
    routes = [Route("tv", "a"), Route("tv", "b", Sizing(SizingMode.MULTIPLIER, factor=D("0.5")))]
    async with router_with(tmp_path, routes, {"a": {}, "b": {}}) as (router, conns, _):
        router.submit(buy(volume="0.3"))
        router.submit(
            Signal(
                source="tv",
                action=Action.CLOSE_PART,
                symbol="EURUSD",
                side=Side.BUY,
                volume=D("0.4"),
                volume_kind=VolumeKind.FRACTION,
            )
        )
        await router.drain()
        assert await volumes(conns["a"]) == [D("0.18")]  # 0.30 − 0.12
        assert await volumes(conns["b"]) == [D("0.09")]  # 0.15 − 0.06
        router.submit(Signal(source="tv", action=Action.CLOSE, symbol="EURUSD"))
        await router.drain()
        assert await conns["a"].positions() == [] and await conns["b"].positions() == []


async def test_close_acts_only_on_linked_positions(tmp_path):
    async with router_with(tmp_path, [Route("tv", "a")], {"a": {}}) as (router, conns, _):
        manual = OrderIntent(
            kind=IntentKind.OPEN, client_order_id="manual1", symbol="EURUSD", side=Side.BUY, volume=D("1.00")
        )
        await conns["a"].submit(manual)
        router.submit(buy(volume="0.2"))
        router.submit(Signal(source="tv", action=Action.CLOSE, symbol="EURUSD", side=Side.BUY))
        await router.drain()
        assert await volumes(conns["a"]) == [D("1.00")]


async def test_modify_translates_pips_per_follower_entry(tmp_path):
    async with router_with(tmp_path, [Route("tv", "a")], {"a": {}}) as (router, conns, _):
        router.submit(buy(position_ref="pos-1"))
        await router.drain()
        conns["a"].sim.set_price("EURUSD", D("1.08700"))  # in profit: break-even is a valid stop now
        router.submit(
            Signal(
                source="tv",
                action=Action.MODIFY,
                position_ref="pos-1",
                symbol="EURUSD",
                sl=Level(D(0), LevelUnit.PIPS),
                tps=(Level(D(30), LevelUnit.PIPS),),
            )
        )
        await router.drain()
        (pos,) = await conns["a"].positions()
        assert pos.sl == pos.open_price
        assert pos.tp == pos.open_price + D("0.0030")


async def test_unknown_symbol_skips_with_reason(tmp_path):
    async with router_with(tmp_path, [Route("tv", "a")], {"a": {}}) as (router, conns, mirror):
        result = router.submit(buy(symbol="NOPE"))
        await router.drain()
        record = router.outcomes.get(result.signal_id)
        assert record.followers["a"].status == "skipped"
        assert "NOPE is not traded on account a" in record.followers["a"].reason
        await mirror.flush()
        skipped = [e for e in events(mirror) if e["event"] == "order_skipped"]
        assert skipped and skipped[0]["account"] == "a" and "NOPE" in skipped[0]["reason"]


async def test_guards_and_kill_switch(tmp_path):
    routes = [Route("tv", "a", guards=Guards(allowed_sides=frozenset({Side.SELL}))), Route("tv", "b")]
    async with router_with(tmp_path, routes, {"a": {}, "b": {}}) as (router, conns, _):
        first = router.submit(buy())
        await router.drain()
        assert "not allowed" in router.outcomes.get(first.signal_id).followers["a"].reason
        router.set_kill_switch(True, "b")
        second = router.submit(buy())
        await router.drain()
        assert "kill switch is on for account b" in router.outcomes.get(second.signal_id).followers["b"].reason
        router.submit(Signal(source="tv", action=Action.CLOSE, symbol="EURUSD"))
        await router.drain()
        assert await conns["b"].positions() == []  # closes still pass the kill switch


async def test_symbol_alias_and_account_suffix(tmp_path):
    from core.symbols import AccountSymbols

    extra = {
        "instruments": {
            "XAUUSD.m": {"volume_step": "0.01", "min_volume": "0.01", "tick_size": "0.01", "contract_size": "100"}
        },
        "prices": {"XAUUSD.m": "2400"},
    }
    async with router_with(
        tmp_path, [Route("tv", "a")], {"a": extra}, account_symbols={"a": AccountSymbols(suffix=".m")}
    ) as (router, conns, _):
        router.submit(buy(symbol="OANDA:GOLD", volume="0.05"))
        await router.drain()
        (pos,) = await conns["a"].positions()
        assert pos.symbol == "XAUUSD.m" and pos.volume == D("0.05")


async def test_reverse_route_and_target_position(tmp_path):
    routes = [Route("tv", "a", guards=Guards(reverse=True)), Route("tv", "b")]
    async with router_with(tmp_path, routes, {"a": {}, "b": {}}) as (router, conns, _):
        router.submit(buy(volume="0.2", sl=Level(D("1.08")), tps=(Level(D("1.09")),)))
        await router.drain()
        (pos,) = await conns["a"].positions()
        assert pos.side is Side.SELL and pos.sl == D("1.09000") and pos.tp == D("1.08000")
        target = Signal(
            source="tv", action=Action.TARGET, symbol="EURUSD", volume=D("0.5"), volume_kind=VolumeKind.TARGET
        )
        router.submit(target)
        await router.drain()
        assert sum(p.volume for p in await conns["b"].positions()) == D("0.50")
        router.submit(
            Signal(source="tv", action=Action.TARGET, symbol="EURUSD", volume=D("-0.1"), volume_kind=VolumeKind.TARGET)
        )
        await router.drain()
        (short,) = await conns["b"].positions()
        assert short.side is Side.SELL and short.volume == D("0.10")


async def test_pending_order_cancel(tmp_path):
    async with router_with(tmp_path, [Route("tv", "a")], {"a": {}}) as (router, conns, _):
        router.submit(buy(order_type=OrderType.LIMIT, price=D("1.07000"), position_ref="p"))
        await router.drain()
        assert len(conns["a"].sim.pending_orders()) == 1
        router.submit(Signal(source="tv", action=Action.CANCEL, position_ref="p"))
        await router.drain()
        assert conns["a"].sim.pending_orders() == []


async def test_client_order_ids_are_deterministic(tmp_path):
    ids = []
    for run in range(2):
        async with router_with(tmp_path / str(run), [Route("tv", "a")], {"a": {}}) as (router, conns, _):
            router.submit(buy(origin_id="same"))
            await router.drain()
            ids.append([o["client_order_id"] for r in router.outcomes.recent() for o in r.followers["a"].orders])
    assert ids[0] == ids[1] and len(ids[0][0]) == 22


class FlakyConnector(PaperConnector):
    """A paper venue whose connection drops after the first order arrives: the order exists, the answer is lost."""

    drops = 1

    async def _arrive(self, intent: OrderIntent, t_wire: int) -> ExecutionReport:  # submit and submit_now
        report = await super()._arrive(intent, t_wire)
        if self.drops:
            self.drops -= 1
            raise OutcomeUnknown("connection dropped after send")
        return report


async def test_unknown_outcome_is_reconciled_without_a_duplicate(tmp_path):
    mirror = MirrorLog(tmp_path / "m.jsonl")
    mirror.start()
    conn = FlakyConnector(PaperConfig("a"))
    await conn.start()
    router = Router(routes=[Route("tv", "a")], connectors={"a": conn}, mirror=mirror, retry=RetryPolicy(backoff=0.001))
    result = router.submit(buy())
    await router.drain()
    assert len(await conn.positions()) == 1
    assert router.outcomes.get(result.signal_id).followers["a"].status == "filled"
    await router.stop()
    await mirror.close()
    kinds = [e["event"] for e in events(mirror)]
    assert "order_unknown" in kinds and "order_reconciled" in kinds


async def test_accounts_proceed_concurrently(tmp_path):
    accounts = {"slow": {"latency_us": 200000}, "fast": {}}
    async with router_with(tmp_path, [Route("tv", "slow"), Route("tv", "fast")], accounts) as (router, conns, _):
        router.submit(buy())
        await eventually(lambda: conns["fast"].sim.open_positions == 1, timeout=0.15)
        assert conns["slow"].sim.open_positions == 0
        await asyncio.wait_for(router.drain(), 5)


class ThrottledConnector(PaperConnector):
    """A paper venue whose local limiter refuses the first ``refusals`` orders."""

    refusals = 6

    def _sent(self, intent: OrderIntent) -> Coroutine[Any, Any, ExecutionReport]:  # submit and submit_now
        if self.refusals:
            self.refusals -= 1
            from core.errors import RateLimited

            raise RateLimited("local rate limit reached", code="local", retry_after=0.002)
        return super()._sent(intent)


async def test_rate_limits_are_waited_out_within_the_budget(tmp_path):
    mirror = MirrorLog(tmp_path / "m.jsonl")
    mirror.start()
    conn = ThrottledConnector(PaperConfig("a"))
    await conn.start()
    patient = Router(
        routes=[Route("tv", "a")], connectors={"a": conn}, mirror=mirror, retry=RetryPolicy(rate_limit_budget=1.0)
    )
    ok = patient.submit(buy())
    await patient.drain()
    assert patient.outcomes.get(ok.signal_id).followers["a"].status == "filled"  # 6 refusals > 4 attempts
    conn.refusals = 6
    impatient = Router(
        routes=[Route("tv", "a")], connectors={"a": conn}, mirror=mirror, retry=RetryPolicy(rate_limit_budget=0.005)
    )
    failed = impatient.submit(buy())
    await impatient.drain()
    outcome = impatient.outcomes.get(failed.signal_id).followers["a"]
    assert outcome.status == "failed" and "rate limited" in outcome.reason
    await patient.stop()
    await impatient.stop()
    await mirror.close()


class RecordingConnector(PaperConnector):
    """A paper venue that notes in a shared list when it is handed an order."""

    calls: list[tuple[str, str]]

    def _sent(self, intent: OrderIntent) -> Coroutine[Any, Any, ExecutionReport]:  # submit and submit_now
        self.calls.append(("sent", self.name))
        return super()._sent(intent)


class LaneOnlyConnector(RecordingConnector):
    """The same venue, for a connector that cannot write an order from ``submit`` (its lane sends it)."""

    def submit_now(self, intent: OrderIntent) -> None:
        return None


@pytest.mark.parametrize("connector", [RecordingConnector, LaneOnlyConnector])
async def test_every_follower_writes_before_any_bookkeeping(tmp_path, connector):
    # Paper answers without yielding: without care, follower b would wait for a's outcome entry,
    # mirror events and journal records before its own order went out (in the lanes, each
    # follower whose venue answered at once yields before its bookkeeping).
    calls: list[tuple[str, str]] = []
    mirror = MirrorLog(tmp_path / "mirror.jsonl", flush_interval=0.001)
    mirror.start()
    emit = mirror.emit

    def noting(event: str, **fields):
        if event == "order_planned":
            calls.append(("planned", fields["account"]))
        return emit(event, **fields)

    mirror.emit = noting  # type: ignore[method-assign]
    connectors = {}
    for name in ("a", "b", "c"):
        conn = connector(PaperConfig.from_mapping(name, {}, prefix=""))
        conn.calls = calls
        await conn.start()
        connectors[name] = conn
    router = Router(routes=[Route("tv", n) for n in connectors], connectors=connectors, mirror=mirror)
    try:
        router.submit(buy())
        await router.drain()
        assert sorted(calls[:3]) == [("sent", "a"), ("sent", "b"), ("sent", "c")]
        assert sorted(calls[3:]) == [("planned", "a"), ("planned", "b"), ("planned", "c")]
    finally:
        await router.stop()
        await mirror.close()


async def test_fanning_out_until_every_follower_has_written_or_skipped(tmp_path):
    # The idle collector keeps garbage collection out of this time: it must end with the last
    # follower's write (or skip), not with the venues' answers.
    routes = [Route("tv", "a"), Route("tv", "b"), Route("tv", "c", symbols={"EURUSD": "NOSUCH"})]
    seen: list[bool] = []
    async with router_with(tmp_path, routes, {"a": {}, "b": {}, "c": {}}) as (router, conns, _):
        for conn in conns.values():
            original = conn._sent  # where submit and submit_now hand the order to the venue

            def noting(intent, original=original):
                seen.append(router.fanning_out)
                return original(intent)

            conn._sent = noting  # type: ignore[method-assign]
        assert not router.fanning_out
        router.submit(buy())
        assert router.fanning_out
        await router.drain()
        # a writes while b has yet to; b writes while c has yet to be skipped.
        assert seen == [True, True]
        assert not router.fanning_out


async def test_a_rehearsal_plans_the_first_followers_and_changes_nothing(tmp_path):
    from copier.journal import Journal

    journal = Journal(tmp_path / "journal")
    routes = [Route("tv", name) for name in ("a", "b", "c")] + [Route("tv", "d", Sizing(SizingMode.FIXED))]
    accounts = {name: {} for name in ("a", "b", "c", "d")}
    try:
        async with router_with(tmp_path, routes, accounts, journal=journal) as (router, conns, mirror):
            signal = buy(origin_id="alert-1")
            # Two of the first three followers plan an order; an unsized route is a skip, not an error.
            assert router.rehearse(signal, followers=2) == 2
            # In steps: the intake, then one follower at a time (an unsized route plans nothing).
            assert list(router.rehearsal(signal, followers=4)) == [0, 1, 1, 1, 0]
            assert router.rehearse(signal, followers=10) == 3
            assert router.rehearse(Signal("tv", Action.CLOSE, symbol="EURUSD"), followers=10) == 0
            await mirror.flush()
            journal_dir = tmp_path / "journal"
            written = sum(f.stat().st_size for f in journal_dir.iterdir() if f.suffix == ".jsonl")
            assert written == 0 and not mirror.path.read_bytes()
            assert router.outcomes.get(signal.id) is None and not router.fanning_out
            assert [await c.positions() for c in conns.values()] == [[] for _ in conns]
            # The same signal afterwards is not a duplicate, and trades.
            result = router.submit(signal)
            assert result.accepted and result.followers == 4
            await router.drain()
            assert [len(await c.positions()) for c in conns.values()] == [1, 1, 1, 0]
    finally:
        journal.close()


class ClosesRefused(PaperConnector):
    """A paper venue that refuses every close (a venue-side reduce-only refusal, say)."""

    async def submit(self, intent: OrderIntent) -> ExecutionReport:
        if intent.kind is IntentKind.CLOSE:
            from core.errors import VenueRejected

            raise VenueRejected("reduce-only order refused", code="test")
        return await super().submit(intent)


async def test_a_reverse_does_not_open_the_new_side_when_the_close_failed(tmp_path):
    async with router_with(tmp_path, [Route("tv", "a")], {"a": {}}, connector=ClosesRefused) as (router, conns, _):
        router.submit(buy(volume="0.1"))
        await router.drain()
        result = router.submit(Signal(source="tv", action=Action.REVERSE, symbol="EURUSD", side=Side.SELL))
        await router.drain()
        (position,) = await conns["a"].positions()  # before: the sell opened beside the long still held
        assert position.side is Side.BUY
        record = router.outcomes.get(result.signal_id)
        assert record is not None
        outcome = record.follower("a")
        assert outcome.status == "rejected" and "reduce-only order refused" in (outcome.reason or "")
        assert "the sell side is not opened" in (outcome.reason or "")


def target(volume: str) -> Signal:
    return Signal(source="tv", action=Action.TARGET, symbol="EURUSD", volume=D(volume), volume_kind=VolumeKind.TARGET)


async def test_a_target_closes_the_other_side_before_it_sizes_the_position(tmp_path):
    async with router_with(tmp_path, [Route("tv", "a")], {"a": {}}) as (router, conns, _):
        router.submit(buy(volume="0.2"))
        router.submit(Signal(source="tv", action=Action.OPEN, symbol="EURUSD", side=Side.SELL, volume=D("0.1")))
        await router.drain()
        assert sorted((p.side, p.volume) for p in await conns["a"].positions()) == [
            (Side.BUY, D("0.20")),
            (Side.SELL, D("0.10")),
        ]
        router.submit(target("0.05"))  # net +0.1 linked now; the target is +0.05
        await router.drain()
        # Before: the newest leg (the short) was reduced by 0.05, which took the net to +0.15.
        (position,) = await conns["a"].positions()
        assert position.side is Side.BUY and position.volume == D("0.05")
        (leg,) = router.links.of_account("a")
        assert leg.volume == D("0.05") and leg.source_side is Side.BUY


async def test_a_repeated_target_above_the_routes_maximum_does_not_grow_the_position(tmp_path):
    routes = [Route("tv", "a", sizing=Sizing(max_volume=D("0.3")))]
    async with router_with(tmp_path, routes, {"a": {}}) as (router, conns, _):
        router.submit(target("0.5"))
        await router.drain()
        second = router.submit(target("0.5"))
        await router.drain()
        assert await volumes(conns["a"]) == [D("0.30")]  # before: 0.30 + 0.30, one clamped order per signal
        record = router.outcomes.get(second.signal_id)
        assert record is not None
        outcome = record.follower("a")
        assert outcome.status == "skipped" and "capped at the route's maximum 0.3" in (outcome.reason or "")
