"""The embedded CRM's tables: records (contacts and leads), their values (phones, emails,
messenger identities, many of each) and their timeline of transcripts and notes.

Records are told apart here by their number alone; what a record id looks like, and the CRM's
other rules, are the embedded CRM's (:mod:`omniline.crm.embedded`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

import sqlalchemy as sa

from omniline.store.executor import Executor, Tx
from omniline.store.rows import dt, ts
from omniline.store.schema import crm_records, crm_timeline, crm_values
from omniline.store.statements import P, PerDialect, Query, compile_for, dialect_for

Values = Mapping[str, Sequence[str]]
"""Values by their type (``phone``, ``email``, ``im``)."""


@dataclass(frozen=True)
class StoredRecord:
    number: int
    kind: str
    name: str | None
    responsible: str | None
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """By type, each type's values in the order they were added."""


@dataclass(frozen=True)
class NewRecord:
    kind: str
    origin_id: str
    """Unique: a record made again with the same one is the record made the first time."""
    name: str | None = None
    responsible: str | None = None
    source: str | None = None
    source_description: str | None = None
    status: str = "new"
    values: Values = field(default_factory=dict)


@dataclass(frozen=True)
class Note:
    kind: str
    text: str
    at: datetime


class _Queries:
    def __init__(self, dialect_name: str) -> None:
        dialect, insert = dialect_for(dialect_name)

        def c(stmt: sa.ClauseElement) -> Query:
            return compile_for(stmt, dialect)

        record = crm_records.c
        self.record = c(
            sa.select(record.id, record.kind, record.name, record.responsible).where(
                record.id == P("record_id")
            )
        )
        self.values_of = c(
            sa.select(crm_values.c.type, crm_values.c.value)
            .where(crm_values.c.record_id == P("record_id"))
            .order_by(crm_values.c.added_at, crm_values.c.value)
        )
        self.with_value = c(
            sa.select(crm_values.c.record_id).where(
                crm_values.c.type == P("type"), crm_values.c.value == P("value")
            )
        )
        self.by_origin = c(sa.select(record.id).where(record.origin_id == P("origin_id")))
        self.insert_record = c(
            insert(crm_records)
            .values(
                kind=P("kind"),
                name=P("name"),
                responsible=P("responsible"),
                source=P("source"),
                source_description=P("source_description"),
                status=P("status"),
                origin_id=P("origin_id"),
                created_at=P("now"),
            )
            .on_conflict_do_nothing(index_elements=["origin_id"])  # type: ignore[attr-defined]
            .returning(record.id)
        )
        self.insert_value = c(
            insert(crm_values)
            .values(record_id=P("record_id"), type=P("type"), value=P("value"), added_at=P("now"))
            .on_conflict_do_nothing(  # type: ignore[attr-defined]
                index_elements=["record_id", "type", "value"]
            )
        )
        self.set_responsible = c(
            sa.update(crm_records)
            .where(record.id == P("record_id"))
            .values(responsible=P("responsible"))
        )
        self.add_note = c(
            insert(crm_timeline).values(
                record_id=P("record_id"), kind=P("kind"), text=P("text"), at=P("now")
            )
        )
        self.timeline = c(
            sa.select(crm_timeline.c.kind, crm_timeline.c.text, crm_timeline.c.at)
            .where(crm_timeline.c.record_id == P("record_id"))
            .order_by(crm_timeline.c.id)
        )


_queries = PerDialect(_Queries)


def _q(tx: Tx) -> _Queries:
    return _queries.of(tx.q.dialect_name)


def _read(tx: Tx, number: int) -> StoredRecord | None:
    q = _q(tx)
    row = tx.first(q.record, {"record_id": number})
    if row is None:
        return None
    values: dict[str, list[str]] = {}
    for found in tx.rows(q.values_of, {"record_id": number}):
        values.setdefault(found["type"], []).append(found["value"])
    return StoredRecord(
        number=int(row["id"]),
        kind=row["kind"],
        name=row["name"],
        responsible=row["responsible"],
        values={kind: tuple(items) for kind, items in values.items()},
    )


def _find(tx: Tx, wanted: Sequence[tuple[str, str]]) -> list[StoredRecord]:
    numbers: dict[int, None] = {}  # each once, in the order first found
    for kind, value in wanted:
        for row in tx.rows(_q(tx).with_value, {"type": kind, "value": value}):
            numbers[int(row["record_id"])] = None
    return [r for r in (_read(tx, n) for n in numbers) if r is not None]


def _add_values(tx: Tx, number: int, values: Values, now: float) -> None:
    q = _q(tx)
    for kind, items in values.items():
        for value in items:
            tx.run(q.insert_value, {"record_id": number, "type": kind, "value": value, "now": now})


def _create(tx: Tx, new: NewRecord, now: float) -> StoredRecord:
    q = _q(tx)
    created = tx.first(
        q.insert_record,
        {
            "kind": new.kind,
            "name": new.name,
            "responsible": new.responsible,
            "source": new.source,
            "source_description": new.source_description,
            "status": new.status,
            "origin_id": new.origin_id,
            "now": now,
        },
    )
    if created is None:  # made before: the same record again
        row = tx.first(q.by_origin, {"origin_id": new.origin_id})
        assert row is not None
        number = int(row["id"])
    else:
        number = int(created["id"])
        _add_values(tx, number, new.values, now)
    found = _read(tx, number)
    assert found is not None
    return found


def _set_responsible(tx: Tx, number: int, responsible: str | None) -> None:
    tx.run(_q(tx).set_responsible, {"record_id": number, "responsible": responsible})


def _add_note(tx: Tx, number: int, kind: str, text: str, now: float) -> None:
    tx.run(_q(tx).add_note, {"record_id": number, "kind": kind, "text": text, "now": now})


def _timeline(tx: Tx, number: int) -> list[Note]:
    rows = tx.rows(_q(tx).timeline, {"record_id": number})
    return [Note(kind=r["kind"], text=r["text"], at=dt(r["at"])) for r in rows]


class CrmRepository:
    """The embedded CRM's records, values and timeline."""

    def __init__(self, executor: Executor) -> None:
        self._x = executor

    async def find(self, wanted: Sequence[tuple[str, str]]) -> list[StoredRecord]:
        """The records with any of these (type, value) pairs, each once, in the order found."""
        return await self._x.run(partial(_find, wanted=tuple(wanted)))

    async def get(self, number: int) -> StoredRecord | None:
        return await self._x.run(partial(_read, number=number))

    async def create(self, new: NewRecord, now: datetime) -> StoredRecord:
        """Make the record with its values; with an ``origin_id`` made before, the record made
        then (its values unchanged)."""
        return await self._x.run(partial(_create, new=new, now=ts(now)))

    async def set_responsible(self, number: int, responsible: str | None) -> None:
        await self._x.run(partial(_set_responsible, number=number, responsible=responsible))

    async def add_values(self, number: int, values: Values, now: datetime) -> None:
        """Add the values the record does not have yet."""
        await self._x.run(partial(_add_values, number=number, values=values, now=ts(now)))

    async def add_note(self, number: int, *, kind: str, text: str, now: datetime) -> None:
        await self._x.run(partial(_add_note, number=number, kind=kind, text=text, now=ts(now)))

    async def timeline(self, number: int) -> list[Note]:
        """The record's notes, oldest first."""
        return await self._x.run(partial(_timeline, number=number))
