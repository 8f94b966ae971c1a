"""A fresh, migrated SQL store on SQLite and on PostgreSQL, for the store's repositories' tests.

Migrating costs more than a test, so each backend migrates one template per session and every
test gets a copy: a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import shutil
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from omniline.store import SqlStore, open_store, upgrade
from omniline.testing import TemporaryPostgres, VirtualClock

_copies = itertools.count(1)
_TEMPLATE = "repositories_template"


def _in_own_loop(coro: Coroutine[Any, Any, None]) -> None:
    """Session fixtures are synchronous and must not touch the loop a test runs in."""
    with concurrent.futures.ThreadPoolExecutor(1, "store-repositories") as pool:
        pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("repositories") / "template.db"
    _in_own_loop(upgrade(f"sqlite:///{path}"))  # upgrade() closes its engine: the file is whole
    return path


@pytest.fixture(scope="session")
def _postgres_template(temporary_postgres: TemporaryPostgres) -> TemporaryPostgres:
    _in_own_loop(upgrade(temporary_postgres.create_database(_TEMPLATE)))
    return temporary_postgres


async def _postgres_copy(server: TemporaryPostgres) -> str:
    name = f"repositories_{next(_copies)}"
    admin = await asyncpg.connect(server.url)
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {_TEMPLATE}")
    finally:
        await admin.close()
    return server.url.rsplit("/", 1)[0] + "/" + name


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def sql_store(
    request: pytest.FixtureRequest, tmp_path: Path, virtual_clock: VirtualClock
) -> AsyncIterator[SqlStore]:
    if request.param == "sqlite":
        path = tmp_path / "omniline.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = await _postgres_copy(request.getfixturevalue("_postgres_template"))
    store = await open_store(url, virtual_clock)
    try:
        yield store
    finally:
        await store.close()
