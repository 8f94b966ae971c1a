"""``store.crm``: the embedded CRM's records, values and timeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from omniline.store import SqlStore
from omniline.store.crm import NewRecord, Note
from omniline.testing import VirtualClock


async def test_create_is_idempotent_by_origin(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    crm, now = sql_store.crm, virtual_clock.now()
    new = NewRecord(
        kind="lead",
        origin_id="omniline:client:1",
        name="Ann",
        responsible="anna",
        source="Open line",
        values={"phone": ["+15550001"], "email": ["ann@example.com"]},
    )
    made = await crm.create(new, now)
    assert (made.kind, made.name, made.responsible) == ("lead", "Ann", "anna")
    assert made.values == {"phone": ("+15550001",), "email": ("ann@example.com",)}
    again = await crm.create(new, now + timedelta(seconds=1))
    assert again == made
    assert await crm.get(made.number) == made
    assert await crm.get(made.number + 1000) is None


async def test_find_returns_each_record_once_in_the_order_found(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    crm, now = sql_store.crm, virtual_clock.now()
    first = await crm.create(NewRecord(kind="lead", origin_id="o1", values={"im": ["tg:1"]}), now)
    second = await crm.create(
        NewRecord(kind="contact", origin_id="o2", values={"phone": ["+1"], "im": ["tg:2"]}), now
    )
    found = await crm.find([("phone", "+1"), ("im", "tg:1"), ("im", "tg:2"), ("email", "x")])
    assert [r.number for r in found] == [second.number, first.number]
    assert await crm.find([]) == []


async def test_values_responsible_and_timeline(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    crm, now = sql_store.crm, virtual_clock.now()
    made = await crm.create(NewRecord(kind="lead", origin_id="o1", values={"phone": ["+1"]}), now)
    later = now + timedelta(seconds=1)
    await crm.add_values(made.number, {"phone": ["+1", "+2"], "email": ["a@b.c"]}, later)
    await crm.set_responsible(made.number, "boris")
    got = await crm.get(made.number)
    assert got is not None
    assert got.values == {"phone": ("+1", "+2"), "email": ("a@b.c",)}
    assert got.responsible == "boris"

    await crm.add_note(made.number, kind="transcript", text="hello", now=now)
    await crm.add_note(made.number, kind="note", text="called back", now=later)
    assert await crm.timeline(made.number) == [
        Note(kind="transcript", text="hello", at=now),
        Note(kind="note", text="called back", at=later),
    ]
    assert await crm.timeline(made.number + 1000) == []
