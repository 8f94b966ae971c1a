"""Sizing figures on PostgreSQL: what one primary and its workers carry.

Three measurements, each printed beside limits measured in the same run on the same server:

- **throughput**: web-chat messages fully processed (stored, answered by the demo bot, the answer
  recorded as sent) per second with 1 and 2 worker processes on one database, and their latency
  (HTTP acknowledgement, stored -> processed, stored -> answer sent), at peak (closed loop) and
  at half of peak (open loop); beside the raw asyncpg insert+commit rate at the same concurrency.
  The CPU the workers, PostgreSQL and the load client used per message, and the transactions per
  message, are printed too: they are what the sizing arithmetic in ``docs/scaling.md`` uses.
- **timers**: 100,000 pending timers in the store (auto-close timers of 100,000 active dialogs,
  bulk-inserted before the workers start and present during every phase), how long the
  scheduler takes to fire a burst of due ones, and the firing lag (due -> fired) while
  messages flow.
- **memory**: the resident memory of a worker with 0 open dialogs, and after 10,000 and 50,000
  new visitors each opened one through the pipeline; then a fresh worker on the same database.

It starts its own PostgreSQL (``omniline.testing.TemporaryPostgres``), made durable like a real
primary (``fsync``, ``synchronous_commit`` and ``full_page_writes`` on; ``--no-durable`` keeps
the test server's settings), unless given ``--url``: a server where it may create databases,
whose settings it leaves alone (and whose CPU it cannot see).

    python bench/sizing.py                       # the full sizes, ~10 minutes
    python bench/sizing.py --quick --workers 1   # seconds: what the smoke test runs
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from _load import (
    PYTHON,
    Request,
    Server,
    closed_loop,
    free_port,
    open_loop,
    percentile,
    rss_mib,
)

from omniline.engine.clock import SystemClock
from omniline.store import open_store, upgrade
from omniline.testing import TemporaryPostgres

SECRET = "sizing-secret-0123456789"
LINE = "sizing"
ACCOUNT = "site"
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


# --- CPU and memory of processes -----------------------------------------------------------------


STARTED = time.perf_counter()


def progress(what: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f} s] {what}", file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def machine_busy() -> tuple[float, float]:
    """(busy CPU seconds of the whole machine, its CPU count) from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / CLOCK_TICK, float(os.cpu_count() or 1)


@dataclass
class CpuMeter:
    """CPU used between ``start`` and ``stop`` by the workers, the database server (when it is
    ours), this process (the load client) and the whole machine (so the other load shows)."""

    workers: Sequence[int]
    postgres: int | None
    marks: dict[str, float] = field(default_factory=dict)

    def _now(self) -> dict[str, float]:
        pg = (
            cpu_seconds(self.postgres) + sum(cpu_seconds(p) for p in children_of(self.postgres))
            if self.postgres is not None
            else float("nan")
        )
        busy, _ = machine_busy()
        return {
            "workers": sum(cpu_seconds(p) for p in self.workers),
            "postgres": pg,
            "client": time.process_time(),
            "machine": busy,
            "wall": time.perf_counter(),
        }

    def start(self) -> None:
        self.marks = self._now()

    def stop(self) -> dict[str, float]:
        now = self._now()
        return {k: now[k] - self.marks[k] for k in now}


# --- the database server ---------------------------------------------------------------------------


