"""What a line does with its CRM, as Bitrix24 Open Lines does it.

- When a dialog opens, the client is looked up (their linked record, else by phone, email and
  messenger identity) and the dialog goes to the record's responsible manager. The lookup waits
  at most ``LOOKUP_TIMEOUT``: a CRM that is slow or down means routing by the queue, never a
  client left waiting.
- Everything that writes to the CRM is a durable job (a timer row of kind ``crm``) written in the
  same transaction as the message or action that calls for it, and retried with back-off while
  the CRM is down: making sure the CRM knows the client (link the record found, add the phones,
  emails and messenger identities it lacks, or create a lead when the line says so and the client
  can be written back to), attaching the transcript when a dialog closes, and changing the
  responsible manager after a transfer by hand.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from datetime import timedelta

from pydantic import JsonValue

from omniline import metrics
from omniline.crm import CRM, CrmError, CrmRecord, LeadDraft
from omniline.engine.crm_jobs import CRM_TIMER
from omniline.engine.distribution import render_text
from omniline.engine.ports import Clock, Timer
from omniline.errors import OmnilineError
from omniline.model import Dialog, Location, StoredMessage
from omniline.pipeline.line import Line
from omniline.store.sql_store import SqlStore

log = logging.getLogger("omniline.crm")

LOOKUP_TIMEOUT = 3.0
"""Seconds a new dialog's routing waits for the CRM to name the responsible manager."""
MAX_ATTEMPTS = 30
WEBCHAT = "webchat"


class CrmService:
    def __init__(self, crm: CRM, store: SqlStore, lines: Mapping[str, Line], clock: Clock) -> None:
        self.crm = crm
        self._store = store
        self._lines = lines
        self._clock = clock

    # --- reading ----------------------------------------------------------------------------------

    async def record_of(
        self, client_id: int, also: Mapping[str, str] | None = None
    ) -> CrmRecord | None:
        """The client's CRM record: the one linked to them, else one found by their phones,
        emails or messenger identities (and linked from now on). ``also``: a phone and email
        given but not stored yet."""
        linked = await self._store.clients.record(client_id)
        if linked is not None:
            record = await self.crm.get(linked)
            if record is not None:
                return record
        values = await self._store.clients.contact_values(client_id)
        for kind in ("phone", "email"):
            value = (also or {}).get(kind)
            if value is not None and value not in values[kind]:
                values[kind].append(value)
        found = await self.crm.find(
            phones=values["phone"], emails=values["email"], ims=values["im"]
        )
        if not found:
            return None
        await self._store.clients.link_record(client_id, found[0].id)
        return found[0]

    async def responsible_for(self, dialog: Dialog) -> str | None:
        """The line's hook (``Line.responsible_manager``): who the CRM says serves the client."""
        line = self._lines.get(dialog.line_id)
        if line is None or not line.settings.crm_check:
            return None
        try:
            record = await asyncio.wait_for(
                self.record_of(dialog.client_id, dialog.identity.profile), LOOKUP_TIMEOUT
            )
        except (CrmError, OSError, TimeoutError) as exc:
            log.warning(
                "CRM lookup for dialog %s failed (%s); routing by the queue", dialog.id, exc
            )
            return None
        return record.responsible if record is not None else None

    # --- jobs -------------------------------------------------------------------------------------

    async def run(self, timer: Timer) -> None:
        """Run one CRM job; while the CRM fails for a while, try again later."""
        data = timer.data if isinstance(timer.data, dict) else {}
        job = data.get("job")
        outcome = "done"
        try:
            if job == "sync":
                await self._sync(data)
            elif job == "transcript":
                await self._transcript(data)
            elif job == "responsible":
                dialog = await self._store.dialogs.get(int(str(data["dialog"])))
                client = dialog.client_id if dialog is not None else int(str(data["client"]))
                record = await self.record_of(client)
                if record is not None:
                    await self.crm.set_responsible(record.id, str(data["operator"]))
            else:
                log.error("unknown CRM job %r (timer %s); dropped", job, timer.key)
                outcome = "failed"
        except CrmError as exc:
            if not exc.temporary:
                log.error("CRM job %s failed for good: %s", timer.key, exc.reason)
                outcome = "failed"
            else:
                outcome = await self._again(timer, data, exc.retry_after)
        except (OSError, TimeoutError) as exc:
            log.warning("CRM job %s: the CRM is unreachable (%s)", timer.key, exc)
            outcome = await self._again(timer, data, None)
        metrics.CRM_JOBS.of(metrics.crm_job_kind(job), outcome).inc()

    async def _again(self, timer: Timer, data: dict[str, JsonValue], after: float | None) -> str:
        """Schedule the job again; ``retry``, or ``failed`` when it has been tried enough."""
        attempt = int(str(data.get("attempt", 0))) + 1
        if attempt >= MAX_ATTEMPTS:
            log.error("CRM job %s gave up after %s attempts", timer.key, attempt)
            return "failed"
        delay = max(after or 0.0, min(600.0, 2.0**attempt) * random.uniform(0.5, 1.0))
        due = self._clock.now() + timedelta(seconds=delay)
        await self._store.timers.schedule(
            CRM_TIMER, timer.key, due, dialog_id=timer.dialog_id, data={**data, "attempt": attempt}
        )
        return "retry"

    async def _sync(self, data: Mapping[str, object]) -> None:
        dialog = await self._store.dialogs.get(int(str(data["dialog"])))
        # The dialog's client as it is now: the chat tracker may have merged it meanwhile.
        client_id = dialog.client_id if dialog is not None else int(str(data["client"]))
        record = await self.record_of(client_id)
        values = await self._store.clients.contact_values(client_id)
        if record is not None:
            await self.crm.add_contacts(
                record.id, phones=values["phone"], emails=values["email"], ims=values["im"]
            )
            return
        line = self._lines.get(str(data["line"]))
        if line is None or line.settings.crm_leads != "auto":
            return
        if dialog is not None and self._writable(dialog, values):
            await self._create_lead(dialog, line, values)

    @staticmethod
    def _writable(dialog: Dialog, values: Mapping[str, list[str]]) -> bool:
        """A lead is made only for a client who can be written back to: a messenger identity,
        or a web-chat visitor once they gave a phone or email."""
        if dialog.identity.channel.type != WEBCHAT:
            return True
        return bool(values["phone"] or values["email"])

    async def _create_lead(
        self, dialog: Dialog, line: Line, values: Mapping[str, list[str]]
    ) -> CrmRecord:
        settings = line.settings
        draft = LeadDraft(
            origin_id=f"omniline:client:{dialog.client_id}",
            title=render_text(settings.lead_title, dialog, line.name),
            name=dialog.identity.display_name,
            source=settings.lead_source,
            source_description=str(dialog.identity.channel),
            phones=tuple(values["phone"]),
            emails=tuple(values["email"]),
            ims=tuple(values["im"]),
            responsible=dialog.operator_id,
        )
        record = await self.crm.create_lead(draft)
        await self._store.clients.link_record(dialog.client_id, record.id)
        return record

    async def create_lead(self, dialog_id: int) -> CrmRecord:
        """An operator makes a lead from the dialog by hand: the client's name and contacts, and
        the conversation so far on its timeline."""
        dialog = await self._store.dialogs.get(dialog_id)
        if dialog is None:
            raise OmnilineError(f"no dialog {dialog_id}")
        line = self._lines[dialog.line_id]
        existing = await self.record_of(dialog.client_id)
        if existing is not None:
            return existing
        values = await self._store.clients.contact_values(dialog.client_id)
        if not self._writable(dialog, values):
            raise OmnilineError(
                "this web-chat visitor gave no phone or email yet: a lead could not reach them"
            )
        record = await self._create_lead(dialog, line, values)
        await self.crm.attach_transcript(record.id, await self.transcript(dialog_id))
        return record

    async def _transcript(self, data: Mapping[str, object]) -> None:
        dialog_id = int(str(data["dialog"]))
        dialog = await self._store.dialogs.get(dialog_id)
        if dialog is None:
            return
        record = await self.record_of(dialog.client_id)
        if record is None:
            return
        await self.crm.attach_transcript(record.id, await self.transcript(dialog_id))

    async def transcript(self, dialog_id: int) -> str:
        """What the client and the line said in the dialog (never the operators' whispers)."""
        lines = [f"Dialog {dialog_id}"]
        after = 0
        while True:
            page = await self._store.dialogs.messages(dialog_id, after_id=after, limit=500)
            for m in page:
                who = {"client": "Client", "bot": "Bot", "system": "Auto-reply"}.get(
                    m.author, m.author.removeprefix("operator:")
                )
                lines.append(f"[{m.created_at:%Y-%m-%d %H:%M}] {who}: {transcript_text(m)}")
            if len(page) < 500:
                return "\n".join(lines)
            after = page[-1].id


