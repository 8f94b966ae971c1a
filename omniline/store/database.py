"""Database URLs, migrations and opening a store.

Users write ``sqlite:///path/to/file.db`` or ``postgresql://user:pass@host/db``. Migrations run
through SQLAlchemy's async engine (aiosqlite / asyncpg) with Alembic; the running store uses the
executors in ``omniline.store.executor``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
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
            "storage.url: not a database URL: expected sqlite:///path/to/file.db or "
            "postgresql://user:password@host:5432/database"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.host and not parsed.database:
            raise StoreError(
                f"storage.url: sqlite://{parsed.host} has two slashes, so {parsed.host!r} is not "
                f"read as a file: write sqlite:///{parsed.host} (three slashes) for a path from "
                "the config file's folder, or four for an absolute one"
            )
        if not parsed.database or parsed.database == ":memory:":
            raise StoreError(
                "storage.url: SQLite needs a file (sqlite:///path/to/omniline.db): an in-memory "
                "database would lose every message on restart"
            )
        return parsed.set(drivername="sqlite")
    if backend in ("postgresql", "postgres"):  # postgres:// is the name many hosts give out
        return parsed.set(drivername="postgresql")
    raise StoreError(
        f"storage.url: unsupported database {backend!r}: use sqlite:///FILE or postgresql://..."
    )


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


def _sqlite_file(url: URL, *, create: bool) -> Path:
    """The SQLite file ``url`` names, checked before SQLite opens it, so that a path that cannot
    be a database file is reported as such, not as SQLite's "unable to open database file". With
    ``create`` its folder is made; without, a file not there yet raises ``SchemaOutdatedError``
    and nothing is created (a command that only reads leaves nothing behind)."""
    assert url.database is not None
    path = Path(url.database)
    try:
        is_folder = path.is_dir()
        exists = path.exists()
        folder = next(parent for parent in path.absolute().parents if parent.exists())
    except OSError as exc:  # a name too long, a loop of links
        raise StoreError(
            f"cannot keep the SQLite database at {path}: {exc.strerror or exc}; "
            "point storage.url at another file"
        ) from None
    if is_folder:
        raise StoreError(
            f"storage.url names {path}, which is a folder: name a file in it, for example "
            f"sqlite:///{path / 'omniline.db'}"
        )
    if not folder.is_dir():
        raise StoreError(
            f"cannot keep the SQLite database {path}: {folder} is a file, not a folder; "
            "point storage.url at a file in a folder"
        )
    if exists:
        return path
    if not create:
        raise SchemaOutdatedError(
            f"the database is empty (there is no file {path} yet): "
            "run `omniline db upgrade -c CONFIG` first, which creates it"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the folder {path.parent} for the SQLite database {path}: "
            f"{exc.strerror or exc}; create it, or point storage.url at a folder that can be"
        ) from None
    return path


async def _with_connection(url: str, fn: Any, *, create: bool = False) -> Any:
    """Run ``fn`` on a connection to the database, in a transaction. A database that cannot be
    opened or used raises ``StoreError`` saying which and why (the password never shown)."""
    parsed = parse_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite:
        path = _sqlite_file(parsed, create=create)
        where = f"the SQLite database {path}"
    else:
        where = f"the database at {parsed!r}"
    engine = create_async_engine(_async_url(parsed))
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(fn)
    except OSError as exc:
        raise StoreError(
            f"cannot reach {where}: {exc}; check storage.url, and that the server runs there"
        ) from None
    except sa.exc.DBAPIError as exc:
        reason = str(exc.orig).strip() or type(exc.orig).__name__
        if sqlite and "file is not a database" in reason:
            raise StoreError(
                f"{path} is not a SQLite database: point storage.url at an omniline database, "
                "or at a file that is not there yet (`omniline db upgrade` creates it)"
            ) from None
        raise StoreError(f"cannot use {where}: {reason}") from None
    finally:
        await engine.dispose()


def _read_revision(conn: sa.Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def known_revision(revision: str) -> bool:
    """Whether this omniline has a migration of that name (a newer one may have made it)."""
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def _unknown(revision: str) -> SchemaOutdatedError:
    return SchemaOutdatedError(
        f"the database is at revision {revision}, which this omniline does not know (its newest "
        f"is {head_revision()}): a newer omniline migrated it; run that one, or upgrade omniline"
    )


async def current_revision(url: str) -> str | None:
    """The schema revision the database is at (None: an empty database). A SQLite file that is
    not there raises ``SchemaOutdatedError`` and is not created."""
    result: str | None = await _with_connection(url, _read_revision)
    return result


async def upgrade(url: str, revision: str = "head") -> str | None:
    """Migrate the database to ``revision`` (the newest by default), creating a SQLite file (and
    its folder) that is not there yet. Returns the revision it was at before (None: empty)."""

    def run(conn: sa.Connection) -> str | None:
        before = _read_revision(conn)
        if before is not None and not known_revision(before):
            raise _unknown(before)
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        return before

    result: str | None = await _with_connection(url, run, create=True)
    return result


async def check_schema(url: str) -> None:
    """Raise ``SchemaOutdatedError`` unless the database is at this omniline's newest revision."""
    current = await current_revision(url)
    head = head_revision()
    if current is not None and not known_revision(current):
        raise _unknown(current)
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
        try:
            executor: Executor = SqliteExecutor(parsed.database, synchronous=sqlite_synchronous)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot use the SQLite database {parsed.database}: {exc}") from None
    else:
        executor = PostgresExecutor(
            _async_url(parsed).render_as_string(hide_password=False), pool_size=pool_size
        )
    return SqlStore(executor, clock, outbox_lease=outbox_lease)
