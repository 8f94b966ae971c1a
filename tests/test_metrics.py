"""``GET /metrics``: a scripted conversation read back from the Prometheus exposition, the
database's gauges, several worker processes summed, and the Grafana dashboard's queries."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from omniline import MessageContext, Router, metrics
from omniline.app import Omniline
from omniline.config.models import Config
from omniline.metrics import MULTIPROC_DIR, worker_exited
from omniline.model import ChannelRef, DialogStatus, Presence
from omniline.testing import TemporaryPostgres, VirtualClock
from omniline.testing.fake_channel import FakeChannel, fake_channel_plugin

DASHBOARD = Path(__file__).parents[1] / "deploy" / "grafana" / "omniline.json"
LINE = "metrics-support"
CHANNEL = ChannelRef(type="fake", account="metrics")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def echo_bot() -> Router:
    bot = Router()

    @bot.message()
    async def echo(ctx: MessageContext) -> None:
        ctx.reply(f"echo: {ctx.text}")

    return bot


def config(url: str, **server: Any) -> Config:
    return Config.model_validate(
        {
            "storage": {"url": url},
            "server": {"host": "127.0.0.1", "port": 0, **server},
            "console": {"enabled": False},
            "operators": [{"id": "anna", "name": "Anna"}, {"id": "boris", "name": "Boris"}],
            "lines": [
                {
                    "id": LINE,
                    "name": "Support",
                    "queue": ["anna", "boris"],
                    "distribution": "strict",
                    "response_timeout": 60,
                    "channels": [{"type": CHANNEL.type, "account": CHANNEL.account}],
                }
            ],
        }
    )


@asynccontextmanager
async def running(url: str, **server: Any) -> AsyncIterator[tuple[Omniline, FakeChannel]]:
    clock = VirtualClock()
    channel = FakeChannel(CHANNEL, clock=clock)
    app = Omniline(
        config(url, **server),
        clock=clock,
        bots={LINE: echo_bot()},
        channel_plugins={CHANNEL.type: fake_channel_plugin(channel)},
        migrate=True,
    )
    await app.start()
    app.scheduler.stop()  # timers fire when the test moves the clock
    try:
        yield app, channel
    finally:
        await app.stop()


async def scrape(app: Omniline) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{app.url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return await response.text()


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much a counter (or a histogram's count) grew between two scrapes of this process."""
    return value(after, name, **labels) - value(before, name, **labels)


async def start_work(app: Omniline, *operator_ids: str) -> None:
    for operator_id in operator_ids:
        await app.operators.set_presence(operator_id, Presence.ONLINE)
        await app.operators.start_day(operator_id)
    await app.idle(paced=False)


