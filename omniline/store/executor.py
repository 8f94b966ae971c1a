"""Where units of work run: one transaction each, in as few event-loop round trips as possible.

A unit of work is a plain function of a :class:`Tx`. The SQLite executors commit the units that
arrive together in one transaction (group commit), each inside its own savepoint so that one failing
unit does not undo the others: on the event loop itself by default, or in one writer thread when
every commit must wait for the disk. The PostgreSQL executor runs each unit
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


def run_batch(
    conn: sqlite3.Connection, tx: Tx, batch: Sequence[Unit[Any]]
) -> list[tuple[bool, Any]]:
    """Run units in one transaction (group commit); returns (ok, result or error) for each.

    Optimistic: the batch runs without savepoints (they cost two statements a unit). If a unit
    fails, the whole transaction is rolled back and every unit runs again in a transaction of its
    own, so the failure stays with its unit. Units are plain functions of the transaction, so
    running one again is safe.
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
        values = [unit(tx) for unit in batch]
        conn.execute("COMMIT")
        return [(True, value) for value in values]
    except Exception as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if len(batch) == 1:
            if isinstance(exc, sqlite3.OperationalError):
                log.exception("a unit of work failed in the database")
            return [(False, exc)]
    outcomes: list[tuple[bool, Any]] = []
    for unit in batch:
        outcomes.extend(run_batch(conn, tx, [unit]))
    return outcomes


def connect_sqlite(path: str, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class InlineSqliteExecutor:
    """Units run on the event loop itself: the units that arrive within one turn of the loop are
    committed together in one transaction (group commit), each in its own savepoint.

    With ``synchronous=NORMAL`` a WAL commit does not wait for the disk, so a unit costs only its
    SQL: no thread hops, and no fight over the GIL with a writer thread (PERFORMANCE.md measured this
    as the fastest way). The WAL is checkpointed by a background thread, so the loop never waits for
    the fsync a checkpoint needs.
    """

    dialect_name = "sqlite"

    def __init__(self, path: str, *, max_batch: int = 512, checkpoint_every: float = 1.0) -> None:
        self._conn = connect_sqlite(path, "NORMAL")
        self._conn.execute("PRAGMA wal_autocheckpoint=0")
        self._tx = Tx(self._conn.cursor(), statements_for("sqlite"))
        self._max_batch = max_batch
        self._pending: list[tuple[Unit[Any], asyncio.Future[Any]]] = []
        self._flush_scheduled = False
        self._closed = False
        self._stop_checkpoints = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop,
            args=(path, checkpoint_every),
            name="omniline-sqlite-checkpoint",
            daemon=True,
        )
        self._checkpointer.start()

    async def run(self, unit: Unit[T], *, readonly: bool = False) -> T:
        if self._closed:
            raise RuntimeError("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((unit, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._flush_scheduled = False
        while self._pending:
            batch, self._pending = (
                self._pending[: self._max_batch],
                self._pending[self._max_batch :],
            )
            outcomes = run_batch(self._conn, self._tx, [unit for unit, _ in batch])
            _settle(
                [
                    (future, ok, value)
                    for (_, future), (ok, value) in zip(batch, outcomes, strict=True)
                ]
            )

    def _checkpoint_loop(self, path: str, every: float) -> None:
        conn = connect_sqlite(path, "NORMAL")
        try:
            while not self._stop_checkpoints.wait(every):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:
                    log.warning("WAL checkpoint failed; retrying", exc_info=True)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._flush()
        self._stop_checkpoints.set()
        await asyncio.to_thread(self._checkpointer.join)
        self._conn.close()


class SqliteExecutor:
    """One writer thread with group commit, and reader threads for read-only units (WAL lets readers
    run beside the writer and see only committed data). Used with ``synchronous=FULL``, where every
    commit waits for the disk and must not hold up the event loop."""

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
        outcomes = run_batch(conn, tx, [job.unit for job in batch])
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for job, (ok, value) in zip(batch, outcomes, strict=True):
            by_loop.setdefault(job.loop, []).append((job.future, ok, value))
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
