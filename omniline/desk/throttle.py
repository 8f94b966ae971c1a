"""The login rate limit, kept in the database so that every worker process counts the same tries.

The same rule as :class:`omniline.ratelimit.Throttle` (GCRA: at most ``rate`` a second per key,
bursts up to ``burst``), with each key's state one row (``desk_throttle``) read and written in one
transaction, under a row lock on PostgreSQL. Logins are rare, so the two statements a try costs do
not matter; tries spread over the processes of a deployment no longer multiply the limit.
"""

from __future__ import annotations

import sqlalchemy as sa

from omniline.engine.ports import Clock
from omniline.store.executor import Executor, Tx
from omniline.store.schema import desk_throttle
from omniline.store.statements import P, PerDialect, Query, compile_for, dialect_for

FORGET_AFTER = 3600.0
"""Rows whose next allowed try is this far in the past are deleted (now and then)."""


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


class SharedThrottle:
    """Refuses what comes too fast, across processes: ``check`` answers 0 when allowed (and
    counts it), else the seconds to wait; ``peek`` answers the same without counting."""

    def __init__(self, executor: Executor, clock: Clock, *, rate: float, burst: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self._x = executor
        self._clock = clock
        self._interval = 1.0 / rate
        self._tolerance = (burst - 1) * self._interval
        self._checks = 0

    async def peek(self, key: str) -> float:
        now = self._clock.now().timestamp()

        def unit(tx: Tx) -> float:
            row = tx.first(_q(tx).read, {"key": key})
            tat = float(row[0]) if row is not None else 0.0
            return max(0.0, max(tat, now) - self._tolerance - now)

        return await self._x.run(unit)

    async def check(self, key: str) -> float:
        now = self._clock.now().timestamp()
        self._checks += 1
        forget = self._checks % 100 == 0

        def unit(tx: Tx) -> float:
            q = _q(tx)
            tx.run(q.claim, {"key": key})
            row = tx.first(q.locked, {"key": key})
            tat = max(float(row[0]) if row is not None else 0.0, now)
            wait = tat - self._tolerance - now
            if wait <= 0:
                tx.run(q.write, {"key": key, "tat": tat + self._interval})
            if forget:
                tx.run(q.forget, {"before": now - FORGET_AFTER})
            return max(0.0, wait)

        return await self._x.run(unit)
