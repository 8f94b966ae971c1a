"""``omniline run --workers N`` as a user runs it: one command, one port, N worker processes on one
PostgreSQL, kept running by a supervisor (``omniline.workers``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import aiohttp
import asyncpg
import pytest
import typer
import yaml
from typer.testing import CliRunner

from omniline.store import upgrade
from omniline.testing import TemporaryPostgres
from omniline.workers import FAILED_STARTS, options_given
from tests.faults.workers import SECRET, Visitor, history, new_visitor, shown_once, webchat

DEADLINE = 60.0
"""Seconds for anything to happen (two cores shared with other test runs)."""
BOT = """
import asyncio

from omniline import MessageContext, Router

bot = Router("echo")


@bot.message()
async def echo(ctx: MessageContext) -> None:
    if ctx.text.startswith("slow"):
        await asyncio.sleep(0.5)  # work still in flight when a test stops the workers
    ctx.reply(f"echo: {ctx.text}")
"""
FRESH = aiohttp.ClientTimeout(total=10)
RUN = [sys.executable, "-m", "omniline", "run", "-c", "omniline.yaml", "--workers"]
"""The command, as a user types it (``omniline`` is this Python's), less the number."""


def config(url: str, bot: str = "workers_bot:bot") -> dict[str, Any]:
    webchat_channel = {
        "type": "webchat",
        "account": "site",
        "settings": {"secret": SECRET, "messages_per_minute": 100_000, "message_burst": 1000},
    }
    return {
        # a killed worker's events are taken over by the other within a second or two
        "storage": {"url": url, "pool_size": 4, "recovery_grace": 1, "recovery_interval": 0.5},
        "server": {"host": "127.0.0.1", "port": 0},
        "console": {"enabled": False},
        "lines": [
            {
                "id": "support",
                "name": "Support",
                "bot": bot,
                "channels": [webchat_channel],
            }
        ],
    }


class Supervised:
    """``omniline run -c omniline.yaml --workers N`` in a folder with its bot; its log kept."""

    def __init__(
        self, folder: Path, cfg: dict[str, Any], env: dict[str, str] | None = None
    ) -> None:
        (folder / "workers_bot.py").write_text(textwrap.dedent(BOT), encoding="utf-8")
        (folder / "omniline.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
        self.log_path = folder / "omniline.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [*RUN, "2"],
            cwd=folder,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.base = ""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def running(self) -> str:
        """The URL the supervisor announces once every worker has started."""
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), DEADLINE)
        found = re.search(r"running at (http://\S+) with 2 workers", line)
        assert found, f"no URL announced: {line!r}\n{self.log()}"
        self.base = found.group(1)
        tag = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), DEADLINE)
        widget = f'<script src="{self.base}/channels/webchat/site/widget.js" async></script>'
        assert tag.strip() == f"Widget tag (webchat/site):  {widget}", tag
        return self.base

    async def wait_for_log(self, pattern: str) -> re.Match[str]:
        deadline = time.monotonic() + DEADLINE
        while (found := re.search(pattern, self.log())) is None:
            assert time.monotonic() < deadline, f"no {pattern!r} in the log:\n{self.log()}"
            await asyncio.sleep(0.1)
        return found

    async def exit_code(self) -> int:
        code = await asyncio.wait_for(asyncio.to_thread(self.proc.wait), DEADLINE)
        self._log.close()
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@contextlib.asynccontextmanager
async def supervised(
    folder: Path, cfg: dict[str, Any], env: dict[str, str] | None = None
) -> AsyncIterator[Supervised]:
    supervisor = Supervised(folder, cfg, env)
    try:
        yield supervisor
    finally:
        supervisor.close()


async def migrated(temporary_postgres: TemporaryPostgres, name: str) -> str:
    url = await asyncio.to_thread(temporary_postgres.create_database, name)
    await upgrade(url)
    return url


def fresh_connections() -> aiohttp.ClientSession:
    """A new connection per request, so that requests spread over the workers."""
    return aiohttp.ClientSession(timeout=FRESH, connector=aiohttp.TCPConnector(force_close=True))


