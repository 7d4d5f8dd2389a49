"""Binance USDⓈ-M futures connector: WebSocket API order entry with a REST fallback."""

from connectors.binance.config import BinanceConfig
from connectors.binance.connector import BinanceConnector

__all__ = ["BinanceConfig", "BinanceConnector"]
