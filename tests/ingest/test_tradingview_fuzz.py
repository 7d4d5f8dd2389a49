"""Any input to the TradingView readers gives a Signal or a ParseError, never another exception."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ParseError
from core.signal import Signal
from ingest.tradingview import AlertOptions, parse_alert
from ingest.tradingview.fields import ACTIONS, LEVEL_KEYS, VOLUME_KEYS

OPTIONS = st.builds(
    AlertOptions,
    mode=st.sampled_from(["order", "target"]),
    dedupe=st.sampled_from(["content", "id"]),
    pineconnector_risk=st.sampled_from(["percent", "lots"]),
)

KEYS = sorted(
    {
        "action",
        "side",
        "order_action",
        "symbol",
        "ticker",
        "price",
        "type",
        "order_type",
        "percent",
        "id",
        "timenow",
        "time",
        "timestamp",
        "comment",
        "passphrase",
        "position_size",
        "market_position",
        "market_position_size",
        "strategy",
    }
    | {key for _kind, keys in VOLUME_KEYS for key in keys}
    | {key for keys in LEVEL_KEYS.values() for key in keys}
)
WORDS = [*sorted(ACTIONS), "long", "short", "flat", "market", "limit", "stop", "EURUSD", "{{ticker}}", "50%", ""]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=20),
    st.sampled_from(
        ["1e400", "NaN", "-0", "0.0001", "2024-05-01T10:00:00Z", "1714557600000", "0001-01-01T00:00+01:00"]
    ),
)
VALUES = st.recursive(
    SCALARS, lambda inner: st.dictionaries(st.sampled_from([*KEYS, "pips", "price"]), inner, max_size=3), max_leaves=6
)
ALERTS = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=8)


def check(body: bytes, options: AlertOptions | None = None) -> None:
    try:
        parsed = parse_alert(body, source="tv", received_ns=1, options=options)
    except ParseError as exc:
        assert 400 <= exc.status < 500 and exc.reason
        return
    assert isinstance(parsed.signal, Signal)
    parsed.signal.to_json()


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300), OPTIONS)
def test_any_bytes(body, options):
    check(body, options)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300), OPTIONS)
def test_any_text(text, options):
    check(text.encode(), options)


@settings(max_examples=600, deadline=None)
@given(ALERTS, OPTIONS)
def test_json_alerts_built_from_known_fields(alert, options):
    try:
        body = orjson.dumps(alert)
    except TypeError:
        return
    check(body, options)


PC_PART = st.one_of(
    st.sampled_from([*sorted(ACTIONS), "eaon", "EURUSD", "60123456789", "", " "]),
    st.builds(
        lambda k, v: f"{k}={v}",
        st.sampled_from(
            [
                "risk",
                "sl",
                "tp",
                "price",
                "vol_lots",
                "vol_x",
                "sl_pips",
                "tp_pct",
                "sl_x",
                "comment",
                "secret",
                "id",
                "timenow",
                "symbol",
                "action",
            ]
        ),
        st.one_of(st.sampled_from(["1", "0", "-2", "1e400", "x", '"q"', "", "20.5"]), st.text(max_size=6)),
    ),
    st.text(max_size=8),
)


@settings(max_examples=600, deadline=None)
@given(st.lists(PC_PART, max_size=7), st.sampled_from([",", ";", "\n", ", "]), OPTIONS)
def test_text_alerts_built_from_known_parts(parts, separator, options):
    check(separator.join(parts).encode(), options)
