"""Leases: work that one worker process at a time may do, named, with the process that holds it
and until when (table ``leases``).

Taking a lease is one statement, an upsert that writes only if the row is free, has run out or is
the caller's already: on PostgreSQL a concurrent taker waits for the row and sees the winner's
version, on SQLite writers take turns, so two processes never both get it. Times are the callers'
clocks: workers on several machines need their clocks in step (NTP), well within what the lease
keeper leaves between stopping its work and the lease running out.

What runs under a lease (renewing it, stopping the work before it runs out) is
:mod:`omniline.services.leases`.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

import sqlalchemy as sa

from omniline.store.executor import Executor, Tx
from omniline.store.rows import ts
from omniline.store.schema import leases
from omniline.store.statements import P, PerDialect, Query, compile_for, dialect_for


class _Queries:
    def __init__(self, dialect_name: str) -> None:
        dialect, insert = dialect_for(dialect_name)

        def c(stmt: sa.ClauseElement) -> Query:
            return compile_for(stmt, dialect)

        t = leases.c
        new = insert(leases).values(name=P("name"), owner=P("owner"), expires_at=P("expires_at"))
        self.take = c(
            new.on_conflict_do_update(  # type: ignore[attr-defined]
                index_elements=["name"],
                set_={"owner": new.excluded.owner, "expires_at": new.excluded.expires_at},  # type: ignore[attr-defined]
                where=sa.or_(t.owner == new.excluded.owner, t.expires_at <= P("now")),  # type: ignore[attr-defined]
            ).returning(t.owner)
        )
        self.holder = c(sa.select(t.owner).where(t.name == P("name"), t.expires_at > P("now")))
        self.release = c(sa.delete(leases).where(t.name == P("name"), t.owner == P("owner")))
        self.release_all = c(sa.delete(leases).where(t.owner == P("owner")))


_queries = PerDialect(_Queries)


def _q(tx: Tx) -> _Queries:
    return _queries.of(tx.q.dialect_name)


def _take(tx: Tx, name: str, owner: str, now: float, expires_at: float) -> bool:
    params = {"name": name, "owner": owner, "expires_at": expires_at, "now": now}
    return tx.first(_q(tx).take, params) is not None


def _holder(tx: Tx, name: str, now: float) -> str | None:
    row = tx.first(_q(tx).holder, {"name": name, "now": now})
    return str(row["owner"]) if row is not None else None


def _release(tx: Tx, name: str, owner: str) -> None:
    tx.run(_q(tx).release, {"name": name, "owner": owner})


def _release_all(tx: Tx, owner: str) -> None:
    tx.run(_q(tx).release_all, {"owner": owner})


class LeaseRepository:
    """Leases by name. Every method is one statement, one transaction."""

    def __init__(self, executor: Executor) -> None:
        self._x = executor

    async def take(self, name: str, owner: str, *, now: datetime, ttl: float) -> bool:
        """Take or renew the lease ``name`` for ``owner`` until ``now + ttl`` seconds, if nobody
        holds it, its holder's time has run out, or ``owner`` holds it already. True if taken."""
        at = ts(now)
        return await self._x.run(
            partial(_take, name=name, owner=owner, now=at, expires_at=at + ttl)
        )

    async def holder(self, name: str, *, now: datetime) -> str | None:
        """Who holds ``name`` at ``now`` (None: nobody, or the holder's time has run out)."""
        return await self._x.run(partial(_holder, name=name, now=ts(now)))

    async def release(self, name: str, owner: str) -> None:
        """Give ``name`` up, if ``owner`` holds it: the next process takes it at once."""
        await self._x.run(partial(_release, name=name, owner=owner))

    async def release_all(self, owner: str) -> None:
        """Give up every lease ``owner`` holds (a process that stops)."""
        await self._x.run(partial(_release_all, owner=owner))
