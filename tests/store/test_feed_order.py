"""The feed never skips a row that commits after a later one (PostgreSQL hands out ids when rows
are written, and they become visible when their transaction commits)."""

from __future__ import annotations

import asyncio

import asyncpg

from omniline.engine.ports import FeedCursor, LogAction
from omniline.model import (
    ChannelRef,
    DialogStatus,
    Identity,
    InboundEvent,
    InboundMessage,
    Pinned,
    Unpinned,
)
from omniline.store import open_store, upgrade
from omniline.store.feed import FEED_SETTLE, contiguous_prefix
from omniline.testing import TemporaryPostgres, VirtualClock


def test_rows_stop_at_a_gap_until_it_is_old_enough_to_be_a_rollback() -> None:
    rows = [(1, 100.0), (2, 100.0), (4, 100.0), (5, 100.0)]
    fresh = contiguous_prefix(rows, 0, lambda r: r[0], lambda r: r[1], settled=50.0)
    assert fresh == [(1, 100.0), (2, 100.0)]
    old = contiguous_prefix(rows, 0, lambda r: r[0], lambda r: r[1], settled=150.0)
    assert old == rows


async def test_an_event_committed_late_is_not_skipped_on_postgres(
    temporary_postgres: TemporaryPostgres,
) -> None:
    url = await asyncio.to_thread(temporary_postgres.create_database, "feed_order")
    await upgrade(url)
    clock = VirtualClock()
    store = await open_store(url, clock)
    raw = await asyncpg.connect(url.replace("postgresql://", "postgres://"))
    try:
        event = InboundEvent(
            event_id="e1",
            identity=Identity(channel=ChannelRef(type="fake", account="a"), external_id="zoe"),
            message=InboundMessage(text="hi"),
            received_at=clock.now(),
        )
        receipt = await store.inbox.ingest(
            event, line_id="support", initial_status=DialogStatus.QUEUED
        )
        start = (await store.feed.read(FeedCursor())).cursor

        slow = raw.transaction()
        await slow.start()  # takes the next event id and holds it uncommitted
        await raw.execute(
            "INSERT INTO dialog_events (dialog_id, kind, at, actor, data) "
            "VALUES ($1, 'unpinned', $2, 'system', $3)",
            receipt.dialog_id,
            clock.now().timestamp(),
            Unpinned(at=clock.now(), actor="system").model_dump_json(),
        )
        await store.dialogs.apply(receipt.dialog_id, [LogAction(event=Pinned(at=clock.now()))])

        withheld = await store.feed.read(start)
        assert withheld.events == () and withheld.cursor == start  # not past the open gap

        await slow.commit()
        both = await store.feed.read(start)
        assert [e.event.kind for e in both.events] == ["unpinned", "pinned"]

        # A gap that never fills (a rollback) is passed once it is older than a transaction.
        rolled = raw.transaction()
        await rolled.start()
        await raw.execute(
            "INSERT INTO dialog_events (dialog_id, kind, at, actor, data) "
            "VALUES ($1, 'unpinned', $2, 'system', '{}')",
            receipt.dialog_id,
            clock.now().timestamp(),
        )
        await rolled.rollback()
        await store.dialogs.apply(receipt.dialog_id, [LogAction(event=Pinned(at=clock.now()))])
        assert (await store.feed.read(both.cursor)).events == ()
        await clock.advance(FEED_SETTLE + 1)
        assert [e.event.kind for e in (await store.feed.read(both.cursor)).events] == ["pinned"]
    finally:
        await raw.close()
        await store.close()
