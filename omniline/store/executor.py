"""Where units of work run: one transaction each, in as few event-loop round trips as possible.

A unit of work is a plain function of a :class:`Tx`. The SQLite executor runs units on the event
loop and commits the units that arrive together in one transaction (group commit), the COMMIT
itself in a thread; a failing unit is isolated by running the batch again unit by unit. The
PostgreSQL executor runs each unit in its own transaction on a pooled asyncpg connection, through
SQLAlchemy's greenlet bridge, so the same unit code serves both.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from omniline import metrics
from omniline.store.health import Reachability, causes, connection_lost
from omniline.store.statements import Query, Row, Statements, statements_for

T = TypeVar("T")
log = logging.getLogger("omniline.store")

RawRow = Sequence[Any]


class Cursor(Protocol):
    @property
    def description(self) -> Any: ...

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, args: Sequence[Any]) -> Any: ...

    def fetchall(self) -> Sequence[RawRow]: ...


class Tx:
    """The statements of one dialect bound to one open transaction."""

    __slots__ = ("_cursor", "q")

    def __init__(self, cursor: Cursor, statements: Statements) -> None:
        self._cursor = cursor
        self.q = statements

    def rows(self, query: Query, params: Mapping[str, Any]) -> list[Row]:
        cur = self._cursor
        cur.execute(query.sql, query.args(params))
        if cur.description is None:
            return []
        columns = query.columns
        if not columns:
            raise TypeError(f"a statement that returns rows names no columns: {query.sql}")
        return [dict(zip(columns, raw)) for raw in cur.fetchall()]  # noqa: B905 (one length: the statement's)

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

    @property
    def available(self) -> bool:
        """False while the database is known to be unreachable."""
        ...

    async def run(self, unit: Unit[T]) -> T: ...

    async def close(self) -> None: ...


# --- SQLite ---------------------------------------------------------------------------------------


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


class SqliteExecutor:
    """Units run on the event loop itself, and the units that arrive together are committed in
    one transaction (group commit).

    Running the SQL on the loop costs a unit only its SQL: no thread hop per unit, and no fight
    over the GIL with a writer thread, which pays a hand-over for every statement while the loop
    is busy (PERFORMANCE.md measured running on the loop as the fastest way). The COMMIT, which
    writes the WAL and, with ``synchronous=FULL``, waits for the disk, goes to a thread: the loop
    serves other work meanwhile, and the units that arrive form the next batch (measured: ~15%
    more messages than committing on the loop, even with ``NORMAL``). The WAL is checkpointed
    (which fsyncs) by a background thread.
    """

    dialect_name = "sqlite"
    available = True
    """A local file: there is no server to lose."""

    def __init__(
        self,
        path: str,
        *,
        synchronous: str = "NORMAL",
        max_batch: int = 512,
        checkpoint_every: float = 1.0,
    ) -> None:
        level = synchronous.upper()
        if level not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError("synchronous must be NORMAL, FULL or EXTRA")
        self._conn = connect_sqlite(path, level)
        self._conn.execute("PRAGMA wal_autocheckpoint=0")
        self._tx = Tx(self._conn.cursor(), statements_for("sqlite"))
        self._max_batch = max_batch
        self._pending: list[tuple[Unit[Any], asyncio.Future[Any]]] = []
        self._flush_scheduled = False
        self._committing: asyncio.Future[None] | None = None
        self._closed = False
        self._stop_checkpoints = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop,
            args=(path, level, checkpoint_every),
            name="omniline-sqlite-checkpoint",
            daemon=True,
        )
        self._checkpointer.start()
        metrics.DB_POOL_SIZE.inc()  # one connection; its in-use is a commit in flight

    async def run(self, unit: Unit[T]) -> T:
        if self._closed:
            raise RuntimeError("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((unit, future))
        self._schedule(loop)
        return await future

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._flush_scheduled and self._committing is None and self._pending:
            self._flush_scheduled = True
            loop.call_soon(self._flush)

    def _take(self) -> list[tuple[Unit[Any], asyncio.Future[Any]]]:
        batch = self._pending[: self._max_batch]
        self._pending = self._pending[self._max_batch :]
        return batch

    def _run_inline(self, batch: list[tuple[Unit[Any], asyncio.Future[Any]]]) -> None:
        outcomes = run_batch(self._conn, self._tx, [unit for unit, _ in batch])
        _settle([(f, ok, v) for (_, f), (ok, v) in zip(batch, outcomes, strict=True)])

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._committing is not None:
            return  # the commit in flight schedules the next batch when it is done
        batch = self._take()
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            values = [unit(self._tx) for unit, _ in batch]
        except Exception:
            # Rare: find the failing unit by running each alone (committing on the loop).
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            self._run_inline(batch)
            self._schedule(asyncio.get_running_loop())
            return
        self._committing = asyncio.ensure_future(self._commit(batch, values))

    async def _commit(
        self, batch: list[tuple[Unit[Any], asyncio.Future[Any]]], values: list[Any]
    ) -> None:
        metrics.DB_CONNECTIONS_IN_USE.inc()
        try:
            await asyncio.to_thread(self._conn.execute, "COMMIT")
        except sqlite3.Error as exc:
            log.exception("group commit of %d units failed", len(batch))
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            _settle([(f, False, exc) for _, f in batch])
        else:
            _settle([(f, True, v) for (_, f), v in zip(batch, values, strict=True)])
        finally:
            metrics.DB_CONNECTIONS_IN_USE.dec()
            self._committing = None
            self._schedule(asyncio.get_running_loop())

    def _checkpoint_loop(self, path: str, level: str, every: float) -> None:
        conn = connect_sqlite(path, level)
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
        while self._committing is not None or self._pending:
            if self._committing is not None:
                await self._committing
            else:
                self._flush()
        self._stop_checkpoints.set()
        await asyncio.to_thread(self._checkpointer.join)
        self._conn.close()
        metrics.DB_POOL_SIZE.dec()


# --- PostgreSQL -----------------------------------------------------------------------------------

RETRIES = 5
"""Attempts of a unit that PostgreSQL rolled back for a deadlock or a serialization failure."""

_COLLISIONS = ("40P01", "40001")
"""SQLSTATEs of a transaction rolled back for colliding with another: deadlock detected, and
serialization failure. PostgreSQL's documentation asks the client to run it again."""


