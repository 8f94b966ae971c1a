"""Database URLs, migrations and opening a store.

Users write ``sqlite:///path/to/file.db`` or ``postgresql://user:pass@host/db``. Migrations run
through SQLAlchemy's async engine (aiosqlite / asyncpg) with Alembic; the running store uses the
executors in ``omniline.store.executor``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import create_async_engine

from omniline.engine.ports import Clock
from omniline.errors import SchemaOutdatedError, StoreError
from omniline.store.executor import Executor, PostgresExecutor, SqliteExecutor
from omniline.store.sql_store import SqlStore

MIGRATIONS = Path(__file__).parent / "migrations"


def parse_url(url: str) -> URL:
    """The URL, checked: a SQLite file or a PostgreSQL database."""
    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018 - a bad port only shows when read
    except (ArgumentError, ValueError):
        # The URL may hold a password: it is not repeated here.
        raise StoreError(
            "storage.url is not a database URL: expected sqlite:///path/to/file.db or "
            "postgresql://user:password@host:5432/database"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise StoreError(
                "SQLite needs a file (sqlite:///path/to/omniline.db): an in-memory database would "
                "lose every message on restart"
            )
        return parsed.set(drivername="sqlite")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql")
    raise StoreError(f"unsupported database {backend!r}: use sqlite:///FILE or postgresql://...")


def _async_url(url: URL) -> URL:
    driver = "sqlite+aiosqlite" if url.get_backend_name() == "sqlite" else "postgresql+asyncpg"
    return url.set(drivername=driver)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def _with_connection(url: str, fn: Any) -> Any:
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database is not None
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(_async_url(parsed))
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(fn)
    except OSError as exc:
        raise StoreError(f"cannot reach the database at {parsed!r}: {exc}") from exc
    finally:
        await engine.dispose()


async def current_revision(url: str) -> str | None:
    """The schema revision the database is at (None: an empty database)."""

    def read(conn: sa.Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    result: str | None = await _with_connection(url, read)
    return result


async def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (the newest by default)."""

    def run(conn: sa.Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    await _with_connection(url, run)


async def check_schema(url: str) -> None:
    """Raise ``SchemaOutdatedError`` unless the database is at this omniline's newest revision."""
    current = await current_revision(url)
    head = head_revision()
    if current != head:
        state = "empty" if current is None else f"at revision {current}"
        raise SchemaOutdatedError(
            f"the database is {state}, this omniline needs revision {head}: "
            "run `omniline db upgrade -c CONFIG` first"
        )


async def open_store(
    url: str,
    clock: Clock,
    *,
    sqlite_synchronous: str = "NORMAL",
    pool_size: int = 20,
    outbox_lease: float = 60.0,
) -> SqlStore:
    """Open the store at ``url``. The schema must be current (see :func:`check_schema`)."""
    await check_schema(url)
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database is not None
        executor: Executor = SqliteExecutor(parsed.database, synchronous=sqlite_synchronous)
    else:
        executor = PostgresExecutor(
            _async_url(parsed).render_as_string(hide_password=False), pool_size=pool_size
        )
    return SqlStore(executor, clock, outbox_lease=outbox_lease)
