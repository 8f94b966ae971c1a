"""Presence from the console: an operator whose console is open is online; one whose consoles
have all been closed (or lost their connection) for ``console.offline_after`` seconds goes
offline, so the line stops offering them dialogs nobody will see.

Open consoles are counted per worker process in ``desk_connections`` and refreshed while open,
so a console open on any process keeps the operator online, and a process that dies without
saying so is noticed when its rows go stale. Going offline is a durable timer (``desk_away``),
so a reload or a short network drop, which reconnects within the grace period, changes nothing.
The shift is the operator's own: closing the console never ends their day.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections import Counter
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

import sqlalchemy as sa

from omniline.engine.ports import Timer
from omniline.model import Presence
from omniline.store.executor import Executor, Tx
from omniline.store.schema import desk_connections
from omniline.store.statements import P, PerDialect, Query, compile_for, dialect_for

if TYPE_CHECKING:
    from omniline.desk.host import ConsoleHost

log = logging.getLogger("omniline.desk.presence")

AWAY_TIMER = "desk_away"
REFRESH_EVERY = 20.0
STALE_AFTER = 90.0
"""A process's rows not refreshed for this long belong to a process that is gone."""


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
            sa.select(sa.func.count())
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
    return row is not None and int(row[0]) > 0


def _sweep(tx: Tx, process: str, now: float, before: float) -> list[str]:
    """Refresh this process's rows; drop other processes' stale ones and say whose they were."""
    q = _q(tx)
    tx.run(q.refresh, {"process": process, "now": now})
    gone = [str(r[0]) for r in tx.rows(q.stale, {"before": before})]
    tx.run(q.drop_stale, {"before": before})
    return gone


def _leave(tx: Tx, process: str) -> list[str]:
    q = _q(tx)
    operators = [str(r[0]) for r in tx.rows(q.of_process, {"process": process})]
    tx.run(q.drop_process, {"process": process})
    return operators


class ConsolePresence:
    """Counts the open consoles of each operator in this process, and sets presence from them."""

    def __init__(self, host: ConsoleHost, *, offline_after: float) -> None:
        self.host = host
        self._x: Executor = host.executor
        self.offline_after = offline_after
        self.process = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._open: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.host.scheduler.on(AWAY_TIMER, self._away)
        self._task = asyncio.create_task(self._refresh_loop(), name="omniline-console-presence")

    async def stop(self) -> None:
        """Leave as if every console here closed: those that reconnect elsewhere stay online."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._open.clear()
        for operator_id in await self._x.run(partial(_leave, process=self.process)):
            await self._later_offline(operator_id)

    async def connected(self, operator_id: str) -> None:
        self._open[operator_id] += 1
        await self._write(operator_id)
        await self.host.store.cancel_timer(AWAY_TIMER, operator_id)
        operator = await self.host.store.operator(operator_id)
        if operator is not None and operator.presence is not Presence.ONLINE:
            await self.host.operators.set_presence(operator_id, Presence.ONLINE)

    async def disconnected(self, operator_id: str) -> None:
        self._open[operator_id] -= 1
        if self._open[operator_id] <= 0:
            del self._open[operator_id]
            await self._write(operator_id)
            await self._later_offline(operator_id)
        else:
            await self._write(operator_id)

    async def _write(self, operator_id: str) -> None:
        await self._x.run(
            partial(
                _put,
                operator_id=operator_id,
                process=self.process,
                sockets=self._open.get(operator_id, 0),
                now=self.host.clock.now().timestamp(),
            )
        )

    async def _later_offline(self, operator_id: str) -> None:
        due = self.host.clock.now() + timedelta(seconds=self.offline_after)
        await self.host.store.schedule_timer(AWAY_TIMER, operator_id, due)

    async def _away(self, timer: Timer) -> None:
        """The grace period is over: offline, unless a console of theirs is open somewhere."""
        operator_id = timer.key
        since = self.host.clock.now().timestamp() - STALE_AFTER
        if await self._x.run(partial(_is_connected, operator_id=operator_id, since=since)):
            return
        operator = await self.host.store.operator(operator_id)
        if operator is not None and operator.presence is Presence.ONLINE:
            log.info("operator %s closed the console: offline", operator_id)
            await self.host.operators.set_presence(operator_id, Presence.OFFLINE)

    async def _refresh_loop(self) -> None:
        while True:
            await self.host.clock.sleep(REFRESH_EVERY)
            now = self.host.clock.now().timestamp()
            try:
                gone = await self._x.run(
                    partial(_sweep, process=self.process, now=now, before=now - STALE_AFTER)
                )
                for operator_id in gone:  # their process died: offline unless they come back
                    await self._later_offline(operator_id)
            except Exception:
                log.exception("refreshing the consoles' presence failed; trying again later")
