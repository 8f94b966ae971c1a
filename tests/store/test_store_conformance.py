"""The Store conformance suite, run against the SQL store on SQLite and on PostgreSQL.

Migrating costs far more than a test, so each backend migrates one template database per session
and every test starts from a copy of it: a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on
PostgreSQL.
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

from omniline.engine.ports import Store
from omniline.store import open_store, upgrade
from omniline.testing.clock import VirtualClock
from omniline.testing.conformance import StoreConformance
from omniline.testing.postgres import TemporaryPostgres

POSTGRES_TEMPLATE = "template_db"


def run_in_own_loop(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` to the end on a fresh event loop in a helper thread (session fixtures are
    synchronous, and must not touch the loop a test runs in)."""
    with concurrent.futures.ThreadPoolExecutor(1, "store-template") as pool:
        pool.submit(asyncio.run, coro).result()


# --- SQLite ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    # upgrade() disposes its engine before returning, so the file is complete and closed.
    run_in_own_loop(upgrade(f"sqlite:///{path}"))
    return path


def copy_sqlite(template: Path, target: Path) -> None:
    shutil.copyfile(template, target)
    # A closed database has normally checkpointed its WAL away; if one is left, it holds committed
    # pages the main file lacks, so it travels too (the -shm index is rebuilt from it).
    wal = template.with_name(template.name + "-wal")
    if wal.exists():
        shutil.copyfile(wal, target.with_name(target.name + "-wal"))


class TestSqliteStore(StoreConformance):
    @pytest.fixture(autouse=True)
    def _database(self, sqlite_template: Path, tmp_path: Path) -> None:
        self.path = tmp_path / "omniline.db"
        copy_sqlite(sqlite_template, self.path)

    async def open_store(self, clock: VirtualClock) -> Store:
        return await open_store(f"sqlite:///{self.path}", clock)


# --- PostgreSQL -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_template(temporary_postgres: TemporaryPostgres) -> TemporaryPostgres:
    """The session's server, with a migrated ``template_db`` to copy for each test."""
    url = temporary_postgres.create_database(POSTGRES_TEMPLATE)
    # upgrade() closes its connection: PostgreSQL refuses to copy a template with open connections.
    run_in_own_loop(upgrade(url))
    return temporary_postgres


_database_numbers = itertools.count(1)


class TestPostgresStore(StoreConformance):
    @pytest_asyncio.fixture(autouse=True)
    async def _database(self, postgres_template: TemporaryPostgres) -> AsyncIterator[None]:
        name = f"t_{next(_database_numbers)}"
        import time

        t0 = time.perf_counter()
        admin = await asyncpg.connect(postgres_template.url)
        t1 = time.perf_counter()
        try:
            # FILE_COPY (PostgreSQL 15+) is ~8x faster than the default WAL_LOG for a small
            # template, as the throwaway server runs with fsync off.
            strategy = " STRATEGY FILE_COPY" if admin.get_server_version().major >= 15 else ""
            await admin.execute(f"CREATE DATABASE {name} TEMPLATE {POSTGRES_TEMPLATE}{strategy}")
            self.url = postgres_template.url.rsplit("/", 1)[0] + "/" + name
            t2 = time.perf_counter()
            print(f"TIMING connect {t1 - t0:.3f} create {t2 - t1:.3f}")
            yield
            t3 = time.perf_counter()
            await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
            print(f"TIMING drop {time.perf_counter() - t3:.3f}")
        finally:
            await admin.close()

    async def open_store(self, clock: VirtualClock) -> Store:
        import time

        t = time.perf_counter()
        try:
            return await open_store(self.url, clock)
        finally:
            print(f"TIMING open {time.perf_counter() - t:.3f}")
