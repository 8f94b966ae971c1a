"""The CRM port: where contacts and leads live (the embedded CRM, or a plugin such as Bitrix24).

omniline asks a CRM few things, all by value, never holding a CRM object across calls:

- ``find``: the records with any of these phones (E.164), emails or messenger identities;
- ``get``: one record, with its responsible manager (as an omniline operator id);
- ``create_lead``: a new lead, idempotent by ``origin_id`` (a retried create returns the first);
- ``set_responsible``, ``attach_transcript``, ``add_contacts`` (append what the record lacks).

A CRM plugin's entry point (group ``omniline.crm``) names a :class:`~omniline.plugins.Plugin` of
kind ``crm``. Every CRM passes ``omniline.testing.conformance.CrmConformance``. CRM calls never hold
up a conversation: the engine runs them as durable jobs with retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import Field

from omniline.engine.ports import Clock
from omniline.errors import OmnilineError
from omniline.model._base import Frozen


class CrmError(OmnilineError):
    """A CRM call failed. ``temporary`` ones (rate limits, timeouts, the CRM down) are retried."""

    def __init__(self, reason: str, *, temporary: bool = False, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.temporary = temporary
        self.retry_after = retry_after


class RecordKind(StrEnum):
    CONTACT = "contact"
    LEAD = "lead"


class CrmRecord(Frozen):
    """A contact or lead as omniline sees it."""

    id: str = Field(min_length=1)
    """The CRM's id, unique across kinds (e.g. ``contact:275``)."""
    kind: RecordKind
    name: str | None = None
    phones: tuple[str, ...] = ()
    """E.164 numbers."""
    emails: tuple[str, ...] = ()
    ims: tuple[str, ...] = ()
    """Messenger identities as ``<channel type>:<external id>`` (``telegram:123456``)."""
    responsible: str | None = None
    """The responsible manager, as an omniline operator id (None: nobody, or not mapped)."""
    url: str | None = None
    """Where an operator opens the record in the CRM."""


class LeadDraft(Frozen):
    origin_id: str = Field(min_length=1, max_length=128)
    """omniline's own id for the lead (``omniline:client:42``): a create retried after a timeout
    finds the lead made the first time instead of making a second one."""
    title: str = Field(min_length=1)
    name: str | None = None
    source: str = "Open line"
    source_description: str | None = None
    """Where the client came from: the channel."""
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    ims: tuple[str, ...] = ()
    responsible: str | None = None


@runtime_checkable
class CRM(Protocol):
    async def find(
        self,
        *,
        phones: Sequence[str] = (),
        emails: Sequence[str] = (),
        ims: Sequence[str] = (),
    ) -> list[CrmRecord]:
        """Records with any of these values (exact match), contacts before leads, each once."""
        ...

    async def get(self, record_id: str) -> CrmRecord | None: ...

    async def create_lead(self, draft: LeadDraft) -> CrmRecord:
        """A new lead; the same ``origin_id`` again returns the lead made the first time."""
        ...

    async def set_responsible(self, record_id: str, operator_id: str) -> None: ...

    async def attach_transcript(self, record_id: str, text: str) -> None:
        """Add a dialog's transcript to the record's timeline."""
        ...

    async def add_contacts(
        self,
        record_id: str,
        *,
        phones: Sequence[str] = (),
        emails: Sequence[str] = (),
        ims: Sequence[str] = (),
    ) -> None:
        """Add the values the record does not have yet (never replaces one)."""
        ...

    async def close(self) -> None: ...


class CrmHost(Protocol):
    @property
    def clock(self) -> Clock: ...


__all__ = ["CRM", "CrmError", "CrmHost", "CrmRecord", "LeadDraft", "RecordKind"]
