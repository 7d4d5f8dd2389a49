"""OKX v5 JSON → Copier types, and the one mapping from OKX error codes to typed errors.

Codes used (OKX v5 "Error Code" reference; ``code`` at the top level, ``sCode`` per order):

==========  =======================================================  ======================
code        meaning at OKX                                           Copier error
==========  =======================================================  ======================
50001       service temporarily unavailable                          OutcomeUnknown
50004       API endpoint request timeout                             OutcomeUnknown
50013       system busy                                              OutcomeUnknown
50026       system error                                             OutcomeUnknown
50011       rate limit reached (HTTP 429)                            RateLimited
50061       sub-account rate limit reached                           RateLimited
50101       API key does not match the environment (live vs demo)    ConfigError
50102       timestamp request expired                                TransientError
50103-50107 a required ``OK-ACCESS-*`` header is empty               ConfigError
50105       wrong passphrase                                         ConfigError
50111       invalid ``OK-ACCESS-KEY``                                ConfigError
50112       invalid ``OK-ACCESS-TIMESTAMP``                          TransientError
50113       invalid signature                                        ConfigError
51000       parameter error                                          VenueRejected
51001       instrument does not exist                                VenueRejected
51008       insufficient balance / margin                            VenueRejected
51016       duplicated ``clOrdId``                                   VenueRejected
51020       size below the instrument's minimum                      VenueRejected
51121       size is not a multiple of the lot size                   VenueRejected
51169       no position in this direction to reduce or close         VenueRejected
51202       market order size above the maximum                      VenueRejected
51400       cancel failed: order filled, canceled or not found       VenueRejected
51503       amend failed: order filled, canceled or not found        VenueRejected
51603       order does not exist                                     VenueRejected
60005-60024 WebSocket login refused (key, sign, passphrase)          ConfigError
60006       WebSocket login timestamp expired                        TransientError
60011       WebSocket not logged in                                  TransientError
==========  =======================================================  ======================

A duplicated ``clOrdId`` (51016) is a rejection of the new request: the order already held under
that id is untouched, and :meth:`~connectors.okx.connector.OkxConnector.order_by_client_id` reports it.
Codes not listed are venue rejections: OKX answered and refused. HTTP 5xx, timeouts and a
connection dropped after the request left are :class:`OutcomeUnknown` for orders and
:class:`TransientError` for reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from core.enums import OrderType, Side
from core.errors import (
    ConfigError,
    CopierError,
    OutcomeUnknown,
    RateLimited,
    TransientError,
    VenueError,
    VenueRejected,
)
from core.instrument import Instrument
from core.orders import ExecutionReport, Position, ReportStatus, VenueOrder

ZERO = Decimal(0)

ERRORS: dict[str, type[CopierError]] = {
    "50001": OutcomeUnknown,
    "50004": OutcomeUnknown,
    "50013": OutcomeUnknown,
    "50026": OutcomeUnknown,
    "50011": RateLimited,
    "50061": RateLimited,
    "50101": ConfigError,
    "50102": TransientError,
    "50103": ConfigError,
    "50104": ConfigError,
    "50105": ConfigError,
    "50106": ConfigError,
    "50107": ConfigError,
    "50111": ConfigError,
    "50112": TransientError,
    "50113": ConfigError,
    "51000": VenueRejected,
    "51001": VenueRejected,
    "51008": VenueRejected,
    "51016": VenueRejected,
    "51020": VenueRejected,
    "51121": VenueRejected,
    "51169": VenueRejected,
    "51202": VenueRejected,
    "51400": VenueRejected,
    "51503": VenueRejected,
    "51603": VenueRejected,
    "60005": ConfigError,
    "60006": TransientError,
    "60007": ConfigError,
    "60009": ConfigError,
    "60011": TransientError,
    "60024": ConfigError,
}
"""Copier error type for each OKX code; any other non-zero code is a :class:`VenueRejected`."""

REASONS: dict[str, str] = {
    "50011": "too many requests to OKX",
    "50101": "the API key belongs to the other environment (live vs demo trading)",
    "50102": "the request's timestamp was outside OKX's window (clock drift)",
    "50105": "OKX refused the API passphrase",
    "50111": "OKX refused the API key",
    "50113": "OKX refused the request signature (wrong API secret?)",
    "51000": "OKX refused a parameter of the order",
    "51001": "OKX does not list this instrument",
    "51008": "not enough margin in the OKX account",
    "51016": "this client order id was already used at OKX",
    "51020": "the size is below the instrument's minimum at OKX",
    "51121": "the size is not a whole number of lots at OKX",
    "51169": "there is no position in this direction to reduce or close",
    "51202": "the size is above the maximum for a market order at OKX",
    "51603": "OKX has no such order",
    "60007": "OKX refused the WebSocket login signature",
    "60009": "OKX refused the WebSocket login",
    "60024": "OKX refused the API passphrase",
}
"""A trader-readable reason per code, used when OKX's own message is empty."""