async def worker_pids(base: str, want: int, also: tuple[int, ...] = ()) -> set[int]:
    """The pids in ``/healthz`` answers, asked until ``want`` of them (with ``also``) are seen."""
    seen: set[int] = set()
    deadline = time.monotonic() + DEADLINE
    async with fresh_connections() as http:
        while len(seen) < want or not set(also) <= seen:
            assert time.monotonic() < deadline, f"only {seen} answered /healthz"
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(f"{base}/healthz") as resp:
                    seen.add((await resp.json())["pid"])
    return seen


def metrics_dir_of(pid: int) -> Path:
    """The worker's ``PROMETHEUS_MULTIPROC_DIR``."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    found = [v for v in environ if v.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    assert found, f"worker {pid} has no PROMETHEUS_MULTIPROC_DIR"
    return Path(os.fsdecode(found[0].split(b"=", 1)[1]))


def running(pid: int) -> bool:
    """Whether the process is there and not a zombie (an orphan's may wait for init to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


async def post(http: aiohttp.ClientSession, base: str, visitor: Visitor, text: str = "") -> None:
    """One new message, sent again (same id) until a worker acknowledges it."""
    cid, _ = visitor.new_message()
    if text:
        visitor.sent[-1] = (cid, text)
    deadline = time.monotonic() + DEADLINE
    while True:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with http.post(
                f"{webchat(base)}/messages",
                json={"client_message_id": cid, "text": visitor.sent[-1][1]},
                headers=visitor.headers,
            ) as resp:
                if resp.status == 200:
                    visitor.acked[cid] = (await resp.json())["message_id"]
                    return
                assert resp.status == 503, await resp.text()
        assert time.monotonic() < deadline, f"{visitor.name}: {cid} never acknowledged"
        await asyncio.sleep(0.1)


async def answered_once(base: str, visitors: list[Visitor]) -> None:
    """Every acknowledged message is stored once and answered exactly once (waiting for the
    answers to come)."""
    deadline = time.monotonic() + DEADLINE
    async with fresh_connections() as http:
        for visitor in visitors:
            texts = dict(visitor.sent)
            while True:
                found = await history(http, base, visitor)
                answers = [m["text"] for m in found if m["direction"] == "out"]
                if len(answers) >= len(visitor.acked):
                    break
                assert time.monotonic() < deadline, f"{visitor.name}: only {answers}"
                await asyncio.sleep(0.2)
            shown_once(visitor, found)
            for cid in visitor.acked:
                count = answers.count(f"echo: {texts[cid]}")
                assert count == 1, f"{visitor.name}: {texts[cid]!r} answered {count} times"
            assert len(answers) == len(set(answers)), answers


async def test_two_workers_serve_one_port_and_answer_each_message_once(
    tmp_path: Path, temporary_postgres: TemporaryPostgres
) -> None:
    url = await migrated(temporary_postgres, "workers_serve")
    async with supervised(tmp_path, config(url)) as supervisor:
        base = await supervisor.running()
        pids = await worker_pids(base, want=2)
        assert all(parent_of(pid) == supervisor.proc.pid for pid in pids), pids
        # prometheus-client's multi-process mode: one private directory for the workers
        (metrics,) = {metrics_dir_of(pid) for pid in pids}
        assert metrics.is_dir() and metrics.name.startswith("omniline-metrics-")
        async with fresh_connections() as http:
            visitors = [await new_visitor(http, base, f"visitor{i}") for i in range(6)]

            async def write(visitor: Visitor) -> None:
                for _ in range(5):
                    await post(http, base, visitor)

            await asyncio.gather(*(write(v) for v in visitors))
        await answered_once(base, visitors)
        supervisor.proc.send_signal(signal.SIGTERM)
        assert await supervisor.exit_code() == 0, supervisor.log()
    assert not metrics.exists(), "the supervisor left its metrics directory behind"
    assert "Traceback" not in supervisor.log(), supervisor.log()


async def test_a_worker_killed_is_started_again_and_the_line_keeps_working(
    tmp_path: Path, temporary_postgres: TemporaryPostgres
) -> None:
    url = await migrated(temporary_postgres, "workers_killed")
    async with supervised(tmp_path, config(url)) as supervisor:
        base = await supervisor.running()
        victim, survivor = sorted(await worker_pids(base, want=2))
        stop = asyncio.Event()
        async with fresh_connections() as http:
            visitors = [await new_visitor(http, base, f"visitor{i}") for i in range(4)]

            async def write(visitor: Visitor) -> None:
                while not stop.is_set():
                    await post(http, base, visitor)
                    await asyncio.sleep(0.05)

            writers = [asyncio.create_task(write(v)) for v in visitors]
            await asyncio.sleep(1.0)
            # what prometheus-client keeps of a live gauge: to be dropped when its worker dies
            live_gauge = metrics_dir_of(victim) / f"gauge_livesum_{victim}.db"
            live_gauge.write_bytes(b"")
            os.kill(victim, signal.SIGKILL)
            restarted = await supervisor.wait_for_log(
                rf"worker \d \(pid {victim}\) was killed by SIGKILL; started it again as pid "
                r"(\d+)"
            )
            replacement = int(restarted.group(1))
            assert not live_gauge.exists(), "the dead worker's live gauges are still counted"
            # the new worker serves the port too, beside the one that lived on
            await worker_pids(base, want=2, also=(replacement, survivor))
            assert parent_of(replacement) == supervisor.proc.pid
            await asyncio.sleep(1.0)
            stop.set()
            await asyncio.wait_for(asyncio.gather(*writers), DEADLINE)
        assert all(v.acked for v in visitors)
        await answered_once(base, visitors)


async def test_sigterm_stops_every_worker_and_the_supervisor_exits_0_with_nothing_lost(
    tmp_path: Path, temporary_postgres: TemporaryPostgres
) -> None:
    url = await migrated(temporary_postgres, "workers_sigterm")
    async with supervised(tmp_path, config(url)) as supervisor:
        base = await supervisor.running()
        pids = await worker_pids(base, want=2)
        async with fresh_connections() as http:
            visitors = [await new_visitor(http, base, f"visitor{i}") for i in range(4)]

            async def write(visitor: Visitor) -> None:
                for n in range(5):
                    await post(http, base, visitor, f"slow {visitor.name} {n}")

            await asyncio.gather(*(write(v) for v in visitors))
        connection = await asyncpg.connect(url)
        try:
            in_flight = await connection.fetchval(
                "SELECT count(*) FROM inbox WHERE status = 'pending'"
            )
            supervisor.proc.send_signal(signal.SIGTERM)
            assert await supervisor.exit_code() == 0, supervisor.log()
            assert in_flight > 0, "the test stopped the workers with no work in flight"
            for pid in pids:
                with pytest.raises(ProcessLookupError):
                    os.kill(pid, 0)
            pending = await connection.fetchval(
                "SELECT count(*) FROM inbox WHERE status = 'pending'"
            )
            answers = await connection.fetch(
                "SELECT text, count(*) AS n FROM messages WHERE direction = 'out' GROUP BY text"
            )
        finally:
            await connection.close()
    assert pending == 0, supervisor.log()
    answered = {row["text"]: row["n"] for row in answers}
    for visitor in visitors:
        for _, text in visitor.sent:
            assert answered.get(f"echo: {text}") == 1, (text, answered, supervisor.log())
    assert "all workers stopped" in supervisor.log()
    assert "Traceback" not in supervisor.log(), supervisor.log()


async def test_workers_stop_by_themselves_when_their_supervisor_is_killed(
    tmp_path: Path, temporary_postgres: TemporaryPostgres
) -> None:
    url = await migrated(temporary_postgres, "workers_orphaned")
    async with supervised(tmp_path, config(url)) as supervisor:
        base = await supervisor.running()
        pids = await worker_pids(base, want=2)
        supervisor.proc.kill()
        await supervisor.exit_code()
        deadline = time.monotonic() + DEADLINE
        while alive := [pid for pid in pids if running(pid)]:
            assert time.monotonic() < deadline, f"{alive} still serve:\n{supervisor.log()}"
            await asyncio.sleep(0.1)
    assert supervisor.log().count("the supervisor is gone: stopping this worker") == 2
    assert "Traceback" not in supervisor.log(), supervisor.log()


async def test_a_metrics_directory_the_user_set_is_emptied_at_start_and_kept(
    tmp_path: Path, temporary_postgres: TemporaryPostgres
) -> None:
    url = await migrated(temporary_postgres, "workers_metrics_dir")
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "counter_4242.db").write_bytes(b"a previous run's counts")
    (metrics / "README").write_text("not prometheus-client's: left alone")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    async with supervised(tmp_path, config(url), env) as supervisor:
        base = await supervisor.running()
        pids = await worker_pids(base, want=2)
        assert {metrics_dir_of(pid) for pid in pids} == {metrics}
        assert not (metrics / "counter_4242.db").exists()
        supervisor.proc.send_signal(signal.SIGTERM)
        assert await supervisor.exit_code() == 0, supervisor.log()
    assert (metrics / "README").exists()


