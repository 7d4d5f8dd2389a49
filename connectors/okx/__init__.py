"""OKX v5 connector: USDT-margined perpetual swaps over the private WebSocket, REST as fallback."""

from connectors.okx.config import OkxConfig
from connectors.okx.connector import OkxConnector

__all__ = ["OkxConfig", "OkxConnector"]
