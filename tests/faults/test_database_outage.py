"""Fault: PostgreSQL stops for 10 s (``pg_ctl stop -m fast``) while two workers take messages
from web-chat visitors and Telegram webhooks.

One worker is an ``omniline run`` process (its log is checked); the other runs in the test process
with the Telegram channel, driven by the plugin's fake Bot API (importing aiogram costs a child
process ~10 s of CPU, too much for the suite). So the first has no Telegram channel: it leaves the
Telegram deliveries it claims to the second.

Guaranteed: every request is answered 200 or 503, never 500 (the web chat's 503 says
``store_unavailable`` and gives a Retry-After, so the widget and the platforms send again); nothing
acknowledged is lost or stored twice; the workers carry on by themselves once the server is back;
each logs one line when the database goes and one when it is back, and no traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from omniline_telegram import plugin
from omniline_telegram.testing import SECRET as TELEGRAM_SECRET
from omniline_telegram.testing import TOKEN, FakeTelegram, serve, text_update

from omniline import Config, Omniline
from omniline.store import upgrade
from omniline.testing import TemporaryPostgres
from tests.conftest import echo_bot
from tests.faults.workers import (
    SECRET,
    Visitor,
    Worker,
    all_logs,
    history,
    new_visitor,
    shown_once,
    webchat,
)

VISITORS = 4
CHATS = 4
OUTAGE = 10.0
"""Seconds the server stays stopped."""
BEFORE = 1.5
"""Seconds of load before the server stops."""
AFTER = 3
"""Messages each sender gets acknowledged after the server is back."""
RETRY_PAUSE = 0.3
"""What a sender waits after a 503 (the Retry-After asks for more; the test has no time)."""
SETTLE_DEADLINE = 40.0
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=15)


def config(url: str, telegram_base: str | None = None) -> dict[str, Any]:
    channels: list[dict[str, Any]] = [
        {
            "type": "webchat",
            "account": "site",
            "settings": {"secret": SECRET, "messages_per_minute": 100_000, "message_burst": 1000},
        }
    ]
    if telegram_base is not None:
        channels.append(
            {
                "type": "telegram",
                "account": "main",
                "settings": {
                    "api_base_url": telegram_base,
                    "token": TOKEN,
                    "mode": "webhook",
                    "webhook_secret": TELEGRAM_SECRET,
                },
            }
        )
    return {
        "storage": {"url": url, "pool_size": 4, "recovery_grace": 2, "recovery_interval": 1},
        "server": {"host": "127.0.0.1", "port": 0},
        "outbox": {
            "lease": 3,
            "poll_interval": 0.5,
            "base_delay": 0.2,
            "max_delay": 2,
            "max_attempts": 100,
        },
        "console": {"enabled": False},
        "log_level": "INFO",
        "lines": [
            {
                "id": "support",
                "name": "Support",
                "bot": "fault_echo_bot:bot",
                "handoff_when_unhandled": False,
                "channels": channels,
            }
        ],
    }


class Load:
    """Senders that write one message after another, each to the next worker, and send a refused
    message again (same id) until it is acknowledged."""

    def __init__(self, bases: list[str], telegram: str) -> None:
        self.bases = bases
        self.telegram = telegram
        self.turn = itertools.count()
        self.answers: Counter[tuple[str, int]] = Counter()
        """(kind, status) of every answer."""
        self.refusals: list[tuple[str, int, str, str | None]] = []
        """(kind, status, body, Retry-After) of every answer other than 200."""
        self.stop = asyncio.Event()
        self.back = asyncio.Event()
        """Set when the server is back: each sender then writes ``AFTER`` more and stops."""
        self.telegram_acked: dict[int, tuple[int, str]] = {}
        """update_id -> (chat, text) of every update answered 200."""

    def base(self, kind: str) -> str:
        if kind == "telegram":
            return self.telegram
        return self.bases[next(self.turn) % len(self.bases)]

    async def _until_taken(
        self, kind: str, send: Any, http: aiohttp.ClientSession
    ) -> tuple[int, Any]:
        while True:
            try:
                status, body, retry_after = await send(http, self.base(kind))
            except (aiohttp.ClientError, TimeoutError) as exc:  # never expected: the workers live
                pytest.fail(f"{kind}: the request failed: {exc!r}")
            self.answers[(kind, status)] += 1
            if status == 200:
                return status, body
            if status != 503:
                pytest.fail(f"{kind}: answered {status}: {body}")
            self.refusals.append((kind, status, str(body), retry_after))
            await asyncio.sleep(RETRY_PAUSE)

    async def visitor(self, http: aiohttp.ClientSession, visitor: Visitor) -> None:
        after_back = 0
        while after_back < AFTER:
            cid, text = visitor.new_message()

            async def send(
                http: aiohttp.ClientSession, base: str, cid: str = cid, text: str = text
            ) -> tuple[int, Any, str | None]:
                async with http.post(
                    f"{webchat(base)}/messages",
                    json={"client_message_id": cid, "text": text},
                    headers=visitor.headers,
                ) as resp:
                    body = await resp.json() if resp.content_type == "application/json" else None
                    return resp.status, body or await resp.text(), resp.headers.get("Retry-After")

            _, body = await self._until_taken("webchat", send, http)
            visitor.acked[cid] = body["message_id"]
            after_back += self.back.is_set()
            await asyncio.sleep(0.05)

    async def chat(self, http: aiohttp.ClientSession, chat: int, update_ids: Any) -> None:
        after_back = 0
        n = 0
        while after_back < AFTER:
            n += 1
            update_id, text = next(update_ids), f"chat {chat} says {n}"
            update = text_update(update_id, text, user_id=chat)

            async def send(
                http: aiohttp.ClientSession, base: str, update: dict[str, Any] = update
            ) -> tuple[int, Any, str | None]:
                async with http.post(
                    f"{base}/channels/telegram/main/webhook",
                    json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET},
                ) as resp:
                    return resp.status, await resp.text(), resp.headers.get("Retry-After")

            await self._until_taken("telegram", send, http)
            self.telegram_acked[update_id] = (chat, text)
            after_back += self.back.is_set()
            await asyncio.sleep(0.05)


async def unfinished(url: str) -> str:
    connection = await asyncpg.connect(url)
    try:
        inbox = await connection.fetch("SELECT id, status FROM inbox WHERE status <> 'done'")
        outbox = await connection.fetch(
            "SELECT id, status, attempts, error FROM outbox WHERE status <> 'sent'"
        )
    finally:
        await connection.close()
    return f"inbox not done: {[tuple(r) for r in inbox]}, outbox not sent: {[tuple(r) for r in outbox]}"


async def test_a_database_outage_is_answered_503_and_survived_without_a_restart(
    tmp_path: Path,
) -> None:
    fake = FakeTelegram()
    fake_server = await serve(fake)
    pg = TemporaryPostgres()
    await asyncio.to_thread(pg.start)
    workers: list[Worker] = []
    app: Omniline | None = None
    try:
        url = await asyncio.to_thread(pg.create_database, "outage")
        await upgrade(url)
        workers = [Worker(tmp_path, "worker", config(url))]
        workers[0].start()
        telegram_base = str(fake_server.make_url("/")).rstrip("/")
        app = Omniline(
            Config.model_validate(config(url, telegram_base)),
            bots={"support": echo_bot()},
            channel_plugins={"telegram": plugin},
        )
        await app.start()
        await workers[0].wait_healthy()
        pids = [w.proc.pid for w in workers if w.proc is not None]

        load = Load([workers[0].base, app.url], app.url)
        async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as http:
            visitors = [
                await new_visitor(http, load.base("webchat"), f"v{i}") for i in range(VISITORS)
            ]
            update_ids = itertools.count(1000)
            senders = [asyncio.create_task(load.visitor(http, v)) for v in visitors]
            senders += [
                asyncio.create_task(load.chat(http, 5000 + c, update_ids)) for c in range(CHATS)
            ]
            await asyncio.sleep(BEFORE)
            acked_before = sum(len(v.acked) for v in visitors) + len(load.telegram_acked)

            await asyncio.to_thread(pg.pause)
            stopped_at = time.monotonic()
            await asyncio.sleep(OUTAGE)
            await asyncio.to_thread(pg.resume)
            outage = time.monotonic() - stopped_at
            load.back.set()
            try:
                await asyncio.wait_for(asyncio.gather(*senders), 60)
            except TimeoutError:
                pytest.fail(
                    f"the senders were not done 60 s after the database came back: "
                    f"{load.answers}, last refusals {load.refusals[-3:]}\n{all_logs(workers)}"
                )

            # --- settle: every acknowledged message answered -----------------------------------
            deadline = time.monotonic() + SETTLE_DEADLINE
            while True:
                histories = {v.name: await history(http, workers[0].base, v) for v in visitors}
                web_done = all(
                    sum(m["direction"] == "out" for m in histories[v.name]) >= len(v.acked)
                    for v in visitors
                )
                answered = {(str(c), t) for c, t in fake.texts()}
                telegram_done = all(
                    (str(chat), f"echo: {text}") in answered
                    for chat, text in load.telegram_acked.values()
                )
                if web_done and telegram_done:
                    break
                if time.monotonic() > deadline:
                    missing = [
                        (chat, text)
                        for chat, text in load.telegram_acked.values()
                        if (str(chat), f"echo: {text}") not in answered
                    ]
                    unanswered = {
                        v.name: [(m["direction"], m["text"]) for m in histories[v.name]]
                        for v in visitors
                        if sum(m["direction"] == "out" for m in histories[v.name]) < len(v.acked)
                    }
                    pytest.fail(
                        f"not every acknowledged message was answered {SETTLE_DEADLINE} s after "
                        f"the database came back: Telegram {missing}, web chat {unanswered}, "
                        f"{await unfinished(url)}\n{all_logs(workers)}"
                    )
                await asyncio.sleep(0.3)

        # Every refusal was a 503 telling to come back; none was a 500 or anything else.
        assert acked_before > 0, all_logs(workers)
        statuses = {status for _, status in load.answers}
        assert statuses <= {200, 503}, f"answers: {load.answers}\n{load.refusals[:5]}"
        refused = Counter(kind for kind, _, _, _ in load.refusals)
        assert refused["webchat"] > 0 and refused["telegram"] > 0, (
            f"the outage of {outage:.1f} s refused nothing? {load.answers}"
        )
        for kind, status, body, retry_after in load.refusals:
            assert retry_after is not None and int(retry_after) > 0, (kind, status, body)
            if kind == "webchat":
                assert "store_unavailable" in body, body

        # Nothing acknowledged is lost, nothing is stored twice.
        for visitor in visitors:
            shown_once(visitor, histories[visitor.name])
        connection = await asyncpg.connect(url)
        try:
            stored = await connection.fetch(
                "SELECT channel_type, count(*) AS n FROM inbox GROUP BY channel_type"
            )
            repeated = await connection.fetch(
                "SELECT text, count(*) AS n FROM messages WHERE direction = 'in' "
                "GROUP BY text HAVING count(*) > 1"
            )
            left = await connection.fetchval("SELECT count(*) FROM inbox WHERE status = 'pending'")
        finally:
            await connection.close()
        assert {row["channel_type"]: row["n"] for row in stored} == {
            "webchat": sum(len(v.acked) for v in visitors),
            "telegram": len(load.telegram_acked),
        }
        assert not repeated, f"stored twice: {[(r['text'], r['n']) for r in repeated]}"
        assert left == 0, f"{left} stored events were never processed:\n{all_logs(workers)}"

        # The same processes carried on, and said so once each.
        assert [w.proc.pid for w in workers if w.alive and w.proc is not None] == pids
        for worker in workers:
            log = worker.log()
            gone = log.count("the database is unreachable")
            back = log.count("the database is reachable again")
            assert (gone, back) == (1, 1), (
                f"{worker.name} logged the outage {gone} times and its end {back} times:\n{log}"
            )
            assert "Traceback" not in log, f"{worker.name} logged a traceback:\n{log}"
    finally:
        if app is not None:
            await app.stop()
        for worker in workers:
            worker.stop()
        with contextlib.suppress(Exception):
            await fake_server.close()
        await asyncio.to_thread(pg.stop)
