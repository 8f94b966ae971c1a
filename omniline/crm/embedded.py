"""The embedded CRM (the default): contacts and leads in omniline's own database.

Records carry many phones, emails and messenger identities each (``crm_values``), a responsible
manager, a source and status, and a timeline of transcripts and notes. Every call is one unit of
work on the store's executor, so it shares the database, the migrations and the transactions'
rules with everything else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import partial

import sqlalchemy as sa

from omniline.crm import CrmError, CrmRecord, LeadDraft, RecordKind
from omniline.engine.ports import Clock
from omniline.store.executor import Executor, Tx
from omniline.store.schema import crm_records, crm_timeline, crm_values
from omniline.store.statements import P, PerDialect, Query, compile_for, dialect_for

PHONE, EMAIL, IM = "phone", "email", "im"


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


def _number(record_id: str) -> int | None:
    kind, _, number = record_id.partition(":")
    if kind not in (RecordKind.CONTACT, RecordKind.LEAD) or not number.isdigit():
        return None
    return int(number)


def _read(tx: Tx, number: int) -> CrmRecord | None:
    q = _q(tx)
    row = tx.first(q.record, {"record_id": number})
    if row is None:
        return None
    values: dict[str, list[str]] = {PHONE: [], EMAIL: [], IM: []}
    for kind, value in tx.rows(q.values_of, {"record_id": number}):
        values[kind].append(value)
    return CrmRecord(
        id=f"{row[1]}:{row[0]}",
        kind=RecordKind(row[1]),
        name=row[2],
        responsible=row[3],
        phones=tuple(values[PHONE]),
        emails=tuple(values[EMAIL]),
        ims=tuple(values[IM]),
    )


def _add_values(tx: Tx, number: int, values: Mapping[str, Sequence[str]], now: float) -> None:
    q = _q(tx)
    for kind, items in values.items():
        for value in items:
            tx.run(q.insert_value, {"record_id": number, "type": kind, "value": value, "now": now})


class EmbeddedCrm:
    """The CRM in omniline's database. ``records`` and ``timeline`` read it for the desk."""

    def __init__(self, executor: Executor, clock: Clock) -> None:
        self._x = executor
        self._clock = clock

    def _now(self) -> float:
        return self._clock.now().timestamp()

    async def find(
        self,
        *,
        phones: Sequence[str] = (),
        emails: Sequence[str] = (),
        ims: Sequence[str] = (),
    ) -> list[CrmRecord]:
        wanted = [(PHONE, v) for v in phones] + [(EMAIL, v) for v in emails]
        wanted += [(IM, v) for v in ims]

        def unit(tx: Tx) -> list[CrmRecord]:
            numbers: dict[int, None] = {}
            for kind, value in wanted:
                for row in tx.rows(_q(tx).with_value, {"type": kind, "value": value}):
                    numbers[int(row[0])] = None
            found = [r for r in (_read(tx, n) for n in numbers) if r is not None]
            return sorted(found, key=lambda r: r.kind is not RecordKind.CONTACT)

        return await self._x.run(unit)

    async def get(self, record_id: str) -> CrmRecord | None:
        number = _number(record_id)
        if number is None:
            return None
        found = await self._x.run(partial(_read, number=number))
        return found if found is not None and found.id == record_id else None

    async def create_lead(self, draft: LeadDraft) -> CrmRecord:
        now = self._now()

        def unit(tx: Tx) -> CrmRecord:
            q = _q(tx)
            created = tx.first(
                q.insert_record,
                {
                    "kind": RecordKind.LEAD.value,
                    "name": draft.name,
                    "responsible": draft.responsible,
                    "source": draft.source,
                    "source_description": draft.source_description,
                    "status": "new",
                    "origin_id": draft.origin_id,
                    "now": now,
                },
            )
            if created is None:  # made before: the same lead again
                row = tx.first(q.by_origin, {"origin_id": draft.origin_id})
                assert row is not None
                number = int(row[0])
            else:
                number = int(created[0])
                values = {PHONE: draft.phones, EMAIL: draft.emails, IM: draft.ims}
                _add_values(tx, number, values, now)
            found = _read(tx, number)
            assert found is not None
            return found

        return await self._x.run(unit)

    async def set_responsible(self, record_id: str, operator_id: str) -> None:
        number = self._known(record_id)

        def unit(tx: Tx) -> None:
            tx.run(_q(tx).set_responsible, {"record_id": number, "responsible": operator_id})

        await self._x.run(unit)

    async def attach_transcript(self, record_id: str, text: str) -> None:
        await self.add_note(record_id, text, kind="transcript")

    async def add_note(self, record_id: str, text: str, *, kind: str = "note") -> None:
        number = self._known(record_id)
        now = self._now()

        def unit(tx: Tx) -> None:
            tx.run(_q(tx).add_note, {"record_id": number, "kind": kind, "text": text, "now": now})

        await self._x.run(unit)

    async def timeline(self, record_id: str) -> list[tuple[str, str, datetime]]:
        """The record's transcripts and notes, oldest first: (kind, text, time)."""
        number = self._known(record_id)

        def unit(tx: Tx) -> list[tuple[str, str, datetime]]:
            rows = tx.rows(_q(tx).timeline, {"record_id": number})
            return [(r[0], r[1], datetime.fromtimestamp(r[2], UTC)) for r in rows]

        return await self._x.run(unit)

    async def add_contacts(
        self,
        record_id: str,
        *,
        phones: Sequence[str] = (),
        emails: Sequence[str] = (),
        ims: Sequence[str] = (),
    ) -> None:
        number = self._known(record_id)
        now = self._now()
        values = {PHONE: phones, EMAIL: emails, IM: ims}
        await self._x.run(partial(_add_values, number=number, values=values, now=now))

    def _known(self, record_id: str) -> int:
        number = _number(record_id)
        if number is None:
            raise CrmError(f"{record_id!r} is not a record id of the embedded CRM")
        return number

    async def close(self) -> None:
        return None  # the store owns the connection
