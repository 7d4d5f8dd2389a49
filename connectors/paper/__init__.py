"""Paper accounts: a simulated venue in the same process, for trying routes and for tests."""

from connectors.paper.client import PaperVenue
from connectors.paper.config import PaperConfig
from connectors.paper.connector import PaperConnector

__all__ = ["PaperConfig", "PaperConnector", "PaperVenue"]