RATE_LIMIT_RETRY_AFTER = 2.0
"""OKX sends no retry hint; its order limits are counted over 2 s windows."""


def venue_error(code: str, message: str = "", *, account: str = "") -> CopierError:
    """The typed error for an OKX error code (top-level ``code`` or per-order ``sCode``)."""
    kind = ERRORS.get(code, VenueRejected)
    reason = message or REASONS.get(code, "OKX refused the request")
    if kind is ConfigError:
        path = f"accounts.{account}" if account else ""
        return ConfigError(f"{REASONS.get(code, reason)} (OKX code {code}: {message})", path)
    if kind is RateLimited:
        return RateLimited(reason, code=code, retry_after=RATE_LIMIT_RETRY_AFTER)
    assert issubclass(kind, VenueError)
    return kind(reason, code=code)


def http_error(status: int, payload: Any, *, read_only: bool, account: str = "") -> CopierError:
    """The typed error for a non-2xx HTTP answer.

    OKX puts its own code in the body for 4xx (401 auth, 429 rate limit); a 5xx says nothing
    about whether an order was taken, so a write becomes :class:`OutcomeUnknown`.
    """
    code = payload.get("code") if isinstance(payload, dict) else None
    message = payload.get("msg", "") if isinstance(payload, dict) else ""
    if status >= 500:
        reason = f"OKX answered HTTP {status}"
        return TransientError(reason, code=status) if read_only else OutcomeUnknown(reason, code=status)
    if isinstance(code, str) and code not in ("", "0"):
        return venue_error(code, str(message), account=account)
    if status == 429:
        return RateLimited("too many requests to OKX", code=status, retry_after=RATE_LIMIT_RETRY_AFTER)
    return VenueRejected(f"OKX answered HTTP {status}", code=status)


def order_error(payload: dict[str, Any], *, account: str = "") -> CopierError | None:
    """The error of a one-order answer (REST or WebSocket op), or None when it was accepted.

    The per-order ``sCode`` is the precise one; the top-level ``code`` is ``1`` ("operation
    failed") when the only order failed.
    """
    data = payload.get("data") or []
    row = data[0] if data and isinstance(data[0], dict) else {}
    s_code = str(row.get("sCode", "0") or "0")
    if s_code != "0":
        return venue_error(s_code, str(row.get("sMsg", "")), account=account)
    code = str(payload.get("code", "0") or "0")
    if code != "0":
        return venue_error(code, str(payload.get("msg", "")), account=account)
    return None


def decimal(value: Any, default: Decimal = ZERO) -> Decimal:
    """OKX sends numbers as strings, ``""`` when absent."""
    if value is None or value == "":
        return default
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return default


def optional_decimal(value: Any) -> Decimal | None:
    """Like :func:`decimal` but ``None`` for absent values; ``-1`` (market) stays ``-1``."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class SwapSpec:
    """One OKX swap with its contract facts and the Copier :class:`Instrument` in base quantity.

    ``base_per_contract`` is ``ctVal × ctMult``. ``instrument.volume_step`` is one lot in base
    quantity, so a volume on that step converts to a whole number of lots exactly.
    """

    inst_id: str
    ct_val: Decimal
    ct_mult: Decimal
    lot_sz: Decimal
    min_sz: Decimal
    tick_sz: Decimal
    max_mkt_sz: Decimal | None
    max_lmt_sz: Decimal | None
    instrument: Instrument

    @property
    def base_per_contract(self) -> Decimal:
        return self.ct_val * self.ct_mult

    def to_contracts(self, base_quantity: Decimal) -> Decimal:
        """Contracts for ``base_quantity``, rounded down to ``lotSz`` (never an off-step ``sz``)."""
        lots = (base_quantity / self.base_per_contract / self.lot_sz).to_integral_value(rounding=ROUND_DOWN)
        return (lots * self.lot_sz).quantize(self.lot_sz)

    def to_base(self, contracts: Decimal) -> Decimal:
        """Base quantity for ``contracts``, on the instrument's volume step."""
        return (contracts * self.base_per_contract).quantize(self.instrument.volume_step)


