"""The venues Copier can trade, and how an account's table becomes a connector.

Each venue validates its own table (its ``Config.from_mapping``); secret fields are resolved from
``env:``/``file:`` references first, and the venue's key paths are rewritten to the file's
(``accounts[2].api_key``) so errors point at the right line.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from copier.secrets import resolve_secret
from core.connector import Connector
from core.errors import ConfigError

SECRET_KEYS = ("api_key", "api_secret", "passphrase")


@dataclass(frozen=True, slots=True)
class VenueKind:
    """Where a venue's config and connector classes live."""

    module: str
    config: str
    connector: str


VENUES: dict[str, VenueKind] = {
    "paper": VenueKind("connectors.paper", "PaperConfig", "PaperConnector"),
    "okx": VenueKind("connectors.okx", "OkxConfig", "OkxConnector"),
    "bybit": VenueKind("connectors.bybit", "BybitConfig", "BybitConnector"),
    "binance": VenueKind("connectors.binance", "BinanceConfig", "BinanceConnector"),
}


def _stored(name: str, data_dir: Path | None, where: str) -> Mapping[str, str]:
    """The account's secrets from the encrypted credential store, when it has any."""
    if data_dir is None:
        return {}
    from copier.credentials import STORE_FILE, CredentialError, CredentialStore, load_master_key

    if not (data_dir / STORE_FILE).exists():
        return {}
    try:
        found = CredentialStore(data_dir / STORE_FILE, load_master_key(data_dir, create=False)).get(name)
    except (CredentialError, OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the encrypted credential store: {exc}", where) from None
    return dict(found) if found is not None else {}


def venue_settings(
    venue: str, name: str, table: Mapping[str, Any], where: str, base: Path, data_dir: Path | None = None
) -> Any:
    """Validate one account's venue table into that venue's config object.

    Secrets come from the table (``env:``/``file:`` references) or, when the table leaves them out,
    from the encrypted credential store (``copier accounts add NAME``).
    """
    kind = VENUES.get(venue)
    if kind is None:
        raise ConfigError(f"unknown venue {venue!r}; use one of {', '.join(sorted(VENUES))}", f"{where}.venue")
    resolved = {
        key: resolve_secret(value, f"{where}.{key}", base) if key in SECRET_KEYS else value
        for key, value in table.items()
        if key != "venue"
    }
    if venue != "paper" and any(key not in resolved for key in SECRET_KEYS):
        for key, value in _stored(name, data_dir, where).items():
            if key in SECRET_KEYS:
                resolved.setdefault(key, value)
    config_class = getattr(importlib.import_module(kind.module), kind.config)
    try:
        if venue == "paper":
            return config_class.from_mapping(name, resolved, prefix="", ignore=())
        return config_class.from_mapping(name, resolved)
    except ConfigError as exc:
        key = exc.path.split(f"{name}.", 1)[1] if f"{name}." in exc.path else ""
        raise ConfigError(exc.message, f"{where}.{key}" if key else where) from None


def build_connector(venue: str, settings: Any) -> Connector:
    kind = VENUES[venue]
    connector: Connector = getattr(importlib.import_module(kind.module), kind.connector)(settings)
    return connector
