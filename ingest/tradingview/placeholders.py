"""TradingView ``{{placeholders}}`` left unfilled in an alert body.

TradingView replaces ``{{ticker}}``, ``{{close}}``, ``{{strategy.order.action}}`` … when the alert
fires. One still present means the alert cannot be traded as it stands: a ``{{strategy.*}}``
placeholder is filled only in a strategy's order-fill alert, a test alert sent by hand fills
nothing, and a name TradingView does not know (``{{sec_key}}``) is never filled.
"""

from __future__ import annotations

import re

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s][^{}]{0,100}?)\s*\}\}")

#: What an unfilled placeholder is replaced with so the rest of the body can still be read
#: (for the passphrase): valid JSON both inside and outside quotes.
NEUTRAL = "null"


def find_placeholders(text: str) -> tuple[str, ...]:
    """Every distinct placeholder in ``text``, in order of appearance, as ``{{name}}``."""
    seen: dict[str, None] = {}
    for match in _PLACEHOLDER.finditer(text):
        seen.setdefault("{{" + match.group(1) + "}}", None)
    return tuple(seen)


def neutralize(text: str) -> str:
    """``text`` with every placeholder replaced by :data:`NEUTRAL`."""
    return _PLACEHOLDER.sub(NEUTRAL, text)


def describe(found: tuple[str, ...], limit: int = 8) -> str:
    """A trader-facing sentence naming the placeholders."""
    names = ", ".join(found[:limit]) + (f" and {len(found) - limit} more" if len(found) > limit else "")
    strategy = any(name.startswith("{{strategy.") for name in found)
    hint = (
        "; {{strategy.*}} values are filled only when a strategy's order fills, not by an indicator or a test alert"
        if strategy
        else ""
    )
    plural = "s" if len(found) > 1 else ""
    return f"unfilled TradingView placeholder{plural} {names}: the alert was sent without its values{hint}"
