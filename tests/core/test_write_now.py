"""An open is written inside ``Router.submit`` for every idle follower (real OKX simulators)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from decimal import Decimal
from pathlib import Path

from connectors.paper import PaperConfig, PaperConnector
from core.enums import Action, OrderType, Side
from core.mirror import MirrorLog
from core.orders import AccountState, ExecutionReport, OrderIntent
from core.router import RetryPolicy, Route, Router
from core.signal import Signal
from tests.connectors.test_okx import venue
from tests.venues.okx_sim import OkxSim

ACCOUNTS = ("f1", "f2", "f3")


@asynccontextmanager
async def okx_router(tmp: Path) -> AsyncIterator[tuple[Router, dict[str, OkxSim]]]:
    mirror = MirrorLog(tmp / "mirror.jsonl", flush_interval=0.001)
    mirror.start()
    async with AsyncExitStack() as stack:
        sims, connectors = {}, {}
        for name in ACCOUNTS:
            sims[name], connectors[name] = await stack.enter_async_context(venue(name=name))
        router = Router(routes=[Route("tv", name) for name in ACCOUNTS], connectors=connectors, mirror=mirror)
        try:
            yield router, sims
        finally:
            await router.drain()
            await router.stop()
            await mirror.close()


def open_signal(origin: str, **kw: object) -> Signal:
    return Signal("tv", Action.OPEN, "BTCUSDT", Side.BUY, volume=Decimal("0.01"), origin_id=origin, **kw)  # type: ignore[arg-type]


def sent_orders(router: Router, signal_id: str) -> dict[str, dict[str, object]]:
    record = router.outcomes.get(signal_id)
    assert record is not None
    return {account: outcome.orders[0] for account, outcome in record.followers.items() if outcome.orders}


async def test_every_idle_follower_is_on_the_wire_when_submit_returns(tmp_path: Path) -> None:
    async with okx_router(tmp_path) as (router, sims):
        signal = open_signal("first")  # the router's first signal: its lanes are new, and idle
        result = router.submit(signal)
        returned = time.monotonic_ns()
        assert result.followers == 3
        assert not router.fanning_out  # no follower is left to write
        await router.drain()
        orders = sent_orders(router, result.signal_id)
        assert {account: order["status"] for account, order in orders.items()} == dict.fromkeys(ACCOUNTS, "filled")
        t0 = signal.received_ns
        for account, order in orders.items():
            t_wire = t0 + at_ns(order, "latency_us")
            assert t_wire <= returned  # handed to the socket inside submit
            [arrival] = sims[account].arrivals
            assert arrival["client_order_id"] == order["client_order_id"]
            assert t_wire - 1000 <= arrival["arrived_ns"]


async def test_a_busy_lane_queues_the_next_order_behind_the_one_in_flight(tmp_path: Path) -> None:
    async with okx_router(tmp_path) as (router, sims):
        a, b = open_signal("a"), open_signal("b")
        first = router.submit(a)
        assert not router.fanning_out
        second = router.submit(b)  # every lane still awaits the first order's answer
        assert router.fanning_out  # so the second signal waits in the lanes, unwritten
        await router.drain()
        one, two = sent_orders(router, first.signal_id), sent_orders(router, second.signal_id)
        for account in ACCOUNTS:
            assert (one[account]["status"], two[account]["status"]) == ("filled", "filled")
            arrived = [arrival["client_order_id"] for arrival in sims[account].arrivals]
            assert arrived == [one[account]["client_order_id"], two[account]["client_order_id"]]
            # The second order left only after the first one's answer came back.
            first_answered = a.received_ns + at_ns(one[account], "ack_us")
            assert b.received_ns + at_ns(two[account], "latency_us") >= first_answered


def at_ns(order: dict[str, object], key: str) -> int:
    """An order's stamp (``latency_us`` or ``ack_us``, microseconds after its signal's t0) in ns."""
    value = order[key]
    assert isinstance(value, int)
    return value * 1000


async def test_an_order_the_connector_cannot_write_at_once_goes_through_its_lane(tmp_path: Path) -> None:
    async with okx_router(tmp_path) as (router, sims):
        stop_entry = open_signal("stop", order_type=OrderType.STOP, price=Decimal("70000"))
        result = router.submit(stop_entry)  # an OKX stop entry is an algo order: submit, not submit_now
        assert router.fanning_out
        await router.drain()
        orders = sent_orders(router, result.signal_id)
        assert {account: order["status"] for account, order in orders.items()} == dict.fromkeys(ACCOUNTS, "accepted")
        assert all(sim.arrivals == [] for sim in sims.values())  # stop entries are not orders on the book yet


async def test_a_follower_whose_plan_is_a_skip_gets_its_reason_and_the_others_trade(tmp_path: Path) -> None:
    async with okx_router(tmp_path) as (router, sims):
        router.set_kill_switch(True, account="f2")
        result = router.submit(open_signal("kill"))
        await router.drain()
        record = router.outcomes.get(result.signal_id)
        assert record is not None
        skipped = record.followers["f2"]
        assert (skipped.status, skipped.reason) == ("skipped", "kill switch is on for account f2: no new positions")
        assert [len(sims[name].arrivals) for name in ACCOUNTS] == [1, 0, 1]


class BrokenPlanning(PaperConnector):
    """A paper account whose state cannot be read (a defect, not a venue's answer)."""

    def account(self) -> AccountState:
        raise RuntimeError("account state unreadable")


class WritesThenBreaks(PaperConnector):
    """A paper account whose fast write reaches the venue and then fails unexpectedly."""

    def submit_now(self, intent: OrderIntent) -> Awaitable[ExecutionReport]:
        self.sim.execute(intent)
        raise RuntimeError("socket wrapper broke after the write")


@asynccontextmanager
async def paper_router(tmp: Path, **classes: type[PaperConnector]) -> AsyncIterator[Router]:
    mirror = MirrorLog(tmp / "mirror.jsonl", flush_interval=0.001)
    mirror.start()
    connectors = {}
    for name, cls in classes.items():
        connectors[name] = cls(PaperConfig.from_mapping(name, {}, prefix=""))
        await connectors[name].start()
    router = Router(
        routes=[Route("tv", name) for name in classes],
        connectors=connectors,
        mirror=mirror,
        retry=RetryPolicy(backoff=0.001),
    )
    try:
        yield router
    finally:
        await router.drain()
        await router.stop()
        await mirror.close()


def eurusd(origin: str) -> Signal:
    return Signal("tv", Action.OPEN, "EURUSD", Side.BUY, volume=Decimal("0.1"), origin_id=origin)


async def test_a_follower_whose_planning_breaks_fails_alone(tmp_path: Path) -> None:
    async with paper_router(tmp_path, a=PaperConnector, b=BrokenPlanning, c=PaperConnector) as router:
        result = router.submit(eurusd("broken"))
        await router.drain()
        assert not router.fanning_out
        record = router.outcomes.get(result.signal_id)
        assert record is not None
        assert {name: f.status for name, f in record.followers.items()} == {"a": "filled", "b": "failed", "c": "filled"}
        assert "account state unreadable" in (record.followers["b"].reason or "")


async def test_an_unexpected_error_after_the_write_is_reconciled_not_resent(tmp_path: Path) -> None:
    async with paper_router(tmp_path, a=WritesThenBreaks) as router:
        result = router.submit(eurusd("broke-after"))
        await router.drain()
        conn = router.connectors["a"]
        assert len(await conn.positions()) == 1  # the venue has the order once: found by its id, not sent again
        record = router.outcomes.get(result.signal_id)
        assert record is not None and record.followers["a"].status == "filled"
