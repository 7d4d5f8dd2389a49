"""Position links: which follower positions a source position was copied into."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.enums import Side


@dataclass(slots=True)
class Leg:
    """One follower position (or pending order) linked to a source position."""

    account: str
    source: str
    source_key: str
    symbol: str
    canonical: str
    side: Side
    source_side: Side
    volume: Decimal
    position_id: str | None
    order_id: str | None
    client_order_id: str
    open_price: Decimal | None = None
    pending: bool = False


def source_key(position_ref: str | None, canonical: str | None, side: Side | None) -> str:
    """The source position a signal acts on: its own reference, or the source's net position per symbol and side."""
    if position_ref:
        return position_ref
    return f"{canonical}:{side.value if side else '*'}"


class PositionLinks:
    """In-memory link table; the store persists it and rebuilds it at start."""

    def __init__(self) -> None:
        self._legs: dict[tuple[str, str], list[Leg]] = {}

    def add(self, leg: Leg) -> None:
        self._legs.setdefault((leg.account, leg.source), []).append(leg)

    def find(
        self,
        account: str,
        source: str,
        *,
        key: str | None = None,
        canonical: str | None = None,
        side: Side | None = None,
        pending: bool | None = False,
    ) -> list[Leg]:
        """Legs matching every given criterion (``pending=None`` matches both kinds).

        ``side`` is the source's side, which differs from the follower's on a reversed route.
        """
        out = []
        for leg in self._legs.get((account, source), ()):
            if key is not None and leg.source_key != key:
                continue
            if canonical is not None and leg.canonical != canonical:
                continue
            if side is not None and leg.source_side is not side:
                continue
            if pending is not None and leg.pending is not pending:
                continue
            out.append(leg)
        return out

    def of_account(self, account: str) -> list[Leg]:
        """Every leg of one account, whatever its source (not for the hot path: it walks the table)."""
        return [leg for (owner, _), legs in self._legs.items() if owner == account for leg in legs]

    def remove(self, leg: Leg) -> None:
        legs = self._legs.get((leg.account, leg.source))
        if legs and leg in legs:
            legs.remove(leg)
