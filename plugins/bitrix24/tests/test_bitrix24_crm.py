"""The CRM adapter on a portal where managers also work: what omniline finds, reads and adds."""

from __future__ import annotations

import pytest
from omniline_bitrix24 import Bitrix24Crm
from omniline_bitrix24.testing import CrmTestHost, FakeBitrix24

from omniline.plugins import CrmError, LeadDraft


async def test_contacts_come_before_leads_and_each_record_once(
    portal: FakeBitrix24, crm: Bitrix24Crm
) -> None:
    lead = portal.add_lead("Earlier request", phones=["+4930111"])
    contact = portal.add_contact(
        "Ann", phones=["+4930111"], emails=["ann@example.org"], ims=[("TELEGRAM", "42")]
    )
    found = await crm.find(phones=["+4930111"], emails=["ann@example.org"], ims=["telegram:42"])
    assert [r.id for r in found] == [f"contact:{contact}", f"lead:{lead}"]
    assert [c.method for c in portal.calls if not c.in_batch] == ["batch", "batch"]


async def test_many_values_are_found_twenty_a_command_in_one_batch(
    portal: FakeBitrix24, crm: Bitrix24Crm
) -> None:
    phones = [f"+49301000{n:03}" for n in range(45)]
    lead = portal.add_lead("Last one", phones=[phones[-1]])
    assert [r.id for r in await crm.find(phones=phones)] == [f"lead:{lead}"]
    commands = next(c for c in portal.calls if c.method == "batch").params["cmd"]
    assert list(commands) == ["phone_0", "phone_20", "phone_40"]


async def test_a_messenger_identity_matches_only_its_own_messenger(
    portal: FakeBitrix24, crm: Bitrix24Crm
) -> None:
    telegram = portal.add_contact("On Telegram", ims=[("TELEGRAM", "42")])
    vk = portal.add_contact("On VK", ims=[("VK", "42")])
    webchat = portal.add_lead("Web", ims=[("OTHER", "webchat:42")])
    assert [r.id for r in await crm.find(ims=["vk:42"])] == [f"contact:{vk}"]
    assert [r.id for r in await crm.find(ims=["telegram:42"])] == [f"contact:{telegram}"]
    assert [r.id for r in await crm.find(ims=["webchat:42"])] == [f"lead:{webchat}"]


async def test_the_responsible_manager_is_the_mapped_operator_or_nobody(
    portal: FakeBitrix24, crm: Bitrix24Crm
) -> None:
    mapped = portal.add_contact("Mapped", assigned=7)
    unmapped = portal.add_contact("Unmapped", assigned=99)
    got = await crm.get(f"contact:{mapped}")
    assert got is not None and got.responsible == "boris"
    got = await crm.get(f"contact:{unmapped}")
    assert got is not None and got.responsible is None


async def test_a_manager_formatted_phone_is_the_same_phone(
    portal: FakeBitrix24, crm: Bitrix24Crm
) -> None:
    contact = portal.add_contact("Ivan", phones=["+7 (912) 123-45-67"])
    await crm.add_contacts(f"contact:{contact}", phones=["+79121234567"])
    got = await crm.get(f"contact:{contact}")
    assert got is not None and got.phones == ("+79121234567",)
    assert len(portal.contacts[contact].multi["PHONE"]) == 1
    assert portal.executed("crm.contact.update") == 0


async def test_new_contacts_are_appended_once_even_when_the_answer_was_lost(
    portal: FakeBitrix24, crm: Bitrix24Crm
) -> None:
    contact = portal.add_contact("Ann", emails=["ann@example.org"], ims=[("TELEGRAM", "1")])
    portal.lose_answer("crm.contact.update")
    await crm.add_contacts(
        f"contact:{contact}",
        phones=["+4930222", "+4930222"],
        emails=["ANN@example.org", "ann@work.example"],
        ims=["telegram:1", "viber:abc=="],
    )
    multi = portal.contacts[contact].multi
    assert [e["VALUE"] for e in multi["PHONE"]] == ["+4930222"]
    assert [e["VALUE"] for e in multi["EMAIL"]] == ["ann@example.org", "ann@work.example"]
    assert [(e["VALUE_TYPE"], e["VALUE"]) for e in multi["IM"]] == [
        ("TELEGRAM", "1"),
        ("VIBER", "abc=="),
    ]
    assert portal.executed("crm.contact.update") == 1
    # the update carried only new entries, without ID
    update = next(c for c in portal.calls if c.method == "crm.contact.update")
    assert all("ID" not in e for entries in update.params["fields"].values() for e in entries)


