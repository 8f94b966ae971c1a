"""Working hours: a weekly schedule in the line's zone, holidays, midnight and DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from omniline.engine.hours import WorkingHours

BERLIN = ZoneInfo("Europe/Berlin")

OFFICE = WorkingHours.model_validate(
    {
        "timezone": "Europe/Berlin",
        "weekly": {"mon-fri": "09:00-13:00, 14:00-18:00", "sat": "10:00-14:00"},
        "holidays": ["2026-12-25"],
    }
)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def test_open_within_an_interval_and_closed_at_lunch() -> None:
    assert OFFICE.is_open(berlin(2026, 3, 2, 10, 0))  # a Monday
    assert not OFFICE.is_open(berlin(2026, 3, 2, 13, 30))
    assert OFFICE.is_open(berlin(2026, 3, 2, 14, 0))  # the start is open
    assert not OFFICE.is_open(berlin(2026, 3, 2, 18, 0))  # the end is closed


def test_a_saturday_afternoon_message_waits_for_monday_nine_in_the_line_zone() -> None:
    saturday = berlin(2026, 3, 7, 15, 30)
    assert not OFFICE.is_open(saturday)
    assert OFFICE.next_open(saturday) == berlin(2026, 3, 9, 9, 0)
    # the same moment written in UTC gives the same answer
    assert OFFICE.next_open(saturday.astimezone(UTC)) == berlin(2026, 3, 9, 9, 0)


def test_next_open_while_open_is_now_and_next_close_is_the_end_of_the_interval() -> None:
    at = berlin(2026, 3, 3, 11, 15)
    assert OFFICE.next_open(at) == at
    assert OFFICE.next_close(at) == berlin(2026, 3, 3, 13, 0)
    assert OFFICE.next_close(berlin(2026, 3, 3, 13, 30)) is None


def test_holidays_are_skipped() -> None:
    christmas_eve_evening = berlin(2026, 12, 24, 19, 0)  # Thursday; the 25th is a holiday
    assert not OFFICE.is_open(berlin(2026, 12, 25, 10, 0))
    assert OFFICE.next_open(christmas_eve_evening) == berlin(2026, 12, 26, 10, 0)  # Saturday


def test_an_interval_past_midnight_belongs_to_the_day_it_starts() -> None:
    night = WorkingHours.model_validate({"timezone": "UTC", "weekly": {"fri": "22:00-02:00"}})
    assert night.is_open(datetime(2026, 3, 7, 1, 0, tzinfo=UTC))  # Saturday 01:00
    assert not night.is_open(datetime(2026, 3, 7, 2, 0, tzinfo=UTC))
    assert night.next_close(datetime(2026, 3, 6, 23, 0, tzinfo=UTC)) == datetime(
        2026, 3, 7, 2, 0, tzinfo=UTC
    )


def test_round_the_clock_periods_that_touch_close_as_one() -> None:
    always = WorkingHours.model_validate({"timezone": "UTC", "weekly": {"mon-sun": "00:00-24:00"}})
    at = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    assert always.is_open(at)
    close = always.next_close(at)
    assert close is not None and close - at >= timedelta(days=7)


def test_opening_hours_follow_daylight_saving_time() -> None:
    # Europe/Berlin moves from UTC+1 to UTC+2 on 2026-03-29 (a Sunday); Monday 09:00 is 07:00 UTC
    monday_after = OFFICE.next_open(berlin(2026, 3, 28, 15, 0))
    assert monday_after == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    monday_before = OFFICE.next_open(berlin(2026, 3, 21, 15, 0))
    assert monday_before == datetime(2026, 3, 23, 8, 0, tzinfo=UTC)


def test_a_schedule_that_never_opens_says_so() -> None:
    never = WorkingHours.model_validate({"timezone": "UTC", "weekly": {}})
    with pytest.raises(ValueError, match="never open"):
        never.next_open(datetime(2026, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"timezone": "Mars/Olympus", "weekly": {}}, "not a known IANA time zone"),
        ({"timezone": "UTC", "weekly": {"mon-fry": "09:00-18:00"}}, "not a day"),
        ({"timezone": "UTC", "weekly": {"mon": "9-18"}}, "not an interval"),
        ({"timezone": "UTC", "weekly": {"mon": "09:00-25:00"}}, "does not exist"),
        ({"timezone": "UTC", "weekly": {"mon": "09:00-09:00"}}, "is empty"),
        ({"timezone": "UTC", "weekly": {"mon-fri": "09:00-18:00", "fri": "10:00-12:00"}}, "twice"),
    ],
)
def test_bad_schedules_are_refused_with_a_reason(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WorkingHours.model_validate(data)


moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@given(moments)
def test_next_open_is_the_first_open_moment(at: datetime) -> None:
    opens = OFFICE.next_open(at)
    assert opens >= at
    assert OFFICE.is_open(opens)
    if opens > at:  # closed all the way from at to opens (checked every 15 minutes)
        step = at
        while step < opens:
            assert not OFFICE.is_open(step)
            step += timedelta(minutes=15)


def test_working_time_skips_lunch_nights_and_weekends() -> None:
    # Friday 17:59 plus three minutes of working time: one minute today, two on Saturday at 10.
    assert OFFICE.after_working_time(berlin(2026, 11, 27, 17, 59), 180) == berlin(
        2026, 11, 28, 10, 2
    )
    assert OFFICE.after_working_time(berlin(2026, 11, 23, 12, 30), 3600) == berlin(
        2026, 11, 23, 14, 30
    )
    assert OFFICE.after_working_time(berlin(2026, 11, 22, 3, 0), 60) == berlin(2026, 11, 23, 9, 1)


@given(moments, st.integers(min_value=0, max_value=3 * 86_400))
def test_working_time_counts_exactly_the_open_seconds(at: datetime, seconds: int) -> None:
    due = OFFICE.after_working_time(at, seconds)
    counted = timedelta()
    moment = at
    while moment < due:
        opens = OFFICE.next_open(moment)
        if opens >= due:
            break
        close = OFFICE.next_close(opens)
        assert close is not None
        counted += min(close, due) - opens
        moment = min(close, due)
    assert counted == timedelta(seconds=seconds)
