"""Recovery at start: rebuild position links from the journal and re-queue unfinished followers.

Links are derived from orders, not from separately written link records: every order's intent
carries ``link`` (what it does to a follower position) and only a final result applies it. So a
crash between an order's outcome and any later bookkeeping can neither lose nor double a change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from copier.journal import FINAL_STATUSES, FollowerState, JournalState, read_records, replay
from core.enums import Side
from core.links import Leg, PositionLinks
from core.mirror import MirrorLog
from core.router import Router

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
        if op == "close" and status in ("closed", "filled"):
            target.volume -= Decimal(order["volume"]) or target.volume
            if target.volume <= 0:
                del legs[target.client_order_id]
        elif op == "cancel" and status == "canceled":
            del legs[target.client_order_id]
    table = PositionLinks()
    for leg in legs.values():
        table.add(leg)
    return table


def load(journal_dir: Path) -> tuple[JournalState, PositionLinks]:
    """Replay the journal folder: its state and the links it implies."""
    state = replay(journal_dir)
    links = rebuild_links(read_records(journal_dir))
    return state, links


def resume(state: JournalState, router: Router, mirror: MirrorLog) -> dict[str, int]:
    """Seed the router with finished signals and queue every unfinished (signal, follower)."""
    counts = {"signals": len(state.signals), "resumed": 0, "unrouted": 0}
    for entry in state.signals.values():
        router.remember(entry.signal)
        for follower in entry.followers.values():
            if follower.state is FollowerState.FINISHED:
                continue
            final = frozenset(o.client_order_id for o in follower.orders if o.final)
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
