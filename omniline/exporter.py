"""``GET /metrics``: the Prometheus text exposition of this process (or of every worker) and of
the database.

The counters and histograms of :mod:`omniline.metrics` are this process's own; when
``PROMETHEUS_MULTIPROC_DIR`` is set (``omniline run --workers N``), they are read from the files
every worker writes there, so whichever worker answers the scrape shows the sum of all. The
gauges of queues, operators and backlogs are read from the database at each scrape (one unit of
work, with a short timeout), once, whichever worker answers. A database that does not answer in
time leaves them out and says so in ``omniline_db_scrape_success``; the process's metrics are
still served.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from omniline.engine.crm_jobs import CRM_TIMER
from omniline.engine.ports import Clock
from omniline.metrics import MULTIPROC_DIR
from omniline.model import ChannelRef
from omniline.store.gauges import WAITING_STATUSES, Gauges, LineGauges
from omniline.store.sql_store import SqlStore

log = logging.getLogger("omniline.metrics")

PATH = "/metrics"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
READ_TIMEOUT = 2.0
"""Seconds a scrape waits for the database's gauges before it answers without them."""
STATUSES = ("bot", "queued", "offered", "active")


class DatabaseCollector(Collector):
    """Yields the gauges read from the database just before the exposition is written."""

    def __init__(
        self,
        gauges: Gauges | None,
        took: float,
        lines: Iterable[str],
        channels: Iterable[ChannelRef],
    ) -> None:
        self._gauges = gauges
        self._took = took
        self._lines = sorted(lines)
        self._channels = sorted((ref.type, ref.account) for ref in channels)

    def collect(self) -> Iterator[Metric]:
        success = GaugeMetricFamily(
            "omniline_db_scrape_success",
            "1 if the database's gauges were read for this scrape, 0 if it failed or timed out.",
            value=0.0 if self._gauges is None else 1.0,
        )
        took = GaugeMetricFamily(
            "omniline_db_scrape_duration_seconds",
            "Seconds this scrape spent reading the database's gauges.",
            value=self._took,
        )
        yield success
        yield took
        if self._gauges is not None:
            yield from self._lines_metrics(self._gauges)
            yield from self._backlogs(self._gauges)

    def _lines_metrics(self, gauges: Gauges) -> Iterator[Metric]:
        lines = sorted(set(self._lines) | gauges.lines.keys())
        empty = LineGauges()

        def family(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=labels or ["line"])

        open_ = family(
            "omniline_dialogs_open",
            "Open dialogs by status: bot, queued, offered (to an operator who has not answered), "
            "active.",
            ["line", "status"],
        )
        queue = family(
            "omniline_queue_length", "Dialogs waiting for an operator (queued or offered)."
        )
        wait = family(
            "omniline_queue_oldest_wait_seconds",
            "How long the longest-waiting dialog in the queue has waited since it was queued.",
        )
        members = family("omniline_queue_operators", "Operators in the line's queue.")
        online = family("omniline_operators_online", "Operators of the line's queue online.")
        working = family(
            "omniline_operators_working",
            "Operators of the line's queue online and working (day started, not on a break).",
        )
        ready = family(
            "omniline_operators_ready",
            "Operators of the line's queue online, working and with room for another dialog.",
        )
        for line in lines:
            g = gauges.lines.get(line, empty)
            for status in sorted(set(STATUSES) | g.dialogs.keys()):
                open_.add_metric([line, status], g.dialogs.get(status, 0))
            queue.add_metric([line], sum(g.dialogs.get(s, 0) for s in WAITING_STATUSES))
            wait.add_metric([line], g.oldest_wait)
            members.add_metric([line], g.operators)
            online.add_metric([line], g.online)
            working.add_metric([line], g.working)
            ready.add_metric([line], g.ready)
        yield from (open_, queue, wait, members, online, working, ready)

    def _backlogs(self, gauges: Gauges) -> Iterator[Metric]:
        labels = ["channel_type", "account"]
        backlog = GaugeMetricFamily(
            "omniline_outbox_backlog",
            "Message parts not sent yet (waiting to be sent, being sent, or waiting for a retry).",
            labels=labels,
        )
        retrying = GaugeMetricFamily(
            "omniline_outbox_retrying",
            "Of the unsent parts, those that failed at least once and wait for a retry.",
            labels=labels,
        )
        oldest = GaugeMetricFamily(
            "omniline_outbox_oldest_unsent_seconds",
            "Seconds since the oldest unsent part was stored.",
            labels=labels,
        )
        for key in sorted(set(self._channels) | gauges.channels.keys()):
            found = gauges.channels.get(key)
            backlog.add_metric(list(key), found.unsent if found else 0)
            retrying.add_metric(list(key), found.retrying if found else 0)
            oldest.add_metric(list(key), found.oldest if found else 0.0)
        yield from (backlog, retrying, oldest)
        armed = GaugeMetricFamily(
            "omniline_timers_armed",
            "Timers that have not fired yet (response timeouts, auto-close, CRM jobs...).",
            labels=["kind"],
        )
        overdue = GaugeMetricFamily(
            "omniline_timers_overdue",
            "Timers past their due time that no worker has claimed yet.",
            labels=["kind"],
        )
        lateness = GaugeMetricFamily(
            "omniline_timers_overdue_seconds",
            "How far past its due time the earliest unclaimed timer is (0 when none is due).",
            labels=["kind"],
        )
        for kind, t in sorted(gauges.timers.items()):
            armed.add_metric([kind], t.armed)
            overdue.add_metric([kind], t.overdue)
            lateness.add_metric([kind], t.lateness)
        crm = gauges.timers.get(CRM_TIMER)
        yield from (armed, overdue, lateness)
        yield GaugeMetricFamily(
            "omniline_crm_jobs_backlog",
            "CRM jobs not done yet (waiting, running, or waiting for a retry).",
            value=crm.armed if crm is not None else 0,
        )


class _Exposition(Collector):
    """What one scrape shows: the process's (or the workers') metrics, then the database's."""

    def __init__(self, *collectors: Collector) -> None:
        self._collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self._collectors:
            yield from collector.collect()


class Exporter:
    """Serves ``GET /metrics``. Unauthenticated, as exporters are: keep it off the public
    internet (see docs/metrics.md), or turn it off with ``server.metrics: false``."""

    def __init__(
        self,
        store: SqlStore,
        clock: Clock,
        *,
        lines: Iterable[str],
        channels: Iterable[ChannelRef],
        timeout: float = READ_TIMEOUT,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self._store = store
        self._clock = clock
        self._lines = list(lines)
        self._channels = list(channels)
        self.timeout = timeout
        self._multiproc_dir = environ.get(MULTIPROC_DIR) or None
        self._failing = False

    def mount(self, web_app: web.Application) -> None:
        web_app.router.add_get(PATH, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        gauges = await self._read()
        took = time.monotonic() - started
        database = DatabaseCollector(gauges, took, self._lines, self._channels)
        body = generate_latest(_Exposition(self._own(), database))
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    def _own(self) -> CollectorRegistry:
        if self._multiproc_dir is None:
            return REGISTRY
        # A fresh registry for every scrape, as prometheus-client's multi-process mode asks.
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self._multiproc_dir)  # type: ignore[no-untyped-call]
        return registry

    async def _read(self) -> Gauges | None:
        try:
            gauges = await asyncio.wait_for(
                self._store.gauges.read(self._clock.now()), self.timeout
            )
        except Exception as exc:
            if not self._failing:  # once per failure, not at every scrape
                log.warning("/metrics: could not read the database's gauges: %r", exc)
            self._failing = True
            return None
        self._failing = False
        return gauges
