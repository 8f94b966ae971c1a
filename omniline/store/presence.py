"""Open consoles per operator and worker process (``desk_connections``), so that presence follows
a console open on any process, and rows left by a process that died are noticed when they go stale.

When an operator goes offline is the desk's decision (:mod:`omniline.console.presence`).
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

import sqlalchemy as sa

from omniline.store.executor import Executor, Tx
from omniline.store.rows import ts
from omniline.store.schema import desk_connections
from omniline.store.statements import P, PerDialect, Query, compile_for, dialect_for


class _Queries:
    def __init__(self, dialect_name: str) -> None:
        dialect, insert = dialect_for(dialect_name)

        def c(stmt: sa.ClauseElement) -> Query:
            return compile_for(stmt, dialect)

        d = desk_connections.c
        self.put = c(
            insert(desk_connections)
            .values(
                operator_id=P("operator_id"),
                process=P("process"),
                sockets=P("sockets"),
                seen_at=P("now"),
            )
            .on_conflict_do_update(  # type: ignore[attr-defined]
                index_elements=["operator_id", "process"],
                set_={"sockets": P("sockets"), "seen_at": P("now")},
            )
        )
        self.drop = c(
            sa.delete(desk_connections).where(
                d.operator_id == P("operator_id"), d.process == P("process")
            )
        )
        self.refresh = c(
            sa.update(desk_connections).where(d.process == P("process")).values(seen_at=P("now"))
        )
        self.fresh = c(
            sa.select(sa.func.count().label("connections"))
            .select_from(desk_connections)
            .where(d.operator_id == P("operator_id"), d.seen_at >= P("since"))
        )
        self.stale = c(sa.select(d.operator_id).where(d.seen_at < P("before")).distinct())
        self.drop_stale = c(sa.delete(desk_connections).where(d.seen_at < P("before")))
        self.of_process = c(sa.select(d.operator_id).where(d.process == P("process")))
        self.drop_process = c(sa.delete(desk_connections).where(d.process == P("process")))


_queries = PerDialect(_Queries)


def _q(tx: Tx) -> _Queries:
    return _queries.of(tx.q.dialect_name)


def _put(tx: Tx, operator_id: str, process: str, sockets: int, now: float) -> None:
    q = _q(tx)
    if sockets > 0:
        tx.run(
            q.put, {"operator_id": operator_id, "process": process, "sockets": sockets, "now": now}
        )
    else:
        tx.run(q.drop, {"operator_id": operator_id, "process": process})


def _is_connected(tx: Tx, operator_id: str, since: float) -> bool:
    row = tx.first(_q(tx).fresh, {"operator_id": operator_id, "since": since})
    return row is not None and int(row["connections"]) > 0


def _sweep(tx: Tx, process: str, now: float, before: float) -> list[str]:
    q = _q(tx)
    tx.run(q.refresh, {"process": process, "now": now})
    gone = [str(r["operator_id"]) for r in tx.rows(q.stale, {"before": before})]
    tx.run(q.drop_stale, {"before": before})
    return gone


def _leave(tx: Tx, process: str) -> list[str]:
    q = _q(tx)
    operators = [str(r["operator_id"]) for r in tx.rows(q.of_process, {"process": process})]
    tx.run(q.drop_process, {"process": process})
    return operators


class PresenceRepository:
    """The open consoles of each operator, per worker process."""

    def __init__(self, executor: Executor) -> None:
        self._x = executor

    async def put(self, operator_id: str, *, process: str, sockets: int, now: datetime) -> None:
        """The operator has ``sockets`` open consoles on ``process`` (0: the row goes)."""
        await self._x.run(
            partial(_put, operator_id=operator_id, process=process, sockets=sockets, now=ts(now))
        )

    async def is_connected(self, operator_id: str, *, since: datetime) -> bool:
        """Whether a row of the operator's, on any process, was refreshed at or after ``since``."""
        return await self._x.run(partial(_is_connected, operator_id=operator_id, since=ts(since)))

    async def sweep(self, process: str, *, now: datetime, stale_before: datetime) -> list[str]:
        """Refresh this process's rows; drop any rows older than ``stale_before`` and say whose
        they were."""
        return await self._x.run(
            partial(_sweep, process=process, now=ts(now), before=ts(stale_before))
        )

    async def leave(self, process: str) -> list[str]:
        """Drop the process's rows; the operators they were for."""
        return await self._x.run(partial(_leave, process=process))
