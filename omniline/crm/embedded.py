"""The embedded CRM (the default): contacts and leads in omniline's own database.

Records carry many phones, emails and messenger identities each, a responsible manager, a source
and status, and a timeline of transcripts and notes. They are kept by the store's
:class:`~omniline.store.crm.CrmRepository`, so they share the database, the migrations and the
transactions' rules with everything else; this module holds what the port asks beyond storage:
record ids (``lead:12``), contacts before leads, refusing ids that are not its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from omniline.crm import CrmError, CrmRecord, LeadDraft, RecordKind
from omniline.engine.ports import Clock
from omniline.store.crm import CrmRepository, NewRecord, StoredRecord

PHONE, EMAIL, IM = "phone", "email", "im"


def _number(record_id: str) -> int | None:
    kind, _, number = record_id.partition(":")
    if kind not in (RecordKind.CONTACT, RecordKind.LEAD) or not number.isdigit():
        return None
    return int(number)


def _record(stored: StoredRecord) -> CrmRecord:
    return CrmRecord(
        id=f"{stored.kind}:{stored.number}",
        kind=RecordKind(stored.kind),
        name=stored.name,
        responsible=stored.responsible,
        phones=stored.values.get(PHONE, ()),
        emails=stored.values.get(EMAIL, ()),
        ims=stored.values.get(IM, ()),
    )


class EmbeddedCrm:
    """The CRM in omniline's database. ``timeline`` reads it for the desk."""

    def __init__(self, stored: CrmRepository, clock: Clock) -> None:
        self._stored = stored
        self._clock = clock

    async def find(
        self,
        *,
        phones: Sequence[str] = (),
        emails: Sequence[str] = (),
        ims: Sequence[str] = (),
    ) -> list[CrmRecord]:
        wanted = [(PHONE, v) for v in phones] + [(EMAIL, v) for v in emails]
        wanted += [(IM, v) for v in ims]
        found = [_record(r) for r in await self._stored.find(wanted)]
        return sorted(found, key=lambda r: r.kind is not RecordKind.CONTACT)

    async def get(self, record_id: str) -> CrmRecord | None:
        number = _number(record_id)
        if number is None:
            return None
        found = await self._stored.get(number)
        if found is None:
            return None
        record = _record(found)
        return record if record.id == record_id else None

    async def create_lead(self, draft: LeadDraft) -> CrmRecord:
        new = NewRecord(
            kind=RecordKind.LEAD.value,
            origin_id=draft.origin_id,
            name=draft.name,
            responsible=draft.responsible,
            source=draft.source,
            source_description=draft.source_description,
            values={PHONE: draft.phones, EMAIL: draft.emails, IM: draft.ims},
        )
        return _record(await self._stored.create(new, self._clock.now()))

    async def set_responsible(self, record_id: str, operator_id: str) -> None:
        await self._stored.set_responsible(self._known(record_id), operator_id)

    async def attach_transcript(self, record_id: str, text: str) -> None:
        await self.add_note(record_id, text, kind="transcript")

    async def add_note(self, record_id: str, text: str, *, kind: str = "note") -> None:
        number = self._known(record_id)
        await self._stored.add_note(number, kind=kind, text=text, now=self._clock.now())

    async def timeline(self, record_id: str) -> list[tuple[str, str, datetime]]:
        """The record's transcripts and notes, oldest first: (kind, text, time)."""
        notes = await self._stored.timeline(self._known(record_id))
        return [(n.kind, n.text, n.at) for n in notes]

    async def add_contacts(
        self,
        record_id: str,
        *,
        phones: Sequence[str] = (),
        emails: Sequence[str] = (),
        ims: Sequence[str] = (),
    ) -> None:
        number = self._known(record_id)
        values = {PHONE: phones, EMAIL: emails, IM: ims}
        await self._stored.add_values(number, values, self._clock.now())

    def _known(self, record_id: str) -> int:
        number = _number(record_id)
        if number is None:
            raise CrmError(f"{record_id!r} is not a record id of the embedded CRM")
        return number

    async def close(self) -> None:
        return None  # the store owns the connection
