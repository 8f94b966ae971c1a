"""The SqlStore conformance suite, run against the SQL store on SQLite and on PostgreSQL.

Migrating costs far more than a test, so each backend migrates one template database per session
and every test starts from a copy of it: a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import itertools
import shutil
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from omniline.store import SqlStore, open_store, upgrade
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

    async def open_store(self, clock: VirtualClock) -> SqlStore:
        return await open_store(f"sqlite:///{self.path}", clock)


class TestSqliteFullSyncStore(TestSqliteStore):
    """With synchronous=FULL each group commit runs in a thread (it waits for the disk)."""

    async def open_store(self, clock: VirtualClock) -> SqlStore:
        return await open_store(f"sqlite:///{self.path}", clock, sqlite_synchronous="FULL")


# --- PostgreSQL -----------------------------------------------------------------------------------


class TemplateCopies:
    """Copies of the migrated template database, made a few tests ahead in helper threads.

    ``CREATE DATABASE ... TEMPLATE`` takes a few hundred milliseconds on a busy disk, far longer than
    a test, and several of them overlap well; so the next tests' databases are made while this one
    runs.
    """

    def __init__(self, server: TemporaryPostgres, template: str, *, ahead: int = 3) -> None:
        self._server = server
        self._template = template
        self._numbers = itertools.count(1)
        self._workers = concurrent.futures.ThreadPoolExecutor(ahead, "store-template-copy")
        self._drops: list[concurrent.futures.Future[None]] = []
        self._ready = collections.deque(self._order() for _ in range(ahead))

    def take(self) -> concurrent.futures.Future[str]:
        """The name of a fresh copy (once it is made); order the one after it."""
        found = self._ready.popleft()
        self._ready.append(self._order())
        return found

    def discard(self, name: str) -> None:
        self._drops.append(self._workers.submit(self._run, f"DROP DATABASE {name} WITH (FORCE)"))

    def close(self) -> None:
        self._workers.shutdown(wait=True, cancel_futures=True)
        for drop in self._drops:
            if not drop.cancelled():
                drop.result()  # a failed drop is a bug in the fixtures: say so

    def url(self, name: str) -> str:
        return self._server.url.rsplit("/", 1)[0] + "/" + name

    def _order(self) -> concurrent.futures.Future[str]:
        return self._workers.submit(self._create, f"t_{next(self._numbers)}")

    def _create(self, name: str) -> str:
        self._run(f"CREATE DATABASE {name} TEMPLATE {self._template}")
        return name

    def _run(self, sql: str) -> None:
        async def execute() -> None:
            admin = await asyncpg.connect(self._server.url)
            try:
                await admin.execute(sql)
            finally:
                await admin.close()

        asyncio.run(execute())


@pytest.fixture(scope="session")
def postgres_copies(temporary_postgres: TemporaryPostgres) -> Iterator[TemplateCopies]:
    """Fresh migrated databases on the session's server, copied from one migrated template."""
    url = temporary_postgres.create_database(POSTGRES_TEMPLATE)
    # upgrade() closes its connection: PostgreSQL refuses to copy a template with open connections.
    run_in_own_loop(upgrade(url))
    copies = TemplateCopies(temporary_postgres, POSTGRES_TEMPLATE)
    try:
        yield copies
    finally:
        copies.close()


class TestPostgresStore(StoreConformance):
    @pytest_asyncio.fixture(autouse=True)
    async def _database(self, postgres_copies: TemplateCopies) -> AsyncIterator[None]:
        name = await asyncio.wrap_future(postgres_copies.take())
        self.url = postgres_copies.url(name)
        yield
        postgres_copies.discard(name)

    async def open_store(self, clock: VirtualClock) -> SqlStore:
        return await open_store(self.url, clock)
