"""The store across a database outage, and an event run twice at once (regressions)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from omniline.engine.ports import SendAction
from omniline.errors import StoreUnavailable
from omniline.model import (
    ChannelRef,
    DialogStatus,
    Identity,
    InboundEvent,
    InboundMessage,
    OutboundMessage,
)
from omniline.store import SqlStore, open_store, upgrade
from omniline.store.health import OutageFilter
from omniline.testing import TemporaryPostgres, VirtualClock

ZOE = Identity(channel=ChannelRef(type="fake", account="a"), external_id="zoe")


def hello(event_id: str, clock: VirtualClock) -> InboundEvent:
    return InboundEvent(
        event_id=event_id, identity=ZOE, message=InboundMessage(text="hi"), received_at=clock.now()
    )


def answer(text: str) -> SendAction:
    message = OutboundMessage(text=text)
    return SendAction(author="bot", message=message, parts=(message,))


async def test_an_event_run_by_two_workers_at_once_is_answered_once(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    receipt = await sql_store.inbox.ingest(
        hello("e1", virtual_clock), line_id="support", initial_status=DialogStatus.BOT
    )
    # Its own worker, and another's recovery sweep, both ran it and both commit.
    first, second = await asyncio.gather(
        sql_store.dialogs.apply(receipt.dialog_id, [answer("one")], inbox_id=receipt.inbox_id),
        sql_store.dialogs.apply(receipt.dialog_id, [answer("two")], inbox_id=receipt.inbox_id),
    )
    assert sorted([len(first), len(second)]) == [0, 1]
    outbound = [
        m.text for m in await sql_store.dialogs.identity_history(ZOE) if m.direction == "out"
    ]
    assert len(outbound) == 1


async def test_the_store_works_again_once_postgres_is_back_without_a_restart(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = VirtualClock()
    with TemporaryPostgres() as pg:
        url = await asyncio.to_thread(pg.create_database, "outage")
        await upgrade(url)
        store = await open_store(url, clock, pool_size=3)
        try:
            # Three pooled connections, opened before the outage: all dead after it.
            await asyncio.gather(
                *(
                    store.inbox.ingest(
                        hello(f"before-{i}", clock),
                        line_id="support",
                        initial_status=DialogStatus.BOT,
                    )
                    for i in range(3)
                )
            )
            await asyncio.to_thread(pg.pause)
            for i in range(3):
                with pytest.raises(StoreUnavailable):
                    await store.inbox.ingest(
                        hello(f"down-{i}", clock),
                        line_id="support",
                        initial_status=DialogStatus.BOT,
                    )
            assert not store.available
            await asyncio.to_thread(pg.resume)
            for i in range(4):  # not one fails on a connection opened before the outage
                await store.inbox.ingest(
                    hello(f"after-{i}", clock), line_id="support", initial_status=DialogStatus.BOT
                )
            assert store.available
        finally:
            await store.close()
    said = [r.getMessage() for r in caplog.records if r.name == "omniline.store"]
    assert sum("the database is unreachable" in m for m in said) == 1, said
    assert sum("the database is reachable again" in m for m in said) == 1, said


def test_a_log_record_that_only_repeats_the_outage_is_dropped() -> None:
    def record(exc: BaseException) -> logging.LogRecord:
        return logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), (type(exc), exc, None)
        )

    try:
        try:
            raise StoreUnavailable("down")
        except StoreUnavailable as exc:
            raise RuntimeError("could not store the update") from exc
    except RuntimeError as wrapped:
        repeated = wrapped
    assert OutageFilter().filter(record(repeated)) is False
    assert OutageFilter().filter(record(ConnectionResetError("the platform hung up"))) is True


def test_a_driver_error_that_is_a_bug_does_not_pass_for_an_outage() -> None:
    import asyncpg

    from omniline.store.health import connection_lost

    assert not connection_lost(asyncpg.InterfaceError("the server expects 2 arguments, 1 given"))
    assert connection_lost(asyncpg.InterfaceError("connection is closed"))
    assert connection_lost(ConnectionRefusedError(111, "refused"))


def test_units_in_flight_as_the_outage_begins_and_ends_do_not_log_extra_outages(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import time

    from omniline.store.health import Reachability

    reachability = Reachability()
    before = time.monotonic()
    reachability.lost(ConnectionResetError("terminated"), before)
    reachability.reached(before)  # committed just as the server went: the outage goes on
    assert not reachability.available
    during = time.monotonic()
    reachability.reached(during)
    assert reachability.available
    reachability.lost(ConnectionRefusedError("refused"), during)  # failed late: no new outage
    assert reachability.available
    said = [r.getMessage() for r in caplog.records if r.name == "omniline.store"]
    assert [m.split(" (")[0].split(",")[0] for m in said] == [
        "the database is unreachable",
        "the database is reachable again",
    ]
