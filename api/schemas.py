"""Request and response bodies of the REST API."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LevelIn(BaseModel):
    """A stop loss or take profit: a price, or a distance in pips, points or percent from the entry."""

    value: Decimal
    unit: Literal["price", "pips", "points", "percent"] = "price"


class SignalIn(BaseModel):
    """A normalized signal. ``volume_kind`` says how ``volume`` is read."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"action": "open", "symbol": "EURUSD", "side": "buy", "volume": "0.1", "sl": "1.0800", "tp": "1.0950"},
                {"action": "close_part", "symbol": "EURUSD", "side": "buy", "volume": "0.5", "volume_kind": "fraction"},
                {"action": "modify", "symbol": "EURUSD", "side": "buy", "sl": {"value": "0", "unit": "pips"}},
                {"action": "close", "symbol": "EURUSD"},
            ]
        },
    )

    source: str | None = Field(None, description="A configured source; defaults to the first one")
    id: str | None = Field(None, max_length=128, description="Your id for this signal; a repeat is not traded twice")
    action: Literal["open", "close", "close_part", "modify", "close_all", "cancel", "reverse", "target"]
    symbol: str | None = None
    side: Literal["buy", "sell"] | None = None
    order_type: Literal["market", "limit", "stop"] = "market"
    volume: Decimal | None = None
    volume_kind: Literal["lots", "units", "contracts", "notional", "risk_percent", "fraction", "target"] = "lots"
    price: Decimal | None = None
    sl: Decimal | LevelIn | None = None
    tp: Decimal | LevelIn | list[Decimal | LevelIn] | None = None
    comment: str | None = Field(None, max_length=256)
    position_ref: str | None = Field(None, max_length=128)


class SubmitOut(BaseModel):
    signal_id: str
    accepted: bool
    duplicate_of: str | None = None
    followers: int = 0


class KillSwitchIn(BaseModel):
    on: bool = True
    account: str | None = Field(None, description="One account; omit for all accounts")


class KillSwitchOut(BaseModel):
    all: bool
    accounts: list[str]
