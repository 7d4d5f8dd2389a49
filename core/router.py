"""The router: dedupe, fan-out to follower lanes, and the per-follower order flow.

``submit`` is synchronous and cheap: it dedupes the signal, records it, and puts one job per
subscribed route into that account's lane. Each account has one lane (a queue and a task), so an
account's orders keep their order while accounts proceed concurrently. The lane plans the order
(map, guard, size, round, client id) at the moment it runs, against the links that earlier jobs
of the same lane have left, then sends it and updates the links.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from core.connector import Connector
from core.enums import Action, OrderType, Side, VolumeKind
from core.errors import (
    ConfigError,
    CopierError,
    OutcomeUnknown,
    RateLimited,
    Skip,
    TransientError,
    VenueRejected,
)
from core.guards import Guards
from core.instrument import ONE, ZERO, Instrument, round_down_to_step
from core.journal import JournalWriter
from core.links import Leg, PositionLinks, source_key
from core.mirror import MirrorLog
from core.orders import (
    ExecutionReport,
    IntentKind,
    OrderIntent,
    ReportStatus,
    SignalIds,
    acting_order_id,
    client_order_id,
)
from core.outbox import OUTBOX
from core.outcomes import FollowerOutcome, OutcomeBook, SignalRecord
from core.signal import Level, Signal
from core.sizing import SizeRequest, Sizing, SizingMode, position_cap, raw_volume, size_open
from core.symbols import AccountSymbols, SymbolTable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Route:
    """A subscription of one follower account to one source."""

    source: str
    account: str
    sizing: Sizing = field(default_factory=Sizing)
    guards: Guards = field(default_factory=Guards)
    symbols: Mapping[str, str] = field(default_factory=dict)
    name: str = field(init=False, repr=False, compare=False)
    """``source>account``: the route's part of its orders' client ids and of the journal."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", f"{self.source}>{self.account}")


