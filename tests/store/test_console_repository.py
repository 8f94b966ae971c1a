"""``store.console``: the console's dialog lists, people, clients, files and daily counts, on
SQLite and PostgreSQL."""

from __future__ import annotations

import itertools

from omniline.engine.ports import MemberAction, RouteAction, RoutePlan, StatusAction
from omniline.model import (
    ChannelRef,
    Dialog,
    DialogStatus,
    Identity,
    InboundEvent,
    InboundMessage,
    Presence,
    Shift,
)
from omniline.store import SqlStore
from omniline.store.console import DialogFilter
from omniline.testing import VirtualClock

TELEGRAM = ChannelRef(type="telegram", account="bot")
VIBER = ChannelRef(type="viber", account="bot")
_events = itertools.count(1)


async def writes(
    store: SqlStore,
    clock: VirtualClock,
    external_id: str,
    *,
    line_id: str = "sales",
    channel: ChannelRef = TELEGRAM,
    status: DialogStatus = DialogStatus.BOT,
) -> Dialog:
    event = InboundEvent(
        event_id=f"evt-{next(_events)}",
        identity=Identity(channel=channel, external_id=external_id, display_name=external_id),
        message=InboundMessage(text="hello"),
        received_at=clock.now(),
    )
    receipt = await store.inbox.ingest(event, line_id=line_id, initial_status=status)
    dialog = await store.dialogs.get(receipt.dialog_id)
    assert dialog is not None
    return dialog


async def test_dialogs_are_listed_newest_first_by_filter(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    a = await writes(sql_store, virtual_clock, "a")
    b = await writes(sql_store, virtual_clock, "b", status=DialogStatus.QUEUED)
    c = await writes(sql_store, virtual_clock, "c", line_id="support", channel=VIBER)
    await sql_store.operators.save("anna", "Anna")
    await sql_store.dialogs.apply(
        b.id,
        [
            StatusAction(
                expected=DialogStatus.QUEUED, status=DialogStatus.ACTIVE, operator_id="anna"
            )
        ],
    )
    console = sql_store.console

    async def ids(f: DialogFilter, *, before: int | None = None, limit: int = 10) -> list[int]:
        return [d.id for d in await console.dialogs(f, before=before, limit=limit)]

    assert await ids(DialogFilter()) == [c.id, b.id, a.id]
    assert await ids(DialogFilter(), before=c.id, limit=1) == [b.id]
    assert await ids(DialogFilter(lines=("sales",))) == [b.id, a.id]
    assert await ids(DialogFilter(statuses=(DialogStatus.ACTIVE,))) == [b.id]
    assert await ids(DialogFilter(operator_id="anna")) == [b.id]
    assert await ids(DialogFilter(channel_type="viber")) == [c.id]
    assert await ids(DialogFilter(client_id=a.client_id)) == [a.id]
    assert await ids(DialogFilter(visible_lines=("support",))) == [c.id]
    assert await ids(DialogFilter(visible_lines=(), operator_self="anna")) == [b.id]
    assert await ids(DialogFilter(visible_lines=())) == []
    listed = await console.dialogs(DialogFilter(lines=("support",)), before=None, limit=5)
    assert listed == [c]

    assert await console.by_ids([a.id, c.id, a.id]) == {a.id: a, c.id: c}
    assert await console.by_ids([]) == {}


async def test_people_are_the_offers_members_and_last_message(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    for operator_id in ("anna", "boris"):
        await sql_store.operators.save(operator_id, operator_id.title())
        await sql_store.operators.update(operator_id, presence=Presence.ONLINE, shift=Shift.WORKING)
    await sql_store.operators.set_queue("sales", ["anna", "boris"])
    queued = await writes(sql_store, virtual_clock, "a", status=DialogStatus.QUEUED)
    plan = RoutePlan(
        line_id="sales",
        distribution="all",
        default_capacity=5,
        only_online=True,
        only_working=True,
        timeout=60,
    )
    await sql_store.dialogs.apply(queued.id, [RouteAction(plan=plan)])
    other = await writes(sql_store, virtual_clock, "b")
    await sql_store.dialogs.apply(other.id, [MemberAction(operator_id="boris")])
    last = await writes(sql_store, virtual_clock, "b")  # a second message in the same dialog
    assert last.id == other.id

    people = await sql_store.console.people([queued.id, other.id])
    assert people.offered_to == {queued.id: ["anna", "boris"]}
    assert people.members == {other.id: ["boris"]}
    last_ids = {d: (await sql_store.dialogs.messages(d))[-1].id for d in (queued.id, other.id)}
    assert people.last_message == last_ids
    assert (await sql_store.console.people([])).offered_to == {}


async def test_a_clients_identities(sql_store: SqlStore, virtual_clock: VirtualClock) -> None:
    dialog = await writes(sql_store, virtual_clock, "a")
    assert await sql_store.console.identities(dialog.client_id) == [dialog.identity]
    assert await sql_store.console.identities(dialog.client_id + 1000) == []


async def test_files_are_kept_and_read_back(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    console = sql_store.console
    data = bytes(range(256))
    now = virtual_clock.now().timestamp()
    await console.save_file(
        "f1", account_id="anna", name="scan.pdf", mime_type="application/pdf", data=data, now=now
    )
    found = await console.file("f1")
    assert found is not None
    assert (found.id, found.name, found.mime_type, found.size, found.data) == (
        "f1",
        "scan.pdf",
        "application/pdf",
        256,
        data,
    )
    assert await console.file("f2") is None


async def test_dialogs_opened_by_day_include_empty_days(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    start = virtual_clock.now().timestamp()  # 2026-01-05 09:00 UTC
    await writes(sql_store, virtual_clock, "a")
    await writes(sql_store, virtual_clock, "b", line_id="support")
    await virtual_clock.advance(2 * 86400)
    await writes(sql_store, virtual_clock, "c")
    day = 86400 * (start // 86400)
    counts = await sql_store.console.opened_by_day(since=day, until=day + 3 * 86400, line_id=None)
    assert counts == [("2026-01-05", 2), ("2026-01-06", 0), ("2026-01-07", 1)]
    sales = await sql_store.console.opened_by_day(since=day, until=day + 3 * 86400, line_id="sales")
    assert sales == [("2026-01-05", 1), ("2026-01-06", 0), ("2026-01-07", 1)]
