"""The Bitrix24 CRM: omniline's CRM port over a portal's incoming webhook.

Writes that are not safe to repeat (a new lead, appended contacts, a timeline comment) check what
the portal already has before each try, so a try whose answer was lost is never done twice: a lead
is looked up by ``ORIGINATOR_ID`` + ``ORIGIN_ID`` before ``crm.lead.add``, a record is read again
before its missing contacts are appended, and the timeline is read before a transcript is added.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from typing import Any
from weakref import WeakValueDictionary

import aiohttp

from omniline.plugins import CrmError, CrmHost, CrmRecord, LeadDraft, RecordKind
from omniline_bitrix24.answers import as_int, as_list, as_object, as_text
from omniline_bitrix24.errors import Bitrix24Error, Trouble
from omniline_bitrix24.records import (
    ImCodec,
    email_key,
    lead_fields,
    missing_entries,
    parse_record_id,
    phone_key,
    record_from,
)
from omniline_bitrix24.rest import Bitrix24Rest, Params
from omniline_bitrix24.settings import Bitrix24Settings

log = logging.getLogger("omniline.crm.bitrix24")

FINDBYCOMM_VALUES = 20
"""Values in one ``crm.duplicate.findbycomm`` (Bitrix24's limit)."""
KINDS = (RecordKind.CONTACT, RecordKind.LEAD)
"""The order of ``find``'s answer: contacts before leads."""


class Bitrix24Crm:
    """One Bitrix24 portal as omniline's CRM."""

    def __init__(
        self,
        settings: Bitrix24Settings,
        host: CrmHost,
        *,
        session: aiohttp.ClientSession | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self._clock = host.clock
        self._rest = Bitrix24Rest(settings, host.clock, session=session, jitter=jitter)
        self._ims = ImCodec(settings.im_types)
        self._operators_of: dict[int, str] = {}
        for operator, user in settings.operators.items():
            self._operators_of.setdefault(user, operator)
        self._creating: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()

    def __repr__(self) -> str:
        return f"Bitrix24Crm({self.settings.masked_url})"

    # --- reading -----------------------------------------------------------------------------

    async def find(
        self,
        *,
        phones: Sequence[str] = (),
        emails: Sequence[str] = (),
        ims: Sequence[str] = (),
    ) -> list[CrmRecord]:
        """Phones and emails through ``crm.duplicate.findbycomm``, messenger identities through
        ``crm.contact.list`` / ``crm.lead.list`` filtered by ``IM`` (exact match), all in one
        ``batch``; then the records in a second one."""
        commands: dict[str, tuple[str, Params]] = {}
        for kind, values, same in (("PHONE", phones, phone_key), ("EMAIL", emails, email_key)):
            unique = list({same(v): v.strip() for v in values if v.strip()}.values())
            for i in range(0, len(unique), FINDBYCOMM_VALUES):
                commands[f"{kind.lower()}_{i}"] = (
                    "crm.duplicate.findbycomm",
                    {"type": kind, "values": unique[i : i + FINDBYCOMM_VALUES]},
                )
        entries = [self._ims.entry(i.strip()) for i in ims if i.strip()]
        wanted_ims = {self._ims.identity(e) for e in entries}
        im_values = dict.fromkeys(e["VALUE"] for e in entries)
        for i, value in enumerate(im_values):
            for kind in KINDS:
                commands[f"im_{i}_{kind.value}"] = (
                    f"crm.{kind.value}.list",
                    {"filter": {"IM": value}, "select": ["ID"], "start": -1},
                )
        if not commands:
            return []
        answer = await self._rest.batch(commands)
        if answer.errors:
            raise next(iter(answer.errors.values()))
        found: dict[RecordKind, dict[int, bool]] = {kind: {} for kind in KINDS}  # id -> trusted
        for key, result in answer.results.items():
            if key.startswith("im_"):
                kind = RecordKind(key.rsplit("_", 1)[1])
                for item in as_list(result):
                    if (n := as_int(as_object(item).get("ID"))) is not None:
                        found[kind].setdefault(n, False)
            else:
                duplicates = as_object(result)
                for kind in KINDS:
                    for n in map(as_int, as_list(duplicates.get(kind.name))):
                        if n is not None:
                            found[kind][n] = True
        wanted = [(kind, n) for kind in KINDS for n in found[kind]]
        records = []
        for (kind, n), raw in zip(wanted, await self._read_many(wanted), strict=True):
            record = None if raw is None else self._record(kind, raw)
            # A filter by IM matches the value whatever its messenger type: check the type too.
            if record is not None and (found[kind][n] or wanted_ims.intersection(record.ims)):
                records.append(record)
        return records

    async def get(self, record_id: str) -> CrmRecord | None:
        ref = parse_record_id(record_id)
        if ref is None:
            return None
        raw = await self._read(*ref)
        return None if raw is None else self._record(ref[0], raw)

    # --- writing -----------------------------------------------------------------------------

    async def create_lead(self, draft: LeadDraft) -> CrmRecord:
        lock = self._creating.get(draft.origin_id)
        if lock is None:
            lock = self._creating[draft.origin_id] = asyncio.Lock()
        async with lock:
            fields = lead_fields(
                draft,
                source_id=self.settings.lead_source_id,
                originator_id=self.settings.originator_id,
                assigned_to=self._assignee(draft.responsible),
                codec=self._ims,
            )
            attempt = 0
            while True:
                attempt += 1
                number = await self._lead_by_origin(draft.origin_id)
                if number is None:
                    try:
                        added = await self._rest.call(
                            "crm.lead.add", {"fields": fields}, idempotent=False
                        )
                    except Bitrix24Error as error:
                        await self._after_unknown_outcome(error, attempt)
                        continue
                    number = as_int(added)
                    if number is None:
                        raise CrmError(
                            f"Bitrix24 {self.settings.portal} answered crm.lead.add without a "
                            f"lead id ({added!r})"
                        )
                record = await self.get(f"lead:{number}")
                if record is None:
                    raise CrmError(
                        f"lead:{number} was made in Bitrix24 {self.settings.portal} but cannot be "
                        "read back",
                        temporary=True,
                    )
                return record

    async def set_responsible(self, record_id: str, operator_id: str) -> None:
        kind, n = self._ref(record_id)
        user = self.settings.operators.get(operator_id)
        if user is None:
            raise CrmError(
                f"operator {operator_id!r} has no Bitrix24 user: map it in the bitrix24 "
                "settings (operators: {operator id: Bitrix24 user id})"
            )
        params = {"id": n, "fields": {"ASSIGNED_BY_ID": user}}
        await self._write(record_id, f"crm.{kind.value}.update", params, idempotent=True)

    async def attach_transcript(self, record_id: str, text: str) -> None:
        """A timeline comment (``crm.timeline.comment.add``); Bitrix24 shows it as BB-code.

        A transcript the timeline's latest comments already hold is not added again: a job run
        again after its answer was lost adds nothing twice."""
        kind, n = self._ref(record_id)
        text = _comment_text(text)
        if not text:
            return
        fields = {"ENTITY_ID": n, "ENTITY_TYPE": kind.value, "COMMENT": text}
        attempt = 0
        while True:
            attempt += 1
            if await self._has_comment(kind, n, text):
                return
            try:
                await self._write(
                    record_id, "crm.timeline.comment.add", {"fields": fields}, idempotent=False
                )
                return
            except Bitrix24Error as error:
                await self._after_unknown_outcome(error, attempt)

    async def add_contacts(
        self,
        record_id: str,
        *,
        phones: Sequence[str] = (),
        emails: Sequence[str] = (),
        ims: Sequence[str] = (),
    ) -> None:
        """Appends entries without ``ID`` to the multi-fields: Bitrix24 keeps the old ones."""
        kind, n = self._ref(record_id)
        attempt = 0
        while True:
            attempt += 1
            raw = await self._read(kind, n)
            if raw is None:
                raise self._missing(record_id)
            fields = missing_entries(raw, phones=phones, emails=emails, ims=ims, codec=self._ims)
            if not fields:
                return
            params = {"id": n, "fields": fields}
            try:
                await self._write(record_id, f"crm.{kind.value}.update", params, idempotent=False)
                return
            except Bitrix24Error as error:
                await self._after_unknown_outcome(error, attempt)

    async def close(self) -> None:
        await self._rest.close()

    # --- helpers -----------------------------------------------------------------------------

    def _record(self, kind: RecordKind, raw: dict[str, Any]) -> CrmRecord | None:
        return record_from(
            kind,
            raw,
            ims=self._ims,
            operator_of=lambda user: None if user is None else self._operators_of.get(user),
            portal=self.settings.portal,
        )

    def _ref(self, record_id: str) -> tuple[RecordKind, int]:
        ref = parse_record_id(record_id)
        if ref is None:
            raise CrmError(f"{record_id!r} is not a Bitrix24 record id (contact:<n> or lead:<n>)")
        return ref

    def _missing(self, record_id: str) -> CrmError:
        return CrmError(f"{record_id} is not in Bitrix24 {self.settings.portal} (deleted?)")

    def _assignee(self, operator: str | None) -> int | None:
        if operator is None:
            return self.settings.default_responsible
        user = self.settings.operators.get(operator)
        if user is None:
            log.warning(
                "operator %r has no Bitrix24 user in operators: the lead goes to the default",
                operator,
            )
            return self.settings.default_responsible
        return user

    async def _read(self, kind: RecordKind, n: int) -> dict[str, Any] | None:
        try:
            raw = await self._rest.call(f"crm.{kind.value}.get", {"id": n}, idempotent=True)
        except Bitrix24Error as error:
            if error.trouble is Trouble.NOT_FOUND:
                return None
            raise
        return as_object(raw) or None

    async def _read_many(
        self, refs: Sequence[tuple[RecordKind, int]]
    ) -> list[dict[str, Any] | None]:
        commands: dict[str, tuple[str, Params]] = {
            f"{kind.value}_{n}": (f"crm.{kind.value}.get", {"id": n}) for kind, n in refs
        }
        answer = await self._rest.batch(commands)
        for key, error in answer.errors.items():
            if error.trouble is Trouble.ACCESS:
                # The webhook's user may not see every record the duplicate search knows of.
                log.warning("Bitrix24 %s: skipped, its user may not read it: %s", key, error)
            elif error.trouble is not Trouble.NOT_FOUND:
                raise error
        return [as_object(answer.results.get(key)) or None for key in commands]

    async def _lead_by_origin(self, origin_id: str) -> int | None:
        # "=" asks for equality (string filters may match parts otherwise); checked here again.
        params = {
            "filter": {"=ORIGINATOR_ID": self.settings.originator_id, "=ORIGIN_ID": origin_id},
            "select": ["ID", "ORIGINATOR_ID", "ORIGIN_ID"],
            "order": {"ID": "ASC"},
            "start": -1,
        }
        result = await self._rest.call("crm.lead.list", params, idempotent=True)
        numbers = [
            n
            for item in map(as_object, as_list(result))
            if item.get("ORIGIN_ID") == origin_id
            and item.get("ORIGINATOR_ID") == self.settings.originator_id
            and (n := as_int(item.get("ID")))
        ]
        return min(numbers) if numbers else None

    async def _has_comment(self, kind: RecordKind, n: int, text: str) -> bool:
        params = {
            "filter": {"ENTITY_ID": n, "ENTITY_TYPE": kind.value},
            "select": ["ID", "COMMENT"],
            "order": {"ID": "DESC"},
        }
        result = await self._rest.call("crm.timeline.comment.list", params, idempotent=True)
        return any(
            _comment_text(as_text(as_object(c).get("COMMENT")) or "") == text
            for c in as_list(result)
        )

    async def _write(self, record_id: str, method: str, params: Params, *, idempotent: bool) -> Any:
        try:
            return await self._rest.call(method, params, idempotent=idempotent)
        except Bitrix24Error as error:
            if error.trouble is Trouble.NOT_FOUND:
                raise self._missing(record_id) from error
            raise

    async def _after_unknown_outcome(self, error: Bitrix24Error, attempt: int) -> None:
        """Re-raise unless the write may have been done and may be checked and tried again."""
        if not error.ambiguous or attempt >= self.settings.max_attempts:
            raise error
        log.warning("%s; checking before try %d", error, attempt + 1)
        await self._clock.sleep(self._rest.backoff(attempt))


def _comment_text(text: str) -> str:
    return text.replace("\r\n", "\n").strip()
