"""TradingView webhook alerts: JSON, PineConnector and key=value bodies → ``Signal``."""

from core.compiled import package_path

__path__ = package_path(__path__, __name__)  # compiled modules first, when built (core/compiled.py)

from ingest.tradingview.options import DEFAULT_OPTIONS, AlertOptions
from ingest.tradingview.parse import ParsedAlert, RawAlert, build_signal, check_age, parse_alert, read_alert

__all__ = [
    "DEFAULT_OPTIONS",
    "AlertOptions",
    "ParsedAlert",
    "RawAlert",
    "build_signal",
    "check_age",
    "parse_alert",
    "read_alert",
]