class Postgres:
    """The server the bench uses: its own TemporaryPostgres, or one given by URL."""

    def __init__(self, url: str | None, durable: bool) -> None:
        self._temporary: TemporaryPostgres | None = None
        self._given = url
        self.durable = durable
        self.admin_url = url or ""
        self.postmaster: int | None = None

    async def start(self) -> None:
        if self._given is None:
            self._temporary = TemporaryPostgres()
            await asyncio.to_thread(self._temporary.start)
            self.admin_url = self._temporary.url
            pid_file = self._temporary.directory / "data" / "postmaster.pid"
            self.postmaster = int(pid_file.read_text().splitlines()[0])
            if self.durable:
                await self.execute(
                    "ALTER SYSTEM SET fsync = on",
                    "ALTER SYSTEM SET synchronous_commit = on",
                    "ALTER SYSTEM SET full_page_writes = on",
                    "SELECT pg_reload_conf()",
                )
                await asyncio.sleep(0.5)  # the reload reaches every process

    def stop(self) -> None:
        if self._temporary is not None:
            self._temporary.stop()

    async def execute(self, *statements: str) -> None:
        conn = await asyncpg.connect(self.admin_url)
        try:
            for sql in statements:
                await conn.execute(sql)
        finally:
            await conn.close()

    async def settings(self) -> str:
        conn = await asyncpg.connect(self.admin_url)
        try:
            names = ("server_version", "fsync", "synchronous_commit", "full_page_writes")
            values = [await conn.fetchval(f"SHOW {name}") for name in names]
            return ", ".join(f"{n}={v}" for n, v in zip(names, values, strict=True))
        finally:
            await conn.close()

    async def database(self, name: str) -> str:
        await self.execute(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
        return f"{self.admin_url.rsplit('/', 1)[0]}/{name}"


async def transactions(url: str) -> float:
    """Transactions committed in the database so far (the server's statistics)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        return float(
            await conn.fetchval(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            )
        )
    finally:
        await conn.close()


# --- the limit: raw asyncpg insert + commit ------------------------------------------------------


async def raw_commit(db: Postgres, url: str, rows: int, concurrency: int) -> dict[str, float]:
    """``concurrency`` connections, each inserting one row per transaction (autocommit)."""
    conn = await asyncpg.connect(url)
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS raw_commit (id bigserial PRIMARY KEY, k text UNIQUE, body text)"
    )
    await conn.close()
    conns = [await asyncpg.connect(url) for _ in range(concurrency)]
    body = "x" * 200
    tag = random.randrange(10**9)
    meter = CpuMeter([], db.postmaster)
    try:
        per = max(1, rows // concurrency)

        async def one(c: int) -> None:
            for n in range(per):
                await conns[c].execute(
                    "INSERT INTO raw_commit (k, body) VALUES ($1, $2)", f"{tag}-{c}-{n}", body
                )

        meter.start()
        await asyncio.gather(*(one(c) for c in range(concurrency)))
        cpu = meter.stop()
    finally:
        for c in conns:
            await c.close()
    done = per * concurrency
    return {"rate": done / cpu["wall"], "pg_us": cpu["postgres"] / done * 1e6, **cpu}


# --- the workers ----------------------------------------------------------------------------------


def worker_config(url: str, port: int, operators: int) -> dict[str, Any]:
    """One line: the web chat, the demo bot answering every message, operators who hold the
    bulk-loaded active dialogs, and auto-close (whose timers the timer phase fires)."""
    return {
        "storage": {"url": url},
        "server": {"host": "127.0.0.1", "port": port},
        "log_level": "WARNING",
        "operators": [
            {"id": f"op{i}", "name": f"Operator {i}", "capacity": 100_000} for i in range(operators)
        ],
        "lines": [
            {
                "id": LINE,
                "name": "Sizing",
                "bot": "omniline.demo.bot:bot",
                "handoff_when_unhandled": False,
                "queue": [f"op{i}" for i in range(operators)],
                "auto_close_after": 86_400,
                "auto_close_text": "We closed this conversation; write again any time.",
                "channels": [
                    {
                        "type": "webchat",
                        "account": ACCOUNT,
                        "settings": {
                            "secret": SECRET,
                            "messages_per_minute": 1_000_000,
                            "message_burst": 10_000,
                        },
                    }
                ],
            }
        ],
    }


class Workers:
    """N worker processes on one database, as a user runs them: ``omniline run --workers N``
    (one port, a supervisor keeping N workers), or plain ``omniline run`` for one."""

    def __init__(self, folder: Path, url: str, count: int, operators: int) -> None:
        port = free_port()
        config = folder / f"worker-{count}.yaml"
        config.write_text(yaml.safe_dump(worker_config(url, port, operators)))
        command = [PYTHON, "-m", "omniline", "run", "-c", str(config)]
        self.count = count
        self.server = Server(
            command + (["--workers", str(count)] if count > 1 else []),
            f"http://127.0.0.1:{port}",
            folder / f"worker-{count}.log",
        )

    @property
    def urls(self) -> list[str]:
        return [self.server.url]

    @property
    def pids(self) -> list[int]:
        """The processes that do the work: the workers, not their supervisor."""
        if self.count == 1:
            return [self.server.proc.pid]
        return children_of(self.server.proc.pid)

    async def ready(self) -> None:
        await self.server.wait_ready()
        # The supervisor says so once every worker has started.
        end = time.monotonic() + 120
        while self.count > 1 and f"with {self.count} workers" not in self.server.log.read_text():
            if self.server.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"the workers did not start:\n{self.server.log.read_text()}")
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        self.server.stop()


def visitor_token(visitor: str) -> str:
    """A web-chat visitor token, made the way the channel makes them (same secret)."""
    mac = hmac.new(SECRET.encode(), f"{ACCOUNT}:{visitor}".encode(), hashlib.sha256).digest()
    return f"{visitor}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def posts(urls: list[str], tag: str, visitors: int, *, new_each: bool = False) -> Request:
    """Web-chat messages: client ``w`` writes as visitor ``w % visitors`` to worker ``w %
    len(urls)``, or as a new visitor every time."""
    tokens = [visitor_token(f"v{v}") for v in range(visitors)]

    async def post(session: aiohttp.ClientSession, w: int, n: int) -> bool:
        token = visitor_token(f"{tag}-{w}-{n}") if new_each else tokens[w % visitors]
        base = urls[w % len(urls)]
        body = {"client_message_id": f"{tag}-{w}-{n}", "text": f"hello {n}"}
        headers = {"Authorization": f"Bearer {token}"}
        async with session.post(
            f"{base}/channels/webchat/{ACCOUNT}/api/messages", json=body, headers=headers
        ) as response:
            await response.read()
            return response.status == 200

    return post


async def settled(url: str, deadline: float = 600) -> None:
    """Wait until no inbound event is pending and no delivery waits to be sent."""
    conn = await asyncpg.connect(url)
    end = time.monotonic() + deadline
    try:
        while True:
            left = await conn.fetchval(
                "SELECT (SELECT count(*) FROM inbox WHERE status = 'pending')"
                " + (SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending'))"
            )
            if left == 0:
                return
            if time.monotonic() > end:
                raise RuntimeError(f"{left} events or deliveries still waiting after {deadline} s")
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def latencies(url: str, since: float) -> dict[str, float]:
    """From the database, for the messages received since ``since``: stored -> processed, and
    stored -> the bot's answer sent (the answer's rows are written in the transaction that marks
    the event processed, at the same instant)."""
    conn = await asyncpg.connect(url)
    try:
        processed = [
            r[0] * 1000
            for r in await conn.fetch(
                "SELECT processed_at - received_at FROM inbox WHERE received_at >= $1", since
            )
        ]
        answered = [
            r[0] * 1000
            for r in await conn.fetch(
                "SELECT max(o.sent_at) - i.received_at FROM inbox i JOIN outbox o"
                " ON o.dialog_id = i.dialog_id AND o.created_at = i.processed_at"
                " WHERE i.received_at >= $1 AND o.status = 'sent' GROUP BY i.id",
                since,
            )
        ]
    finally:
        await conn.close()
    return {
        "events": len(processed),
        "processed_p50": percentile(processed, 50),
        "processed_p99": percentile(processed, 99),
        "answered": len(answered),
        "answered_p50": percentile(answered, 50),
        "answered_p99": percentile(answered, 99),
    }


# --- seeding: active dialogs with pending auto-close timers ---------------------------------------


async def seed_timers(url: str, count: int, operators: int) -> None:
    """``count`` active dialogs held by the operators, each with its client, identity and an
    auto-close timer due in a day: operators through the store, the rest in bulk SQL."""
    store = await open_store(url, SystemClock())
    try:
        for i in range(operators):
            await store.operators.save(f"op{i}", f"Operator {i}", 100_000)
        await store.operators.set_queue(LINE, [f"op{i}" for i in range(operators)])
    finally:
        await store.close()
    now = time.time()
    later = now + 86_400
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            series = f"FROM generate_series(1, {count}) AS s(i)"
            await conn.execute(
                f"INSERT INTO clients (id, display_name, created_at)"
                f" SELECT i, 'Seeded ' || i, {now} {series}"
            )
            await conn.execute(
                "INSERT INTO identities (id, client_id, channel_type, account, external_id,"
                " display_name, profile, created_at, updated_at)"
                f" SELECT i, i, 'webchat', '{ACCOUNT}', 'seeded-' || i, 'Seeded ' || i, '{{}}',"
                f" {now}, {now} {series}"
            )
            await conn.execute(
                "INSERT INTO dialogs (id, line_id, client_id, identity_id, status, operator_id,"
                " pinned, opened_at, hops, awaiting_rating)"
                f" SELECT i, '{LINE}', i, i, 'active', 'op' || (i % {operators}), FALSE, {now},"
                f" 1, FALSE {series}"
            )
            await conn.execute(
                "INSERT INTO timers (id, kind, key, dialog_id, due_at, data, status)"
                f" SELECT i, 'auto_close', i::text, i, {later}, 'null', 'pending' {series}"
            )
            for table in ("clients", "identities", "dialogs", "timers"):
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" (SELECT max(id) FROM {table}))"
                )
            await conn.execute(
                "UPDATE operators SET load = held.n FROM (SELECT operator_id, count(*) AS n"
                " FROM dialogs WHERE status = 'active' GROUP BY operator_id) AS held"
                " WHERE operators.id = held.operator_id"
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def due(url: str, first: int, count: int, at: float, rate: float | None) -> None:
    """Make seeded timers ``first .. first + count - 1`` due: all at ``at``, or from ``at`` on at
    ``rate`` a second."""
    conn = await asyncpg.connect(url)
    try:
        step = 0.0 if rate is None else 1.0 / rate
        await conn.execute(
            "UPDATE timers SET due_at = $1 + (id - $2) * $3 WHERE id >= $2 AND id < $2 + $4",
            at,
            first,
            step,
            count,
        )
    finally:
        await conn.close()


async def fired(
    url: str, first: int, count: int, at: float, rate: float | None, deadline: float = 600
) -> list[float]:
    """Wait until the timers made due by ``due`` have fired; their lags (due -> fired) in
    milliseconds. An auto-close timer that fires closes its dialog and removes itself in that
    transaction, so the dialog's ``closed_at`` is when it fired (seeded ids are the same)."""
    step = 0.0 if rate is None else 1.0 / rate
    conn = await asyncpg.connect(url)
    end = time.monotonic() + deadline
    try:
        while True:
            rows = await conn.fetch(
                "SELECT closed_at - ($3 + (id - $1) * $4) FROM dialogs"
                " WHERE id >= $1 AND id < $1 + $2 AND status = 'closed'",
                first,
                count,
                at,
                step,
            )
            if len(rows) >= count:
                return [r[0] * 1000 for r in rows]
            if time.monotonic() > end:
                raise RuntimeError(f"{len(rows)} of {count} timers fired after {deadline} s")
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


