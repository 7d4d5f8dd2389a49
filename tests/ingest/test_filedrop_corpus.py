"""The filedrop parser against the real files in ``../shared/corpus/filedrop`` (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.filedrop import parse_file

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "filedrop"

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="corpus not present")

# file → (format, orders read, rows rejected, rows ignored, words of the file-level reason or None)
EXPECTED = {
    "ib_basket_limit_orders.csv": ("csv", 2, 0, 0, None),
    "ib_basket_market_orders.csv": ("csv", 2, 0, 0, None),
    "iptrade_IPTRADECSV2_traditional.csv": ("iptrade", 0, 0, 3, None),
    "iptrade_example_IPTRADECSV2.csv": ("iptrade", 1, 0, 7, None),
    "iptrade_master_account_example.csv": ("iptrade", 3, 0, 3, None),
    "mt5_order_copier_state.json": ("json", 0, 0, 0, "saved state"),
    "mt5_symbol_mapping_with_lots.csv": ("csv", 0, 0, 0, "symbol mapping"),
    "ninjatrader_oif_command_templates.txt": ("oif", 0, 0, 0, "template"),
    "traderspost_signal_with_tp_sl.json": ("json", 1, 0, 0, None),
    "tradingview_alerts_processor_multi_trade.json": ("json", 2, 0, 0, None),
    "tradingview_list_of_trades_Momentum_EQ1_2024-01-01.csv": ("csv", 0, 0, 0, "List of trades"),
    "tradingview_webhook_payload_filled.json": ("json", 1, 0, 0, None),
}


def test_every_corpus_file_is_listed():
    present = {p.name for p in CORPUS.iterdir() if p.name != "sources.txt"}
    assert present == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file(name):
    fmt, signals, rejected, ignored, reason = EXPECTED[name]
    result = parse_file((CORPUS / name).read_bytes(), name=name, source="drop")
    assert result.format == fmt
    assert (len(result.signals), len(result.errors), len(result.ignored)) == (signals, rejected, ignored)
    if reason is None:
        assert result.error is None
    else:
        assert result.error is not None and reason in result.error
    ids = [r.signal.origin_id for r in result.signals]
    assert len(set(ids)) == len(ids)
