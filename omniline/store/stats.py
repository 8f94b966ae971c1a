"""The queries behind statistics: one record per dialog opened in a time range, and the operators'
active dialogs now.

The dialog log and the messages are aggregated per dialog in SQL (``GROUP BY dialog_id`` over the
rows of the dialogs in range only), so a range costs its own dialogs' rows, not the whole log.
Like every statement of the store, these are written once in SQLAlchemy Core and compiled once per
dialect.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect

from omniline.engine.hours import WorkingHours
from omniline.engine.stats import NO_OPERATOR, DialogRecord, Statistics, compute
from omniline.model.dialog import DialogStatus
from omniline.store.executor import Executor, Tx
from omniline.store.rows import dt, ts
from omniline.store.schema import dialog_events, dialogs, identities, messages
from omniline.store.statements import P, _compile, lit, statements_for


def _in_range(table: sa.FromClause, by_line: bool) -> list[sa.ColumnElement[bool]]:
    conditions = [table.c.opened_at >= P("since"), table.c.opened_at < P("until")]
    if by_line:
        conditions.append(table.c.line_id == P("line_id"))
    return conditions


def _records(by_line: bool) -> sa.Select[tuple[object, ...]]:
    # The log and the messages are read by dialog id IN (the dialogs in range): written as a join,
    # SQLite's planner (which has no statistics) scans every message instead of looking up the
    # messages of each dialog in range through ix_messages_dialog.
    # The line is left to the outer query: in here SQLite would pick ix_dialogs_line_status and
    # read every dialog the line ever had.
    in_range = dialogs.alias("in_range")
    dialog_ids = sa.select(in_range.c.id).where(*_in_range(in_range, by_line=False))
    events = dialog_events.c

    def when(kind: str) -> sa.Case[float]:
        return sa.case((events.kind == lit(kind), events.at))

    times = (
        sa.select(
            events.dialog_id,
            sa.func.min(when("queued")).label("first_queued_at"),
            sa.func.min(when("accepted")).label("first_accepted_at"),
            sa.func.max(when("closed")).label("last_closed_at"),
        )
        .where(
            events.dialog_id.in_(dialog_ids),
            events.kind.in_([lit("queued"), lit("accepted"), lit("closed")]),
        )
        .group_by(events.dialog_id)
        .subquery("times")
    )
    m = messages.c
    operator_reply = sa.and_(m.direction == lit("out"), m.author.like(lit("operator:%")))
    talk = (
        sa.select(
            m.dialog_id,
            sa.func.min(sa.case((operator_reply, m.created_at))).label("first_operator_reply_at"),
            sa.func.count().label("message_count"),
        )
        .where(m.dialog_id.in_(dialog_ids), m.visibility == lit("client"))
        .group_by(m.dialog_id)
        .subquery("talk")
    )
    return (
        sa.select(
            dialogs.c.id,
            dialogs.c.line_id,
            identities.c.channel_type,
            dialogs.c.status,
            dialogs.c.operator_id,
            dialogs.c.opened_at,
            dialogs.c.closed_at,
            dialogs.c.rating,
            times.c.first_queued_at,
            times.c.first_accepted_at,
            times.c.last_closed_at,
            talk.c.first_operator_reply_at,
            sa.func.coalesce(talk.c.message_count, sa.literal_column("0")).label("message_count"),
        )
        .select_from(
            dialogs.join(identities, identities.c.id == dialogs.c.identity_id)
            .outerjoin(times, times.c.dialog_id == dialogs.c.id)
            .outerjoin(talk, talk.c.dialog_id == dialogs.c.id)
        )
        .where(*_in_range(dialogs, by_line))
        # In the order of ix_dialogs_opened_at: ordered by id, SQLite would scan every dialog.
        .order_by(dialogs.c.opened_at, dialogs.c.id)
    )


class StatsQueries:
    """The statistics statements compiled for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.records = _compile(_records(by_line=False), dialect)
        self.records_of_line = _compile(_records(by_line=True), dialect)
        self.open_by_operator = _compile(
            sa.select(dialogs.c.operator_id, sa.func.count().label("active"))
            .where(dialogs.c.status == lit("active"))
            .group_by(dialogs.c.operator_id),
            dialect,
        )


_cache: dict[str, StatsQueries] = {}


