"""Statistics of a contact center, computed from one record per dialog.

Pure code: the store reads a :class:`DialogRecord` for each dialog opened in a time range (its
first ``queued`` and ``accepted`` events, its last ``closed`` event, its first operator reply and
its message count, aggregated in SQL) and :func:`compute` turns them into :class:`Statistics`:
the figures for all of them, for each line and for each operator.

Durations are summarised as count, average, median and 90th percentile (nearest rank), in
seconds. A duration is counted only for the dialogs that have both of its ends, in order.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from pydantic import AwareDatetime, Field

from omniline.engine.hours import WorkingHours
from omniline.model._base import Frozen
from omniline.model.dialog import DialogStatus

NO_OPERATOR = "none"
"""The ``by_operator`` key of dialogs that no operator holds (or ever held)."""

SCORES = (1, 2, 3, 4, 5)


class DialogRecord(Frozen):
    """What statistics need of one dialog."""

    id: int
    line_id: str
    channel_type: str
    status: DialogStatus
    operator_id: str | None = None
    """The operator holding the dialog now (or last, once closed)."""
    opened_at: AwareDatetime
    closed_at: AwareDatetime | None = None
    rating: int | None = None
    first_queued_at: AwareDatetime | None = None
    """The first time the dialog entered the operator queue."""
    first_accepted_at: AwareDatetime | None = None
    last_closed_at: AwareDatetime | None = None
    first_operator_reply_at: AwareDatetime | None = None
    """The first message an operator sent to the client (whispers do not count)."""
    message_count: int = Field(default=0, ge=0)
    """Client-visible messages, in and out."""


class Durations(Frozen):
    """A set of durations in seconds. The figures are None when there is none."""

    count: int = 0
    average: float | None = None
    median: float | None = None
    p90: float | None = None
    """The 90th percentile, by nearest rank: 90% of the durations are at most this long."""


class MessageCounts(Frozen):
    """Client-visible messages per dialog."""

    total: int = 0
    average: float | None = None
    max: int = 0


class Ratings(Frozen):
    """The clients' ratings (1 to 5)."""

    count: int = 0
    average: float | None = None
    by_score: dict[int, int] = Field(default_factory=lambda: dict.fromkeys(SCORES, 0))
    """Every score from 1 to 5, with how many dialogs got it."""


def _zero_statuses() -> dict[str, int]:
    return {status.value: 0 for status in DialogStatus}


class Figures(Frozen):
    """The figures of a set of dialogs (all of them, one line's, one operator's)."""

    dialogs: int = 0
    by_status: dict[str, int] = Field(default_factory=_zero_statuses)
    """Every status, with how many of the dialogs are in it now."""
    by_channel: dict[str, int] = Field(default_factory=dict)
    """Channel type (``telegram``, ``webchat``...) to dialogs."""
    in_hours: int = 0
    """Dialogs opened within their line's working hours (all of them when a line has none)."""
    out_of_hours: int = 0
    first_response: Durations = Durations()
    """First time in the queue to the first operator message to the client."""
    time_to_accept: Durations = Durations()
    """First time in the queue to the first acceptance by an operator."""
    handle_time: Durations = Durations()
    """First acceptance to the last close, for closed dialogs."""
    messages: MessageCounts = MessageCounts()
    ratings: Ratings = Ratings()


class Statistics(Frozen):
    """Figures of the dialogs opened in a time range, and the operators' load now."""

    overall: Figures
    by_line: dict[str, Figures]
    """Line id to the figures of its dialogs."""
    by_operator: dict[str, Figures]
    """Operator id (:data:`NO_OPERATOR` for none) to the figures of the dialogs they hold."""
    open_by_operator: dict[str, int]
    """Operator id (:data:`NO_OPERATOR` for none) to their active dialogs now, whenever opened."""


# --- computing ------------------------------------------------------------------------------------


def summarize(seconds: Iterable[float]) -> Durations:
    """Count, average, median and 90th percentile (nearest rank) of durations in seconds."""
    ordered = sorted(seconds)
    n = len(ordered)
    if not n:
        return Durations()
    rank = (9 * n + 9) // 10  # ceil(0.9 n) in integers, free of float rounding
    return Durations(
        count=n,
        average=math.fsum(ordered) / n,
        median=statistics.median(ordered),
        p90=ordered[rank - 1],
    )


def _between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds()


