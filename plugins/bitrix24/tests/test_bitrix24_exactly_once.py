"""Done when: the Bitrix24 plugin creates exactly one lead under forced retries and rate-limit
errors from the fake portal, including a lead that was stored but whose answer was lost."""

from __future__ import annotations

import asyncio

import pytest
from omniline_bitrix24 import Bitrix24Crm
from omniline_bitrix24.testing import CrmTestHost, FakeBitrix24, fake_bitrix24

from omniline.plugins import CrmError, LeadDraft


def draft(origin: str = "omniline:client:42", **fields: object) -> LeadDraft:
    values: dict[str, object] = {
        "origin_id": origin,
        "title": "Telegram: Zoe",
        "name": "Zoe Quinn",
        "phones": ("+4930555001",),
        "ims": ("telegram:424242",),
        "responsible": "anna",
    }
    values.update(fields)
    return LeadDraft.model_validate(values)


@pytest.mark.parametrize("drop", [True, False], ids=["connection-dropped", "proxy-502-page"])
async def test_a_lead_stored_whose_answer_was_lost_is_not_made_again(
    portal: FakeBitrix24, crm: Bitrix24Crm, drop: bool
) -> None:
    portal.lose_answer("crm.lead.add", drop=drop)
    lead = await crm.create_lead(draft())
    assert list(portal.leads) == [1]
    assert lead.id == "lead:1"
    assert portal.executed("crm.lead.add") == 1
    assert [c.lost for c in portal.calls if c.method == "crm.lead.add"] == [True]


async def test_rate_limit_errors_on_every_step_still_make_one_lead(
    portal: FakeBitrix24, crm: Bitrix24Crm
) -> None:
    portal.fail("crm.lead.list", "QUERY_LIMIT_EXCEEDED", times=2)
    portal.fail("crm.lead.add", "QUERY_LIMIT_EXCEEDED", times=3)
    portal.fail("crm.lead.get", "QUERY_LIMIT_EXCEEDED", times=1)
    lead = await crm.create_lead(draft())
    assert list(portal.leads) == [1] and lead.id == "lead:1"
    assert portal.refused("crm.lead.add") == 3
    assert portal.executed("crm.lead.add") == 1


async def test_lost_answers_rate_limits_and_server_trouble_together_make_one_lead(
    portal: FakeBitrix24, crm: Bitrix24Crm
) -> None:
    portal.fail("crm.lead.add", "QUERY_LIMIT_EXCEEDED", times=2)
    portal.lose_answer("crm.lead.add", times=1, drop=False)
    portal.fail("crm.lead.list", "INTERNAL_SERVER_ERROR", times=1)
    portal.fail("crm.lead.list", "QUERY_LIMIT_EXCEEDED", times=2)
    first = await crm.create_lead(draft())
    again = await crm.create_lead(draft())
    assert first.id == again.id == "lead:1"
    assert len(portal.leads) == 1
    assert portal.executed("crm.lead.add") == 1


async def test_the_portals_own_bucket_overflowing_makes_no_second_lead() -> None:
    # The portal's bucket is far smaller than the client's: most calls meet QUERY_LIMIT_EXCEEDED.
    async with fake_bitrix24(burst=3, rate=20.0) as portal:
        crm = Bitrix24Crm(portal.settings(burst=50, rate=50.0, max_attempts=20), CrmTestHost())
        try:
            origins = [f"omniline:client:{n}" for n in range(6)]
            made = await asyncio.gather(*(crm.create_lead(draft(o)) for o in origins * 2))
        finally:
            await crm.close()
    assert portal.refused() > 0
    assert len(portal.leads) == 6
    assert sorted(e.fields["ORIGIN_ID"] or "" for e in portal.leads.values()) == sorted(origins)
    assert [r.id for r in made[:6]] == [r.id for r in made[6:]]


async def test_a_create_that_gave_up_is_finished_by_the_next_try_without_a_second_lead(
    portal: FakeBitrix24,
) -> None:
    crm = Bitrix24Crm(portal.settings(max_attempts=2), CrmTestHost())
    try:
        portal.lose_answer("crm.lead.add")
        portal.fail("crm.lead.get", "INTERNAL_SERVER_ERROR", times=2)
        with pytest.raises(CrmError) as gave_up:
            await crm.create_lead(draft())
        assert gave_up.value.temporary
        # the engine runs the job again later
        lead = await crm.create_lead(draft())
    finally:
        await crm.close()
    assert lead.id == "lead:1" and len(portal.leads) == 1
    assert portal.executed("crm.lead.add") == 1


async def test_two_crms_on_one_portal_creating_at_once_make_one_lead_for_one_origin(
    portal: FakeBitrix24, crm: Bitrix24Crm
) -> None:
    first = await crm.create_lead(draft())
    other = Bitrix24Crm(portal.settings(), CrmTestHost())
    try:
        again = await other.create_lead(draft(title="A retried job in another process"))
    finally:
        await other.close()
    assert again.id == first.id
    assert len(portal.leads) == 1


async def test_the_lead_carries_origin_source_and_responsible(
    portal: FakeBitrix24, crm: Bitrix24Crm
) -> None:
    await crm.create_lead(draft(source_description="telegram", emails=("zoe@example.org",)))
    fields = portal.leads[1].fields
    assert fields["ORIGINATOR_ID"] == "omniline"
    assert fields["ORIGIN_ID"] == "omniline:client:42"
    assert fields["SOURCE_ID"] == "OTHER"
    assert fields["SOURCE_DESCRIPTION"] == "Open line: telegram"
    assert fields["ASSIGNED_BY_ID"] == "5"
    assert fields["STATUS_ID"] == "NEW"
    multi = portal.leads[1].multi
    assert [(e["VALUE"], e["VALUE_TYPE"]) for e in multi["PHONE"]] == [("+4930555001", "WORK")]
    assert [(e["VALUE"], e["VALUE_TYPE"]) for e in multi["EMAIL"]] == [("zoe@example.org", "WORK")]
    assert [(e["VALUE"], e["VALUE_TYPE"]) for e in multi["IM"]] == [("424242", "TELEGRAM")]