def swap_spec(row: dict[str, Any]) -> SwapSpec | None:
    """A :class:`SwapSpec` from one ``/api/v5/public/instruments`` row.

    Only live, linear (USDT-settled) swaps are kept; inverse swaps count contracts in USD and do
    not fit a base-quantity volume. Rows with missing or zero facts are skipped.
    """
    if row.get("instType") != "SWAP" or row.get("ctType") != "linear" or row.get("state", "live") != "live":
        return None
    inst_id = str(row.get("instId", ""))
    ct_val = decimal(row.get("ctVal"))
    ct_mult = decimal(row.get("ctMult"), Decimal(1))
    lot_sz = decimal(row.get("lotSz"))
    min_sz = decimal(row.get("minSz"))
    tick_sz = decimal(row.get("tickSz"))
    if not inst_id or ct_val <= 0 or ct_mult <= 0 or lot_sz <= 0 or tick_sz <= 0 or min_sz < 0:
        return None
    per_contract = ct_val * ct_mult
    max_mkt = optional_decimal(row.get("maxMktSz"))
    max_lmt = optional_decimal(row.get("maxLmtSz"))
    step = (lot_sz * per_contract).normalize()
    if step.as_tuple().exponent > 0:  # type: ignore[operator]
        step = step.quantize(Decimal(1))
    instrument = Instrument(
        symbol=inst_id,
        volume_step=step,
        min_volume=(max(min_sz, lot_sz) * per_contract).quantize(step),
        tick_size=tick_sz,
        max_volume=(max_mkt * per_contract).quantize(step) if max_mkt else None,
        contract_size=Decimal(1),
        quote_value=Decimal(1),
    )
    return SwapSpec(inst_id, ct_val, ct_mult, lot_sz, min_sz, tick_sz, max_mkt, max_lmt, instrument)


def position_id(inst_id: str, pos_side: str) -> str:
    """Copier's id for an OKX position: ``BTC-USDT-SWAP:long`` (``:net`` in one-way mode)."""
    return f"{inst_id}:{pos_side}"


def split_position_id(value: str) -> tuple[str, str]:
    """``(instId, posSide)`` from :func:`position_id`; ``posSide`` is ``""`` when absent."""
    inst_id, _, pos_side = value.partition(":")
    return inst_id, pos_side


def position(
    row: dict[str, Any], spec: SwapSpec, sl: Decimal | None = None, tp: Decimal | None = None
) -> Position | None:
    """A :class:`Position` from one ``/api/v5/account/positions`` row (None when flat)."""
    pos = decimal(row.get("pos"))
    if pos == 0:
        return None
    pos_side = str(row.get("posSide") or "net")
    if pos_side == "long":
        side = Side.BUY
    elif pos_side == "short":
        side = Side.SELL
    else:
        side = Side.BUY if pos > 0 else Side.SELL
    return Position(
        position_id=position_id(spec.inst_id, pos_side),
        symbol=spec.inst_id,
        side=side,
        volume=spec.to_base(abs(pos)),
        open_price=decimal(row.get("avgPx")),
        sl=sl,
        tp=tp,
    )


_FINAL_STATUS = {
    "filled": ReportStatus.FILLED,
    "canceled": ReportStatus.CANCELED,
    "mmp_canceled": ReportStatus.CANCELED,
}


def is_closing(row: dict[str, Any]) -> bool:
    """Whether an order row reduces a position (reduce-only, or hedge-mode sell-long/buy-short)."""
    if str(row.get("reduceOnly", "")).lower() == "true":
        return True
    pos_side, side = row.get("posSide"), row.get("side")
    return (pos_side == "long" and side == "sell") or (pos_side == "short" and side == "buy")


def order_report(row: dict[str, Any], spec: SwapSpec | None, t_wire_ns: int = 0, t_ack_ns: int = 0) -> ExecutionReport:
    """An :class:`ExecutionReport` from an order row (``GET /api/v5/trade/order`` or the
    ``orders`` channel). Fill volumes are converted from contracts to base quantity."""
    state = str(row.get("state", ""))
    filled = decimal(row.get("accFillSz"))
    status = _FINAL_STATUS.get(state, ReportStatus.ACCEPTED)
    if status is ReportStatus.FILLED and is_closing(row):
        status = ReportStatus.CLOSED
    inst_id = str(row.get("instId", ""))
    return ExecutionReport(
        client_order_id=str(row.get("clOrdId", "")),
        status=status,
        venue_order_id=str(row.get("ordId") or "") or None,
        position_id=position_id(inst_id, str(row.get("posSide") or "net")) if inst_id else None,
        filled_volume=spec.to_base(filled) if spec is not None else filled,
        fill_price=optional_decimal(row.get("avgPx")) if filled > 0 else None,
        t_wire_ns=t_wire_ns,
        t_ack_ns=t_ack_ns,
    )


ALGO_ORDER_PREFIX = "algo:"
"""Venue order ids of algo (trigger / stop) orders carry this prefix so a cancel finds its endpoint."""


