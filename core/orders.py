"""What the router hands a connector, and what comes back."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Final

from core.enums import OrderType, Side
from core.instrument import ZERO
from core.records import Record

CLIENT_ID_PREFIX = "cp"


def client_order_id(source: str, dedupe_key: str, route: str, leg: int | str) -> str:
    """Deterministic client order id for (signal, route, leg).

    ``leg`` numbers the orders a signal opens; an order that acts on a linked position (close,
    cancel, modify) names that position instead (see :func:`acting_order_id`).

    22 characters of ``[a-z0-9]``: the ``cp`` prefix and 100 bits of a BLAKE2b digest in base32.
    That fits every venue's limit (OKX's 32 alphanumerics being the strictest) and lets recovery
    recognise Copier's own orders by prefix.
    """
    return SignalIds(source, dedupe_key)(route, leg)


class SignalIds:
    """:func:`client_order_id` for one signal's orders: the signal's part of the digest is hashed
    once, and each (route, leg) only adds its own bytes to a copy of that state."""

    __slots__ = ("_state",)

    def __init__(self, source: str, dedupe_key: str) -> None:
        self._state = hashlib.blake2b(f"{source}\x1f{dedupe_key}\x1f".encode(), digest_size=13)

    def __call__(self, route: str, leg: int | str) -> str:
        state = self._state.copy()
        state.update(f"{route}\x1f{leg}".encode())
        top = int.from_bytes(state.digest(), "big") >> 4  # the digest's first 100 bits: 20 base32 digits
        return CLIENT_ID_PREFIX + "".join([_B32_PAIRS[(top >> shift) & 1023] for shift in _PAIR_SHIFTS])


def acting_order_id(source: str, dedupe_key: str, route: str, kind: str, open_cid: str) -> str:
    """Client order id of the ``kind`` order (close, cancel, modify) that one signal sends for the
    linked position opened by ``open_cid``.

    Tied to the position rather than to its place among the positions the signal acts on: a
    signal planned again after a restart finds the positions it already closed gone, and each
    remaining position must get the id it had before, so that the venue is asked about the right
    order and none is skipped or sent twice.
    """
    return client_order_id(source, dedupe_key, route, f"{kind}:{open_cid}")


_B32 = "abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648 base32, lower case
_B32_PAIRS = tuple(a + b for a in _B32 for b in _B32)
_PAIR_SHIFTS = tuple(range(90, -1, -10))
_CLIENT_ID_LENGTH = len(CLIENT_ID_PREFIX) + 20


def is_client_order_id(value: str) -> bool:
    """Whether ``value`` has exactly the form of :func:`client_order_id` (``cp`` + 20 base32 digits).

    Ids a connector derives from one (Binance's ``<id>-sl``/``<id>-tp`` protective orders) share
    the prefix but not the form.
    """
    return (
        len(value) == _CLIENT_ID_LENGTH
        and value.startswith(CLIENT_ID_PREFIX)
        and all(c in _B32 for c in value[len(CLIENT_ID_PREFIX) :])
    )


class IntentKind(StrEnum):
    OPEN = "open"
    CLOSE = "close"
    MODIFY = "modify"
    CANCEL = "cancel"


class OrderIntent(Record):
    """One order for one follower account, already mapped, sized and rounded.

    A :class:`~core.records.Record`: one is built per follower order in the fan-out.

    ``volume`` and the prices are on the instrument's step and tick. ``position_id`` names the
    follower position for close and modify; ``order_id`` the pending order for cancel.
    """

    FIELDS = (
        "kind",
        "client_order_id",
        "symbol",
        "side",
        "volume",
        "order_type",
        "price",
        "sl",
        "tp",
        "position_id",
        "order_id",
        "reduce_only",
        "comment",
        "signal_price",
    )
    __slots__ = FIELDS

    def __init__(
        self,
        kind: IntentKind,
        client_order_id: str,
        symbol: str,
        side: Side,
        volume: Decimal = ZERO,
        order_type: OrderType = OrderType.MARKET,
        price: Decimal | None = None,
        sl: Decimal | None = None,
        tp: Decimal | None = None,
        position_id: str | None = None,
        order_id: str | None = None,
        reduce_only: bool = False,
        comment: str = "",
        signal_price: Decimal | None = None,
    ) -> None:
        self.kind: Final = kind
        self.client_order_id: Final = client_order_id
        self.symbol: Final = symbol
        self.side: Final = side
        self.volume: Final = volume
        self.order_type: Final = order_type
        self.price: Final = price
        self.sl: Final = sl
        self.tp: Final = tp
        self.position_id: Final = position_id
        self.order_id: Final = order_id
        self.reduce_only: Final = reduce_only
        self.comment: Final = comment
        self.signal_price: Final = signal_price


class ReportStatus(StrEnum):
    FILLED = "filled"
    ACCEPTED = "accepted"
    MODIFIED = "modified"
    CANCELED = "canceled"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """The venue's answer to one intent.

    ``t_wire_ns`` is ``time.monotonic_ns()`` when the order's bytes were handed to the venue
    connection; ``t_ack_ns`` when the venue's answer was read.
    """

    client_order_id: str
    status: ReportStatus
    venue_order_id: str | None
    position_id: str | None
    filled_volume: Decimal
    fill_price: Decimal | None
    t_wire_ns: int
    t_ack_ns: int

    @classmethod
    def without_fill(
        cls,
        client_order_id: str,
        status: ReportStatus,
        *,
        venue_order_id: str | None,
        position_id: str | None,
        t_wire_ns: int,
        t_ack_ns: int,
    ) -> ExecutionReport:
        """An answer that moved no volume: accepted, modified or canceled."""
        return cls(client_order_id, status, venue_order_id, position_id, Decimal(0), None, t_wire_ns, t_ack_ns)


@dataclass(frozen=True, slots=True)
class Position:
    """An open position as the venue reports it."""

    position_id: str
    symbol: str
    side: Side
    volume: Decimal
    open_price: Decimal
    sl: Decimal | None = None
    tp: Decimal | None = None
    comment: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "position_id": self.position_id,
            "symbol": self.symbol,
            "side": self.side.value,
            "volume": format(self.volume, "f"),
            "open_price": format(self.open_price, "f"),
            "sl": format(self.sl, "f") if self.sl is not None else None,
            "tp": format(self.tp, "f") if self.tp is not None else None,
            "comment": self.comment,
        }


class AccountState(Record):
    """Balance and equity in the account currency, as last known (a
    :class:`~core.records.Record`, as :class:`OrderIntent`: connectors build one per planned order)."""

    FIELDS = ("balance", "equity", "currency", "open_positions")
    __slots__ = FIELDS

    def __init__(self, balance: Decimal, equity: Decimal, currency: str = "USD", open_positions: int = 0) -> None:
        self.balance: Final = balance
        self.equity: Final = equity
        self.currency: Final = currency
        self.open_positions: Final = open_positions


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """An order as the venue itself reports it (from its open orders or its order history).

    ``volume`` and ``filled_volume`` are in the canonical unit (a contract venue converts);
    ``status`` is as in an :class:`ExecutionReport` (a filled reduce-only order is CLOSED).
    ``reduce_only`` is True for an order that closes or reduces a position rather than opening one
    (hedge mode: selling the long side, buying the short side). ``time_ms`` is when the venue
    created the order, on its own clock (Unix milliseconds).
    """

    client_order_id: str
    symbol: str
    side: Side
    volume: Decimal
    filled_volume: Decimal
    status: ReportStatus
    venue_order_id: str | None
    position_id: str | None
    average_price: Decimal | None
    time_ms: int
    reduce_only: bool = False
    order_type: OrderType = OrderType.MARKET
    price: Decimal | None = None