class _Derived:
    """The per-dialog values every set the dialog belongs to needs, computed once."""

    __slots__ = ("accept", "first_response", "handle", "in_hours", "record")

    def __init__(self, record: DialogRecord, in_hours: bool) -> None:
        self.record = record
        self.in_hours = in_hours
        self.first_response = _between(record.first_queued_at, record.first_operator_reply_at)
        self.accept = _between(record.first_queued_at, record.first_accepted_at)
        handle = None
        if record.status is DialogStatus.CLOSED:
            handle = _between(record.first_accepted_at, record.last_closed_at)
        self.handle = handle


def _figures(items: Sequence[_Derived]) -> Figures:
    by_status = _zero_statuses()
    by_channel: dict[str, int] = {}
    scores = dict.fromkeys(SCORES, 0)
    in_hours = 0
    for item in items:
        record = item.record
        by_status[record.status.value] = by_status.get(record.status.value, 0) + 1
        by_channel[record.channel_type] = by_channel.get(record.channel_type, 0) + 1
        in_hours += item.in_hours
        if record.rating is not None and record.rating in scores:
            scores[record.rating] += 1
    rated = sum(scores.values())
    counts = [item.record.message_count for item in items]
    return Figures(
        dialogs=len(items),
        by_status=by_status,
        by_channel=dict(sorted(by_channel.items())),
        in_hours=in_hours,
        out_of_hours=len(items) - in_hours,
        first_response=summarize(i.first_response for i in items if i.first_response is not None),
        time_to_accept=summarize(i.accept for i in items if i.accept is not None),
        handle_time=summarize(i.handle for i in items if i.handle is not None),
        messages=MessageCounts(
            total=sum(counts),
            average=sum(counts) / len(counts) if counts else None,
            max=max(counts, default=0),
        ),
        ratings=Ratings(
            count=rated,
            average=sum(s * n for s, n in scores.items()) / rated if rated else None,
            by_score=scores,
        ),
    )


def open_periods(
    hours: WorkingHours, first: datetime, last: datetime
) -> list[tuple[datetime, datetime]]:
    """The working periods (start, end) that contain or follow ``first``, up to ``last``.

    Built from ``next_open`` and ``next_close``, so that telling many moments apart costs a
    binary search each rather than a walk through the schedule (``is_open``) each."""
    periods: list[tuple[datetime, datetime]] = []
    at = first
    while at <= last:
        try:
            start = hours.next_open(at)
        except ValueError:  # never opens again
            break
        if start > last:
            break
        end = hours.next_close(start)
        if end is None:  # cannot happen: the line is open at ``start``
            break
        periods.append((start, end))
        at = end
    return periods


def _hours_test(
    hours: WorkingHours | None, moments: Sequence[datetime]
) -> Callable[[datetime], bool]:
    if hours is None or not moments:
        return lambda at: True
    periods = open_periods(hours, min(moments), max(moments))
    starts = [start for start, _ in periods]

    def is_open(at: datetime) -> bool:
        i = bisect.bisect_right(starts, at) - 1
        return i >= 0 and at < periods[i][1]

    return is_open


def _ordered(groups: dict[str, list[_Derived]]) -> dict[str, Figures]:
    keys = sorted(groups, key=lambda k: (k == NO_OPERATOR, k))
    return {key: _figures(groups[key]) for key in keys}


def compute(
    records: Iterable[DialogRecord],
    *,
    open_by_operator: Mapping[str, int],
    hours: Mapping[str, WorkingHours | None],
) -> Statistics:
    """The statistics of ``records``; ``hours`` gives each line's working hours (a line left out,
    or given None, has no working hours: all its dialogs count as in hours)."""
    by_line: dict[str, list[DialogRecord]] = {}
    for record in records:
        by_line.setdefault(record.line_id, []).append(record)
    derived: list[_Derived] = []
    line_groups: dict[str, list[_Derived]] = {}
    operator_groups: dict[str, list[_Derived]] = {}
    for line_id, line_records in by_line.items():
        is_open = _hours_test(hours.get(line_id), [r.opened_at for r in line_records])
        for record in line_records:
            item = _Derived(record, is_open(record.opened_at))
            derived.append(item)
            line_groups.setdefault(line_id, []).append(item)
            operator_groups.setdefault(record.operator_id or NO_OPERATOR, []).append(item)
    return Statistics(
        overall=_figures(derived),
        by_line=_ordered(line_groups),
        by_operator=_ordered(operator_groups),
        open_by_operator={
            key: open_by_operator[key]
            for key in sorted(open_by_operator, key=lambda k: (k == NO_OPERATOR, k))
        },
    )


__all__ = [
    "NO_OPERATOR",
    "DialogRecord",
    "Durations",
    "Figures",
    "MessageCounts",
    "Ratings",
    "Statistics",
    "compute",
    "open_periods",
    "summarize",
]
