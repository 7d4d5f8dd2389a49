"""The paper venue's error codes, mapped once to Copier's typed errors.

:class:`~connectors.paper.client.PaperVenue` refuses an order by raising
:class:`PaperVenueError` with one of the codes below and a detail sentence; the connector turns
it into a :class:`~core.errors.VenueError` subclass with :func:`venue_error`. Every paper refusal
is a clear venue rejection: the order does not exist at the venue and may be corrected and sent
again under the same client order id.
"""

from __future__ import annotations

from core.errors import VenueError, VenueRejected


class PaperVenueError(Exception):
    """A refusal as the paper venue itself reports it: a code and a sentence for the trader."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)


INVALID_REQUEST = "INVALID_REQUEST"
INVALID_VOLUME = "INVALID_VOLUME"
VOLUME_TOO_SMALL = "VOLUME_TOO_SMALL"
VOLUME_TOO_LARGE = "VOLUME_TOO_LARGE"
NOTIONAL_TOO_SMALL = "NOTIONAL_TOO_SMALL"
INVALID_PRICE = "INVALID_PRICE"
INVALID_STOPS = "INVALID_STOPS"
NO_MONEY = "NO_MONEY"
UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
DUPLICATE_CLIENT_ID = "DUPLICATE_CLIENT_ID"
POSITION_NOT_FOUND = "POSITION_NOT_FOUND"
ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
REDUCE_ONLY = "REDUCE_ONLY"
MARKET_CLOSED = "MARKET_CLOSED"

ERRORS: dict[str, type[VenueError]] = {
    INVALID_REQUEST: VenueRejected,
    INVALID_VOLUME: VenueRejected,
    VOLUME_TOO_SMALL: VenueRejected,
    VOLUME_TOO_LARGE: VenueRejected,
    NOTIONAL_TOO_SMALL: VenueRejected,
    INVALID_PRICE: VenueRejected,
    INVALID_STOPS: VenueRejected,
    NO_MONEY: VenueRejected,
    UNKNOWN_SYMBOL: VenueRejected,
    DUPLICATE_CLIENT_ID: VenueRejected,
    POSITION_NOT_FOUND: VenueRejected,
    ORDER_NOT_FOUND: VenueRejected,
    REDUCE_ONLY: VenueRejected,
    MARKET_CLOSED: VenueRejected,
}
"""Error type for every code the paper venue returns."""

REASONS: dict[str, str] = {
    INVALID_REQUEST: "the order request is incomplete",
    INVALID_VOLUME: "the volume is not valid for this instrument",
    VOLUME_TOO_SMALL: "the volume is below the instrument's minimum",
    VOLUME_TOO_LARGE: "the volume is above the instrument's maximum",
    NOTIONAL_TOO_SMALL: "the order's value is below the instrument's minimum",
    INVALID_PRICE: "the order price is not valid",
    INVALID_STOPS: "the stop-loss or take-profit is on the wrong side of the price",
    NO_MONEY: "not enough free margin for this order",
    UNKNOWN_SYMBOL: "the account does not trade this symbol",
    DUPLICATE_CLIENT_ID: "an order with this client order id already exists",
    POSITION_NOT_FOUND: "the position does not exist",
    ORDER_NOT_FOUND: "the pending order does not exist",
    REDUCE_ONLY: "a reduce-only order would open or increase a position",
    MARKET_CLOSED: "the market is closed for this symbol",
}
"""Generic trader-readable reason per code, used when the venue gives no detail."""


def venue_error(code: str, detail: str = "") -> VenueError:
    """The typed error for a paper venue refusal; ``reason`` is the detail or the code's reason."""
    error_type = ERRORS.get(code, VenueRejected)
    return error_type(detail or REASONS.get(code, "the paper venue refused the order"), code)


def from_venue(exc: PaperVenueError) -> VenueError:
    """The typed error for a :class:`PaperVenueError`."""
    return venue_error(exc.code, exc.detail)
