"""The events omniline counts, as Prometheus metrics (``prometheus-client``).

Counters and histograms are counted in the process where the event happens, at the few places
where it does: the inbox (``store.inbox``), a dialog's committed actions (``store.dialogs``), the
pipeline, the outbox, the scheduler and the CRM service. What lives in the database (queues,
operators, backlogs) is read when ``/metrics`` is scraped (:mod:`omniline.exporter`), so it is right
whichever worker answers.

Labels have bounded values only: lines, channels (type and account), statuses, kinds and outcomes;
never a dialog, client or operator id.

Under ``omniline run --workers N`` the supervisor sets ``PROMETHEUS_MULTIPROC_DIR`` for its workers
before they import omniline: every value then goes to a file in that folder and ``/metrics``
aggregates the files of all workers. The supervisor calls :func:`worker_exited` when a worker
ends, so that the gauges of a dead worker stop counting.
"""

from __future__ import annotations

import os
from typing import Generic, TypeVar

from prometheus_client import Counter, Gauge, Histogram

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
"""The environment variable that turns prometheus-client's multi-process mode on."""

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Seconds: from a few milliseconds (a message on an idle worker) to a minute (a backlog)."""
LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
"""Seconds a timer fires after its due time: the scheduler polls every second, so ~1 s is normal."""

M = TypeVar("M", Counter, Histogram)


class Family(Generic[M]):
    """A labelled metric whose children are kept by their label values: counting costs a dict
    lookup instead of ``labels()``'s lock and checks (which cost more than the count itself, on
    the path of every message). Label values are bounded, so the dict is too."""

    __slots__ = ("_children", "metric")

    def __init__(self, metric: M) -> None:
        self.metric: M = metric
        self._children: dict[tuple[str, ...], M] = {}

    def of(self, *labels: str) -> M:
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self.metric.labels(*labels)
        return child


INBOUND_MESSAGES = Family(
    Counter(
        "omniline_inbound_messages",
        "Messages received from clients and stored (a platform's redelivery is not counted again).",
        ["line", "channel_type", "account"],
    )
)
OUTBOUND_MESSAGES = Family(
    Counter(
        "omniline_outbound_messages",
        "Messages to clients stored for sending, by who wrote them (bot, operator, system).",
        ["line", "channel_type", "account", "author"],
    )
)
PIPELINE_LATENCY = Family(
    Histogram(
        "omniline_pipeline_latency_seconds",
        "From receiving (and storing) an inbound message to committing its pipeline run.",
        ["line"],
        buckets=LATENCY_BUCKETS,
    )
)
DIALOG_EVENTS = Family(
    Counter(
        "omniline_dialog_events",
        "Events written to dialogs' logs (opened, handed_off, queued, offered, accepted, skipped, "
        "transferred, closed...).",
        ["line", "event"],
    )
)
OFFERS = Family(
    Counter("omniline_offers", "Dialogs offered to operators (one per offer).", ["line"])
)
ACCEPTS = Family(Counter("omniline_accepts", "Dialogs an operator accepted.", ["line"]))
SKIPS = Family(Counter("omniline_skips", "Offers an operator passed on (skip).", ["line"]))
OFFER_TIMEOUTS = Family(
    Counter("omniline_offer_timeouts", "Offers nobody answered within the line's time.", ["line"])
)
OUTBOX_DELIVERIES = Family(
    Counter(
        "omniline_outbox_deliveries",
        "Attempts to send a message part, by outcome: sent, retry (it is tried again later), failed.",
        ["channel_type", "account", "outcome"],
    )
)
TIMER_LAG = Family(
    Histogram(
        "omniline_timer_lag_seconds",
        "How late a due timer fires (from its due time to its handler's start).",
        ["kind"],
        buckets=LAG_BUCKETS,
    )
)
TIMERS_FIRED = Family(
    Counter(
        "omniline_timers_fired",
        "Timers fired, by outcome: done, failed (fired again after its lease).",
        ["kind", "outcome"],
    )
)
CRM_JOBS = Family(
    Counter(
        "omniline_crm_jobs",
        "CRM jobs run, by outcome: done, retry (the CRM failed for a while), failed (for good).",
        ["job", "outcome"],
    )
)
DB_CONNECTIONS_IN_USE = Gauge(
    "omniline_db_connections_in_use",
    "Database connections in use now (PostgreSQL: checked out of the pool; SQLite: 1 while a "
    "commit is in flight). Summed over live workers.",
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    "omniline_db_pool_size",
    "Database connections a worker may open (PostgreSQL: storage.pool_size; SQLite: 1). Summed "
    "over live workers.",
    multiprocess_mode="livesum",
)

CRM_JOB_KINDS = frozenset({"sync", "transcript", "responsible"})
SKIP_REASONS = {"skip": SKIPS, "timeout": OFFER_TIMEOUTS}
"""Skips by their reason; ``withdrawn`` and ``unavailable`` are the distributor's own moves."""


class DialogTally:
    """What one unit of work did to a dialog, counted only once the unit is committed.

    The store's unit fills it (``reset`` first, since a unit may run again after a rollback) and
    the repository calls ``count`` when the transaction has committed."""

    __slots__ = ("events", "line", "sent")

    def __init__(self) -> None:
        self.line = ""
        self.events: list[tuple[str, str, str | None]] = []
        self.sent: list[tuple[str, str, str, str]] = []

    def reset(self, line: str) -> None:
        self.line = line
        self.events.clear()
        self.sent.clear()

    def event(self, kind: str, reason: str | None = None) -> None:
        self.events.append((self.line, kind, reason))

    def message(self, channel_type: str, account: str, author: str) -> None:
        kind = author.partition(":")[0]  # operator:<id> counts as operator: no ids in labels
        self.sent.append((self.line, channel_type, account, kind))

    def count(self) -> None:
        for line, kind, reason in self.events:
            DIALOG_EVENTS.of(line, kind).inc()
            if kind == "offered":
                OFFERS.of(line).inc()
            elif kind == "accepted":
                ACCEPTS.of(line).inc()
            elif kind == "skipped" and reason in SKIP_REASONS:
                SKIP_REASONS[reason].of(line).inc()
        for line, channel_type, account, author in self.sent:
            OUTBOUND_MESSAGES.of(line, channel_type, account, author).inc()


def crm_job_kind(job: object) -> str:
    """A CRM job's name as a label: one of the known jobs, else ``other``."""
    return job if isinstance(job, str) and job in CRM_JOB_KINDS else "other"


def worker_exited(pid: int) -> None:
    """Forget the live gauges of a worker process that ended (multi-process mode only): the
    supervisor calls it when it reaps a worker."""
    from prometheus_client import multiprocess

    if os.environ.get(MULTIPROC_DIR):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


__all__ = [
    "ACCEPTS",
    "CRM_JOBS",
    "CRM_JOB_KINDS",
    "DB_CONNECTIONS_IN_USE",
    "DB_POOL_SIZE",
    "DIALOG_EVENTS",
    "INBOUND_MESSAGES",
    "LAG_BUCKETS",
    "LATENCY_BUCKETS",
    "MULTIPROC_DIR",
    "OFFERS",
    "OFFER_TIMEOUTS",
    "OUTBOUND_MESSAGES",
    "OUTBOX_DELIVERIES",
    "PIPELINE_LATENCY",
    "SKIPS",
    "SKIP_REASONS",
    "TIMERS_FIRED",
    "TIMER_LAG",
    "DialogTally",
    "Family",
    "crm_job_kind",
    "worker_exited",
]
