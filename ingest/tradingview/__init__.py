"""TradingView webhook alerts."""

from ingest.tradingview.parse import ParsedAlert, parse_alert

__all__ = ["ParsedAlert", "parse_alert"]
