"""The login rate limit's state: per key (a login, an address) one row in ``desk_throttle``
holding the theoretical arrival time of the next allowed try, read and written in one transaction
under a row lock on PostgreSQL, so tries spread over the worker processes count as many as they are.

The rule that decides from that time (GCRA) is the desk's (:mod:`omniline.console.throttle`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

import sqlalchemy as sa

from omniline.store.executor import Executor, Tx
from omniline.store.rows import ts
from omniline.store.schema import desk_throttle
from omniline.store.statements import P, PerDialect, Query, compile_for, dialect_for

Step = Callable[[float], tuple[float, float | None]]
"""Given a key's stored time (0.0 when it has none): the answer, and the time to store (None:
leave it). Called inside the transaction, so it must be a pure function: a unit may run again."""


class _Queries:
    def __init__(self, dialect_name: str) -> None:
        dialect, insert = dialect_for(dialect_name)

        def c(stmt: sa.ClauseElement) -> Query:
            return compile_for(stmt, dialect)

        t = desk_throttle.c
        self.claim = c(
            insert(desk_throttle)
            .values(key=P("key"), tat=0.0)
            .on_conflict_do_nothing(index_elements=["key"])  # type: ignore[attr-defined]
        )
        self.locked = c(sa.select(t.tat).where(t.key == P("key")).with_for_update())
        self.read = c(sa.select(t.tat).where(t.key == P("key")))
        self.write = c(sa.update(desk_throttle).where(t.key == P("key")).values(tat=P("tat")))
        self.forget = c(sa.delete(desk_throttle).where(t.tat < P("before")))


_queries = PerDialect(_Queries)


def _q(tx: Tx) -> _Queries:
    return _queries.of(tx.q.dialect_name)


def _read(tx: Tx, key: str) -> float:
    row = tx.first(_q(tx).read, {"key": key})
    return float(row["tat"]) if row is not None else 0.0


def _advance(tx: Tx, key: str, step: Step, forget_before: float | None) -> float:
    q = _q(tx)
    tx.run(q.claim, {"key": key})
    row = tx.first(q.locked, {"key": key})
    answer, tat = step(float(row["tat"]) if row is not None else 0.0)
    if tat is not None:
        tx.run(q.write, {"key": key, "tat": tat})
    if forget_before is not None:
        tx.run(q.forget, {"before": forget_before})
    return answer


class ThrottleRepository:
    """Each key's stored time, read alone or read and moved on under a lock."""

    def __init__(self, executor: Executor) -> None:
        self._x = executor

    async def read(self, key: str) -> float:
        """The key's stored time, in seconds since the epoch (0.0: it has none)."""
        return await self._x.run(partial(_read, key=key))

    async def advance(
        self, key: str, step: Step, *, forget_before: datetime | None = None
    ) -> float:
        """Apply ``step`` to the key's stored time with no other process in between, and return
        its answer. ``forget_before`` also drops the keys whose time is older than that."""
        before = ts(forget_before) if forget_before is not None else None
        return await self._x.run(partial(_advance, key=key, step=step, forget_before=before))
