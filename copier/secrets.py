"""Secret references in the configuration: ``env:NAME`` and ``file:PATH``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core.errors import ConfigError


def resolve_secret(value: Any, path: str, base: Path) -> str:
    """Resolve ``env:NAME`` and ``file:PATH`` references; other text is taken as it is."""
    if not isinstance(value, str) or not value:
        raise ConfigError("must be a non-empty string", path)
    if value.startswith("env:"):
        name = value[4:]
        found = os.environ.get(name)
        if not found:
            raise ConfigError(f"environment variable {name} is not set", path)
        return found
    if value.startswith("file:"):
        target = Path(value[5:])
        if not target.is_absolute():
            target = base / target
        try:
            return target.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read secret file {target}: {exc.strerror}", path) from None
    return value