def run_supervisor(folder: Path, cfg: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    (folder / "workers_bot.py").write_text(textwrap.dedent(BOT), encoding="utf-8")
    (folder / "omniline.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return subprocess.run(
        [*RUN, "2"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_several_workers_on_sqlite_are_refused_with_the_reason(tmp_path: Path) -> None:
    done = run_supervisor(tmp_path, config(f"sqlite:///{tmp_path / 'omniline.db'}"))
    assert done.returncode == 1, done.stderr
    assert "--workers 2 needs PostgreSQL" in done.stderr
    assert "a SQLite database belongs to one process" in done.stderr
    assert "omniline is running" not in done.stdout


async def test_workers_on_a_database_not_migrated_are_refused_before_any_starts(
    tmp_path: Path, temporary_postgres: TemporaryPostgres
) -> None:
    url = await asyncio.to_thread(temporary_postgres.create_database, "workers_empty")
    done = await asyncio.to_thread(run_supervisor, tmp_path, config(url))
    assert done.returncode == 1, done.stderr
    assert "run `omniline db upgrade -c CONFIG` first" in done.stderr
    assert "worker 1 started" not in done.stderr


DYING_BOT = """
import os

if "PROMETHEUS_MULTIPROC_DIR" in os.environ:  # the workers have it, their supervisor has not
    raise ImportError("the bot needs a package this process cannot import")

from workers_bot import bot
"""


async def test_workers_that_keep_dying_at_start_make_the_supervisor_give_up(
    tmp_path: Path, temporary_postgres: TemporaryPostgres
) -> None:
    """Every worker dies at start (its bot fails on import there, though it imported in the
    supervisor's check); the supervisor gives up instead of starting them again forever."""
    url = await migrated(temporary_postgres, "workers_crash_loop")
    (tmp_path / "dying_bot.py").write_text(textwrap.dedent(DYING_BOT), encoding="utf-8")
    done = await asyncio.to_thread(run_supervisor, tmp_path, config(url, bot="dying_bot:bot"))
    assert done.returncode == 1, done.stderr
    assert "cannot import bot 'dying_bot:bot'" in done.stderr  # the workers' own error
    assert "workers keep dying at start" in done.stderr
    assert f"died {FAILED_STARTS} times in a row before it had started" in done.stderr
    starts = re.findall(r"worker \d started|started it again", done.stderr)
    assert len(starts) <= 2 * FAILED_STARTS, done.stderr
    assert "omniline is running" not in done.stdout


class LogFormat(StrEnum):
    human = "human"
    json = "json"


def test_options_given_to_the_supervisor_are_written_out_for_its_workers() -> None:
    """What ``run`` passes on to every worker: the options given on the command line (a flag, a
    negative flag, a repeated option, an enum), not the defaults nor the supervisor's own."""

    app = typer.Typer()

    @app.command()
    def run(
        ctx: typer.Context,
        workers: Annotated[int, typer.Option()] = 1,
        log_level: Annotated[str, typer.Option()] = "INFO",
        log_format: Annotated[LogFormat, typer.Option()] = LogFormat.human,
        port: Annotated[int | None, typer.Option()] = None,
        tag: Annotated[list[str] | None, typer.Option()] = None,
        color: Annotated[bool, typer.Option("--color/--no-color")] = True,
        verbose: Annotated[bool, typer.Option()] = False,
    ) -> None:
        typer.echo(" ".join(options_given(ctx, {"workers"})))

    given = ["--workers", "3", "--log-format", "json", "--tag", "a", "--tag", "b", "--no-color"]
    result = CliRunner().invoke(app, [*given, "--verbose", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert result.output.split() == [
        "--log-format", "json", "--port", "0", "--tag", "a", "--tag", "b", "--no-color", "--verbose"
    ]  # fmt: skip
