"""Statistics read from real dialogs, built through the public store API, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from omniline.engine.hours import WorkingHours
from omniline.engine.ports import FieldsAction, LogAction, SendAction, StatusAction
from omniline.engine.stats import Durations, MessageCounts, Ratings
from omniline.model import (
    Accepted,
    ChannelRef,
    Closed,
    DialogStatus,
    HandedOff,
    Identity,
    InboundEvent,
    InboundMessage,
    OutboundMessage,
    Queued,
    Visibility,
)
from omniline.store import SqlStore, open_store, upgrade
from omniline.store.stats import read_statistics
from omniline.testing.clock import VirtualClock

TELEGRAM = ChannelRef(type="telegram", account="main-bot")
VIBER = ChannelRef(type="viber", account="main-bot")

BOT = DialogStatus.BOT
QUEUED = DialogStatus.QUEUED
ACTIVE = DialogStatus.ACTIVE
CLOSED = DialogStatus.CLOSED

# Support works 09:00-18:00 UTC on weekdays (the dialogs below open on a Monday morning), sales
# from noon only.
HOURS: dict[str, WorkingHours | None] = {
    "support": WorkingHours.model_validate(
        {"timezone": "UTC", "weekly": {"mon-fri": "09:00-18:00"}}
    ),
    "sales": WorkingHours.model_validate({"timezone": "UTC", "weekly": {"mon-fri": "12:00-18:00"}}),
}

_event_ids = itertools.count(1)
_databases = itertools.count(1)


# --- a store on each database ---------------------------------------------------------------------


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh, migrated database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'omniline.db'}"
    else:
        server = request.getfixturevalue("temporary_postgres")
        url = server.create_database(f"stats_{next(_databases)}")
    await upgrade(url)
    return url


@pytest_asyncio.fixture
async def store(database: str, virtual_clock: VirtualClock) -> AsyncIterator[SqlStore]:
    opened = await open_store(database, virtual_clock)
    try:
        yield opened
    finally:
        await opened.close()


# --- building dialogs -----------------------------------------------------------------------------


async def client_writes(
    store: SqlStore,
    clock: VirtualClock,
    external_id: str,
    *,
    line_id: str = "support",
    channel: ChannelRef = TELEGRAM,
) -> int:
    event = InboundEvent(
        event_id=f"evt-{next(_event_ids)}",
        identity=Identity(channel=channel, external_id=external_id),
        message=InboundMessage(text="hello"),
        received_at=clock.now(),
    )
    receipt = await store.inbox.ingest(event, line_id=line_id, initial_status=BOT)
    return receipt.dialog_id


def send(author: str, text: str = "hi", visibility: Visibility = Visibility.CLIENT) -> SendAction:
    message = OutboundMessage(text=text)
    parts = (message,) if visibility is Visibility.CLIENT else ()
    return SendAction(author=author, message=message, parts=parts, visibility=visibility)


async def hand_off(store: SqlStore, clock: VirtualClock, dialog_id: int) -> None:
    await store.dialogs.apply(
        dialog_id,
        [
            StatusAction(expected=BOT, status=QUEUED),
            LogAction(event=HandedOff(at=clock.now(), actor="bot", reason="asked for a human")),
            LogAction(event=Queued(at=clock.now(), actor="system")),
        ],
    )


async def accept(store: SqlStore, clock: VirtualClock, dialog_id: int, operator_id: str) -> None:
    await store.dialogs.apply(
        dialog_id,
        [
            StatusAction(expected=QUEUED, status=ACTIVE, operator_id=operator_id),
            LogAction(
                event=Accepted(
                    at=clock.now(), actor=f"operator:{operator_id}", operator_id=operator_id
                )
            ),
        ],
    )


async def close(store: SqlStore, clock: VirtualClock, dialog_id: int, operator_id: str) -> None:
    await store.dialogs.apply(
        dialog_id,
        [
            StatusAction(expected=ACTIVE, status=CLOSED, operator_id=operator_id),
            LogAction(
                event=Closed(at=clock.now(), actor=f"operator:{operator_id}", reason="resolved")
            ),
        ],
    )


async def build(store: SqlStore, clock: VirtualClock) -> tuple[datetime, datetime]:
    """Dialogs around a range; returns the range (since, until)."""
    for operator_id, name in (("op-1", "Anna"), ("op-2", "Boris")):
        await store.operators.save(operator_id, name)

    # Opened before the range, still held by op-2: counts among the active dialogs now only.
    early = await client_writes(store, clock, "client-early")
    await hand_off(store, clock, early)
    await accept(store, clock, early, "op-2")
    await clock.advance(60)

    since = clock.now()  # a dialog opened at `since` is in the range
    # A: support, telegram. Queued after 10 s, accepted 30 s later, answered 60 s after queueing,
    # closed 330 s after acceptance, rated 5.
    a = await client_writes(store, clock, "client-a")
    await store.dialogs.apply(a, [send("bot", "one moment")])
    await clock.advance(10)
    await hand_off(store, clock, a)
    await clock.advance(30)
    await accept(store, clock, a, "op-1")
    await clock.advance(5)
    await store.dialogs.apply(a, [send("operator:op-1", "VIP", Visibility.OPERATORS)])  # a whisper
    await clock.advance(25)
    await store.dialogs.apply(a, [send("operator:op-1", "hello, I am Anna")])
    await clock.advance(10)
    assert await client_writes(store, clock, "client-a") == a
    await clock.advance(290)
    await close(store, clock, a, "op-1")
    await store.dialogs.apply(a, [FieldsAction(rating=5)])

    # B: sales, viber, 09:07: out of the sales line's hours; waiting in the queue.
    await clock.advance(30)
    b = await client_writes(store, clock, "client-b", line_id="sales", channel=VIBER)
    await hand_off(store, clock, b)

    # C: support, telegram: accepted by op-2 after 15 s, active.
    await clock.advance(100)
    c = await client_writes(store, clock, "client-c")
    await hand_off(store, clock, c)
    await clock.advance(15)
    await accept(store, clock, c, "op-2")

    await clock.advance(3600)
    until = clock.now()  # a dialog opened at `until` is not
    await client_writes(store, clock, "client-late")
    return since, until


# --- tests ----------------------------------------------------------------------------------------


async def test_figures_of_the_dialogs_in_range(
    store: SqlStore, virtual_clock: VirtualClock
) -> None:
    since, until = await build(store, virtual_clock)

    stats = await store.stats.read(since=since, until=until, hours=HOURS)

    overall = stats.overall
    assert overall.dialogs == 3
    assert overall.by_status == {"bot": 0, "queued": 1, "offered": 0, "active": 1, "closed": 1}
    assert overall.by_channel == {"telegram": 2, "viber": 1}
    assert (overall.in_hours, overall.out_of_hours) == (2, 1)
    assert overall.first_response == Durations(count=1, average=60.0, median=60.0, p90=60.0)
    assert overall.time_to_accept == Durations(count=2, average=22.5, median=22.5, p90=30.0)
    assert overall.handle_time == Durations(count=1, average=330.0, median=330.0, p90=330.0)
    # A: the client twice, the bot and op-1 (not the whisper); B and C: the client once.
    assert overall.messages == MessageCounts(total=6, average=2.0, max=4)
    assert overall.ratings == Ratings(count=1, average=5.0, by_score={1: 0, 2: 0, 3: 0, 4: 0, 5: 1})

    assert list(stats.by_line) == ["sales", "support"]
    assert stats.by_line["sales"].dialogs == 1
    assert stats.by_line["sales"].out_of_hours == 1
    assert stats.by_line["support"].time_to_accept.count == 2
    assert list(stats.by_operator) == ["op-1", "op-2", "none"]
    assert stats.by_operator["op-1"].handle_time.count == 1
    assert stats.by_operator["op-2"].time_to_accept.average == 15.0
    assert stats.by_operator["none"].by_status["queued"] == 1
    # Now, whenever opened: the early dialog and C.
    assert stats.open_by_operator == {"op-2": 2}


async def test_one_line_and_no_working_hours(store: SqlStore, virtual_clock: VirtualClock) -> None:
    since, until = await build(store, virtual_clock)

    stats = await store.stats.read(since=since, until=until, line_id="sales")

    assert stats.overall.dialogs == 1
    assert list(stats.by_line) == ["sales"]
    assert stats.overall.in_hours == 1  # no working hours given: in hours
    assert stats.open_by_operator == {"op-2": 2}  # the load now does not depend on the line


async def test_an_empty_range(store: SqlStore, virtual_clock: VirtualClock) -> None:
    since, _ = await build(store, virtual_clock)

    stats = await store.stats.read(since=since - timedelta(days=7), until=since - timedelta(days=1))

    assert stats.overall.dialogs == 0
    assert stats.by_line == {} and stats.by_operator == {}
    assert stats.open_by_operator == {"op-2": 2}


async def test_read_statistics_from_another_process_sees_the_same(
    database: str, store: SqlStore, virtual_clock: VirtualClock
) -> None:
    since, until = await build(store, virtual_clock)

    expected = await store.stats.read(since=since, until=until, hours=HOURS)
    assert await read_statistics(database, since=since, until=until, hours=HOURS) == expected
