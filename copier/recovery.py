"""Recovery at start: rebuild position links from the journal, re-queue unfinished followers, and
adopt orders the venues hold under Copier's client id prefix that the journal lost.

Links are derived from orders, not from separately written link records: every order's intent
carries ``link`` (what it does to a follower position) and only a final result applies it. So a
crash between an order's outcome and any later bookkeeping can neither lose nor double a change.
An adopted order's link is carried by its ``adopted`` record the same way (:class:`Adoption`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from copier.journal import FINAL_STATUSES, FollowerState, Journal, JournalState, read_records
from core.connector import Connector
from core.enums import Side
from core.errors import OutcomeUnknown, RateLimited, TransientError
from core.links import Leg, PositionLinks
from core.mirror import MirrorLog
from core.orders import CLIENT_ID_PREFIX, Position, ReportStatus, VenueOrder, is_client_order_id
from core.router import Finished, Router

log = logging.getLogger(__name__)

OPENED = ("filled", "accepted")


def rebuild_links(records: Iterable[dict[str, Any]]) -> PositionLinks:
    """Fold the journal's orders into the link table as it stood at the last final result."""
    intents: dict[str, dict[str, Any]] = {}
    legs: dict[str, Leg] = {}
    applied: set[str] = set()
    for record in records:
        kind = record.get("t")
        if kind == "intent" and "link" in record:
            intents.setdefault(record["cid"], record)
            continue
        if kind == "adopted":
            adopted = adopted_leg(record)
            if adopted is not None:
                legs.setdefault(adopted.client_order_id, adopted)
            continue
        if kind == "settled":
            _settle(legs, record)
            continue
        if kind != "result":
            continue
        cid = record.get("cid", "")
        planned = intents.get(cid)
        status = record.get("status", "")
        if planned is None or status not in FINAL_STATUSES:
            continue
        link, order = planned["link"], planned["intent"]
        op = link.get("op")
        if op == "open" and status in OPENED:
            leg = legs.get(cid)
            filled = Decimal(record["filled"]) if record.get("filled") else Decimal(order["volume"])
            if leg is None:
                legs[cid] = Leg(
                    account=planned["acct"],
                    source=link["source"],
                    source_key=link["key"],
                    symbol=order["symbol"],
                    canonical=link["canonical"],
                    side=Side(order["side"]),
                    source_side=Side(link["source_side"]),
                    volume=filled if status == "filled" else Decimal(order["volume"]),
                    position_id=record.get("pos"),
                    order_id=record.get("vid"),
                    client_order_id=cid,
                    open_price=Decimal(record["price"]) if record.get("price") else None,
                    pending=status == "accepted",
                )
            elif leg.pending and status == "filled":
                leg.pending, leg.volume = False, filled
            continue
        if cid in applied:
            continue
        applied.add(cid)
        target = legs.get(link.get("open_cid", ""))
        if target is None:
            continue
        if op == "close" and status in ("closed", "filled", "accepted"):
            target.volume -= Decimal(order["volume"]) or target.volume
            if target.volume <= 0:
                del legs[target.client_order_id]
        elif op == "cancel" and status == "canceled" and not link.get("settle"):
            # A cancel marked "settle" unlinks by the ``settled`` record that follows it (the
            # order may have filled in part first); without one the leg stays pending, to be
            # asked about again by the next signal that acts on it.
            del legs[target.client_order_id]
    table = PositionLinks()
    for leg in legs.values():
        table.add(leg)
    return table


def _settle(legs: dict[str, Leg], record: dict[str, Any]) -> None:
    """Apply a ``settled`` record: a pending open found filled (now a position) or canceled unfilled."""
    leg = legs.get(record.get("cid", ""))
    if leg is None or not leg.pending:
        return
    if record.get("status") == "filled":
        leg.pending, leg.volume = False, Decimal(record["filled"])
        leg.position_id = record.get("pos") or leg.position_id
        leg.open_price = Decimal(record["price"]) if record.get("price") else leg.open_price
    else:
        del legs[leg.client_order_id]


def load(journal_dir: Path) -> tuple[JournalState, PositionLinks]:
    """Replay the journal folder: its state and the links it implies."""
    recovered = load_journal(journal_dir)
    return recovered.state, recovered.links


@dataclass(slots=True)
class Recovered:
    """What one pass over the journal gives the daemon at start.

    ``known`` holds every client order id the journal names (orders of signals, adopted orders);
    ``symbols`` the venue symbols it names per account; ``last_ts_us`` the newest record's wall
    clock (µs), None for an empty journal.
    """

    state: JournalState
    links: PositionLinks
    known: set[str] = field(default_factory=set)
    symbols: dict[str, set[str]] = field(default_factory=dict)
    last_ts_us: int | None = None


