"""Durable timers: rows named by (kind, key) with a due time, claimed under a lease."""

from __future__ import annotations

import json
from datetime import datetime
from functools import partial

from pydantic import JsonValue

from omniline.engine.ports import Clock, Timer
from omniline.store.executor import Executor, Tx
from omniline.store.rows import dt, ts


class TimerRepository:
    """Timers. Every method is one unit of work, one transaction."""

    def __init__(self, executor: Executor, clock: Clock) -> None:
        self._x = executor
        self._clock = clock

    async def schedule(
        self,
        kind: str,
        key: str,
        due_at: datetime,
        *,
        dialog_id: int | None = None,
        data: JsonValue = None,
    ) -> None:
        """Set (or move) the timer named (kind, key); setting a finished one again re-arms it."""
        await self._x.run(
            partial(schedule, kind=kind, key=key, due_at=due_at, dialog_id=dialog_id, data=data)
        )

    async def cancel(self, kind: str, key: str) -> None:
        await self._x.run(partial(cancel, kind=kind, key=key))

    async def claim(self, *, now: datetime, lease: float, limit: int) -> list[Timer]:
        """Timers due at ``now`` (and claimed ones whose lease ran out), leased for ``lease``
        seconds, earliest first."""
        return await self._x.run(partial(claim, now=now, lease=lease, limit=limit))

    async def finish(self, timer_id: int) -> None:
        """Mark a claimed timer done, so that it does not fire again."""
        await self._x.run(partial(finish, timer_id=timer_id, now=ts(self._clock.now())))


def schedule(
    tx: Tx, kind: str, key: str, due_at: datetime, dialog_id: int | None, data: JsonValue
) -> None:
    tx.run(
        tx.q.timer_upsert,
        {
            "kind": kind,
            "key": key,
            "dialog_id": dialog_id,
            "due_at": ts(due_at),
            "data": json.dumps(data),
        },
    )


def cancel(tx: Tx, kind: str, key: str) -> None:
    tx.run(tx.q.timer_cancel, {"kind": kind, "key": key})


def claim(tx: Tx, *, now: datetime, lease: float, limit: int) -> list[Timer]:
    at = ts(now)
    rows = tx.rows(tx.q.timer_claim, {"now": at, "lease_until": at + lease, "limit": limit})
    timers = [
        Timer(
            id=r["id"],
            kind=r["kind"],
            key=r["key"],
            due_at=dt(r["due_at"]),
            dialog_id=r["dialog_id"],
            data=json.loads(r["data"]),
        )
        for r in rows
    ]
    return sorted(timers, key=lambda t: (t.due_at, t.id))


def finish(tx: Tx, timer_id: int, now: float) -> None:
    tx.run(tx.q.timer_done, {"timer_id": timer_id, "now": now})