def algo_report(row: dict[str, Any], t_wire_ns: int = 0, t_ack_ns: int = 0) -> ExecutionReport:
    """An :class:`ExecutionReport` for an algo order row (stop entry or SL/TP)."""
    state = str(row.get("state", ""))
    status = ReportStatus.CANCELED if state in ("canceled", "order_failed") else ReportStatus.ACCEPTED
    inst_id = str(row.get("instId", ""))
    algo_id = str(row.get("algoId") or "")
    return ExecutionReport(
        client_order_id=str(row.get("algoClOrdId", "")),
        status=status,
        venue_order_id=ALGO_ORDER_PREFIX + algo_id if algo_id else None,
        position_id=position_id(inst_id, str(row.get("posSide") or "net")) if inst_id else None,
        filled_volume=ZERO,
        fill_price=None,
        t_wire_ns=t_wire_ns,
        t_ack_ns=t_ack_ns,
    )


def balance(row: dict[str, Any], currency: str = "USDT") -> tuple[Decimal, Decimal]:
    """``(balance, equity)`` in ``currency`` from one ``/api/v5/account/balance`` row.

    Falls back to the account's USD totals when the currency has no detail line.
    """
    for detail in row.get("details") or []:
        if detail.get("ccy") == currency:
            cash = decimal(detail.get("cashBal"))
            return cash, decimal(detail.get("eq"), cash)
    total = decimal(row.get("totalEq"))
    return decimal(row.get("adjEq"), total), total


_VENUE_ORDER_STATUS = {
    "live": ReportStatus.ACCEPTED,
    "partially_filled": ReportStatus.ACCEPTED,
    "filled": ReportStatus.FILLED,
    "canceled": ReportStatus.CANCELED,
    "mmp_canceled": ReportStatus.CANCELED,
}


_SIDES = {"buy": Side.BUY, "sell": Side.SELL}


def parse_side(value: object) -> Side | None:
    """An OKX side (``buy``/``sell``), or None for anything else."""
    return _SIDES.get(str(value))


def order_client_id(row: dict[str, Any]) -> str:
    """An order or algo row's client id: its own ``clOrdId``, or (a stop entry, or the order it
    placed when it triggered, which has no ``clOrdId``) the stop entry's ``algoClOrdId``."""
    return str(row.get("clOrdId") or row.get("algoClOrdId") or "")


def venue_algo_order(row: dict[str, Any], spec: SwapSpec) -> VenueOrder | None:
    """One live ``trigger`` row of ``orders-algo-pending`` (a stop entry not yet triggered) as a
    pending :class:`VenueOrder`: STOP at its trigger price, its venue id the algo id (``algo:…``)."""
    side = parse_side(row.get("side"))
    algo_id = str(row.get("algoId") or "")
    if side is None or not algo_id or str(row.get("state", "")) != "live":
        return None
    return VenueOrder(
        client_order_id=str(row.get("algoClOrdId", "")),
        symbol=spec.inst_id,
        side=side,
        volume=spec.to_base(decimal(row.get("sz"))),
        filled_volume=ZERO,
        status=ReportStatus.ACCEPTED,
        venue_order_id=ALGO_ORDER_PREFIX + algo_id,
        position_id=position_id(spec.inst_id, str(row.get("posSide") or "net")),
        average_price=None,
        time_ms=int(decimal(row.get("cTime"))),
        order_type=OrderType.STOP,
        price=optional_decimal(row.get("triggerPx")),
    )


def venue_order(row: dict[str, Any], spec: SwapSpec) -> VenueOrder | None:
    """One row of ``orders-pending`` / ``orders-history`` as a :class:`VenueOrder`, with sizes
    converted from contracts to base quantity (None for a state or side it does not know)."""
    status = _VENUE_ORDER_STATUS.get(str(row.get("state", "")))
    side = parse_side(row.get("side"))
    if status is None or side is None:
        return None
    closing = is_closing(row)
    if closing and status is ReportStatus.FILLED:
        status = ReportStatus.CLOSED
    filled = decimal(row.get("accFillSz"))
    limit = str(row.get("ordType", "")) != "market"
    ord_id = str(row.get("ordId") or "")
    return VenueOrder(
        client_order_id=order_client_id(row),
        symbol=spec.inst_id,
        side=side,
        volume=spec.to_base(decimal(row.get("sz"))),
        filled_volume=spec.to_base(filled),
        status=status,
        venue_order_id=ord_id or None,
        position_id=position_id(spec.inst_id, str(row.get("posSide") or "net")),
        average_price=optional_decimal(row.get("avgPx")) if filled > 0 else None,
        time_ms=int(decimal(row.get("cTime"))),
        reduce_only=closing,
        order_type=OrderType.LIMIT if limit else OrderType.MARKET,
        price=optional_decimal(row.get("px")) if limit else None,
    )
