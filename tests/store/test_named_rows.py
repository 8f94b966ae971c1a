"""Rows are read by column name: a column added to the middle of a statement's column list moves
every column after it, and nothing that reads the rows may notice."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from omniline.engine.ports import FeedCursor, SendAction
from omniline.model import (
    ChannelRef,
    DialogStatus,
    Identity,
    InboundEvent,
    InboundMessage,
    OutboundMessage,
)
from omniline.store import SqlStore, dialogs, feed, inbox, open_store, statements, upgrade
from omniline.store.executor import Tx
from omniline.store.schema import messages
from omniline.store.statements import Statements, dialect_for
from omniline.testing.clock import VirtualClock

TELEGRAM = ChannelRef(type="telegram", account="main-bot")
LINE = "support"
WEDGE = sa.literal_column("'wedge'").label("wedge")
"""A column that is no column of the model: its value would land in any field read by position."""


def event(clock: VirtualClock, event_id: str, text: str) -> InboundEvent:
    return InboundEvent(
        event_id=event_id,
        identity=Identity(channel=TELEGRAM, external_id="ann", display_name="Ann"),
        message=InboundMessage(text=text),
        received_at=clock.now(),
    )


def widened(monkeypatch: pytest.MonkeyPatch) -> Statements:
    """The SQLite statements built again with one more column in the middle of the dialog and
    message column lists (and nothing else changed)."""
    dialog_columns = list(statements.DIALOG_COLUMNS)
    dialog_columns.insert(3, WEDGE)
    message_columns = list(statements.MESSAGE_COLUMNS)
    message_columns.insert(2, messages.c.identity_id)
    monkeypatch.setattr(statements, "DIALOG_COLUMNS", tuple(dialog_columns))
    monkeypatch.setattr(statements, "MESSAGE_COLUMNS", tuple(message_columns))
    built = Statements(*dialect_for("sqlite"))
    assert built.dialog_by_id.columns[3] == "wedge"
    assert built.messages_after.columns[2] == "identity_id"
    return built


async def test_a_column_inserted_in_the_middle_of_a_select_leaves_rows_read_right(
    tmp_path: Path, virtual_clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "omniline.db"
    await upgrade(f"sqlite:///{path}")
    store: SqlStore = await open_store(f"sqlite:///{path}", virtual_clock)
    try:
        first = await store.inbox.ingest(
            event(virtual_clock, "e1", "hi"), line_id=LINE, initial_status=DialogStatus.QUEUED
        )
        reply = OutboundMessage(text="hello Ann")
        await store.dialogs.apply(
            first.dialog_id, [SendAction(author="bot", message=reply, parts=(reply,))]
        )
        expected_dialog = await store.dialogs.get(first.dialog_id)
        expected_messages = await store.dialogs.messages(first.dialog_id)
        expected_page = await store.feed.read(FeedCursor())
    finally:
        await store.close()
    assert expected_dialog is not None
    q = widened(monkeypatch)
    now: datetime = virtual_clock.now()

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        tx = Tx(conn.cursor(), q)
        second = inbox.ingest(
            tx,
            event(virtual_clock, "e2", "still there?"),
            "{}",
            line_id=LINE,
            initial_status=DialogStatus.QUEUED,
            now=now,
        )
        assert dialogs.dialog(tx, first.dialog_id) == expected_dialog
        assert dialogs.open_dialog_of(tx, expected_dialog.identity, LINE) == expected_dialog
        assert second.dialog == expected_dialog
        read = dialogs.messages_of(
            tx, "dialog", first.dialog_id, after_id=0, limit=10, with_internal=False
        )
        assert read[:2] == expected_messages
        assert [m.text for m in read] == ["hi", "hello Ann", "still there?"]
        page = feed.feed(tx, FeedCursor(), 10, now)
        assert page.messages[:2] == expected_page.messages
        conn.execute("ROLLBACK")
    finally:
        conn.close()