async def test_a_transcript_goes_on_the_timeline_once_even_when_the_answer_was_lost(
    portal: FakeBitrix24, crm: Bitrix24Crm
) -> None:
    contact = portal.add_contact("Ann")
    portal.lose_answer("crm.timeline.comment.add")
    await crm.attach_transcript(f"contact:{contact}", "[client] hello\r\n[Anna] Hi!")
    assert [(c["ENTITY_TYPE"], c["ENTITY_ID"], c["COMMENT"]) for c in portal.comments] == [
        ("contact", str(contact), "[client] hello\n[Anna] Hi!")
    ]


async def test_an_empty_transcript_is_not_sent(portal: FakeBitrix24, crm: Bitrix24Crm) -> None:
    lead = portal.add_lead("Quiet")
    await crm.attach_transcript(f"lead:{lead}", "  \n ")
    assert portal.calls == []


async def test_reassigning_to_an_unmapped_operator_or_a_missing_record_fails_for_good(
    portal: FakeBitrix24, crm: Bitrix24Crm
) -> None:
    lead = portal.add_lead("Someone's")
    with pytest.raises(CrmError) as unmapped:
        await crm.set_responsible(f"lead:{lead}", "carol")
    assert not unmapped.value.temporary and "operators" in unmapped.value.reason
    with pytest.raises(CrmError) as missing:
        await crm.set_responsible("lead:404", "anna")
    assert not missing.value.temporary and "lead:404 is not in Bitrix24" in missing.value.reason
    with pytest.raises(CrmError):
        await crm.add_contacts("contact:404", phones=["+4930111"])
    with pytest.raises(CrmError):
        await crm.attach_transcript("deal:1", "hello")


async def test_ids_that_are_not_bitrix24_records_are_not_found(crm: Bitrix24Crm) -> None:
    for record_id in ("deal:1", "lead:", "lead:abc", "lead:0", "12", ""):
        assert await crm.get(record_id) is None


async def test_a_lead_for_an_unmapped_operator_goes_to_the_default_responsible(
    portal: FakeBitrix24,
) -> None:
    crm = Bitrix24Crm(portal.settings(default_responsible=9), CrmTestHost())
    try:
        lead = await crm.create_lead(LeadDraft(origin_id="o:1", title="T", responsible="carol"))
        nobody = await crm.create_lead(LeadDraft(origin_id="o:2", title="T"))
    finally:
        await crm.close()
    assert portal.leads[1].fields["ASSIGNED_BY_ID"] == "9"
    assert portal.leads[2].fields["ASSIGNED_BY_ID"] == "9"
    assert lead.responsible is None and nobody.responsible is None


async def test_without_a_default_a_lead_goes_to_the_portals_default(
    portal: FakeBitrix24, crm: Bitrix24Crm
) -> None:
    await crm.create_lead(LeadDraft(origin_id="o:1", title="T"))
    add = next(c for c in portal.calls if c.method == "crm.lead.add")
    assert "ASSIGNED_BY_ID" not in add.params["fields"]
    assert portal.leads[1].fields["ASSIGNED_BY_ID"] == str(portal.user)


async def test_the_same_transcript_again_is_not_added_twice_but_a_new_one_is(
    portal: FakeBitrix24, crm: Bitrix24Crm
) -> None:
    lead = portal.add_lead("Talkative")
    await crm.attach_transcript(f"lead:{lead}", "Dialog 1\n[09:00] Client: hello")
    await crm.attach_transcript(f"lead:{lead}", "Dialog 1\n[09:00] Client: hello")
    await crm.attach_transcript(f"lead:{lead}", "Dialog 2\n[10:00] Client: again")
    assert [c["COMMENT"].split("\n")[0] for c in portal.comments] == ["Dialog 1", "Dialog 2"]


async def test_a_lead_another_application_made_with_the_same_origin_id_is_not_ours(
    portal: FakeBitrix24, crm: Bitrix24Crm
) -> None:
    theirs = portal.add_lead("Theirs")
    portal.leads[theirs].fields.update(ORIGINATOR_ID="other-app", ORIGIN_ID="omniline:client:1")
    ours = await crm.create_lead(LeadDraft(origin_id="omniline:client:1", title="Ours"))
    assert ours.id != f"lead:{theirs}"
    assert len(portal.leads) == 2


async def test_records_the_webhooks_user_may_not_read_are_left_out_of_find(
    portal: FakeBitrix24, crm: Bitrix24Crm
) -> None:
    contact = portal.add_contact("Visible", phones=["+4930444"])
    portal.add_lead("Hidden", phones=["+4930444"])
    portal.fail("crm.lead.get", "", description="Access denied.")
    assert [r.id for r in await crm.find(phones=["+4930444"])] == [f"contact:{contact}"]
