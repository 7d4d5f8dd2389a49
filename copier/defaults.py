"""The embedded default: a data folder, one TradingView source, a filedrop inbox, two paper followers.

Secrets it needs (the webhook token and an admin API key) are generated on first run into
``<data>/secrets/`` with mode 0600 and read from there afterwards.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

DEFAULT_DATA_DIR = Path("copier-data")

DEFAULT_CONFIG = """\
# Copier's embedded default configuration.
data_dir = "{data_dir}"

[server]
webhook = "127.0.0.1:8080"
api = "127.0.0.1:8081"

[storage]
url = "sqlite+aiosqlite:///{data_dir}/copier.db"

[log]
mirror = "{data_dir}/mirror.jsonl"

[[sources]]
name = "tv"
kind = "tradingview"
token = "file:{data_dir}/secrets/tv-token"

[[sources]]
name = "inbox"
kind = "filedrop"
inbox = "{data_dir}/inbox"

[[accounts]]
name = "paper-a"
venue = "paper"
balance = 10000

[[accounts]]
name = "paper-b"
venue = "paper"
balance = 5000
mode = "netting"

# paper-a copies the alert's volume as it is.
[[routes]]
source = "tv"
account = "paper-a"
sizing = {{ mode = "multiplier", factor = 1 }}

# paper-b trades in proportion to its equity against a 10,000 source account (half size here).
[[routes]]
source = "tv"
account = "paper-b"
sizing = {{ mode = "equity_ratio", source_equity = 10000 }}

# Files dropped into the inbox trade on both paper accounts as they are.
[[routes]]
source = "inbox"
account = "paper-a"

[[routes]]
source = "inbox"
account = "paper-b"
"""


def ensure_secret(path: Path, nbytes: int = 24) -> str:
    """Read the secret at ``path``, creating it (mode 0600) with a random URL-safe value when absent."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def default_config_text(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    """The default configuration for ``data_dir``, creating its secrets on first use."""
    ensure_secret(data_dir / "secrets" / "tv-token")
    return DEFAULT_CONFIG.format(data_dir=data_dir.as_posix())


def admin_key(data_dir: Path) -> str:
    """``COPIER_API_KEY`` when set, else the data folder's generated admin key."""
    return os.environ.get("COPIER_API_KEY") or ensure_secret(data_dir / "secrets" / "api-key", 32)
