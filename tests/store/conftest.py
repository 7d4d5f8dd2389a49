"""Store backends: every store test runs on SQLite and, when COPIER_TEST_POSTGRES_URL is set, PostgreSQL.

Each PostgreSQL run gets a schema of its own (a random name on the connection's search_path),
dropped at the end, so parallel runs never see each other's rows. When the variable is set and the
server is unreachable, the tests fail: they do not skip.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from copier.store import Store

PG_ENV = "COPIER_TEST_POSTGRES_URL"


@dataclass(frozen=True)
class Backend:
    name: str
    url: str
    schema: str | None = None


def sqlite_backend(folder: Path) -> Backend:
    return Backend("sqlite", f"sqlite+aiosqlite:///{folder}/copier.db")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return sqlite_backend(tmp_path)
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set")
    return Backend("postgresql", url, f"copier_test_{secrets.token_hex(6)}")


@asynccontextmanager
async def open_store(backend: Backend, *, migrate: bool = True) -> AsyncIterator[Store]:
    """A store on ``backend`` (migrated unless told otherwise); a PostgreSQL schema is dropped after."""
    store = await Store.open(backend.url, schema=backend.schema)
    try:
        if migrate:
            await store.migrate()
        yield store
    finally:
        if backend.schema:
            async with store.engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{backend.schema}" CASCADE'))
        await store.close()
