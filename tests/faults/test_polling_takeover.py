"""Fault: the worker that polls Telegram (``getUpdates``) is killed with SIGKILL while clients
write; two ``omniline run`` workers share one PostgreSQL and the plugin's fake Bot API.

Guaranteed: one worker at a time calls ``getUpdates`` (Telegram answers a second caller 409
Conflict), the other takes polling over within seconds of the owner's death (the lease runs out
after ``storage.lease_ttl``), and every update is stored once and answered once: none lost, none
handled twice.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from omniline_telegram.testing import TOKEN, FakeTelegram, text_update

from omniline.store import upgrade
from omniline.testing import TemporaryPostgres
from tests.faults.workers import Worker, all_logs

LEASE_TTL = 3
UPDATES = 30
KILL_AFTER_ANSWERED = 8
"""The owner is killed once this many updates are answered, while the rest keep coming."""
TAKEOVER_LIMIT = 15.0
"""Seconds after the kill by which the other worker polls (the lease runs out in LEASE_TTL)."""
SETTLE_DEADLINE = 60.0
POLL_LEASE = "channel:telegram/main:getUpdates"


class WatchedTelegram:
    """The fake Bot API, counting ``getUpdates`` calls that came while another was open."""

    def __init__(self) -> None:
        self.fake = FakeTelegram(poll_wait=0.3)
        self.polling = 0
        self.overlaps = 0

    def app(self) -> web.Application:
        @web.middleware
        async def watch(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            if not request.path.endswith("/getUpdates"):
                return await handler(request)
            self.polling += 1
            if self.polling > 1:
                self.overlaps += 1
            try:
                return await handler(request)
            finally:
                self.polling -= 1

        app = self.fake.app()
        app.middlewares.append(watch)
        return app


@pytest_asyncio.fixture
async def telegram() -> AsyncIterator[tuple[WatchedTelegram, str]]:
    watched = WatchedTelegram()
    server = TestServer(watched.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield watched, str(server.make_url("/")).rstrip("/")
    finally:
        await server.close()


def config(url: str, api: str) -> dict[str, Any]:
    return {
        "storage": {
            "url": url,
            "pool_size": 4,
            "lease_ttl": LEASE_TTL,
            "recovery_grace": 2,
            "recovery_interval": 1,
        },
        "server": {"host": "127.0.0.1"},
        "outbox": {"lease": 3, "poll_interval": 0.5},
        "console": {"enabled": False},
        "lines": [
            {
                "id": "support",
                "name": "Support",
                "bot": "fault_echo_bot:bot",
                "channels": [
                    {
                        "type": "telegram",
                        "account": "main",
                        "settings": {
                            "api_base_url": api,
                            "token": TOKEN,
                            "mode": "polling",
                            "poll_timeout": 1,
                            "poll_retry_delay": 0.5,
                        },
                    }
                ],
            }
        ],
    }


async def holder_pid(connection: asyncpg.Connection) -> int | None:
    owner = await connection.fetchval(
        "SELECT owner FROM leases WHERE name = $1 AND expires_at > $2", POLL_LEASE, time.time()
    )
    return int(owner.split(":")[1]) if owner else None


async def wait_for(check: Callable[[], Awaitable[bool]], within: float, what: str) -> float:
    """Seconds it took ``check`` to hold."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > within:
            pytest.fail(f"{what}: not within {within} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - start


async def test_the_polling_worker_killed_is_taken_over_with_every_update_stored_and_answered_once(
    tmp_path: Path,
    temporary_postgres: TemporaryPostgres,
    telegram: tuple[WatchedTelegram, str],
) -> None:
    watched, api = telegram
    fake = watched.fake
    url = await asyncio.to_thread(temporary_postgres.create_database, "polling_takeover")
    await upgrade(url)
    workers = [Worker(tmp_path, name, config(url, api)) for name in ("first", "second")]
    connection = await asyncpg.connect(url)

    def answered() -> int:
        return len({text for _, text in fake.texts()})

    async def polling() -> bool:
        return await holder_pid(connection) is not None

    async def polled_by(worker: Worker) -> bool:
        assert worker.proc is not None
        return await holder_pid(connection) == worker.proc.pid

    async def clients_write() -> None:  # one update every 50 ms, each from a chat of its own
        for n in range(1, UPDATES + 1):
            fake.queue_update(text_update(5000 + n, f"update {n}", user_id=9000 + n))
            await asyncio.sleep(0.05)

    async def answers_arrived() -> bool:
        return answered() >= KILL_AFTER_ANSWERED

    async def all_answered() -> bool:
        return answered() == UPDATES

    try:
        for worker in workers:  # started together: they race for the lease
            worker.start()
        await asyncio.gather(*(w.wait_healthy() for w in workers))
        await wait_for(polling, 60, "a worker polls")
        pid = await holder_pid(connection)
        owner = next(w for w in workers if w.proc is not None and w.proc.pid == pid)
        other = next(w for w in workers if w is not owner)
        writing = asyncio.create_task(clients_write())
        await wait_for(answers_arrived, 60, "the first answers arrive")
        assert await polled_by(owner)  # one owner all along
        owner.kill()
        assert answered() < UPDATES, "the kill came too late to be mid-stream"
        took = await wait_for(lambda: polled_by(other), TAKEOVER_LIMIT, "the takeover")
        assert took < TAKEOVER_LIMIT
        await writing
        await wait_for(all_answered, SETTLE_DEADLINE, "every update answered")

        expected = range(1, UPDATES + 1)
        stored = await connection.fetch(
            "SELECT event_id, status FROM inbox WHERE channel_type = 'telegram'"
        )
        assert sorted(int(r["event_id"]) - 5000 for r in stored) == list(expected)
        await wait_for(lambda: _all_done(connection), SETTLE_DEADLINE, "every event processed")
        texts_in = await connection.fetch("SELECT text FROM messages WHERE direction = 'in'")
        assert Counter(r["text"] for r in texts_in) == {f"update {n}": 1 for n in expected}
        # handled once: the bot's answer to each update is stored once
        replies = await connection.fetch(
            "SELECT m.text, o.attempts FROM messages m JOIN outbox o ON o.message_id = m.id "
            "WHERE m.direction = 'out'"
        )
        assert Counter(r["text"] for r in replies) == {f"echo: update {n}": 1 for n in expected}
        # answered: every chat got its answer. Twice only where the killed worker sent it and
        # died before recording so (its lease on the row ran out and the other worker sent it
        # again): the outbox sends at least once, and says so.
        sent = Counter(fake.texts())
        assert set(sent) == {(str(9000 + n), f"echo: update {n}") for n in expected}
        attempts = {r["text"]: r["attempts"] for r in replies}
        twice = [text for (_, text), count in sent.items() if count > 1]
        assert all(attempts[text] > 1 for text in twice), all_logs(workers)
        assert len(twice) <= 1, all_logs(workers)
        assert watched.overlaps == 0, "two workers called getUpdates at once"
    finally:
        await connection.close()
        for worker in workers:
            worker.stop()


async def _all_done(connection: asyncpg.Connection) -> bool:
    pending = await connection.fetchval("SELECT count(*) FROM inbox WHERE status <> 'done'")
    return bool(pending == 0)