@dataclass(frozen=True, slots=True)
class SubmitResult:
    signal_id: str
    accepted: bool
    duplicate_of: str | None = None
    followers: int = 0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` bounds retries of transient errors; a rate limit is waited out (the venue's or the
    local limiter's hint) for up to ``rate_limit_budget`` seconds, so a burst queues in the lane."""

    attempts: int = 4
    backoff: float = 0.05
    reconcile_attempts: int = 5
    rate_limit_budget: float = 30.0


@dataclass(slots=True)
class _Fanout:
    """How many followers of one signal have not yet handed their first order to the venue."""

    unsent: int


@dataclass(frozen=True, slots=True)
class Finished:
    """An order of a recovered follower that had its outcome before the restart."""

    intent: OrderIntent
    status: str

    @property
    def took_effect(self) -> bool:
        """Whether the venue carried the order out: its status is one of the venue's answers, not
        one of the router's own endings (rejected, failed, skipped, unknown)."""
        return self.status in _VENUE_ANSWERS


@dataclass(slots=True)
class _Job:
    signal: Signal
    route: Route
    record: SignalRecord
    symbols: AccountSymbols
    recovering: bool = False
    final: Mapping[str, Finished] | None = None  # in recovery: the orders that already have an outcome
    fanout: _Fanout | None = None
    plan: _OpenPlan | None = None  # an open planned (and maybe written) by ``submit``
    sent: Awaitable[ExecutionReport] | None = None  # the plan's first order, already on the wire
    planned_ns: int = 0


_OpenPlan = tuple[str, str, Decimal | None, list[OrderIntent]]
"""(canonical symbol, source position key, entry price, intents): what :meth:`Router._plan_open` returns."""


@dataclass(frozen=True, slots=True)
class _OpenFacts:
    """What an open of one signal on one side shares across its followers, worked out once."""

    signal: Signal
    side: Side
    canonical: str
    key: str
    comment: str
    ids: SignalIds

    @classmethod
    def of(cls, signal: Signal, side: Side, canonical: str) -> _OpenFacts:
        """The facts of ``signal``, whose symbol is ``canonical``."""
        return cls(
            signal,
            side,
            canonical,
            source_key(signal.position_ref, canonical, side),
            f"copier {signal.id[-12:]}",
            SignalIds(signal.source, signal.dedupe_key),
        )


_VENUE_ANSWERS = frozenset(status.value for status in ReportStatus)

_CANCEL_SEEN_WITHIN = (0.05, 0.1, 0.2)
"""Pauses (s) between asking again about an order the venue still lists as resting after it took its
cancel."""

_REHEARSAL = SignalRecord(Signal("rehearsal", Action.OPEN), "rehearsal")


class _Lane:
    """One account's queue and worker.

    A deque and a wake-up future rather than an ``asyncio.Queue``: the lane is woken once per
    signal at most, and the fan-out pays for every lane it wakes.
    """

    def __init__(self, router: Router, account: str, connector: Connector) -> None:
        self.account = account
        self.connector = connector
        self._jobs: deque[_Job] = deque()
        self._running = False
        self._wake: asyncio.Future[None] | None = None
        self._drained = asyncio.Event()
        self._drained.set()
        self.task = asyncio.get_running_loop().create_task(self._run(router), name=f"lane:{account}")

    @property
    def idle(self) -> bool:
        """Whether the lane has no job queued or running: an order written now cannot overtake
        another of this account's."""
        return not self._jobs and not self._running

    def put(self, job: _Job) -> None:
        """Queue a job; never blocks."""
        self._jobs.append(job)
        self._drained.clear()
        wake, self._wake = self._wake, None
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def join(self) -> None:
        """Wait until every queued job has finished."""
        await self._drained.wait()

    async def _run(self, router: Router) -> None:
        loop = asyncio.get_running_loop()
        jobs = self._jobs
        while True:
            if not jobs:
                self._drained.set()
                self._wake = loop.create_future()
                await self._wake
                continue
            job = jobs.popleft()
            self._running = True
            try:
                await router._execute(job, self.connector)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("lane %s failed on signal %s", self.account, job.signal.id)
                outcome = job.record.follower(self.account)
                outcome.status, outcome.reason = "failed", f"internal error: {exc}"
                router.mirror.emit(
                    "order_failed", signal_id=job.signal.id, account=self.account, status="failed", reason=str(exc)
                )
            finally:
                self._running = False


class Router:
    """Turns accepted signals into follower orders."""

    def __init__(
        self,
        *,
        routes: Iterable[Route],
        connectors: Mapping[str, Connector],
        mirror: MirrorLog,
        account_symbols: Mapping[str, AccountSymbols] | None = None,
        symbols: SymbolTable | None = None,
        dedupe_window: float = 600.0,
        outcomes: OutcomeBook | None = None,
        links: PositionLinks | None = None,
        retry: RetryPolicy | None = None,
        journal: JournalWriter | None = None,
    ) -> None:
        self.connectors = dict(connectors)
        self.mirror = mirror
        self.symbols = symbols or SymbolTable()
        self.outcomes = outcomes or OutcomeBook()
        self.links = links or PositionLinks()
        self.retry = retry or RetryPolicy()
        self.journal = journal
        self.dedupe_window = dedupe_window
        self.kill_all = False
        self.killed_accounts: set[str] = set()
        self._seen: OrderedDict[tuple[str, str], tuple[float, str]] = OrderedDict()
        self._account_symbols = dict(account_symbols or {})
        self._routes: dict[str, list[tuple[Route, AccountSymbols]]] = {}
        for route in routes:
            if route.account not in self.connectors:
                raise ValueError(f"route {route.name} names unknown account {route.account}")
            base = self._account_symbols.get(route.account, AccountSymbols())
            self._routes.setdefault(route.source, []).append((route, base.merged(route.symbols)))
        self._lanes: dict[str, _Lane] = {}
        self._unsent = 0
        self._facts: _OpenFacts | None = None

    # -- intake -----------------------------------------------------------------------------

    def submit(self, signal: Signal) -> SubmitResult:
        """Accept a signal and queue it to every subscribed follower. Never blocks."""
        signal = self._canonical(signal)
        now = time.monotonic()
        seen = self._seen
        while seen:
            oldest_key, (stamp, _) = next(iter(seen.items()))
            if now - stamp <= self.dedupe_window:
                break
            del seen[oldest_key]
        key = (signal.source, signal.dedupe_key)
        previous = seen.get(key)
        if previous is not None:
            self.mirror.emit(
                "signal_duplicate",
                signal_id=previous[1],
                source=signal.source,
                status="duplicate",
                reason=f"same signal id {signal.dedupe_key!r} already accepted",
            )
            return SubmitResult(previous[1], accepted=False, duplicate_of=previous[1])
        subscribed = self._routes.get(signal.source, ())
        if self.journal is not None:
            self.journal.signal(signal, [route.account for route, _ in subscribed])
        seen[key] = (now, signal.id)
        record = self.outcomes.add(SignalRecord(signal, "accepted"))
        self.mirror.emit(
            "signal_accepted",
            mono_ns=signal.received_ns,
            signal_id=signal.id,
            source=signal.source,
            symbol=signal.symbol,
            side=signal.side,
            volume=signal.volume,
            price=signal.price,
            status="accepted",
            detail={"action": signal.action.value, "followers": len(subscribed), "origin_id": signal.origin_id},
        )
        if not subscribed:
            record.reason = f"no follower is routed from source {signal.source!r}"
        fanout = _Fanout(len(subscribed))
        self._unsent += len(subscribed)
        queued = [
            (self._lane(route.account), _Job(signal, route, record, symbols, fanout=fanout))
            for route, symbols in subscribed
        ]
        try:
            if signal.action is Action.OPEN:
                self._write_now(queued)
        finally:  # every follower's job is queued, whatever happened to the others' writes
            for lane, job in queued:
                record.follower(job.route.account)
                lane.put(job)
        return SubmitResult(signal.id, accepted=True, followers=len(subscribed))

    def _write_now(self, queued: list[tuple[_Lane, _Job]]) -> None:
        """Plan an open for every follower whose lane is idle and put its first order on the wire
        before any lane runs: one pass over the followers, with no task switch and no coroutine
        between a plan and its write. The lanes then await the answers and do the bookkeeping.

        A follower whose lane is busy, whose plan is a skip, or whose connector cannot write the
        order at once is left to its lane, which plans it (again) as it would any other job.
        Frames are written in growing groups (:mod:`core.outbox`).
        """
        with OUTBOX.hold() as outbox:
            for lane, job in queued:
                if not lane.idle:
                    continue
                conn = lane.connector
                planned_ns = time.monotonic_ns()
                try:
                    plan = self._plan_open(job, conn, job.signal.side, 0)
                except Skip:
                    continue
                except Exception:  # the lane plans it again, and records the failure with its reason
                    log.exception("planning signal %s for %s failed", job.signal.id, lane.account)
                    continue
                job.plan, job.planned_ns = plan, planned_ns
                try:
                    sent = conn.submit_now(plan[3][0])
                except CopierError:
                    continue  # the lane's first attempt meets it again, under the outcome policy
                except Exception as exc:  # it may have been written: the lane asks the venue first
                    log.exception("writing signal %s for %s failed", job.signal.id, lane.account)
                    sent = _unknown(f"the order's write failed: {exc!r}")
                if sent is not None:
                    job.sent = sent
                    self._leave_fanout(job)
                    outbox.step()

    def _canonical(self, signal: Signal) -> Signal:
        """``signal`` with its symbol under the canonical name."""
        if signal.symbol is not None:
            canonical = self.symbols.canonical(signal.symbol)
            if canonical != signal.symbol:
                return replace(signal, symbol=canonical)
        return signal

    def rehearse(self, signal: Signal, followers: int) -> int:
        """Plan and encode ``signal`` for its first ``followers`` routes as ``submit`` and the lanes
        would, without recording, logging or sending anything; returns the orders planned.

        Run between signals, it keeps the hot path's code and data in the CPU caches, which the
        other tenants of a shared machine evict within milliseconds (see docs/design.md).
        """
        return sum(self.rehearsal(signal, followers))

    def rehearsal(self, signal: Signal, followers: int) -> Iterator[int]:
        """:meth:`rehearse` in steps of a few tens of microseconds: the signal's intake, then one
        follower at a time; yields the orders each step planned, so the caller can let the event
        loop (and a real signal) in between steps."""
        # The last alert grows old while it is rehearsed; its age must not cut the rehearsal short.
        signal = replace(self._canonical(signal), sent_at=None)
        subscribed = self._routes.get(signal.source, ())
        self._seen.get((signal.source, signal.dedupe_key))
        if self.journal is not None:
            self.journal.encode_signal(signal, [route.account for route, _ in subscribed])
        self.mirror.rehearse("signal_accepted", signal_id=signal.id, source=signal.source, symbol=signal.symbol)
        yield 0
        if signal.action is not Action.OPEN:
            return
        for route, symbols in subscribed[:followers]:
            conn = self.connectors[route.account]
            try:
                _, _, _, intents = self._plan_open(_Job(signal, route, _REHEARSAL, symbols), conn, signal.side, 0)
            except Skip:
                yield 0
                continue
            for intent in intents:
                conn.rehearse(intent)
            yield len(intents)

    def _lane(self, account: str) -> _Lane:
        lane = self._lanes.get(account)
        if lane is None:
            lane = self._lanes[account] = _Lane(self, account, self.connectors[account])
        return lane

    async def drain(self) -> None:
        """Wait until every queued follower job has finished."""
        for lane in list(self._lanes.values()):
            await lane.join()

    async def stop(self) -> None:
        lanes = list(self._lanes.values())
        for lane in lanes:
            lane.task.cancel()
        await asyncio.gather(*(lane.task for lane in lanes), return_exceptions=True)
        self._lanes.clear()
        self._unsent = 0

    @property
    def fanning_out(self) -> bool:
        """Whether a follower of an accepted signal has yet to hand its first order to the venue
        (or to be skipped): the time in which nothing but order writes should run."""
        return self._unsent > 0

    def set_kill_switch(self, on: bool, account: str | None = None) -> None:
        """Stop (or allow again) new opens globally or for one account. Closes still go through."""
        if account is None:
            self.kill_all = on
        elif on:
            self.killed_accounts.add(account)
        else:
            self.killed_accounts.discard(account)
        self.mirror.emit("kill_switch", account=account, status="on" if on else "off")

    # -- per follower -----------------------------------------------------------------------

    async def _execute(self, job: _Job, conn: Connector) -> None:
        signal, route = job.signal, job.route
        outcome = job.record.follower(route.account)
        try:
            action = signal.action
            if action is Action.OPEN:
                plan, job.plan = job.plan, None
                await self._open(job, conn, outcome, signal.side, 0, plan)
            elif action in (Action.CLOSE, Action.CLOSE_PART, Action.CLOSE_ALL):
                await self._close(job, conn, outcome)
            elif action is Action.MODIFY:
                await self._modify(job, conn, outcome)
            elif action is Action.CANCEL:
                await self._cancel(job, conn, outcome)
            elif action is Action.REVERSE:
                await self._reverse(job, conn, outcome)
            else:
                await self._target(job, conn, outcome)
        except Skip as skip:
            self._skip(job, conn, outcome, skip.reason)
        finally:
            self._leave_fanout(job)
        if self.journal is not None:
            self.journal.done(signal.id, route.account, outcome.status, outcome.reason)

    def _leave_fanout(self, job: _Job) -> _Fanout | None:
        """Count ``job``'s follower as written (or skipped) in its signal's fan-out, once."""
        fanout, job.fanout = job.fanout, None
        if fanout is not None:
            fanout.unsent -= 1
            self._unsent -= 1
        return fanout

    def recover(self, signal: Signal, account: str, final: Mapping[str, Finished], reason: str = "") -> bool:
        """Queue an unfinished (signal, follower) found in the journal after a restart.

        Orders in ``final`` (by client order id) already have their outcome and are not touched;
        every other order is first looked up at the venue by its client order id and sent only
        when the venue does not have it. Returns False when no route joins the signal's source to
        the account any more.
        """
        record = self.outcomes.get(signal.id) or self.outcomes.add(SignalRecord(signal, "accepted"))
        self._seen.setdefault((signal.source, signal.dedupe_key), (time.monotonic(), signal.id))
        for route, symbols in self._routes.get(signal.source, ()):
            if route.account == account:
                record.follower(account)
                job = _Job(signal, route, record, symbols, recovering=True, final=final)
                self._lane(account).put(job)
                self.mirror.emit(
                    "order_recovering", signal_id=signal.id, source=signal.source, account=account, reason=reason
                )
                return True
        return False

    def remember(self, signal: Signal) -> None:
        """Seed dedupe and the outcome book with a signal that finished before a restart."""
        self._seen.setdefault((signal.source, signal.dedupe_key), (time.monotonic(), signal.id))
        if self.outcomes.get(signal.id) is None:
            self.outcomes.add(SignalRecord(signal, "accepted"))

    def _link_changed(self, leg: Leg, *, closed: bool = False) -> None:
        if self.journal is not None:
            self.journal.link(leg, closed=closed)

    def _skip(self, job: _Job, conn: Connector, outcome: FollowerOutcome, reason: str) -> None:
        outcome.status, outcome.reason = "skipped", reason
        self.mirror.emit(
            "order_skipped",
            signal_id=job.signal.id,
            source=job.signal.source,
            account=job.route.account,
            venue=conn.venue,
            symbol=job.signal.symbol,
            side=job.signal.side,
            status="skipped",
            reason=reason,
        )

    def _resolve(self, job: _Job, conn: Connector) -> tuple[str, str, Instrument]:
        canonical = job.signal.symbol
        if not canonical:
            raise Skip("the signal names no symbol")
        venue_symbol = job.symbols.resolve(canonical, conn)
        inst = conn.instrument(venue_symbol) if venue_symbol else None
        if inst is None or venue_symbol is None:
            shown = f" as {venue_symbol!r}" if venue_symbol and venue_symbol != canonical else ""
            raise Skip(f"{canonical}{shown} is not traded on account {job.route.account} (no such instrument)")
        return canonical, venue_symbol, inst

    def _open_facts(self, signal: Signal, side: Side, canonical: str) -> _OpenFacts:
        facts = self._facts
        if facts is None or facts.signal is not signal or facts.side is not side:
            facts = self._facts = _OpenFacts.of(signal, side, canonical)
        return facts

    def _plan_open(self, job: _Job, conn: Connector, side: Side | None, leg0: int) -> _OpenPlan:
        """The orders that open ``job``'s position on ``conn``: (canonical symbol, source position
        key, entry price, intents), or :class:`Skip` with the reason. Reads state, records nothing."""
        signal, route = job.signal, job.route
        if side is None:
            raise Skip("an open needs a side (buy or sell)")
        if self.kill_all:
            raise Skip("kill switch is on for all accounts: no new positions")
        if self.killed_accounts and route.account in self.killed_accounts:
            raise Skip(f"kill switch is on for account {route.account}: no new positions")
        canonical, venue_symbol, inst = self._resolve(job, conn)
        facts = self._open_facts(signal, side, canonical)
        if signal.order_type is not OrderType.MARKET and signal.price is None:
            raise Skip(f"a {signal.order_type.value} order needs a price")
        guards = route.guards
        follower_side = facts.side.opposite if guards.reverse else facts.side
        market = conn.last_price(venue_symbol)
        entry = signal.price if signal.price is not None else market
        account = conn.account()
        guards.check_open(
            canonical=canonical,
            side=follower_side,
            open_positions=account.open_positions,
            sent_at=signal.sent_at,
            signal_price=signal.price,
            market_price=market,
        )
        sl_level, tp_level = (signal.tp, signal.sl) if guards.reverse else (signal.sl, signal.tp)
        sl = sl_level.resolve(entry, follower_side, is_stop=True, instrument=inst) if sl_level else None
        tp = tp_level.resolve(entry, follower_side, is_stop=False, instrument=inst) if tp_level else None
        volumes = size_open(SizeRequest(signal.volume, signal.volume_kind, entry, sl), route.sizing, account, inst)
        order_type = signal.order_type
        price = (
            inst.price(signal.price).value if signal.price is not None and order_type is not OrderType.MARKET else None
        )
        ids, name = facts.ids, route.name
        intents = [
            OrderIntent(
                kind=IntentKind.OPEN,
                client_order_id=ids(name, leg0 + index),
                symbol=venue_symbol,
                side=follower_side,
                volume=volume,
                order_type=order_type,
                price=price,
                sl=sl,
                tp=tp,
                comment=facts.comment,
                signal_price=signal.price,
            )
            for index, volume in enumerate(volumes)
        ]
        return canonical, facts.key, entry, intents

    async def _open(
        self,
        job: _Job,
        conn: Connector,
        outcome: FollowerOutcome,
        side: Side | None,
        leg0: int,
        plan: _OpenPlan | None = None,
    ) -> None:
        signal, route = job.signal, job.route
        canonical, key, entry, intents = plan if plan is not None else self._plan_open(job, conn, side, leg0)
        assert side is not None
        for index, intent in enumerate(intents):
            venue_symbol, follower_side, volume = intent.symbol, intent.side, intent.volume
            link = {
                "op": "open",
                "source": signal.source,
                "key": key,
                "canonical": canonical,
                "source_side": side.value,
            }
            report = await self._send(job, conn, outcome, intent, leg=leg0 + index, link=link)
            if report is None:
                continue
            leg = Leg(
                account=route.account,
                source=signal.source,
                source_key=key,
                symbol=venue_symbol,
                canonical=canonical,
                side=follower_side,
                source_side=side,
                volume=report.filled_volume if report.status is ReportStatus.FILLED else volume,
                position_id=report.position_id,
                order_id=report.venue_order_id,
                client_order_id=intent.client_order_id,
                open_price=report.fill_price or entry,
                pending=report.status is ReportStatus.ACCEPTED,
            )
            self.links.add(leg)
            self._link_changed(leg)
            self.mirror.emit(
                "position_linked",
                signal_id=signal.id,
                source=signal.source,
                account=route.account,
                symbol=venue_symbol,
                side=follower_side,
                volume=leg.volume,
                client_order_id=intent.client_order_id,
                detail={"source_position": key, "position_id": leg.position_id, "pending": leg.pending},
            )

    def _legs(self, job: _Job, *, pending: bool | None) -> list[Leg]:
        signal, route = job.signal, job.route
        if signal.position_ref:
            return self.links.find(route.account, signal.source, key=signal.position_ref, pending=pending)
        if signal.symbol is None and signal.action is Action.CLOSE_ALL:
            return self.links.find(route.account, signal.source, pending=pending)
        if signal.symbol is None:
            raise Skip("the signal names neither a symbol nor a position")
        return self.links.find(route.account, signal.source, canonical=signal.symbol, side=signal.side, pending=pending)

    async def _settled(self, job: _Job, conn: Connector, legs: list[Leg]) -> list[Leg]:
        """``legs`` with each pending one brought up to date from the venue first.

        A pending leg is a resting order (a limit or stop entry) or an open whose fill was not
        confirmed in time, and the venue may have filled it since: one that filled becomes the
        position it opened, so a close closes it rather than cancelling an order that no longer
        rests; one the venue ended unfilled is unlinked. One still resting, partly filled or not,
        or that the venue could not be asked about, stays pending.
        """
        current: list[Leg] = []
        for leg in legs:
            if leg.pending and not await self._settle(job, conn, leg):
                continue
            current.append(leg)
        return current

    async def _settle(self, job: _Job, conn: Connector, leg: Leg, *, cancelled: bool = False) -> bool:
        """Ask the venue about pending ``leg`` and apply the answer; False when it was unlinked.

        ``cancelled``: Copier has just cancelled the leg's order, so what it filled before is all
        it will fill, and an order the venue no longer knows ended unfilled.
        """
        try:
            report = await conn.order_by_client_id(leg.client_order_id, leg.symbol)
            for delay in _CANCEL_SEEN_WITHIN if cancelled else ():
                if report is None or report.status is not ReportStatus.ACCEPTED:
                    break
                # Some venues answer a cancel when they take it, and list the order as resting a
                # moment longer.
                await asyncio.sleep(delay)
                report = await conn.order_by_client_id(leg.client_order_id, leg.symbol)
        except CopierError as exc:
            log.warning("could not ask %s about pending order %s: %s", leg.account, leg.client_order_id, exc)
            return True
        # After a cancel the venue took, what the order shows as filled is what it filled, even
        # where the venue still lists it as resting.
        ended = cancelled or (report is not None and report.status in (ReportStatus.FILLED, ReportStatus.CANCELED))
        if not ended:
            return True  # still resting (partly filled or not), or unknown to the venue
        filled = report.filled_volume if report is not None else ZERO
        if filled <= 0 and report is not None and report.status is ReportStatus.FILLED:
            return True  # filled by the venue's word, but by how much it does not say
        about: dict[str, Any] = {
            "signal_id": job.signal.id,
            "source": leg.source,
            "account": leg.account,
            "symbol": leg.symbol,
            "side": leg.side,
            "client_order_id": leg.client_order_id,
        }
        position_id = (report.position_id if report is not None else None) or leg.position_id
        detail: dict[str, Any] = {"source_position": leg.source_key, "position_id": position_id}
        if filled <= 0:
            self.links.remove(leg)
            if self.journal is not None:
                self.journal.settled(leg, "canceled")
            reason = (
                "the pending order was cancelled before any of it filled"
                if cancelled
                else "the pending order ended unfilled at the venue"
            )
            self.mirror.emit("position_unlinked", reason=reason, detail=detail, **about)
            return False
        assert report is not None
        if filled < leg.volume:
            reason = f"{format(filled, 'f')} of the pending order's {format(leg.volume, 'f')} filled before it ended"
            reason += "; that part is the linked position"
        else:
            reason = "the pending order has filled at the venue"
        leg.pending, leg.volume = False, filled
        leg.position_id = position_id
        leg.open_price = report.fill_price or leg.open_price
        if self.journal is not None:
            self.journal.settled(leg, "filled")
        detail["pending"] = False
        self.mirror.emit(
            "position_linked", volume=leg.volume, price=leg.open_price, reason=reason, detail=detail, **about
        )
        return True

    def _acting_id(self, job: _Job, kind: str, leg: Leg) -> str:
        """The client order id of ``job``'s ``kind`` order on ``leg`` (see :func:`acting_order_id`)."""
        signal = job.signal
        return acting_order_id(signal.source, signal.dedupe_key, job.route.name, kind, leg.client_order_id)

    def _done_before(self, job: _Job, cid: str) -> Finished | None:
        """Order ``cid`` if it already had its outcome before a restart (its effect is in the links)."""
        return job.final.get(cid) if job.final is not None else None

    def _close_fraction(self, job: _Job) -> Decimal | None:
        """The fraction of each linked position to close, or None when the signal gives lots."""
        signal = job.signal
        if signal.action is not Action.CLOSE_PART:
            return ONE
        if signal.volume is None:
            raise Skip("a partial close needs a percentage or a volume")
        if signal.volume_kind is VolumeKind.FRACTION:
            if not ZERO < signal.volume <= ONE:
                raise Skip(f"partial close fraction {signal.volume} is outside 0..1")
            return signal.volume
        return None

    def _lots_to_close(self, job: _Job, conn: Connector, first: Leg) -> Decimal:
        """The lots a partial close by volume takes off the linked positions, less what its closes
        that already had an outcome before a restart took (their positions may be gone)."""
        inst = conn.instrument(first.symbol)
        if inst is None:
            raise Skip(f"{first.symbol} is no longer traded on {job.route.account}")
        signal = job.signal
        request = SizeRequest(signal.volume, signal.volume_kind, None, None)
        lots = raw_volume(request, job.route.sizing, conn.account(), inst)
        if job.final:
            lots -= sum((f.intent.volume for f in job.final.values() if f.intent.kind is IntentKind.CLOSE), ZERO)
        return lots

    async def _close(self, job: _Job, conn: Connector, outcome: FollowerOutcome) -> None:
        signal, route = job.signal, job.route
        fraction = self._close_fraction(job)
        legs = await self._settled(job, conn, self._legs(job, pending=None))
        if not legs:
            what = signal.position_ref or f"{signal.symbol or 'any symbol'} {signal.side.value if signal.side else ''}"
            raise Skip(f"no open position on {route.account} is linked to {what.strip()} from {signal.source}")
        lots_left = self._lots_to_close(job, conn, legs[0]) if fraction is None else None
        skipped: list[str] = []
        for index, leg in enumerate(legs):
            if leg.pending:
                if signal.action is Action.CLOSE_PART:
                    skipped.append(f"the {leg.symbol} order {leg.order_id or leg.client_order_id} still rests")
                    continue
                if not await self._cancel_leg(job, conn, outcome, leg) or leg.pending:
                    continue
                # Part of the order filled before the cancel: close the position it opened.
            cid = self._acting_id(job, "close", leg)
            if self._done_before(job, cid):
                continue
            inst = conn.instrument(leg.symbol)
            if inst is None:
                skipped.append(f"{leg.symbol} is no longer traded")
                continue
            if lots_left is None:
                assert fraction is not None
                volume = leg.volume if fraction == ONE else round_down_to_step(leg.volume * fraction, inst.volume_step)
            else:
                volume = min(leg.volume, round_down_to_step(lots_left, inst.volume_step))
                lots_left -= volume
            if volume <= 0:
                pct = f"{fraction * 100:g}% of " if fraction is not None else ""
                skipped.append(
                    f"{pct}{leg.volume} {leg.symbol} rounds down to 0 at step {inst.volume_step}; position kept"
                )
                continue
            intent = OrderIntent(
                kind=IntentKind.CLOSE,
                client_order_id=cid,
                symbol=leg.symbol,
                side=leg.side,
                volume=volume,
                position_id=leg.position_id,
                reduce_only=True,
            )
            report = await self._send(job, conn, outcome, intent, leg=index, link=_on(leg, "close"))
            if report is None:
                continue
            leg.volume -= volume
            if leg.volume <= 0:
                self.links.remove(leg)
            self._link_changed(leg, closed=leg.volume <= 0)
            self.mirror.emit(
                "position_closed" if leg.volume <= 0 else "position_reduced",
                signal_id=signal.id,
                source=signal.source,
                account=route.account,
                symbol=leg.symbol,
                side=leg.side,
                volume=volume,
                client_order_id=cid,
                detail={"position_id": leg.position_id, "remaining": format(leg.volume, "f")},
            )
        if skipped and outcome.status in ("queued", "skipped"):
            raise Skip("; ".join(skipped))

    async def _cancel_leg(self, job: _Job, conn: Connector, outcome: FollowerOutcome, leg: Leg) -> bool:
        """Cancel pending ``leg``'s order; whether the order is over.

        Over means unlinked when none of it filled, or, when some or all of it filled first, linked
        on as the position that part opened (``leg.pending`` is then False: the caller closes it).
        A refused cancel may mean the order has just filled, so the venue is asked again either
        way. Not over while the order may still rest or its fill is not known: the leg stays
        pending, and the next signal that acts on it asks the venue again.
        """
        intent = OrderIntent(
            kind=IntentKind.CANCEL,
            client_order_id=self._acting_id(job, "cancel", leg),
            symbol=leg.symbol,
            side=leg.side,
            order_id=leg.order_id,
        )
        before = self._done_before(job, intent.client_order_id)
        if before is not None:
            cancelled = before.status == "canceled"
        else:
            # "settle": the cancel does not unlink by itself; the fill asked of the venue after it does.
            link = {**_on(leg, "cancel"), "settle": True}
            cancelled = await self._send(job, conn, outcome, intent, link=link) is not None
        return not await self._settle(job, conn, leg, cancelled=cancelled) or not leg.pending

    async def _cancel(self, job: _Job, conn: Connector, outcome: FollowerOutcome) -> None:
        legs = [leg for leg in await self._settled(job, conn, self._legs(job, pending=True)) if leg.pending]
        if not legs:
            raise Skip(
                f"no pending order on {job.route.account} is linked to this signal's position"
                " (an order that filled is a position now: close it instead)"
            )
        for leg in legs:
            await self._cancel_leg(job, conn, outcome, leg)

    async def _modify(self, job: _Job, conn: Connector, outcome: FollowerOutcome) -> None:
        signal, route = job.signal, job.route
        if signal.sl is None and signal.tp is None:
            raise Skip("the modify names neither a stop loss nor a take profit")
        legs = await self._settled(job, conn, self._legs(job, pending=None))
        if not legs:
            raise Skip(f"no open position on {route.account} is linked to this signal's position")
        gone: list[str] = []
        for index, leg in enumerate(legs):
            inst = conn.instrument(leg.symbol)
            if inst is None:
                gone.append(f"{leg.symbol} is no longer traded on {route.account}")
                continue
            sl, tp = _levels_for(signal.sl, signal.tp, leg, inst, route.guards.reverse)
            intent = OrderIntent(
                kind=IntentKind.MODIFY,
                client_order_id=self._acting_id(job, "modify", leg),
                symbol=leg.symbol,
                side=leg.side,
                sl=sl,
                tp=tp,
                position_id=leg.position_id,
                order_id=leg.order_id if leg.pending else None,
            )
            await self._send(job, conn, outcome, intent, leg=index, link=_on(leg, "modify"))
        if gone and outcome.status in ("queued", "skipped"):
            raise Skip("; ".join(gone))

    async def _reverse(self, job: _Job, conn: Connector, outcome: FollowerOutcome) -> None:
        signal = job.signal
        if signal.side is None:
            raise Skip("a reverse needs the new side")
        linked = self.links.find(job.route.account, signal.source, canonical=signal.symbol, pending=None)
        opposite = [leg for leg in await self._settled(job, conn, linked) if leg.source_side is not signal.side]
        if not await self._close_legs(job, conn, outcome, opposite):
            _not_opened(outcome, signal.side)
            return
        await self._open(job, conn, outcome, signal.side, 0)

    async def _close_legs(self, job: _Job, conn: Connector, outcome: FollowerOutcome, legs: list[Leg]) -> bool:
        """Close (or cancel) every leg in ``legs``; whether all of them were."""
        closed_all = True
        for index, leg in enumerate(legs):
            if leg.pending:
                if not await self._cancel_leg(job, conn, outcome, leg):
                    closed_all = False
                    continue
                if leg.pending:
                    continue  # cancelled unfilled, and unlinked
            intent = OrderIntent(
                kind=IntentKind.CLOSE,
                client_order_id=self._acting_id(job, "close", leg),
                symbol=leg.symbol,
                side=leg.side,
                volume=leg.volume,
                position_id=leg.position_id,
                reduce_only=True,
            )
            before = self._done_before(job, intent.client_order_id)
            if before is not None:
                # Closed before a restart (the rebuilt links no longer hold it), or refused then.
                closed_all = closed_all and before.took_effect
                continue
            if await self._send(job, conn, outcome, intent, leg=100 + index, link=_on(leg, "close")) is None:
                closed_all = False
                continue
            self.links.remove(leg)
            self._link_changed(leg, closed=True)
        return closed_all

    async def _target(self, job: _Job, conn: Connector, outcome: FollowerOutcome) -> None:
        """Bring the follower to the size that matches the source's target position.

        A target is one net position, so linked positions and resting entries on the other side
        of it (every one for a flat target) are closed or cancelled first, and the size is capped
        at the route's maximum.
        """
        signal, route = job.signal, job.route
        if signal.volume is None:
            raise Skip("a target-position signal needs the target size")
        canonical, _venue_symbol, inst = self._resolve(job, conn)
        linked = self.links.find(route.account, signal.source, canonical=canonical, pending=None)
        current = await self._settled(job, conn, linked)
        legs = [leg for leg in current if not leg.pending]
        target, size, capped = signal.volume, ZERO, ""
        if target != 0:
            request = SizeRequest(abs(target), VolumeKind.LOTS, signal.price, None)
            size = round_down_to_step(raw_volume(request, route.sizing, conn.account(), inst), inst.volume_step)
            cap = position_cap(route.sizing, inst)
            if cap is not None and size > cap:
                capped = f" (the target {format(size, 'f')} capped at the route's maximum {format(cap, 'f')})"
                size = cap
        sign = 0 if size == 0 else (1 if target > 0 else -1)
        other = [leg for leg in current if leg.source_side.sign != sign]
        if other:
            if not await self._close_legs(job, conn, outcome, other):
                if sign:
                    _not_opened(outcome, Side.BUY if sign > 0 else Side.SELL)
                return
            legs = [leg for leg in legs if leg.source_side.sign == sign]
        held = sum((leg.volume for leg in legs), ZERO)
        if held == size:
            if not other:
                raise Skip(f"already at the target: {format(sign * held, 'f')} {canonical}{capped}")
            return
        side = Side.BUY if sign > 0 else Side.SELL
        if size > held:
            delta = size - held
            sizing = replace(route.sizing, mode=SizingMode.FIXED, volume=delta)
            opening = replace(signal, action=Action.OPEN, side=side, volume=delta, volume_kind=VolumeKind.LOTS)
            sized = replace(route, sizing=sizing)
            target_job = _Job(opening, sized, job.record, job.symbols, recovering=job.recovering, final=job.final)
            # After a restart, the opens that went through before it are in ``held``: number the
            # rest after them, not from the first again.
            leg0 = 200
            while self._done_before(job, client_order_id(signal.source, signal.dedupe_key, route.name, leg0)):
                leg0 += 1
            await self._open(target_job, conn, outcome, side, leg0)
            return
        remaining = held - size
        for index, leg in enumerate(reversed(legs)):
            if remaining <= 0:
                break
            volume = min(leg.volume, remaining)
            intent = OrderIntent(
                kind=IntentKind.CLOSE,
                client_order_id=self._acting_id(job, "close", leg),
                symbol=leg.symbol,
                side=leg.side,
                volume=volume,
                position_id=leg.position_id,
                reduce_only=True,
            )
            if await self._send(job, conn, outcome, intent, leg=300 + index, link=_on(leg, "close")) is not None:
                leg.volume -= volume
                remaining -= volume
                if leg.volume <= 0:
                    self.links.remove(leg)
                self._link_changed(leg, closed=leg.volume <= 0)

    # -- sending ----------------------------------------------------------------------------

    async def _send(
        self,
        job: _Job,
        conn: Connector,
        outcome: FollowerOutcome,
        intent: OrderIntent,
        *,
        leg: int = 0,
        link: Mapping[str, Any] | None = None,
    ) -> ExecutionReport | None:
        """Send one intent with the outcome policy; None when it did not happen (or, in recovery,
        when it already happened before the restart and its effect is already in the links)."""
        signal, account = job.signal, job.route.account
        if job.final is not None and intent.client_order_id in job.final:
            return None
        journal = self.journal

        def record(status: str, **result: Any) -> None:
            if journal is not None:
                journal.outcome(signal.id, account, job.route.name, leg, intent, conn.venue, link, status, **result)

        # Nothing but the order itself comes before its write: the bookkeeping of the planned
        # order (outcome entry, mirror event stamped with the planning time) follows the first
        # attempt, whatever its result. ``submit`` may have written the first order already.
        first, job.sent = job.sent, None
        planned_ns = job.planned_ns or time.monotonic_ns()
        job.planned_ns = 0
        fanout = self._leave_fanout(job)
        logged: tuple[dict[str, Any], dict[str, Any]] | None = None
        if job.recovering:
            logged = self._log_planned(job, conn, outcome, intent, planned_ns)
        attempt = 0
        waited = 0.0
        reconciling = job.recovering
        while True:
            attempt += 1
            try:
                if first is not None:
                    written, first = first, None
                    report = await written
                elif reconciling:
                    found = await conn.order_by_client_id(intent.client_order_id, intent.symbol)
                    if found is not None:
                        report = found
                        assert logged is not None
                        self.mirror.emit("order_reconciled", status=found.status.value, **logged[0])
                    else:
                        report = await conn.submit(intent)
                else:
                    report = await conn.submit(intent)
                break
            except CopierError as exc:
                if logged is None:
                    logged = self._log_planned(job, conn, outcome, intent, planned_ns)
                delay = self._retry_delay(exc, attempt, waited, logged, outcome, record)
                if delay is None:
                    return None
                if isinstance(exc, RateLimited):
                    waited += delay
                reconciling = reconciling or isinstance(exc, OutcomeUnknown)
                await asyncio.sleep(delay)
        if fanout is not None and fanout.unsent > 0:
            # The venue answered without yielding (paper): the signal's later followers have not
            # run yet and would otherwise wait for this one's bookkeeping. Let them write first.
            await asyncio.sleep(0)
        if logged is None:
            logged = self._log_planned(job, conn, outcome, intent, planned_ns)
        base, entry = logged
        t0 = signal.received_ns
        latency_us = (report.t_wire_ns - t0) // 1000
        ack_us = (report.t_ack_ns - t0) // 1000
        status = report.status.value
        record(
            status,
            venue_order_id=report.venue_order_id,
            position_id=report.position_id,
            filled=report.filled_volume,
            price=report.fill_price,
            latency_us=latency_us,
            ack_us=ack_us,
        )
        entry.update(
            status=status,
            venue_order_id=report.venue_order_id,
            latency_us=latency_us,
            ack_us=ack_us,
            fill_price=format(report.fill_price, "f") if report.fill_price is not None else None,
        )
        outcome.status, outcome.reason = status, None
        self.mirror.emit("order_sent", mono_ns=report.t_wire_ns, status="sent", latency_us=latency_us, **base)
        self.mirror.emit(
            "order_filled" if report.status is ReportStatus.FILLED else "order_acked",
            mono_ns=report.t_ack_ns,
            status=status,
            price=report.fill_price,
            venue_order_id=report.venue_order_id,
            latency_us=latency_us,
            ack_us=ack_us,
            **base,
        )
        return report

    def _retry_delay(
        self,
        exc: CopierError,
        attempt: int,
        waited: float,
        logged: tuple[dict[str, Any], dict[str, Any]],
        outcome: FollowerOutcome,
        record: Callable[..., None],
    ) -> float | None:
        """The outcome policy for one failed attempt: seconds to wait before the next one, or None
        when the order is finished (its outcome recorded). Anything but a venue's answer is raised."""
        base, entry = logged
        if isinstance(exc, VenueRejected):
            record("rejected", reason=exc.reason, code=exc.code)
            entry.update(status="rejected", reason=exc.reason, code=exc.code)
            outcome.status, outcome.reason = "rejected", exc.reason
            self.mirror.emit("order_rejected", status="rejected", reason=exc.reason, detail={"code": exc.code}, **base)
            return None
        if isinstance(exc, ConfigError):
            self._give_up(entry, outcome, base, f"account configuration error, order not sent: {exc}", record)
            return None
        if isinstance(exc, RateLimited):
            if waited + exc.retry_after > self.retry.rate_limit_budget:
                self._give_up(entry, outcome, base, f"rate limited by the venue: {exc.reason}", record)
                return None
            return exc.retry_after
        if isinstance(exc, TransientError):
            if attempt >= self.retry.attempts:
                self._give_up(entry, outcome, base, f"venue unavailable: {exc.reason}", record)
                return None
            return self.retry.backoff * 2.0 ** (attempt - 1) * (0.5 + random.random())
        if isinstance(exc, OutcomeUnknown):
            self.mirror.emit("order_unknown", status="unknown", reason=exc.reason, **base)
            if attempt >= self.retry.reconcile_attempts:
                record("unknown", reason=exc.reason)
                entry.update(status="unknown", reason=exc.reason)
                outcome.status, outcome.reason = "unknown", f"outcome unknown after {attempt} tries: {exc.reason}"
                return None
            return self.retry.backoff * attempt
        raise exc

    def _log_planned(
        self, job: _Job, conn: Connector, outcome: FollowerOutcome, intent: OrderIntent, planned_ns: int
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The planned order's outcome entry and mirror event; returns the event's common fields
        and the entry, which the result then completes."""
        signal = job.signal
        base: dict[str, Any] = {
            "signal_id": signal.id,
            "source": signal.source,
            "account": job.route.account,
            "venue": conn.venue,
            "symbol": intent.symbol,
            "side": intent.side,
            "volume": intent.volume if intent.kind is not IntentKind.MODIFY else None,
            "client_order_id": intent.client_order_id,
        }
        entry: dict[str, Any] = {
            "client_order_id": intent.client_order_id,
            "kind": intent.kind.value,
            "symbol": intent.symbol,
            "side": intent.side.value,
            "volume": format(intent.volume, "f"),
            "status": "planned",
        }
        outcome.orders.append(entry)
        self.mirror.emit(
            "order_planned",
            mono_ns=planned_ns,
            status="planned",
            price=intent.price,
            detail={"kind": intent.kind.value, "sl": intent.sl, "tp": intent.tp},
            **base,
        )
        return base, entry

    def _give_up(
        self,
        entry: dict[str, Any],
        outcome: FollowerOutcome,
        base: dict[str, Any],
        reason: str,
        record: Callable[..., None],
    ) -> None:
        record("failed", reason=reason)
        entry.update(status="failed", reason=reason)
        outcome.status, outcome.reason = "failed", reason
        self.mirror.emit("order_failed", status="failed", reason=reason, **base)


async def _unknown(reason: str) -> ExecutionReport:
    """An order whose write ended in an unexpected error: as if its connection dropped after the send."""
    raise OutcomeUnknown(reason)


def _levels_for(
    sl: Level | None, tp: Level | None, leg: Leg, inst: Instrument, reverse: bool
) -> tuple[Decimal | None, Decimal | None]:
    if reverse:
        sl, tp = tp, sl
    entry = leg.open_price
    new_sl = sl.resolve(entry, leg.side, is_stop=True, instrument=inst) if sl else None
    new_tp = tp.resolve(entry, leg.side, is_stop=False, instrument=inst) if tp else None
    return new_sl, new_tp


def _not_opened(outcome: FollowerOutcome, side: Side) -> None:
    """Say in ``outcome`` why a reverse or a target did not open ``side``: a close before it did not happen."""
    outcome.reason = (
        f"{outcome.reason or 'closing the other side did not happen'}; "
        f"the {side.value} side is not opened while the other side may still be open"
    )


def _on(leg: Leg, op: str) -> dict[str, str]:
    """Link info for an order that acts on an existing follower position."""
    return {"op": op, "open_cid": leg.client_order_id}