async def test_a_scripted_conversation_is_read_back_from_metrics(tmp_path: Path) -> None:
    async with running(f"sqlite:///{tmp_path / 'm.db'}") as (app, channel):
        before = samples(await scrape(app))
        line = {"line": LINE}
        fake = {"channel_type": CHANNEL.type, "account": CHANNEL.account}
        await start_work(app, "anna", "boris")

        # Zoe talks to the bot, then asks for a person: offered to anna, who passes; then to
        # boris, who lets the offer time out.
        await channel.receive("zoe", "hello")
        await app.idle(paced=False)
        zoe = await channel.receive("zoe", "operator")
        await app.idle(paced=False)
        await app.dialogs.skip(zoe.dialog_id, "anna")
        await app.idle(paced=False)
        assert isinstance(app.clock, VirtualClock)
        await app.clock.advance(61)
        await app.scheduler.run_due()
        await app.idle(paced=False)
        # Max asks for a person at once; anna accepts and answers.
        max_ = await channel.receive("max", "operator")
        await app.idle(paced=False)
        max_dialog = await app.dialogs.get(max_.dialog_id)
        assert (max_dialog.status, max_dialog.operator_id) == (DialogStatus.OFFERED, "anna")
        await app.dialogs.accept(max_.dialog_id, "anna")
        await app.dialogs.reply(max_.dialog_id, "anna", "Hello Max, Anna here")
        await app.idle(paced=False)

        after = samples(await scrape(app))

    assert grew(before, after, "omniline_inbound_messages_total", **line, **fake) == 3

    def out(author: str) -> float:
        return grew(
            before, after, "omniline_outbound_messages_total", author=author, **line, **fake
        )

    # "echo: hello"; the line's "all our operators are busy" once the queue was tried; Anna's.
    assert (out("bot"), out("system"), out("operator")) == (1, 1, 1)
    sent = grew(before, after, "omniline_outbox_deliveries_total", outcome="sent", **fake)
    assert sent == len(channel.sent) == 3
    assert grew(before, after, "omniline_pipeline_latency_seconds_count", **line) == 3
    # zoe to anna, then to boris; max to anna
    assert grew(before, after, "omniline_offers_total", **line) == 3
    assert grew(before, after, "omniline_dialog_events_total", event="offered", **line) == 3
    assert grew(before, after, "omniline_skips_total", **line) == 1
    assert grew(before, after, "omniline_offer_timeouts_total", **line) == 1
    assert grew(before, after, "omniline_accepts_total", **line) == 1
    assert grew(before, after, "omniline_dialog_events_total", event="opened", **line) == 2
    assert grew(before, after, "omniline_dialog_events_total", event="handed_off", **line) == 2
    # boris's offer was due at 60 s and fired when the test moved the clock to 61 s
    assert grew(before, after, "omniline_timer_lag_seconds_count", kind="offer") == 1
    assert grew(before, after, "omniline_timer_lag_seconds_sum", kind="offer") == 1.0

    # The database's gauges, as the store has it: zoe still waits, max is with anna.
    assert value(after, "omniline_db_scrape_success") == 1
    assert value(after, "omniline_dialogs_open", status="active", **line) == 1
    waiting = value(after, "omniline_dialogs_open", status="queued", **line) + value(
        after, "omniline_dialogs_open", status="offered", **line
    )
    assert value(after, "omniline_queue_length", **line) == waiting == 1
    assert value(after, "omniline_queue_oldest_wait_seconds", **line) == 61  # zoe's, virtual
    assert value(after, "omniline_queue_operators", **line) == 2
    assert value(after, "omniline_operators_online", **line) == 2
    assert value(after, "omniline_operators_working", **line) == 2
    assert value(after, "omniline_outbox_backlog", **fake) == 0
    assert value(after, "omniline_db_pool_size") >= 1


async def test_the_queue_gauges_start_at_zero_for_a_configured_line(tmp_path: Path) -> None:
    async with running(f"sqlite:///{tmp_path / 'm.db'}") as (app, _):
        found = samples(await scrape(app))
    assert value(found, "omniline_queue_length", line=LINE) == 0
    assert value(found, "omniline_operators_online", line=LINE) == 0
    assert ("omniline_queue_length", frozenset({("line", LINE)})) in found


async def test_metrics_can_be_turned_off(tmp_path: Path) -> None:
    async with (
        running(f"sqlite:///{tmp_path / 'm.db'}", metrics=False) as (app, _),
        aiohttp.ClientSession() as http,
        http.get(f"{app.url}/metrics") as response,
    ):
        assert response.status == 404


async def test_metrics_read_the_database_gauges_on_postgresql(
    temporary_postgres: TemporaryPostgres,
) -> None:
    url = temporary_postgres.create_database(f"metrics_{uuid.uuid4().hex[:12]}")
    async with running(url) as (app, channel):
        await start_work(app, "anna")
        await channel.receive("zoe", "operator")
        await app.idle(paced=False)
        found = samples(await scrape(app))
    assert value(found, "omniline_db_scrape_success") == 1
    assert value(found, "omniline_queue_length", line=LINE) == 1
    assert value(found, "omniline_operators_online", line=LINE) == 1
    assert value(found, "omniline_db_pool_size") >= 20


