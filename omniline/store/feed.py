"""The feed for desks: dialog events and messages after a cursor, each in id order, read from the
database so that a desk sees what every worker process did."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TypeVar

from omniline.engine.ports import Clock, FeedCursor, FeedEvent, FeedPage
from omniline.model import parse_dialog_event
from omniline.store.executor import Executor, Tx
from omniline.store.rows import message_from, ts

T = TypeVar("T")

FEED_SETTLE = 10.0
"""Seconds after which a gap in the ids is taken as a transaction that rolled back."""


class FeedRepository:
    """The feed. Every method is one unit of work, one transaction."""

    def __init__(self, executor: Executor, clock: Clock) -> None:
        self._x = executor
        self._clock = clock

    async def read(self, cursor: FeedCursor, *, limit: int = 200) -> FeedPage:
        """Dialog events and messages after ``cursor``, up to ``limit`` of each, oldest first."""
        return await self._x.run(partial(feed, cursor=cursor, limit=limit, now=self._clock.now()))

    async def end(self) -> FeedCursor:
        """The cursor after everything stored so far (to follow only what happens from now)."""
        return await self._x.run(feed_end)


def contiguous_prefix(
    rows: list[T], after: int, ident: Callable[[T], int], at: Callable[[T], float], settled: float
) -> list[T]:
    """The rows up to the first gap in their ids that may still fill. On PostgreSQL ids are
    handed out when rows are written and become visible when their transaction commits, so a
    later id can show up before an earlier one: a reader that moved past the gap would never see
    the earlier row. A gap is passed only once the rows after it are older than any transaction
    lasts (then the missing id belongs to a rollback)."""
    kept: list[T] = []
    expected = after + 1
    for row in rows:
        if ident(row) != expected and at(row) > settled:
            break
        kept.append(row)
        expected = ident(row) + 1
    return kept


def feed(tx: Tx, cursor: FeedCursor, limit: int, now: datetime) -> FeedPage:
    q = tx.q
    settled = ts(now) - FEED_SETTLE
    event_rows = tx.rows(q.events_after, {"after_id": cursor.event_id, "limit": limit})
    events = tuple(
        FeedEvent(id=r["id"], dialog_id=r["dialog_id"], event=parse_dialog_event(r["data"]))
        for r in event_rows
    )
    events = tuple(
        contiguous_prefix(
            list(events), cursor.event_id, lambda e: e.id, lambda e: ts(e.event.at), settled
        )
    )
    message_rows = tx.rows(q.messages_after, {"after_id": cursor.message_id, "limit": limit})
    messages = tuple(
        contiguous_prefix(
            [message_from(r) for r in message_rows],
            cursor.message_id,
            lambda m: m.id,
            lambda m: ts(m.created_at),
            settled,
        )
    )
    after = FeedCursor(
        event_id=events[-1].id if events else cursor.event_id,
        message_id=messages[-1].id if messages else cursor.message_id,
    )
    return FeedPage(events=events, messages=messages, cursor=after)


def feed_end(tx: Tx) -> FeedCursor:
    row = tx.first(tx.q.feed_end, {})
    assert row is not None
    return FeedCursor(event_id=int(row["event_id"]), message_id=int(row["message_id"]))
