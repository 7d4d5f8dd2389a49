"""OKX v5 connector: USDT-margined perpetual swaps over the private WebSocket, REST as fallback."""

from core.compiled import package_path

__path__ = package_path(__path__, __name__)  # compiled modules first, when built (core/compiled.py)

from connectors.okx.config import OkxConfig
from connectors.okx.connector import OkxConnector

__all__ = ["OkxConfig", "OkxConnector"]
