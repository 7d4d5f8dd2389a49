"""What happened to each signal at each follower, kept in memory for the API and the page."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from core.signal import Signal


@dataclass(slots=True)
class FollowerOutcome:
    """One follower's story for one signal. ``status`` is the latest; ``orders`` every order's."""

    account: str
    status: str = "queued"
    reason: str | None = None
    orders: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"account": self.account, "status": self.status, "reason": self.reason, "orders": self.orders}


@dataclass(slots=True)
class SignalRecord:
    signal: Signal
    status: str
    reason: str | None = None
    followers: dict[str, FollowerOutcome] = field(default_factory=dict)

    def follower(self, account: str) -> FollowerOutcome:
        outcome = self.followers.get(account)
        if outcome is None:
            outcome = self.followers[account] = FollowerOutcome(account)
        return outcome

    def to_json(self) -> dict[str, Any]:
        return {
            "signal": self.signal.to_json(),
            "status": self.status,
            "reason": self.reason,
            "followers": [f.to_json() for f in self.followers.values()],
        }


class OutcomeBook:
    """The most recent ``capacity`` signals by id."""

    def __init__(self, capacity: int = 50_000) -> None:
        self._capacity = capacity
        self._records: OrderedDict[str, SignalRecord] = OrderedDict()

    def add(self, record: SignalRecord) -> SignalRecord:
        self._records[record.signal.id] = record
        while len(self._records) > self._capacity:
            self._records.popitem(last=False)
        return record

    def get(self, signal_id: str) -> SignalRecord | None:
        return self._records.get(signal_id)

    def recent(self, limit: int = 100) -> list[SignalRecord]:
        return list(reversed(self._records.values()))[:limit]
