"""Where units of work run: one transaction each, in as few event-loop round trips as possible.

A unit of work is a plain function of a :class:`Tx`. The SQLite executor runs units in one writer
thread and commits the units that arrived together in one transaction (group commit), each inside its
own savepoint so that one failing unit does not undo the others. The PostgreSQL executor runs each unit
in its own transaction on a pooled asyncpg connection, through SQLAlchemy's greenlet bridge, so the
same unit code serves both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from omniline.store.statements import Query, Statements, statements_for

T = TypeVar("T")
log = logging.getLogger("omniline.store")

Row = Sequence[Any]


class Cursor(Protocol):
    @property
    def description(self) -> Any: ...

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, args: Sequence[Any]) -> Any: ...

    def fetchall(self) -> Sequence[Row]: ...


class Tx:
    """The statements of one dialect bound to one open transaction."""

    __slots__ = ("_cursor", "q")

    def __init__(self, cursor: Cursor, statements: Statements) -> None:
        self._cursor = cursor
        self.q = statements

    def rows(self, query: Query, params: Mapping[str, Any]) -> list[Row]:
        cur = self._cursor
        cur.execute(query.sql, query.args(params))
        return list(cur.fetchall()) if cur.description is not None else []

    def first(self, query: Query, params: Mapping[str, Any]) -> Row | None:
        found = self.rows(query, params)
        return found[0] if found else None

    def run(self, query: Query, params: Mapping[str, Any]) -> int:
        """Execute and return the number of rows changed."""
        cur = self._cursor
        cur.execute(query.sql, query.args(params))
        if cur.description is not None:
            return len(cur.fetchall())
        return cur.rowcount


Unit = Callable[[Tx], T]


class Executor(Protocol):
    dialect_name: str

    async def run(self, unit: Unit[T], *, readonly: bool = False) -> T: ...

    async def close(self) -> None: ...


# --- SQLite ---------------------------------------------------------------------------------------

_STOP = object()


class _Job:
    __slots__ = ("future", "loop", "unit")

    def __init__(self, unit: Unit[Any], loop: asyncio.AbstractEventLoop) -> None:
        self.unit = unit
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()


def _settle(results: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in results:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def connect_sqlite(path: str, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class SqliteExecutor:
    """One writer thread with group commit, and reader threads for read-only units (WAL lets readers
    run beside the writer and see only committed data)."""

    dialect_name = "sqlite"

    def __init__(
        self, path: str, *, synchronous: str = "NORMAL", max_batch: int = 256, readers: int = 2
    ) -> None:
        if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError("synchronous must be NORMAL, FULL or EXTRA")
        self._path = path
        self._synchronous = synchronous.upper()
        self._max_batch = max_batch
        self._statements = statements_for("sqlite")
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer_conn = connect_sqlite(path, self._synchronous)
        self._writer = threading.Thread(target=self._write_loop, name="omniline-sqlite-writer")
        self._writer.daemon = True
        self._writer.start()
        self._reader_jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._readers = [
            threading.Thread(
                target=self._read_loop, name=f"omniline-sqlite-reader-{i}", daemon=True
            )
            for i in range(readers)
        ]
        for thread in self._readers:
            thread.start()
        self._closed = False

    async def run(self, unit: Unit[T], *, readonly: bool = False) -> T:
        if self._closed:
            raise RuntimeError("the store is closed")
        job = _Job(unit, asyncio.get_running_loop())
        (self._reader_jobs if readonly else self._jobs).put(job)
        result: T = await job.future
        return result

    def _write_loop(self) -> None:
        conn = self._writer_conn
        tx = Tx(conn.cursor(), self._statements)
        jobs = self._jobs
        stopping = False
        while not stopping:
            first = jobs.get()
            if first is _STOP:
                break
            batch: list[_Job] = [first]
            while len(batch) < self._max_batch:
                try:
                    nxt = jobs.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stopping = True
                    break
                batch.append(nxt)
            self._commit_batch(conn, tx, batch)
        conn.close()

    def _commit_batch(self, conn: sqlite3.Connection, tx: Tx, batch: list[_Job]) -> None:
        outcomes: list[tuple[asyncio.Future[Any], bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                conn.execute("SAVEPOINT unit")
                try:
                    value = job.unit(tx)
                except BaseException as exc:
                    conn.execute("ROLLBACK TO unit")
                    conn.execute("RELEASE unit")
                    outcomes.append((job.future, False, exc))
                else:
                    conn.execute("RELEASE unit")
                    outcomes.append((job.future, True, value))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.exception("group commit of %d units failed", len(batch))
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            outcomes = [(job.future, False, exc) for job in batch]
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for job, outcome in zip(batch, outcomes, strict=True):
            by_loop.setdefault(job.loop, []).append(outcome)
        for loop, results in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop is gone; nobody waits any more
                loop.call_soon_threadsafe(_settle, results)

    def _read_loop(self) -> None:
        conn = connect_sqlite(self._path, self._synchronous)
        tx = Tx(conn.cursor(), self._statements)
        while True:
            job = self._reader_jobs.get()
            if job is _STOP:
                break
            try:
                conn.execute("BEGIN")
                value = job.unit(tx)
                conn.execute("COMMIT")
                outcome = (job.future, True, value)
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                outcome = (job.future, False, exc)
            with contextlib.suppress(RuntimeError):  # the loop is gone; nobody waits any more
                job.loop.call_soon_threadsafe(_settle, [outcome])
        conn.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._jobs.put(_STOP)
        for _ in self._readers:
            self._reader_jobs.put(_STOP)
        await asyncio.to_thread(self._writer.join)
        for thread in self._readers:
            await asyncio.to_thread(thread.join)


# --- PostgreSQL -----------------------------------------------------------------------------------


class PostgresExecutor:
    """Units run in their own transaction on a pooled asyncpg connection (SQLAlchemy async engine)."""

    dialect_name = "postgresql"

    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        from sqlalchemy.ext.asyncio import create_async_engine

        self._engine = create_async_engine(url, pool_size=pool_size, max_overflow=0)
        self._statements = statements_for("postgresql")

    async def run(self, unit: Unit[T], *, readonly: bool = False) -> T:
        statements = self._statements

        def call(sync_conn: Any) -> T:
            dbapi = sync_conn.connection.dbapi_connection
            return unit(Tx(dbapi.cursor(), statements))

        async with self._engine.begin() as conn:
            result: T = await conn.run_sync(call)
            return result

    async def close(self) -> None:
        await self._engine.dispose()