def load_journal(journal_dir: Path) -> Recovered:
    """Read the journal once: replayed state, rebuilt links, and what adoption needs."""
    state = JournalState()
    recovered = Recovered(state, PositionLinks())

    def observed(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for record in records:
            state.apply(record)
            _note(recovered, record)
            yield record

    recovered.links = rebuild_links(observed(read_records(journal_dir)))
    return recovered


def _note(recovered: Recovered, record: dict[str, Any]) -> None:
    cid = record.get("cid")
    if isinstance(cid, str):
        recovered.known.add(cid)
    ts = record.get("ts")
    if isinstance(ts, int) and (recovered.last_ts_us is None or ts > recovered.last_ts_us):
        recovered.last_ts_us = ts
    kind = record.get("t")
    account = record.get("acct")
    if not isinstance(account, str):
        return
    if kind == "intent":
        symbol = (record.get("intent") or {}).get("symbol")
    elif kind == "adopted":
        symbol = record.get("symbol")
    else:
        return
    if isinstance(symbol, str) and symbol:
        recovered.symbols.setdefault(account, set()).add(symbol)


def resume(state: JournalState, router: Router, mirror: MirrorLog) -> dict[str, int]:
    """Seed the router with finished signals and queue every unfinished (signal, follower)."""
    counts = {"signals": len(state.signals), "resumed": 0, "unrouted": 0}
    for entry in state.signals.values():
        router.remember(entry.signal)
        for follower in entry.followers.values():
            if follower.state is FollowerState.FINISHED:
                continue
            final = {o.client_order_id: Finished(o.intent, o.status) for o in follower.orders if o.final}
            reason = {
                FollowerState.ACCEPTED: "accepted before the restart; planning now",
                FollowerState.PLANNED: "planned before the restart; asking the venue before sending",
                FollowerState.SENT: "outcome unknown at the restart; asking the venue by client order id",
            }[follower.state]
            if router.recover(entry.signal, follower.account, final, reason):
                counts["resumed"] += 1
            else:
                counts["unrouted"] += 1
                mirror.emit(
                    "order_skipped",
                    signal_id=entry.signal_id,
                    account=follower.account,
                    status="skipped",
                    reason="after the restart no route joins this source to the account",
                )
                if router.journal is not None:
                    router.journal.done(entry.signal_id, follower.account, "skipped", "route removed")
    return counts


# -- adoption: orders the venues hold that the journal lost --------------------------------------

ADOPTED_SOURCE = "@adopted"
"""The pseudo-source of adopted links. Configured source names cannot contain ``@``, so no
signal ever acts on (closes, modifies) an adopted link."""

ADOPTION_REASON = "found at the venue with Copier's id prefix, not in the journal"

ADOPT_MARGIN_MS = 10 * 60 * 1000
"""How far before the journal's newest record the venues are asked from: an order whose outcome a
power cut took from the journal was sent well within this before the last record that survived
(retries and rate-limit waits included), and the margin absorbs clock differences with the venue."""

ADOPT_EMPTY_JOURNAL_MS = 24 * 3600 * 1000
"""The window for an empty journal (a new data folder on an account Copier traded before)."""

ADOPT_HISTORY_MS = 7 * 24 * 3600 * 1000
"""No further back than this: the venues' order history (OKX ``orders-history``, Binance
``allOrders`` and Bybit ``order/history`` per request) reaches 7 days."""

ADOPT_ATTEMPTS = 3
ADOPT_TIMEOUT = 60.0


def adoption_since(last_record_us: int | None, now_ms: int) -> int:
    """From when (Unix ms) the venues are asked for Copier's orders; see the ``ADOPT_*`` constants."""
    if last_record_us is None:
        return now_ms - ADOPT_EMPTY_JOURNAL_MS
    return max(now_ms - ADOPT_HISTORY_MS, min(now_ms, last_record_us // 1000) - ADOPT_MARGIN_MS)


def adopted_leg(record: Mapping[str, Any]) -> Leg | None:
    """The position link an ``adopted`` journal record made, if it made one."""
    link = record.get("link")
    if not isinstance(link, Mapping):
        return None
    side = Side(record["side"])
    return Leg(
        account=record["acct"],
        source=link.get("source", ADOPTED_SOURCE),
        source_key=link.get("key", record["cid"]),
        symbol=record["symbol"],
        canonical=link.get("canonical", record["symbol"]),
        side=side,
        source_side=side,
        volume=Decimal(link["volume"]),
        position_id=record.get("pos"),
        order_id=record.get("vid"),
        client_order_id=record["cid"],
        open_price=Decimal(link["open_price"]) if link.get("open_price") else None,
        pending=bool(link.get("pending", False)),
    )


class Adoption:
    """Adopts the orders a venue holds under Copier's client id prefix that the journal does not know.

    With the journal's default fsync policy a power cut can take the journal's last records while
    the orders they described already reached a venue. At start each follower account is asked
    for its recent orders (:meth:`Connector.recent_orders`); every order with the exact form of a
    Copier client order id that the journal does not name is journaled (an ``adopted`` record),
    logged (``order_adopted``) and, when it opened a position that is still there or rests as a
    pending order, linked under the pseudo-source :data:`ADOPTED_SOURCE`.

    Build it before the router runs any job: it listens to the journal, so an order journaled by
    this run — a recovered follower's, or a new signal's — is never taken for a lost one. :meth:`run`
    waits, after the venues answered, until every job queued before has finished (and so has
    journaled its orders) before it decides.

    ``symbols`` adds, per account, venue symbols worth asking about (Binance keeps its history per
    symbol); ``now_ms`` is the wall clock the window is computed from (:func:`adoption_since`);
    ``attempts`` bounds the tries per venue when it is rate limited, unreachable or silent.
    """

    def __init__(
        self,
        recovered: Recovered,
        journal: Journal,
        router: Router,
        mirror: MirrorLog,
        *,
        symbols: Mapping[str, Collection[str]] | None = None,
        now_ms: int | None = None,
        attempts: int = ADOPT_ATTEMPTS,
    ) -> None:
        self.known = recovered.known  # grows with what this run journals; released after the run
        self.attempts = attempts
        self.since_ms = adoption_since(recovered.last_ts_us, now_ms if now_ms is not None else time.time_ns() // 10**6)
        self.journal = journal
        self.router = router
        self.mirror = mirror
        self.symbols: dict[str, set[str]] = {name: set(found) for name, found in recovered.symbols.items()}
        for name, extra in (symbols or {}).items():
            self.symbols.setdefault(name, set()).update(extra)
        self._previous = journal.listener
        journal.listener = self._observe

    def _observe(self, record: dict[str, Any]) -> None:
        cid = record.get("cid")
        if isinstance(cid, str):
            self.known.add(cid)
        if self._previous is not None:
            self._previous(record)

    def close(self) -> None:
        """Stop listening to the journal."""
        if self.journal.listener == self._observe:
            self.journal.listener = self._previous

    async def run(self) -> dict[str, Any]:
        """Ask every follower account, adopt what the journal lacks; returns the summary it logs."""
        try:
            connectors = dict(self.router.connectors)
            answers = await asyncio.gather(*(self._ask(name, conn) for name, conn in connectors.items()))
            # An order this run sent before a venue answered is journaled once its job is over.
            await self.router.drain()
            self.journal.flush_deferred()
            adopted, linked, failed = 0, 0, []
            for (name, conn), answer in zip(connectors.items(), answers, strict=True):
                if answer is None:
                    failed.append(name)
                    continue
                orders, positions = answer
                for order in orders:
                    if order.client_order_id in self.known:
                        continue
                    adopted += 1
                    linked += self._adopt(name, conn, order, positions)
        finally:
            self.close()
            self.known = set()
        summary = {
            "since": _iso(self.since_ms),
            "accounts": len(connectors),
            "adopted": adopted,
            "linked": linked,
            "failed": failed,
        }
        self.mirror.emit("adoption", status="done" if not failed else "partial", detail=summary)
        if adopted:
            log.warning("recovery: adopted %d orders found at the venues but not in the journal", adopted)
        return summary

    async def _ask(self, name: str, conn: Connector) -> tuple[list[VenueOrder], list[Position]] | None:
        """The account's unknown Copier orders and, when one opened a position, its positions;
        None (logged) when the venue could not be asked."""
        symbols = sorted(self.symbols.get(name, ()))
        reason = ""
        for attempt in range(1, self.attempts + 1):
            wait = 0.5 * attempt
            try:
                orders = await asyncio.wait_for(
                    conn.recent_orders(CLIENT_ID_PREFIX, self.since_ms, symbols), ADOPT_TIMEOUT
                )
                unknown = [
                    o for o in orders if is_client_order_id(o.client_order_id) and o.client_order_id not in self.known
                ]
                positions: list[Position] = []
                if any(not o.reduce_only and o.filled_volume > 0 for o in unknown):
                    positions = await asyncio.wait_for(conn.positions(), ADOPT_TIMEOUT)
                return unknown, positions
            except RateLimited as exc:
                reason, wait = f"rate limited: {exc.reason}", max(wait, exc.retry_after)
            except (TransientError, OutcomeUnknown) as exc:
                reason = exc.reason
            except TimeoutError:
                reason = f"no answer within {ADOPT_TIMEOUT:g} s"
            except Exception as exc:  # a refusal, a configuration error or a surprise: not worth retrying
                reason = str(exc) or type(exc).__name__
                break
            if attempt < self.attempts:
                await asyncio.sleep(min(wait, 30.0))
        log.warning("recovery: could not ask %s (%s) for its recent orders: %s", name, conn.venue, reason)
        self.mirror.emit(
            "adoption_failed",
            account=name,
            venue=conn.venue,
            status="failed",
            reason=f"could not ask the venue for its recent orders: {reason}; "
            "orders it holds that the journal lost are looked for again at the next start",
        )
        return None

    def _adopt(self, account: str, conn: Connector, order: VenueOrder, positions: list[Position]) -> int:
        """Journal, log and (maybe) link one adopted order; returns 1 when it was linked."""
        leg, note = self._leg(account, order, positions)
        link = None
        if leg is not None:
            link = {
                "op": "open",
                "source": leg.source,
                "key": leg.source_key,
                "canonical": leg.canonical,
                "volume": format(leg.volume, "f"),
                "open_price": format(leg.open_price, "f") if leg.open_price is not None else None,
                "pending": leg.pending,
            }
        self.journal.adopted(account, conn.venue, order, ADOPTION_REASON, link)
        self.known.add(order.client_order_id)
        log.warning(
            "recovery: adopted %s %s %s %s on %s (%s): %s",
            order.client_order_id,
            order.side.value,
            order.volume,
            order.symbol,
            account,
            order.status.value,
            note,
        )
        self.mirror.emit(
            "order_adopted",
            source=ADOPTED_SOURCE,
            account=account,
            venue=conn.venue,
            symbol=order.symbol,
            side=order.side,
            volume=order.volume,
            price=order.average_price,
            status=order.status.value,
            client_order_id=order.client_order_id,
            venue_order_id=order.venue_order_id,
            reason=ADOPTION_REASON,
            detail={
                "kind": "close" if order.reduce_only else "open",
                "filled": order.filled_volume,
                "position_id": order.position_id,
                "order_time": _iso(order.time_ms),
                "link": note,
            },
        )
        if leg is None:
            return 0
        self.router.links.add(leg)
        self.journal.link(leg)
        self.mirror.emit(
            "position_linked",
            source=ADOPTED_SOURCE,
            account=account,
            venue=conn.venue,
            symbol=leg.symbol,
            side=leg.side,
            volume=leg.volume,
            client_order_id=leg.client_order_id,
            detail={"source_position": leg.source_key, "position_id": leg.position_id, "pending": leg.pending},
        )
        return 1

    def _leg(self, account: str, order: VenueOrder, positions: list[Position]) -> tuple[Leg | None, str]:
        """The link for an adopted order (or None) and a sentence saying why."""
        if order.reduce_only:
            return None, "a closing order: no link is changed (which link it closed was lost with the journal)"

        def leg(volume: Decimal, price: Decimal | None, pending: bool) -> Leg:
            return Leg(
                account=account,
                source=ADOPTED_SOURCE,
                source_key=order.client_order_id,
                symbol=order.symbol,
                canonical=order.symbol,
                side=order.side,
                source_side=order.side,
                volume=volume,
                position_id=order.position_id,
                order_id=order.venue_order_id,
                client_order_id=order.client_order_id,
                open_price=price,
                pending=pending,
            )

        if order.status is ReportStatus.ACCEPTED:
            return leg(order.volume, order.price, True), f"linked under {ADOPTED_SOURCE} as a pending order"
        if order.filled_volume <= 0:
            return None, "no link: it never filled"
        position = next(
            (
                p
                for p in positions
                if (p.position_id == order.position_id if order.position_id else p.symbol == order.symbol)
                and p.side is order.side
            ),
            None,
        )
        if position is None:
            return None, "no link: the position it opened is no longer open"
        taken = sum(
            (
                other.volume
                for other in self.router.links.of_account(account)
                if not other.pending and other.position_id == position.position_id and other.side is order.side
            ),
            Decimal(0),
        )
        volume = min(order.filled_volume, position.volume - taken)
        if volume <= 0:
            return None, "no link: other links already account for the whole position"
        return leg(volume, order.average_price, False), f"linked under {ADOPTED_SOURCE}"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
