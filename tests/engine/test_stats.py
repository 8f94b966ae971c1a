"""Statistics from per-dialog records: pure computation, exact figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from omniline.engine.hours import WorkingHours
from omniline.engine.stats import (
    NO_OPERATOR,
    DialogRecord,
    Durations,
    Figures,
    MessageCounts,
    Ratings,
    compute,
    open_periods,
    summarize,
)
from omniline.model import DialogStatus

T = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday, 09:00 UTC

OFFICE_UTC = WorkingHours.model_validate({"timezone": "UTC", "weekly": {"mon-fri": "09:00-18:00"}})
BERLIN_OFFICE = WorkingHours.model_validate(
    {
        "timezone": "Europe/Berlin",
        "weekly": {"mon-fri": "09:00-13:00, 14:00-18:00", "sat": "22:00-02:00"},
        "holidays": ["2026-03-30"],
    }
)


def at(seconds: float) -> datetime:
    return T + timedelta(seconds=seconds)


def record(
    id: int,
    *,
    opened: float = 0,
    line_id: str = "support",
    channel_type: str = "telegram",
    status: DialogStatus = DialogStatus.CLOSED,
    operator_id: str | None = None,
    rating: int | None = None,
    queued: float | None = None,
    accepted: float | None = None,
    closed: float | None = None,
    reply: float | None = None,
    messages: int = 1,
) -> DialogRecord:
    """A dialog opened ``opened`` seconds after T; the other moments are seconds after T too."""

    def moment(seconds: float | None) -> datetime | None:
        return at(seconds) if seconds is not None else None

    return DialogRecord(
        id=id,
        line_id=line_id,
        channel_type=channel_type,
        status=status,
        operator_id=operator_id,
        opened_at=at(opened),
        closed_at=moment(closed) if status is DialogStatus.CLOSED else None,
        rating=rating,
        first_queued_at=moment(queued),
        first_accepted_at=moment(accepted),
        last_closed_at=moment(closed),
        first_operator_reply_at=moment(reply),
        message_count=messages,
    )


HOUR = 3600.0

RECORDS = [
    # Monday 09:00, in hours: queued 10 s, accepted 30 s later, first reply 60 s after the queue,
    # closed 330 s after the acceptance.
    record(
        1,
        operator_id="op-1",
        queued=10,
        accepted=40,
        reply=70,
        closed=370,
        rating=5,
        messages=4,
    ),
    # Monday 10:00, on the web chat.
    record(
        2,
        opened=HOUR,
        channel_type="webchat",
        operator_id="op-1",
        queued=HOUR,
        accepted=HOUR + 90,
        reply=HOUR + 120,
        closed=HOUR + 690,
        rating=3,
        messages=6,
    ),
    # Monday 19:00, out of hours; accepted, no reply yet.
    record(
        3,
        opened=10 * HOUR,
        status=DialogStatus.ACTIVE,
        operator_id="op-2",
        queued=10 * HOUR + 5,
        accepted=10 * HOUR + 20,
    ),
    # Saturday, on a line without working hours: in hours; waiting in the queue.
    record(
        4,
        opened=5 * 24 * HOUR,
        line_id="sales",
        channel_type="viber",
        status=DialogStatus.QUEUED,
        queued=5 * 24 * HOUR,
        messages=2,
    ),
    # Still with the bot.
    record(5, opened=2 * HOUR, line_id="sales", status=DialogStatus.BOT, messages=3),
    # Sunday 10:00 (out of hours), closed by the bot without an operator.
    record(6, opened=-23 * HOUR, channel_type="webchat", closed=-23 * HOUR + 60, messages=2),
]


def test_summaries_are_count_average_median_and_nearest_rank_p90() -> None:
    assert summarize([]) == Durations()
    assert summarize([7.0]) == Durations(count=1, average=7.0, median=7.0, p90=7.0)
    assert summarize(float(n) for n in range(10, 0, -1)) == Durations(
        count=10, average=5.5, median=5.5, p90=9.0
    )
    assert summarize(float(n) for n in range(1, 21)).p90 == 18.0
    assert summarize([1.0, 100.0]).p90 == 100.0


def test_overall_figures() -> None:
    stats = compute(RECORDS, open_by_operator={}, hours={"support": OFFICE_UTC, "sales": None})

    assert stats.overall == Figures(
        dialogs=6,
        by_status={"bot": 1, "queued": 1, "offered": 0, "active": 1, "closed": 3},
        by_channel={"telegram": 3, "viber": 1, "webchat": 2},
        in_hours=4,
        out_of_hours=2,
        first_response=Durations(count=2, average=90.0, median=90.0, p90=120.0),
        time_to_accept=Durations(count=3, average=45.0, median=30.0, p90=90.0),
        handle_time=Durations(count=2, average=465.0, median=465.0, p90=600.0),
        messages=MessageCounts(total=18, average=3.0, max=6),
        ratings=Ratings(count=2, average=4.0, by_score={1: 0, 2: 0, 3: 1, 4: 0, 5: 1}),
    )


def test_figures_per_line() -> None:
    stats = compute(RECORDS, open_by_operator={}, hours={"support": OFFICE_UTC})

    assert list(stats.by_line) == ["sales", "support"]
    support = stats.by_line["support"]
    assert (support.dialogs, support.in_hours, support.out_of_hours) == (4, 2, 2)
    assert support.first_response == Durations(count=2, average=90.0, median=90.0, p90=120.0)
    assert support.time_to_accept == Durations(count=3, average=45.0, median=30.0, p90=90.0)
    assert support.messages == MessageCounts(total=13, average=3.25, max=6)
    sales = stats.by_line["sales"]
    # "sales" is not in ``hours``: it has no working hours, every dialog counts as in hours.
    assert (sales.dialogs, sales.in_hours, sales.out_of_hours) == (2, 2, 0)
    assert sales.by_channel == {"telegram": 1, "viber": 1}
    assert sales.time_to_accept == Durations()
    assert sales.ratings == Ratings()


def test_figures_per_operator_with_the_unheld_dialogs_last() -> None:
    stats = compute(RECORDS, open_by_operator={NO_OPERATOR: 1, "op-2": 3, "op-1": 2}, hours={})

    assert list(stats.by_operator) == ["op-1", "op-2", NO_OPERATOR]
    op1 = stats.by_operator["op-1"]
    assert op1.dialogs == 2
    assert op1.handle_time == Durations(count=2, average=465.0, median=465.0, p90=600.0)
    assert op1.ratings.average == 4.0
    assert stats.by_operator["op-2"].time_to_accept == Durations(
        count=1, average=15.0, median=15.0, p90=15.0
    )
    assert stats.by_operator[NO_OPERATOR].dialogs == 3
    assert list(stats.open_by_operator.items()) == [("op-1", 2), ("op-2", 3), (NO_OPERATOR, 1)]


def test_no_dialogs() -> None:
    stats = compute([], open_by_operator={"op-1": 1}, hours={"support": OFFICE_UTC})

    assert stats.overall == Figures()
    assert stats.overall.by_status == {s.value: 0 for s in DialogStatus}
    assert stats.by_line == {} and stats.by_operator == {}
    assert stats.open_by_operator == {"op-1": 1}


def test_handle_time_counts_closed_dialogs_only() -> None:
    # Closed once, then reopened: its last close is not the end of its handling.
    reopened = record(
        1, status=DialogStatus.ACTIVE, operator_id="op-1", queued=0, accepted=10, closed=100
    )
    stats = compute([reopened], open_by_operator={}, hours={})

    assert stats.overall.handle_time == Durations()
    assert stats.overall.time_to_accept.count == 1


def test_durations_that_run_backwards_are_left_out() -> None:
    odd = record(1, operator_id="op-1", queued=50, accepted=10, reply=20, closed=5)
    stats = compute([odd], open_by_operator={}, hours={})

    assert stats.overall.time_to_accept == Durations()
    assert stats.overall.first_response == Durations()
    assert stats.overall.handle_time == Durations()


def test_ratings_outside_one_to_five_are_not_counted() -> None:
    stats = compute(
        [record(1, rating=4), record(2, rating=0), record(3, rating=None)],
        open_by_operator={},
        hours={},
    )

    assert stats.overall.ratings == Ratings(
        count=1, average=4.0, by_score={1: 0, 2: 0, 3: 0, 4: 1, 5: 0}
    )


def test_the_result_round_trips_through_json() -> None:
    stats = compute(RECORDS, open_by_operator={"op-1": 2}, hours={"support": OFFICE_UTC})

    assert type(stats).model_validate_json(stats.model_dump_json()) == stats


def test_open_periods_follow_the_schedule() -> None:
    friday_evening = datetime(2026, 1, 9, 17, 0, tzinfo=UTC)
    monday_noon = datetime(2026, 1, 12, 12, 0, tzinfo=UTC)

    assert open_periods(OFFICE_UTC, friday_evening, monday_noon) == [
        (friday_evening, datetime(2026, 1, 9, 18, 0, tzinfo=UTC)),
        (datetime(2026, 1, 12, 9, 0, tzinfo=UTC), datetime(2026, 1, 12, 18, 0, tzinfo=UTC)),
    ]
    never = WorkingHours.model_validate({"timezone": "UTC", "weekly": {}})
    assert open_periods(never, friday_evening, monday_noon) == []


moments = st.lists(
    st.datetimes(
        min_value=datetime(2026, 3, 20), max_value=datetime(2026, 4, 10), timezones=st.just(UTC)
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=50, deadline=None)
@given(moments)
def test_in_hours_agrees_with_is_open_across_dst_holidays_and_midnight(
    opened: list[datetime],
) -> None:
    records = [
        DialogRecord(
            id=n, line_id="support", channel_type="webchat", status=DialogStatus.BOT, opened_at=when
        )
        for n, when in enumerate(opened)
    ]
    stats = compute(records, open_by_operator={}, hours={"support": BERLIN_OFFICE})

    assert stats.overall.in_hours == sum(BERLIN_OFFICE.is_open(when) for when in opened)
