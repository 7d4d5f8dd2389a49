"""The SQL store: models, migrations, the :class:`Store` and backups."""

from copier.store.store import (
    DB_FILE,
    Store,
    account_record,
    audit_record,
    default_url,
    fill_record,
    key_digest,
    link_record,
    route_record,
    source_record,
    sqlite_path,
)

__all__ = [
    "DB_FILE",
    "Store",
    "account_record",
    "audit_record",
    "default_url",
    "fill_record",
    "key_digest",
    "link_record",
    "route_record",
    "source_record",
    "sqlite_path",
]
