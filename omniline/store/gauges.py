"""What ``/metrics`` reads from the database when it is scraped: queues, operators and backlogs.

One unit of work, four aggregate statements, each over a small indexed part of its table (open
dialogs, the lines' queues, unsent outbox rows, armed timers), never over history. The values
are the database's, so any worker that answers a scrape gives the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

import sqlalchemy as sa

from omniline.store.executor import Executor, Tx
from omniline.store.rows import ts
from omniline.store.schema import (
    OPEN,
    dialog_events,
    dialogs,
    identities,
    line_operators,
    operators,
    outbox,
    timers,
)
from omniline.store.statements import P, PerDialect, Query, compile_for, dialect_for, lit

WAITING_STATUSES = ("queued", "offered")
"""A dialog in the queue: no operator has answered it yet."""


@dataclass(frozen=True)
class LineGauges:
    dialogs: dict[str, int] = field(default_factory=dict)
    """Open dialogs by status (bot, queued, offered, active)."""
    oldest_wait: float = 0.0
    """Seconds the longest-waiting dialog in the queue has waited since it was queued (0: none)."""
    operators: int = 0
    online: int = 0
    working: int = 0
    """Online and on shift (not on a break)."""
    ready: int = 0
    """Online, on shift and with room for one more dialog."""


@dataclass(frozen=True)
class ChannelGauges:
    unsent: int = 0
    """Outbox parts not sent yet (waiting, being sent, or waiting for a retry)."""
    retrying: int = 0
    """Of those, parts that failed at least once."""
    oldest: float = 0.0
    """Seconds since the oldest unsent part was stored."""


@dataclass(frozen=True)
class TimerGauges:
    armed: int = 0
    """Timers that have not fired yet (pending, or claimed and running)."""
    overdue: int = 0
    """Pending timers whose due time has passed."""
    lateness: float = 0.0
    """Seconds the earliest overdue pending timer is past its due time."""


@dataclass(frozen=True)
class Gauges:
    lines: dict[str, LineGauges]
    channels: dict[tuple[str, str], ChannelGauges]
    """By (channel type, account)."""
    timers: dict[str, TimerGauges]
    """By timer kind (``crm`` timers are the CRM's job backlog)."""


class _Queries:
    def __init__(self, dialect_name: str) -> None:
        dialect, _ = dialect_for(dialect_name)

        def c(stmt: sa.ClauseElement) -> Query:
            return compile_for(stmt, dialect)

        d, e = dialogs.c, dialog_events.c
        waiting = d.status.in_([lit(s) for s in WAITING_STATUSES])
        # When the dialog last entered the queue (handoff, transfer, opened queued): the log's
        # latest ``queued`` event, read through the dialog's own events only.
        queued_at = (
            sa.select(sa.func.max(e.at))
            .where(e.dialog_id == d.id, e.kind == lit("queued"))
            .scalar_subquery()
        )
        # The open dialogs first, through their own partial index: grouped straight away,
        # SQLite (which has no statistics) would rather read every dialog ever through
        # (line_id, status) to group without sorting. MATERIALIZED keeps the two steps apart.
        open_ = (
            sa.select(
                d.line_id,
                d.status,
                sa.case((waiting, sa.func.coalesce(queued_at, d.opened_at))).label("queued_since"),
            )
            .where(OPEN)  # as the partial index says it, so that it is used
            .cte("open_dialogs")
            .prefix_with("MATERIALIZED")
        )
        self.open_dialogs = c(
            sa.select(
                open_.c.line_id,
                open_.c.status,
                sa.func.count().label("dialogs"),
                sa.func.min(open_.c.queued_since).label("queued_since"),
            ).group_by(open_.c.line_id, open_.c.status)
        )
        lo, o = line_operators.c, operators.c

        def how_many(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
            return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

        online = o.presence == lit("online")
        working = sa.and_(online, o.shift == lit("working"))
        self.queues = c(
            sa.select(
                lo.line_id,
                sa.func.count().label("operators"),
                how_many(online).label("online"),
                how_many(working).label("working"),
                how_many(lo.ready.is_(sa.true())).label("ready"),
            )
            .select_from(line_operators.join(operators, o.id == lo.operator_id))
            .group_by(lo.line_id)
        )
        ob, i = outbox.c, identities.c
        self.unsent = c(
            sa.select(
                i.channel_type,
                i.account,
                sa.func.count().label("unsent"),
                how_many(ob.attempts > 1).label("retrying"),
                sa.func.min(ob.created_at).label("oldest"),
            )
            .select_from(outbox.join(identities, i.id == ob.identity_id))
            # Written as the unsent rows' partial index says it, so that the index is used.
            .where(sa.text("outbox.status IN ('pending', 'sending')"))
            .group_by(i.channel_type, i.account)
        )
        t = timers.c
        pending = t.status == lit("pending")
        overdue = sa.and_(pending, t.due_at <= P("now"))
        self.armed = c(
            sa.select(
                t.kind,
                sa.func.count().label("armed"),
                how_many(overdue).label("overdue"),
                sa.func.min(sa.case((overdue, t.due_at))).label("earliest_overdue"),
            )
            .where(t.status.in_([lit("pending"), lit("claimed")]))
            .group_by(t.kind)
        )


_queries = PerDialect(_Queries)


class GaugeRepository:
    """The database's side of ``/metrics``: one unit of work, one transaction."""

    def __init__(self, executor: Executor) -> None:
        self._x = executor

    async def read(self, now: datetime) -> Gauges:
        return await self._x.run(partial(read, now=ts(now)))


def read(tx: Tx, now: float) -> Gauges:
    q = _queries.of(tx.q.dialect_name)
    by_line: dict[str, dict[str, int]] = {}
    waits: dict[str, float] = {}
    for row in tx.rows(q.open_dialogs, {}):
        line = row["line_id"]
        by_line.setdefault(line, {})[row["status"]] = int(row["dialogs"])
        if row["queued_since"] is not None:
            wait = max(now - float(row["queued_since"]), 0.0)
            waits[line] = max(waits.get(line, 0.0), wait)
    queues = {row["line_id"]: row for row in tx.rows(q.queues, {})}
    lines = {
        line: LineGauges(
            dialogs=by_line.get(line, {}),
            oldest_wait=waits.get(line, 0.0),
            operators=int(queues[line]["operators"]) if line in queues else 0,
            online=int(queues[line]["online"]) if line in queues else 0,
            working=int(queues[line]["working"]) if line in queues else 0,
            ready=int(queues[line]["ready"]) if line in queues else 0,
        )
        for line in by_line.keys() | queues.keys()
    }
    channels = {
        (row["channel_type"], row["account"]): ChannelGauges(
            unsent=int(row["unsent"]),
            retrying=int(row["retrying"]),
            oldest=max(now - float(row["oldest"]), 0.0),
        )
        for row in tx.rows(q.unsent, {})
    }
    timer_gauges = {
        row["kind"]: TimerGauges(
            armed=int(row["armed"]),
            overdue=int(row["overdue"]),
            lateness=(
                max(now - float(row["earliest_overdue"]), 0.0)
                if row["earliest_overdue"] is not None
                else 0.0
            ),
        )
        for row in tx.rows(q.armed, {"now": now})
    }
    return Gauges(lines=lines, channels=channels, timers=timer_gauges)
