"""Any bytes, CSV or JSON text given to the filedrop parser gives signals or row errors, never an exception."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from core.signal import Signal
from ingest.filedrop import COLUMNS, ParsedFile, ParsedRow, RowError, parse_file

NAMES = st.sampled_from(["orders.csv", "orders.json", "orders.jsonl", "oif1.txt", "drop", "orders.tsv"])
COLUMN_NAMES = [alias for aliases in COLUMNS.values() for alias in aliases] + [
    "Limit Price",
    "Stop Loss",
    "Take Profit",
    "Order ID",
    "TP2",
    "Exchange",
]
CELLS = st.one_of(
    st.sampled_from(
        [
            "buy",
            "SELL",
            "close",
            "close_all",
            "limit",
            "MKT",
            "EURUSD",
            "0.1",
            "-1",
            "1e400",
            "NaN",
            "30 pips",
            "5%",
            "2024-01-15T10:30:00Z",
            "",
            "{{ticker}}",
            "0",
            "1,5",
        ]
    ),
    st.text(max_size=12),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10) | CELLS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(COLUMN_NAMES) | st.text(max_size=6), inner, max_size=6)
    ),
    max_leaves=20,
)


def check(result: ParsedFile) -> None:
    assert isinstance(result, ParsedFile)
    if result.error is not None:
        assert result.error and result.rows == ()
        return
    assert result.rows
    for row in result.rows:
        if isinstance(row, ParsedRow):
            assert isinstance(row.signal, Signal) and row.signal.origin_id and row.signal.source == "fuzz"
        else:
            assert isinstance(row, RowError) and row.reason
    assert [r.row for r in result.rows] == list(range(1, len(result.rows) + 1))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), NAMES)
def test_any_bytes(data, name):
    check(parse_file(data, name=name, source="fuzz"))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), NAMES)
def test_any_text(text, name):
    check(parse_file(text.encode(), name=name, source="fuzz"))


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(COLUMN_NAMES), min_size=1, max_size=8),
    st.lists(st.lists(CELLS, max_size=9), max_size=6),
    st.sampled_from([",", ";", "\t"]),
)
def test_csv_with_known_columns(header, rows, delimiter):
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    check(parse_file(out.getvalue().encode(), name="orders.csv", source="fuzz"))


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES)
def test_json_documents(document):
    text = json.dumps(document, allow_nan=True)
    check(parse_file(text.encode(), name="orders.json", source="fuzz"))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(CELLS, max_size=13), min_size=1, max_size=5),
    st.sampled_from(["PLACE", "CANCEL", "CLOSEPOSITION", "REVERSEPOSITION", "CHANGE", "FLATTENEVERYTHING"]),
)
def test_order_instruction_files(rows, command):
    text = "\n".join(";".join([command, *row]) for row in rows)
    check(parse_file(text.encode(), name="oif.txt", source="fuzz"))