def transcript_text(message: StoredMessage) -> str:
    """A message as one line of readable text, whatever it holds: its text, then each other part
    in brackets (``[location 52.52, 13.405 https://www.openstreetmap.org/...]``, ``[contact Zoe
    +4915...]``, ``[sticker]``, ``[link The mug https://...]``, ``[button: yes]``,
    ``[unsupported: poll]``)."""
    parts = [message.text.strip()] if message.text and message.text.strip() else []
    if message.button_payload is not None:
        parts.append(f"[button: {message.button_payload}]")
    for a in message.attachments:
        # A file known only by the platform's id has no address worth writing down.
        words = [a.kind.value, (a.name or "").strip(), a.url or ""]
        parts.append("[" + " ".join(w for w in words if w) + "]")
    if message.contact is not None:
        words = ["contact", (message.contact.name or "").strip(), message.contact.phone]
        parts.append("[" + " ".join(w for w in words if w) + "]")
    if message.location is not None:
        where = message.location
        parts.append(
            f"[location {_degrees(where.latitude)}, {_degrees(where.longitude)} {map_url(where)}]"
        )
    if message.unsupported is not None:
        parts.append(f"[unsupported: {message.unsupported.kind}]")
    return " ".join(parts)


def map_url(location: Location) -> str:
    """The point on OpenStreetMap, with a marker, at street zoom."""
    lat, lon = _degrees(location.latitude), _degrees(location.longitude)
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=16/{lat}/{lon}"


def _degrees(value: float) -> str:
    """Five decimals (about a metre), without trailing zeros."""
    return f"{value:.5f}".rstrip("0").rstrip(".")