async def test_metrics_are_served_without_the_database_gauges_during_an_outage(
    temporary_postgres: TemporaryPostgres,
) -> None:
    url = temporary_postgres.create_database(f"metrics_{uuid.uuid4().hex[:12]}")
    async with running(url) as (app, channel):
        await channel.receive("zoe", "hello")
        await app.idle(paced=False)
        await asyncio.to_thread(temporary_postgres.pause)
        try:
            during = await scrape(app)  # 200, not a 5xx
        finally:
            await asyncio.to_thread(temporary_postgres.resume)
        after = samples(await scrape(app))
    found = samples(during)
    assert value(found, "omniline_db_scrape_success") == 0
    assert "omniline_queue_length{" not in during
    labels = {"line": LINE, "channel_type": CHANNEL.type, "account": CHANNEL.account}
    assert value(found, "omniline_inbound_messages_total", **labels) >= 1
    assert value(after, "omniline_db_scrape_success") == 1  # back by itself


WORKER = textwrap.dedent(
    """
    import importlib.util, sys

    # omniline.metrics alone (it needs only prometheus-client): a worker that imported all of
    # omniline would count the same way, after seconds of imports.
    spec = importlib.util.spec_from_file_location("omniline_metrics", sys.argv[3])
    metrics = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(metrics)
    metrics.INBOUND_MESSAGES.of(sys.argv[1], "fake", "metrics").inc(int(sys.argv[2]))
    metrics.PIPELINE_LATENCY.of(sys.argv[1]).observe(0.02)
    metrics.DB_POOL_SIZE.inc(5)
    """
)


async def test_metrics_sum_the_workers_of_a_multiprocess_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    workers = [  # two workers at once, each counting into the shared folder
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WORKER,
            LINE,
            count,
            metrics.__file__,
            env={**os.environ, MULTIPROC_DIR: str(directory)},
        )
        for count in ("2", "3")
    ]
    assert [await worker.wait() for worker in workers] == [0, 0]
    monkeypatch.setenv(MULTIPROC_DIR, str(directory))
    async with running(f"sqlite:///{tmp_path / 'm.db'}") as (app, _):
        text = await scrape(app)
        found = samples(text)
        # The database's gauges are there once, whichever worker answers.
        assert text.count("\nomniline_queue_length{") == 1
        pids = sorted(int(p.stem.rpartition("_")[2]) for p in directory.glob("gauge_livesum_*"))
        worker_exited(pids[0])
        after_one_exited = samples(await scrape(app))
    labels = {"line": LINE, "channel_type": "fake", "account": "metrics"}
    assert value(found, "omniline_inbound_messages_total", **labels) == 5
    assert value(found, "omniline_pipeline_latency_seconds_count", line=LINE) == 2
    assert value(found, "omniline_db_pool_size") == 10
    # A worker that ended no longer counts in the live gauges; its counters stay.
    assert value(after_one_exited, "omniline_db_pool_size") == 5
    assert value(after_one_exited, "omniline_inbound_messages_total", **labels) == 5


def dashboard_queries(dashboard: Mapping[str, Any]) -> Iterable[str]:
    def walk(node: Any) -> Iterable[str]:
        if isinstance(node, dict):
            for key, item in node.items():
                if key in ("expr", "query") and isinstance(item, str):
                    yield item
                else:
                    yield from walk(item)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    return walk(dashboard)


async def test_every_metric_the_dashboard_queries_is_in_metrics(tmp_path: Path) -> None:
    async with running(f"sqlite:///{tmp_path / 'm.db'}") as (app, _):
        text = await scrape(app)
    served: set[str] = set()
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "gauge": ("",),
    }
    for family in text_string_to_metric_families(text):
        served.update(family.name + s for s in suffixes.get(family.type, ("",)))
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    used = {
        name
        for query in dashboard_queries(dashboard)
        for name in re.findall(r"\bomniline_[a-z_]+", query)
    }
    assert used, "the dashboard queries no omniline metric"
    assert used <= served, f"the dashboard queries metrics /metrics does not serve: {used - served}"
