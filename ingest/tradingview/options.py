"""Per-source settings of the TradingView reader, taken from the source's table in the config.

::

    [[sources]]
    name = "tv"
    kind = "tradingview"
    token = "env:TV_TOKEN"
    mode = "target"                 # strategy alerts set the follower to the strategy's position
    max_age = 30                    # refuse alerts stamped more than 30 s ago
    dedupe = "content"              # or "id": only an explicit id dedupes
    pineconnector_targets = "pips"  # how a bare sl=/tp= is read: pips, price, percent or points
    pineconnector_risk = "percent"  # how risk= is read: percent (of equity at the stop) or lots
    pineconnector_license = "ignore"  # or "token": the leading licence id must be the source token
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from typing import Any

from core.enums import LevelUnit
from core.errors import ConfigError

MODES = ("order", "target")
DEDUPE = ("content", "id")
PC_RISK = ("percent", "lots")
PC_LICENSE = ("ignore", "token")
PC_TARGETS = {unit.value: unit for unit in LevelUnit}


@dataclass(frozen=True, slots=True)
class AlertOptions:
    """How one source's alerts are read.

    ``mode``: ``"order"`` (default) trades the order action (buy/sell/close…) and reads a strategy
    position only when the alert has no action; ``"target"`` lets a strategy position
    (``position_size`` or ``market_position``) win over the order action, so the follower is set to
    the strategy's position. ``max_age`` (seconds) refuses alerts whose ``timenow``/``timestamp``/
    ``time`` is older. ``dedupe = "content"`` gives an alert without ``id`` a hash of its content
    as its id; ``"id"`` dedupes only on an explicit ``id``.
    """

    mode: str = "order"
    max_age: float | None = None
    dedupe: str = "content"
    pineconnector_targets: LevelUnit = LevelUnit.PIPS
    pineconnector_risk: str = "percent"
    pineconnector_license: str = "ignore"

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any], path: str = "", *, strict: bool = True) -> AlertOptions:
        """Read the options; ``ConfigError`` names the key path. ``strict`` refuses unknown keys."""
        known = {field.name for field in fields(cls)}
        if strict:
            for key in options:
                if key not in known:
                    raise ConfigError(f"unknown option; use one of {', '.join(sorted(known))}", _at(path, key))
        return cls(
            mode=_choice(options, "mode", MODES, "order", path),
            max_age=_seconds(options.get("max_age"), _at(path, "max_age")),
            dedupe=_choice(options, "dedupe", DEDUPE, "content", path),
            pineconnector_targets=PC_TARGETS[
                _choice(options, "pineconnector_targets", tuple(PC_TARGETS), "pips", path)
            ],
            pineconnector_risk=_choice(options, "pineconnector_risk", PC_RISK, "percent", path),
            pineconnector_license=_choice(options, "pineconnector_license", PC_LICENSE, "ignore", path),
        )


DEFAULT_OPTIONS = AlertOptions()


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _choice(options: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str, path: str) -> str:
    value = options.get(key, default)
    if value not in allowed:
        raise ConfigError(f"must be one of {', '.join(allowed)}, not {value!r}", _at(path, key))
    return str(value)


def _seconds(value: object, path: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigError("must be a number of seconds", path)
    try:
        seconds = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"must be a number of seconds, not {value!r}", path) from None
    if not seconds.is_finite() or seconds <= 0:
        raise ConfigError(f"must be a positive number of seconds, not {value!r}", path)
    return float(seconds)
