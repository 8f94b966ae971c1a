"""The REST client: pacing by the shared leaky bucket, retries, pauses and error mapping."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from omniline_bitrix24 import Bitrix24Crm, Bitrix24Error, Trouble
from omniline_bitrix24.testing import CODE, CrmTestHost, FakeBitrix24

from omniline.plugins import CrmError, LeadDraft
from omniline.testing import VirtualClock

Drive = Callable[..., Awaitable[Any]]


def on_clock(portal: FakeBitrix24, clock: VirtualClock, **settings: Any) -> Bitrix24Crm:
    values: dict[str, Any] = {"base_delay": 1.0, "max_delay": 30.0}
    values.update(settings)
    return Bitrix24Crm(portal.settings(**values), CrmTestHost(clock), jitter=lambda: 1.0)


def times_of(portal: FakeBitrix24, method: str) -> list[float]:
    start = portal.calls[0].at
    return [round(c.at - start, 3) for c in portal.calls if c.method == method]


# --- pacing ----------------------------------------------------------------------------------


async def test_calls_beyond_the_burst_are_paced_at_the_rate_and_never_refused(
    clocked_portal: FakeBitrix24, clock: VirtualClock, drive: Drive
) -> None:
    lead = clocked_portal.add_lead("Paced")
    crm = on_clock(clocked_portal, clock)
    try:
        await drive(*(crm.get(f"lead:{lead}") for _ in range(56)))
    finally:
        await crm.close()
    assert clocked_portal.refused() == 0
    at = times_of(clocked_portal, "crm.lead.get")
    assert at[:50] == [0.0] * 50
    # then one call every 1/rate = 0.5 s
    assert all(abs(t - 0.5 * (i + 1)) < 0.06 for i, t in enumerate(at[50:])), at[50:]


async def test_two_crms_of_one_portal_share_its_bucket(
    clocked_portal: FakeBitrix24, clock: VirtualClock, drive: Drive
) -> None:
    lead = clocked_portal.add_lead("Shared")
    first, second = on_clock(clocked_portal, clock), on_clock(clocked_portal, clock)
    try:
        calls = [crm.get(f"lead:{lead}") for crm in (first, second) for _ in range(30)]
        await drive(*calls)
    finally:
        await first.close()
        await second.close()
    assert clocked_portal.refused() == 0
    assert len(times_of(clocked_portal, "crm.lead.get")) == 60


async def test_the_bucket_is_configurable(
    clocked_portal: FakeBitrix24, clock: VirtualClock, drive: Drive
) -> None:
    lead = clocked_portal.add_lead("Slow")
    crm = on_clock(clocked_portal, clock, burst=2, rate=1.0)
    try:
        await drive(*(crm.get(f"lead:{lead}") for _ in range(4)))
    finally:
        await crm.close()
    assert times_of(clocked_portal, "crm.lead.get") == pytest.approx([0, 0, 1, 2], abs=0.06)


# --- QUERY_LIMIT_EXCEEDED ---------------------------------------------------------------------


async def test_query_limit_exceeded_is_retried_with_doubling_back_off(
    clocked_portal: FakeBitrix24, clock: VirtualClock, drive: Drive
) -> None:
    lead = clocked_portal.add_lead("Busy")
    clocked_portal.fail("crm.lead.get", "QUERY_LIMIT_EXCEEDED", times=3)
    crm = on_clock(clocked_portal, clock)
    try:
        got = await drive(crm.get(f"lead:{lead}"))
    finally:
        await crm.close()
    assert got is not None
    assert [c.status for c in clocked_portal.calls] == [503, 503, 503, 200]
    # back-off 1, 2, 4 s (jitter fixed at its top here)
    assert times_of(clocked_portal, "crm.lead.get") == pytest.approx([0, 1, 3, 7], abs=0.06)


def test_the_jitter_spreads_the_back_off_between_half_and_all_of_it() -> None:
    from omniline_bitrix24.rest import Bitrix24Rest
    from omniline_bitrix24.settings import Bitrix24Settings

    settings = Bitrix24Settings(
        webhook_url=f"https://b24.example.com/rest/1/{CODE}/", base_delay=2.0, max_delay=10.0
    )
    low = Bitrix24Rest(settings, VirtualClock(), jitter=lambda: 0.0)
    high = Bitrix24Rest(settings, VirtualClock(), jitter=lambda: 1.0)
    assert [low.backoff(a) for a in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    assert [high.backoff(a) for a in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 10.0]


async def test_a_rate_limit_that_does_not_end_is_a_temporary_error_with_retry_after(
    portal: FakeBitrix24,
) -> None:
    lead = portal.add_lead("Busy")
    portal.fail("crm.lead.get", "QUERY_LIMIT_EXCEEDED", times=3)
    crm = Bitrix24Crm(portal.settings(max_attempts=3), CrmTestHost())
    try:
        with pytest.raises(CrmError) as caught:
            await crm.get(f"lead:{lead}")
    finally:
        await crm.close()
    assert caught.value.temporary and caught.value.retry_after is not None
    assert "QUERY_LIMIT_EXCEEDED" in caught.value.reason
    assert portal.refused("crm.lead.get") == 3


# --- OPERATION_TIME_LIMIT ---------------------------------------------------------------------


async def test_operation_time_limit_pauses_that_method_until_the_reset(
    clocked_portal: FakeBitrix24, clock: VirtualClock, drive: Drive
) -> None:
    lead = clocked_portal.add_lead("Heavy")
    clocked_portal.fail("crm.lead.get", "OPERATION_TIME_LIMIT", reset_after=12.0)
    crm = on_clock(clocked_portal, clock)
    try:
        assert await drive(crm.get(f"lead:{lead}")) is not None
    finally:
        await crm.close()
    # one refusal, then nothing until the portal's operating_reset_at
    assert [c.status for c in clocked_portal.calls] == [429, 200]
    assert times_of(clocked_portal, "crm.lead.get") == pytest.approx([0, 12], abs=0.1)


async def test_a_pause_longer_than_max_delay_fails_at_once_without_calling(
    clocked_portal: FakeBitrix24, clock: VirtualClock, drive: Drive
) -> None:
    lead = clocked_portal.add_lead("Heavy")
    contact = clocked_portal.add_contact("Light")
    clocked_portal.fail("crm.lead.get", "OPERATION_TIME_LIMIT", reset_after=300.0)
    crm = on_clock(clocked_portal, clock, max_delay=30.0)
    try:
        with pytest.raises(CrmError) as first:
            await drive(crm.get(f"lead:{lead}"))
        # only that method is paused
        assert await crm.get(f"contact:{contact}") is not None
        await clock.advance(100)
        with pytest.raises(CrmError) as second:
            await crm.get(f"lead:{lead}")
        await clock.advance(201)
        assert await drive(crm.get(f"lead:{lead}")) is not None
    finally:
        await crm.close()
    assert first.value.temporary and first.value.retry_after == pytest.approx(300, abs=0.5)
    assert second.value.temporary and second.value.retry_after == pytest.approx(200, abs=0.5)
    assert [c.status for c in clocked_portal.calls if c.method == "crm.lead.get"] == [429, 200]


async def test_a_command_inside_a_batch_paused_by_operating_time_is_run_after_the_reset(
    clocked_portal: FakeBitrix24, clock: VirtualClock, drive: Drive
) -> None:
    lead = clocked_portal.add_lead("Found", phones=["+4930777"])
    clocked_portal.fail("crm.lead.get", "OPERATION_TIME_LIMIT", reset_after=5.0)
    crm = on_clock(clocked_portal, clock)
    try:
        found = await drive(crm.find(phones=["+4930777"]))
    finally:
        await crm.close()
    assert [r.id for r in found] == [f"lead:{lead}"]
    inner = [(round(c.at - clocked_portal.calls[0].at), c.status) for c in clocked_portal.calls]
    assert (0, 429) in inner and (5, 200) in inner


async def test_a_command_inside_a_batch_refused_for_the_rate_limit_runs_the_batch_again(
    portal: FakeBitrix24, crm: Bitrix24Crm
) -> None:
    lead = portal.add_lead("Found", emails=["a@example.org"])
    portal.fail("crm.duplicate.findbycomm", "QUERY_LIMIT_EXCEEDED")
    assert [r.id for r in await crm.find(emails=["a@example.org"])] == [f"lead:{lead}"]
    assert [c.status for c in portal.calls if c.method == "crm.duplicate.findbycomm"] == [503, 200]


# --- errors ----------------------------------------------------------------------------------


async def test_a_wrong_webhook_code_is_a_permanent_error_that_names_what_to_check(
    portal: FakeBitrix24,
) -> None:
    wrong = portal.webhook_url.replace(CODE, "wrongcode1234567")
    crm = Bitrix24Crm(portal.settings(webhook_url=wrong), CrmTestHost())
    try:
        with pytest.raises(CrmError) as caught:
            await crm.get("lead:1")
    finally:
        await crm.close()
    error = caught.value
    assert not error.temporary
    assert isinstance(error, Bitrix24Error) and error.trouble is Trouble.AUTH
    assert "NO_AUTH_FOUND" in error.reason and "webhook_url" in error.reason
    assert "wrongcode1234567" not in str(error) and CODE not in str(error)
    assert len(portal.calls) == 1  # never retried


async def test_a_webhook_without_the_crm_permission_says_so(
    portal: FakeBitrix24, crm: Bitrix24Crm
) -> None:
    portal.scopes.clear()
    with pytest.raises(CrmError) as caught:
        await crm.find(phones=["+4930111"])
    assert not caught.value.temporary
    assert "insufficient_scope" in caught.value.reason
    assert "crm permission" in caught.value.reason


@pytest.mark.parametrize("status", [400, 200, 500])
async def test_access_denied_in_the_old_style_is_permanent_whatever_the_http_status(
    portal: FakeBitrix24, crm: Bitrix24Crm, status: int
) -> None:
    lead = portal.add_lead("Secret")
    portal.fail("crm.lead.get", "", description="Access denied.", status=status)
    with pytest.raises(Bitrix24Error) as caught:
        await crm.get(f"lead:{lead}")
    assert caught.value.trouble is Trouble.ACCESS and not caught.value.temporary
    assert "crm permission" in caught.value.reason and "user (id 1)" in caught.value.reason
    assert len(portal.calls) == 1


async def test_an_error_body_under_http_200_is_an_error(
    portal: FakeBitrix24, crm: Bitrix24Crm
) -> None:
    portal.fail("crm.lead.list", "QUERY_LIMIT_EXCEEDED", status=200)
    lead = await crm.create_lead(LeadDraft(origin_id="o:1", title="T"))
    assert lead.id == "lead:1"
    assert [c.error for c in portal.calls if c.method == "crm.lead.list"] == [
        "QUERY_LIMIT_EXCEEDED",
        None,
    ]


async def test_an_expired_token_explains_that_an_incoming_webhook_is_needed(
    portal: FakeBitrix24, crm: Bitrix24Crm
) -> None:
    portal.fail("crm.lead.get", "expired_token")
    with pytest.raises(Bitrix24Error) as caught:
        await crm.get("lead:1")
    assert caught.value.trouble is Trouble.AUTH
    assert "incoming webhook" in caught.value.reason


async def test_a_read_is_tried_again_after_server_trouble_or_a_lost_answer(
    portal: FakeBitrix24, crm: Bitrix24Crm
) -> None:
    lead = portal.add_lead("Flaky")
    portal.fail("crm.lead.get", "INTERNAL_SERVER_ERROR")
    portal.lose_answer("crm.lead.get", drop=False)
    portal.lose_answer("crm.lead.get", drop=True)
    assert await crm.get(f"lead:{lead}") is not None
    assert portal.executed("crm.lead.get") == 3


async def test_a_method_the_portal_does_not_have_is_a_permanent_error(
    portal: FakeBitrix24, crm: Bitrix24Crm
) -> None:
    portal._methods.pop("crm.timeline.comment.add")
    lead = portal.add_lead("No timeline")
    with pytest.raises(Bitrix24Error) as caught:
        await crm.attach_transcript(f"lead:{lead}", "hello")
    assert not caught.value.temporary
    assert "ERROR_METHOD_NOT_FOUND" in caught.value.reason
    assert "crm permission" in caught.value.reason


async def test_a_portal_that_is_not_there_is_a_temporary_error_without_the_code() -> None:
    from omniline_bitrix24.settings import Bitrix24Settings

    settings = Bitrix24Settings(
        webhook_url=f"http://127.0.0.1:9/rest/1/{CODE}/", max_attempts=2, base_delay=0.01
    )
    crm = Bitrix24Crm(settings, CrmTestHost())
    try:
        with pytest.raises(CrmError) as caught:
            await crm.get("lead:1")
    finally:
        await crm.close()
    assert caught.value.temporary
    assert CODE not in str(caught.value)
