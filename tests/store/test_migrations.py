"""The migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from omniline.errors import SchemaOutdatedError
from omniline.store import check_schema, current_revision, head_revision, upgrade
from omniline.store.schema import metadata
from omniline.testing import TemporaryPostgres


async def differences(async_url: str) -> list[Any]:
    engine = create_async_engine(async_url)
    try:
        async with engine.connect() as conn:

            def compare(sync_conn: sa.Connection) -> list[Any]:
                return list(compare_metadata(MigrationContext.configure(sync_conn), metadata))

            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


async def test_sqlite_migrations_match_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with pytest.raises(SchemaOutdatedError, match="the database is empty"):
        await check_schema(url)
    await upgrade(url)
    assert await current_revision(url) == head_revision()
    await check_schema(url)
    assert await differences(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}") == []


async def test_postgres_migrations_match_the_schema(temporary_postgres: TemporaryPostgres) -> None:
    url = await asyncio.to_thread(temporary_postgres.create_database, "migrations")
    await upgrade(url)
    await check_schema(url)
    assert await differences(url.replace("postgresql://", "postgresql+asyncpg://")) == []