# --- the phases -----------------------------------------------------------------------------------


@dataclass
class Options:
    workers: list[int]
    concurrency: int
    messages: int
    visitors: int
    timers: int
    burst: int
    timer_rate: float
    load_seconds: float
    dialogs: list[int]
    operators: int
    phases: set[str]


async def worker_run(db: Postgres, folder: Path, count: int, opts: Options) -> dict[str, Any]:
    """A fresh database with the seeded timers, ``count`` workers: the throughput phase, then
    the timer phase."""
    url = await db.database(f"sizing_{count}")
    await upgrade(url)
    progress(f"{count} worker(s): seeding {opts.timers:,} active dialogs with their timers")
    await seed_timers(url, opts.timers, opts.operators)
    workers = Workers(folder, url, count, opts.operators)
    out: dict[str, Any] = {"workers": count}
    try:
        await workers.ready()
        progress(f"{count} worker(s) ready: throughput")
        urls = workers.urls
        warm = await closed_loop(
            posts(urls, "warm", opts.visitors), workers=opts.concurrency, per_worker=5
        )
        await settled(url)
        out["rss_start"] = [rss_mib(p) for p in workers.pids]

        meter = CpuMeter(workers.pids, db.postmaster)
        xacts = await transactions(url)
        since = time.time()
        meter.start()
        peak = await closed_loop(
            posts(urls, "peak", opts.visitors),
            workers=opts.concurrency,
            per_worker=max(1, opts.messages // opts.concurrency),
        )
        await settled(url)
        cpu = meter.stop()
        await asyncio.sleep(1.0)  # the backends report their statistics at most once a second
        done = peak.requests
        out["peak"] = {
            "rate": done / cpu["wall"],
            "ack": peak,
            "errors": peak.errors + warm.errors,
            "cpu": cpu,
            "xacts": (await transactions(url) - xacts) / done,
            **await latencies(url, since),
        }
        processed = out["peak"]["rate"]

        progress(f"{count} worker(s): {processed:.0f}/s at peak; half of it")
        since = time.time()
        half = await open_loop(
            posts(urls, "half", opts.visitors),
            rate=processed / 2,
            seconds=max(3.0, opts.load_seconds / 2),
            workers=opts.concurrency * 4,
        )
        await settled(url)
        out["half"] = {"ack": half, **await latencies(url, since)}
        out["rss_end"] = [rss_mib(p) for p in workers.pids]

        if "timers" in opts.phases:
            progress(f"{count} worker(s): timers")
            out["timers"] = await timer_phase(url, workers, opts, processed)
    finally:
        workers.stop()
    return out


async def timer_phase(
    url: str, workers: Workers, opts: Options, processed: float
) -> dict[str, Any]:
    burst = min(opts.burst, opts.timers)
    at = time.time() + 1.0
    await due(url, 1, burst, at, None)
    lags = await fired(url, 1, burst, at, None)
    burst_seconds = max(lags) / 1000
    result: dict[str, Any] = {
        "burst": burst,
        "burst_seconds": burst_seconds,
        "burst_p50": percentile(lags, 50),
        "burst_p99": percentile(lags, 99),
    }
    # The burst's closes queued CRM transcript jobs (timers too, due at once): let them run
    # first, so that the lag below is the scheduler's under message load, not this backlog.
    result["after_burst_seconds"] = await no_timer_due(url)
    # Timers come due steadily while messages flow at half of the peak rate.
    steady = min(int(opts.timer_rate * opts.load_seconds), opts.timers - burst)
    if steady > 0:
        at = time.time() + 1.0
        await due(url, burst + 1, steady, at, opts.timer_rate)
        await asyncio.sleep(max(0.0, at - time.time()))
        load = await open_loop(
            posts(workers.urls, "timed", opts.visitors),
            rate=processed / 2,
            seconds=opts.load_seconds,
            workers=opts.concurrency * 4,
        )
        lags = await fired(url, burst + 1, steady, at, opts.timer_rate)
        await settled(url)
        result.update(
            steady=steady,
            steady_p50=percentile(lags, 50),
            steady_p99=percentile(lags, 99),
            steady_max=max(lags),
            load_rate=load.rate,
            load_errors=load.errors,
        )
    conn = await asyncpg.connect(url)
    try:
        result["pending"] = await conn.fetchval(
            "SELECT count(*) FROM timers WHERE status='pending'"
        )
    finally:
        await conn.close()
    return result


async def no_timer_due(url: str, deadline: float = 600) -> float:
    """Wait until no timer is due; how long that took."""
    began = time.perf_counter()
    conn = await asyncpg.connect(url)
    try:
        while await conn.fetchval(
            "SELECT count(*) FROM timers WHERE status <> 'done' AND due_at <= $1", time.time()
        ):
            if time.perf_counter() - began > deadline:
                raise RuntimeError(f"timers still due after {deadline} s")
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    return time.perf_counter() - began


async def memory_run(db: Postgres, folder: Path, opts: Options) -> dict[str, Any]:
    """One worker: RSS with no open dialog, then after each size of new visitors (one message
    each: one open dialog each, through the pipeline); then a fresh worker on that database."""
    url = await db.database("sizing_memory")
    await upgrade(url)
    workers = Workers(folder, url, 1, opts.operators)
    rows: list[tuple[int, float, float]] = []
    try:
        await workers.ready()
        pid = workers.pids[0]
        warm = posts(workers.urls, "mwarm", 64)
        await closed_loop(warm, workers=64, per_worker=5)  # 64 open dialogs, warm code paths
        await settled(url)
        rows.append((0, rss_mib(pid), 0.0))
        opened = 0
        for size in opts.dialogs:
            progress(f"memory: opening dialogs up to {size:,}")
            began = time.perf_counter()
            new = size - opened
            await closed_loop(
                posts(workers.urls, f"m{size}", 1, new_each=True),
                workers=opts.concurrency,
                per_worker=max(1, new // opts.concurrency),
            )
            await settled(url)
            opened += max(1, new // opts.concurrency) * opts.concurrency
            rows.append((opened, rss_mib(pid), opened / (time.perf_counter() - began)))
    finally:
        workers.stop()
    progress("memory: a fresh worker")
    fresh = Workers(folder, url, 1, opts.operators)
    try:
        await fresh.ready()
        await closed_loop(posts(fresh.urls, "mwarm2", 64), workers=64, per_worker=5)
        await settled(url)
        fresh_rss = rss_mib(fresh.pids[0])
    finally:
        fresh.stop()
    return {"rows": rows, "fresh": fresh_rss, "opened": opened}


# --- printing -------------------------------------------------------------------------------------


def show_cpu(label: str, cpu: dict[str, float], count: int) -> None:
    wall = cpu["wall"]
    per = {k: cpu[k] / count * 1e6 for k in ("workers", "postgres", "client")}
    _, cores = machine_busy()
    others = cpu["machine"] - cpu["workers"] - cpu["client"] - (cpu["postgres"] or 0)
    print(
        f"  {label:52} workers {per['workers']:6.0f}  postgres {per['postgres']:6.0f}  "
        f"load client {per['client']:6.0f}  µs CPU a message"
    )
    print(
        f"  {'':52} busy: workers {cpu['workers'] / wall:4.2f}, postgres "
        f"{cpu['postgres'] / wall:4.2f}, client {cpu['client'] / wall:4.2f}, everything else "
        f"on the machine {others / wall:4.2f} of {cores:.0f} cores"
    )


def report(
    settings: str,
    raws: list[dict[str, float]],
    runs: list[dict[str, Any]],
    memory: dict[str, Any] | None,
    opts: Options,
) -> None:
    print(f"\nPostgreSQL: {settings}")
    print(
        f"load: {opts.concurrency} connections, {opts.visitors} visitors, {opts.messages} messages "
        f"at peak; {opts.timers:,} pending auto-close timers in the store throughout"
    )
    for n, raw in enumerate(raws, 1):
        print(
            f"{f'limit: asyncpg insert+commit, {opts.concurrency} connections (#{n})':58}"
            f"{raw['rate']:8.0f} /s   postgres {raw['pg_us']:5.0f} µs CPU a commit"
        )
    limit = statistics.mean(r["rate"] for r in raws)
    one = None
    for run in runs:
        if "peak" not in run:
            continue
        peak, half = run["peak"], run["half"]
        n = run["workers"]
        one = one or peak["rate"]
        print(f"\n{n} worker{'s' if n > 1 else ''}:")
        print(
            f"  {'fully processed (stored, answered, answer sent)':52} {peak['rate']:8.0f} /s   "
            f"({peak['rate'] / limit:.2f}x the raw commit rate, {peak['rate'] / one:.2f}x 1 worker)"
        )
        print(
            f"  {'peak: HTTP acknowledgement (stored)':52} p50 {peak['ack'].p50:7.1f} ms"
            f"  p99 {peak['ack'].p99:7.1f} ms"
        )
        print(
            f"  {'peak: stored -> answer sent':52} p50 {peak['answered_p50']:7.1f} ms"
            f"  p99 {peak['answered_p99']:7.1f} ms  ({peak['answered']} of {peak['events']})"
        )
        label = f"half of peak ({half['ack'].rate:.0f}/s): HTTP acknowledgement"
        print(f"  {label:52} p50 {half['ack'].p50:7.1f} ms  p99 {half['ack'].p99:7.1f} ms")
        print(
            f"  {'half of peak: stored -> processed':52} p50 {half['processed_p50']:7.1f} ms"
            f"  p99 {half['processed_p99']:7.1f} ms"
        )
        print(
            f"  {'half of peak: stored -> answer sent':52} p50 {half['answered_p50']:7.1f} ms"
            f"  p99 {half['answered_p99']:7.1f} ms"
        )
        show_cpu("CPU at peak", peak["cpu"], peak["ack"].requests)
        print(f"  {'transactions a message (every worker loop included)':52} {peak['xacts']:8.1f}")
        print(
            f"  {'errors':52} {peak['errors'] + half['ack'].errors:8d}   worker RSS "
            + ", ".join(
                f"{a:.0f} -> {b:.0f} MiB"
                for a, b in zip(run["rss_start"], run["rss_end"], strict=True)
            )
        )
        t = run.get("timers")
        if t:
            label = f"timers: a burst of {t['burst']:,} due at once, all fired in"
            print(
                f"  {label:52} "
                f"{t['burst_seconds']:7.2f} s   ({t['burst'] / t['burst_seconds']:.0f}/s; "
                f"lag p50 {t['burst_p50']:.0f} ms, p99 {t['burst_p99']:.0f} ms)"
            )
            label = "timers: the CRM jobs the burst's closes queued, run in"
            print(f"  {label:52} {t['after_burst_seconds']:7.2f} s")
            if "steady" in t:
                label = (
                    f"timers: {t['steady']:,} due at {opts.timer_rate:.0f}/s, "
                    f"messages at {t['load_rate']:.0f}/s"
                )
                print(
                    f"  {label:52} "
                    f"lag p50 {t['steady_p50']:7.0f} ms  p99 {t['steady_p99']:7.0f} ms  "
                    f"max {t['steady_max']:.0f} ms"
                )
            print(f"  {'timers still pending at the end':52} {t['pending']:8,}")
    if memory:
        print("\nmemory of one worker (RSS) as open dialogs grow, each opened through the pipeline")
        base = memory["rows"][0][1]
        for opened, rss, rate in memory["rows"]:
            per = (rss - base) * 1024 * 1024 / opened if opened else 0.0
            extra = f"  (+{per:,.0f} bytes a dialog; opened at {rate:.0f}/s)" if opened else ""
            print(f"  {opened:>8,} open dialogs {rss:8.1f} MiB{extra}")
        print(
            f"  a fresh worker on the database with {memory['opened']:,} open dialogs: "
            f"{memory['fresh']:.1f} MiB ({memory['fresh'] / base:.2f}x the first at 0)"
        )


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a PostgreSQL server where the bench may create databases")
    parser.add_argument("--no-durable", action="store_true", help="keep fsync etc. off")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: seconds, not minutes")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int)
    parser.add_argument("--messages", type=int)
    parser.add_argument("--timers", type=int)
    parser.add_argument("--burst", type=int)
    parser.add_argument("--dialogs", type=int, nargs="+")
    parser.add_argument(
        "--phases", nargs="+", default=["throughput", "timers", "memory"], help="what to run"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    opts = Options(
        workers=args.workers,
        concurrency=args.concurrency or (8 if quick else 64),
        messages=args.messages or (80 if quick else 4000),
        visitors=32 if quick else 256,
        timers=args.timers or (500 if quick else 100_000),
        burst=args.burst or (50 if quick else 2000),
        timer_rate=20,
        load_seconds=1 if quick else 20,
        dialogs=args.dialogs or ([40] if quick else [10_000, 50_000]),
        operators=10 if quick else 200,
        phases=set(args.phases),
    )
    db = Postgres(args.url, durable=not args.no_durable)
    await db.start()
    try:
        settings = await db.settings()
        with tempfile.TemporaryDirectory(prefix="omniline-sizing-") as name:
            folder = Path(name)
            raws: list[dict[str, float]] = []
            runs: list[dict[str, Any]] = []
            if {"throughput", "timers"} & opts.phases:
                progress("the raw commit limit")
                raw_url = await db.database("sizing_raw")
                rows = opts.messages if quick else 10_000
                raws.append(await raw_commit(db, raw_url, rows, opts.concurrency))
                for count in opts.workers:
                    runs.append(await worker_run(db, folder, count, opts))
                raws.append(await raw_commit(db, raw_url, rows, opts.concurrency))
            memory = await memory_run(db, folder, opts) if "memory" in opts.phases else None
    finally:
        db.stop()
    report(settings, raws, runs, memory, opts)
    print(json.dumps({"sizing": "done", "runs": len(runs)}))


if __name__ == "__main__":
    asyncio.run(main())
