"""Binance USDⓈ-M futures connector: WebSocket API order entry with a REST fallback."""

from core.compiled import package_path

__path__ = package_path(__path__, __name__)  # compiled modules first, when built (core/compiled.py)

from connectors.binance.config import BinanceConfig
from connectors.binance.connector import BinanceConnector

__all__ = ["BinanceConfig", "BinanceConnector"]
