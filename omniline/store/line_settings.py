"""Lines' settings changed at run time (``line_settings``): per line the changed keys as JSON and a
version that only grows, so every worker process can tell what it has not applied yet.

What the changes mean, and whether they are valid, is :mod:`omniline.services.line_changes`'s concern.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import sqlalchemy as sa

from omniline.store.executor import Executor, Tx
from omniline.store.rows import ts
from omniline.store.schema import line_settings
from omniline.store.statements import P, PerDialect, Query, compile_for, dialect_for

Check = Callable[[dict[str, Any]], object]
"""Raises if a line's merged changes are not valid; called inside the transaction, before anything
is written, so it must be a pure function: a unit may run again."""


@dataclass(frozen=True)
class StoredChanges:
    """A line's changed settings as kept: the changed keys' JSON values, and their version."""

    line_id: str
    version: int
    changes: dict[str, Any]


class _Queries:
    def __init__(self, dialect_name: str) -> None:
        dialect, insert = dialect_for(dialect_name)

        def c(stmt: sa.ClauseElement) -> Query:
            return compile_for(stmt, dialect)

        t = line_settings.c
        self.versions = c(sa.select(t.line_id, t.version))
        self.all = c(sa.select(t.line_id, t.version, t.changes))
        self.claim = c(
            insert(line_settings)
            .values(line_id=P("line_id"), changes="{}", version=0, updated_at=P("now"))
            .on_conflict_do_nothing(index_elements=["line_id"])  # type: ignore[attr-defined]
        )
        self.locked = c(
            sa.select(t.version, t.changes).where(t.line_id == P("line_id")).with_for_update()
        )
        self.write = c(
            sa.update(line_settings)
            .where(t.line_id == P("line_id"))
            .values(
                changes=P("changes"),
                version=P("version"),
                changed_by=P("changed_by"),
                updated_at=P("now"),
            )
        )


_queries = PerDialect(_Queries)


def _q(tx: Tx) -> _Queries:
    return _queries.of(tx.q.dialect_name)


def _all(tx: Tx) -> list[StoredChanges]:
    return [
        StoredChanges(
            line_id=str(row["line_id"]),
            version=int(row["version"]),
            changes=dict(json.loads(row["changes"])),
        )
        for row in tx.rows(_q(tx).all, {})
    ]


def _versions(tx: Tx) -> dict[str, int]:
    return {str(r["line_id"]): int(r["version"]) for r in tx.rows(_q(tx).versions, {})}


def _merge(
    tx: Tx, line_id: str, changes: Mapping[str, Any], check: Check, by: str | None, now: float
) -> StoredChanges:
    q = _q(tx)
    tx.run(q.claim, {"line_id": line_id, "now": now})
    row = tx.first(q.locked, {"line_id": line_id})
    assert row is not None
    merged = {**json.loads(row["changes"]), **changes}
    check(merged)
    version = int(row["version"]) + 1
    params = {
        "line_id": line_id,
        "changes": json.dumps(merged),
        "version": version,
        "changed_by": by,
        "now": now,
    }
    tx.run(q.write, params)
    return StoredChanges(line_id=line_id, version=version, changes=merged)


def _reset(tx: Tx, line_id: str, now: float) -> StoredChanges | None:
    q = _q(tx)
    row = tx.first(q.locked, {"line_id": line_id})
    if row is None:
        return None
    # Kept as an empty change with the next version, so that versions only grow and every
    # process sees the reset as one more change.
    version = int(row["version"]) + 1
    params = {"line_id": line_id, "changes": "{}", "version": version, "now": now}
    tx.run(q.write, {**params, "changed_by": None})
    return StoredChanges(line_id=line_id, version=version, changes=dict(json.loads(row["changes"])))


class LineSettingsRepository:
    """Each line's changed settings and their version."""

    def __init__(self, executor: Executor) -> None:
        self._x = executor

    async def all(self) -> list[StoredChanges]:
        return await self._x.run(_all)

    async def versions(self) -> dict[str, int]:
        """Each line's version (cheaper than :meth:`all`, for looking whether anything changed)."""
        return await self._x.run(_versions)

    async def merge(
        self,
        line_id: str,
        changes: Mapping[str, Any],
        *,
        check: Check,
        by: str | None,
        now: datetime,
    ) -> StoredChanges:
        """Lay ``changes`` over the line's stored ones and number the result, unless ``check``
        raises on it (then nothing is written). Returns every change the line now has."""
        return await self._x.run(
            partial(_merge, line_id=line_id, changes=dict(changes), check=check, by=by, now=ts(now))
        )

    async def reset(self, line_id: str, now: datetime) -> StoredChanges | None:
        """Drop the line's changes (kept as an empty change with the next version). Returns what
        was dropped, with the new version; None if the line never had any."""
        return await self._x.run(partial(_reset, line_id=line_id, now=ts(now)))
