"""The venues Copier can trade, and how an account's table becomes a started connector."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.connector import Connector
from core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class VenueKind:
    """How to validate one venue's account settings and build its connector from them."""

    settings: Callable[[str, Mapping[str, Any], str, Path], Any]
    connector: Callable[[Any], Connector]


def _paper_settings(name: str, table: Mapping[str, Any], where: str, base: Path) -> Any:
    from connectors.paper import PaperConfig

    cleaned = {k: v for k, v in table.items() if k != "venue"}
    try:
        return PaperConfig.from_mapping(name, cleaned, prefix="", ignore=())
    except ConfigError as exc:
        suffix = exc.path.split(".", 1)[1] if "." in exc.path else ""
        raise ConfigError(exc.message, f"{where}.{suffix}" if suffix else where) from None


def _paper_connector(config: Any) -> Connector:
    from connectors.paper import PaperConnector

    connector: Connector = PaperConnector(config)
    return connector


VENUES: dict[str, VenueKind] = {
    "paper": VenueKind(_paper_settings, _paper_connector),
}


def venue_settings(venue: str, name: str, table: Mapping[str, Any], where: str, base: Path) -> Any:
    kind = VENUES.get(venue)
    if kind is None:
        raise ConfigError(f"unknown venue {venue!r}; use one of {', '.join(sorted(VENUES))}", f"{where}.venue")
    return kind.settings(name, table, where, base)


def build_connector(venue: str, settings: Any) -> Connector:
    return VENUES[venue].connector(settings)
