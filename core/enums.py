"""Enumerations shared by every layer."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """What a signal asks the followers to do."""

    OPEN = "open"
    CLOSE = "close"
    CLOSE_PART = "close_part"
    MODIFY = "modify"
    CLOSE_ALL = "close_all"
    CANCEL = "cancel"
    REVERSE = "reverse"
    TARGET = "target"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"


class VolumeKind(StrEnum):
    """How a signal's ``volume`` is to be read."""

    LOTS = "lots"
    UNITS = "units"
    CONTRACTS = "contracts"
    NOTIONAL = "notional"
    RISK_PERCENT = "risk_percent"
    FRACTION = "fraction"
    TARGET = "target"


class LevelUnit(StrEnum):
    """Unit of a stop-loss or take-profit: an absolute price or a distance from entry."""

    PRICE = "price"
    PIPS = "pips"
    POINTS = "points"
    PERCENT = "percent"