def queries_for(dialect_name: str) -> StatsQueries:
    """The statistics statements for ``sqlite`` or ``postgresql`` (compiled on first use)."""
    found = _cache.get(dialect_name)
    if found is None:
        dialect: Dialect
        if dialect_name == "sqlite":
            dialect = sqlite.dialect(paramstyle="qmark")
        elif dialect_name == "postgresql":
            from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

            dialect = asyncpg_dialect()  # type: ignore[no-untyped-call]
        else:
            raise ValueError(f"unsupported database dialect {dialect_name!r}")
        found = _cache[dialect_name] = StatsQueries(dialect)
    return found


def _time(value: float | None) -> datetime | None:
    return dt(value) if value is not None else None


def dialog_records(
    tx: Tx, *, since: float, until: float, line_id: str | None
) -> list[DialogRecord]:
    """One record per dialog opened in [since, until) (epoch seconds), of one line or of all."""
    q = queries_for(tx.q.dialect_name)
    if line_id is None:
        rows = tx.rows(q.records, {"since": since, "until": until})
    else:
        rows = tx.rows(q.records_of_line, {"since": since, "until": until, "line_id": line_id})
    return [
        DialogRecord(
            id=row["id"],
            line_id=row["line_id"],
            channel_type=row["channel_type"],
            status=DialogStatus(row["status"]),
            operator_id=row["operator_id"],
            opened_at=dt(row["opened_at"]),
            closed_at=_time(row["closed_at"]),
            rating=row["rating"],
            first_queued_at=_time(row["first_queued_at"]),
            first_accepted_at=_time(row["first_accepted_at"]),
            last_closed_at=_time(row["last_closed_at"]),
            first_operator_reply_at=_time(row["first_operator_reply_at"]),
            message_count=row["message_count"],
        )
        for row in rows
    ]


def open_by_operator(tx: Tx) -> dict[str, int]:
    """Operator id (``none`` for none) to the number of active dialogs they hold now."""
    rows = tx.rows(queries_for(tx.q.dialect_name).open_by_operator, {})
    return {
        (row["operator_id"] if row["operator_id"] is not None else NO_OPERATOR): int(row["active"])
        for row in rows
    }


class StatsRepository:
    """Statistics read from the dialogs, their log and their messages."""

    def __init__(self, executor: Executor) -> None:
        self._x = executor

    async def read(
        self,
        *,
        since: datetime,
        until: datetime,
        line_id: str | None = None,
        hours: Mapping[str, WorkingHours | None] | None = None,
    ) -> Statistics:
        """Statistics of the dialogs opened in [since, until) (of one line, or of all), and every
        operator's active dialogs now. ``hours`` gives each line's working hours."""
        start, end = ts(since), ts(until)

        def unit(tx: Tx) -> tuple[list[DialogRecord], dict[str, int]]:
            records = dialog_records(tx, since=start, until=end, line_id=line_id)
            return records, open_by_operator(tx)

        records, open_now = await self._x.run(unit)
        return compute(records, open_by_operator=open_now, hours=hours or {})


async def read_statistics(
    url: str,
    *,
    since: datetime,
    until: datetime,
    line_id: str | None = None,
    hours: Mapping[str, WorkingHours | None] | None = None,
) -> Statistics:
    """:meth:`StatsRepository.read` for a process of its own
    (``omniline stats``), beside a server that may be running on the same database.

    On SQLite the store's executor runs every unit in a write transaction, which would hold a
    running server's writes back for as long as the queries take (and fail them past its busy
    timeout). So here SQLite is read in a plain read transaction on a connection of its own, in a
    thread: a snapshot that writers never wait for. PostgreSQL goes through the store.
    """
    from omniline.engine.clock import SystemClock
    from omniline.store.database import check_schema, open_store, parse_url

    await check_schema(url)
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        store = await open_store(url, SystemClock(), pool_size=1)
        try:
            return await store.stats.read(since=since, until=until, line_id=line_id, hours=hours)
        finally:
            await store.close()
    assert parsed.database is not None
    path = parsed.database

    def read() -> tuple[list[DialogRecord], dict[str, int]]:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("BEGIN")  # deferred: both queries see one snapshot, no write lock
            tx = Tx(conn.cursor(), statements_for("sqlite"))
            records = dialog_records(tx, since=ts(since), until=ts(until), line_id=line_id)
            return records, open_by_operator(tx)
        finally:
            conn.close()

    records, open_now = await asyncio.to_thread(read)
    return compute(records, open_by_operator=open_now, hours=hours or {})