def collided(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is PostgreSQL rolling the transaction back because it
    collided with another one, rather than refusing what the unit did."""
    return any(getattr(cause, "sqlstate", None) in _COLLISIONS for cause in causes(exc))


class PostgresExecutor:
    """Units run in their own transaction on a pooled asyncpg connection (SQLAlchemy async engine).

    When the server cannot be reached or drops the connection, the unit fails with
    :class:`StoreUnavailable <omniline.errors.StoreUnavailable>` (logged once for the whole outage,
    see :mod:`omniline.store.health`) and the dropped connection is thrown away, so the pool
    connects afresh once the server is back: no restart is needed.
    """

    dialect_name = "postgresql"

    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        from sqlalchemy import event
        from sqlalchemy.exc import DisconnectionError
        from sqlalchemy.ext.asyncio import create_async_engine

        self._engine = create_async_engine(url, pool_size=pool_size, max_overflow=0)
        self._statements = statements_for("postgresql")
        self._reachability = Reachability()
        self._lost_at = -math.inf
        pool_events = self._engine.sync_engine

        def connected(dbapi_connection: Any, record: Any) -> None:
            record.info["omniline_connected_at"] = time.monotonic()

        def checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
            # A pooled connection opened before the server was lost is dead: the pool opens a
            # fresh one instead (SQLAlchemy's documented way), rather than a unit failing on it.
            if record.info.get("omniline_connected_at", -math.inf) <= self._lost_at:
                raise DisconnectionError("opened before the database connection was lost")

        event.listen(pool_events, "connect", connected)
        event.listen(pool_events, "checkout", checked_out)
        # After the check above: a connection it refuses is never counted as in use.
        event.listen(pool_events, "checkout", lambda *_: metrics.DB_CONNECTIONS_IN_USE.inc())
        event.listen(pool_events, "checkin", lambda *_: metrics.DB_CONNECTIONS_IN_USE.dec())
        self._pool_size = pool_size
        metrics.DB_POOL_SIZE.inc(pool_size)

    @property
    def available(self) -> bool:
        return self._reachability.available

    async def run(self, unit: Unit[T]) -> T:
        statements = self._statements

        def call(sync_conn: Any) -> T:
            dbapi = sync_conn.connection.dbapi_connection
            try:
                return unit(Tx(dbapi.cursor(), statements))
            except Exception as exc:
                # The unit runs on the raw connection, so SQLAlchemy does not see a dropped one:
                # invalidate it here, or the pool would hand it out again after the server is back.
                if connection_lost(exc):
                    sync_conn.invalidate(exc)
                raise

        for attempt in range(1, RETRIES + 1):
            started = time.monotonic()
            try:
                async with self._engine.begin() as conn:
                    result: T = await conn.run_sync(call)
            except Exception as exc:
                if connection_lost(exc):
                    self._lost_at = time.monotonic()
                    raise self._reachability.lost(exc, started) from exc
                self._reachability.reached(started)  # the server answered, and refused the unit
                if attempt < RETRIES and collided(exc):
                    # Two transactions locked the same rows in opposite orders (or could not be
                    # serialized); PostgreSQL rolled this one back whole, so running it again
                    # is safe. After a short random wait, so the two do not collide again.
                    log.debug("unit rolled back by a collision (%s); attempt %d", exc, attempt)
                    await asyncio.sleep(random.uniform(0.005, 0.05) * attempt)
                    continue
                raise
            self._reachability.reached(started)
            return result
        raise AssertionError("unreachable")  # pragma: no cover (the last attempt returns or raises)

    async def close(self) -> None:
        await self._engine.dispose()
        metrics.DB_POOL_SIZE.dec(self._pool_size)
        self._pool_size = 0  # closed twice: counted off once
