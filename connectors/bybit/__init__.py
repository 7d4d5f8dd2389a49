"""Bybit v5 linear perpetuals: configuration, signing, parsing, client and connector."""

from core.compiled import package_path

__path__ = package_path(__path__, __name__)  # compiled modules first, when built (core/compiled.py)

from connectors.bybit.config import BybitConfig
from connectors.bybit.connector import BybitConnector

__all__ = ["BybitConfig", "BybitConnector"]
