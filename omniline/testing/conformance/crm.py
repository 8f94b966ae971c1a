"""The CRM conformance suite: what every ``CRM`` implementation must do.

Subclass :class:`CrmConformance` in a test module (name it ``Test...``) and implement
``open_crm``, returning a CRM that maps the omniline operators ``anna`` and ``boris`` to users of
the CRM (for a remote CRM: talking to a local fake of it)::

    class TestMyCrm(CrmConformance):
        async def open_crm(self) -> CRM: ...

The suite closes the CRM itself. Each test starts from a CRM with no records.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from omniline.crm import CRM, CrmRecord, LeadDraft, RecordKind

_numbers = itertools.count(1)


def draft(**fields: object) -> LeadDraft:
    """A lead draft with a fresh origin id and phone, overridden by ``fields``."""
    n = next(_numbers)
    values: dict[str, object] = {
        "origin_id": f"omniline:conformance:{n}",
        "title": f"Conformance lead {n}",
        "name": "Zoe Quinn",
        "source_description": "telegram",
        "phones": (f"+4930{5550000 + n}",),
    }
    values.update(fields)
    return LeadDraft.model_validate(values)


@pytest.mark.asyncio
class CrmConformance(ABC):
    """Checks a CRM against the contract of ``omniline.crm.CRM``."""

    @abstractmethod
    async def open_crm(self) -> CRM:
        """A CRM with no records, knowing the operators ``anna`` and ``boris``."""

    @pytest_asyncio.fixture
    async def crm(self) -> AsyncIterator[CRM]:
        crm = await self.open_crm()
        try:
            yield crm
        finally:
            await crm.close()

    async def test_a_new_lead_is_found_by_phone_email_and_messenger_identity(
        self, crm: CRM
    ) -> None:
        lead = await crm.create_lead(
            draft(emails=("zoe@example.org",), ims=("telegram:424242",), responsible="anna")
        )
        assert lead.kind is RecordKind.LEAD
        assert lead.responsible == "anna"
        for found in (
            await crm.find(phones=lead.phones),
            await crm.find(emails=["zoe@example.org"]),
            await crm.find(ims=["telegram:424242"]),
        ):
            assert [r.id for r in found] == [lead.id]

    async def test_nothing_is_found_for_unknown_values(self, crm: CRM) -> None:
        await crm.create_lead(draft())
        assert await crm.find(phones=["+4930999999"], emails=["nobody@example.org"]) == []
        assert await crm.find() == []

    async def test_a_record_found_by_several_values_comes_once(self, crm: CRM) -> None:
        lead = await crm.create_lead(draft(emails=("once@example.org",)))
        found = await crm.find(phones=lead.phones, emails=["once@example.org"])
        assert [r.id for r in found] == [lead.id]

    async def test_creating_a_lead_again_with_the_same_origin_id_returns_the_first(
        self, crm: CRM
    ) -> None:
        first = await crm.create_lead(draft(origin_id="omniline:client:7"))
        again = await crm.create_lead(draft(origin_id="omniline:client:7"))
        assert again.id == first.id
        assert [r.id for r in await crm.find(phones=first.phones)] == [first.id]

    async def test_get_reads_the_record_with_its_responsible_manager(self, crm: CRM) -> None:
        lead = await crm.create_lead(draft(name="Ivan Petrov", responsible="boris"))
        got = await crm.get(lead.id)
        assert isinstance(got, CrmRecord)
        assert (got.id, got.name, got.responsible) == (lead.id, "Ivan Petrov", "boris")
        assert got.phones == lead.phones
        assert await crm.get(f"{lead.id}404") is None

    async def test_the_responsible_manager_can_change(self, crm: CRM) -> None:
        lead = await crm.create_lead(draft(responsible="anna"))
        await crm.set_responsible(lead.id, "boris")
        got = await crm.get(lead.id)
        assert got is not None and got.responsible == "boris"

    async def test_contacts_are_added_never_replaced(self, crm: CRM) -> None:
        lead = await crm.create_lead(draft(emails=("first@example.org",)))
        await crm.add_contacts(
            lead.id,
            phones=[*lead.phones, "+4930123456"],
            emails=["first@example.org", "second@example.org"],
            ims=["vk:99"],
        )
        got = await crm.get(lead.id)
        assert got is not None
        assert sorted(got.phones) == sorted([*lead.phones, "+4930123456"])
        assert sorted(got.emails) == ["first@example.org", "second@example.org"]
        assert got.ims == ("vk:99",)
        assert [r.id for r in await crm.find(phones=["+4930123456"])] == [lead.id]

    async def test_a_transcript_can_be_attached(self, crm: CRM) -> None:
        lead = await crm.create_lead(draft())
        await crm.attach_transcript(lead.id, "[client] hello\n[Anna] Hi! How can I help?")
        assert await crm.get(lead.id) is not None


__all__ = ["CrmConformance", "draft"]
