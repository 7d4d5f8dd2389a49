"""Bybit v5 linear perpetuals: configuration, signing, parsing, client and connector."""

from connectors.bybit.config import BybitConfig
from connectors.bybit.connector import BybitConnector

__all__ = ["BybitConfig", "BybitConnector"]
