"""Order across workers: two ``omniline run`` workers on one PostgreSQL, and web-chat visitors who
send each message to the other worker than the one before (a platform hands one chat's updates to
any worker). Each message is sent once the one before it was acknowledged.

Guaranteed: the bot answers every visitor's messages in the order they were sent, whichever worker
stored them, and answers each exactly once; when the worker that stored a message dies before
processing it, the worker with the dialog's next message processes both, in order, after
``storage.takeover_after`` (not after the recovery grace).
"""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from omniline.store import upgrade
from omniline.testing import TemporaryPostgres
from tests.faults.workers import SECRET, Visitor, Worker, all_logs, history, new_visitor, webchat

VISITORS = 40
MESSAGES = 6
SETTLE_DEADLINE = 60.0
TIMEOUT = aiohttp.ClientTimeout(total=20)


STUCK_BOT = """
import asyncio

from omniline import MessageContext, Router

bot = Router("stuck")


@bot.message()
async def stuck(ctx: MessageContext) -> None:
    await asyncio.Event().wait()  # this worker never gets through a message
"""


def config(url: str, bot: str = "fault_echo_bot:bot") -> dict[str, Any]:
    return {
        "storage": {"url": url, "pool_size": 6, "takeover_after": 1},
        "server": {"host": "127.0.0.1"},
        "console": {"enabled": False},
        "lines": [
            {
                "id": "support",
                "name": "Support",
                "bot": bot,
                "channels": [
                    {
                        "type": "webchat",
                        "account": "site",
                        "settings": {
                            "secret": SECRET,
                            "messages_per_minute": 100_000,
                            "message_burst": 1000,
                        },
                    }
                ],
            }
        ],
    }


async def visitor_writes(
    http: aiohttp.ClientSession, bases: list[str], visitor: Visitor, count: int = MESSAGES
) -> None:
    """Message n goes to worker n % len(bases), once message n-1 was acknowledged."""
    for n in range(count):
        cid, text = visitor.new_message()
        async with http.post(
            f"{webchat(bases[n % len(bases)])}/messages",
            json={"client_message_id": cid, "text": text},
            headers=visitor.headers,
        ) as resp:
            assert resp.status == 200, f"{visitor.name}: {resp.status} {await resp.text()}"
            visitor.acked[cid] = (await resp.json())["message_id"]


async def answers(http: aiohttp.ClientSession, base: str, visitor: Visitor) -> list[str]:
    return [m["text"] for m in await history(http, base, visitor) if m["direction"] == "out"]


async def test_a_dialogs_messages_are_answered_in_order_whichever_worker_took_them(
    temporary_postgres: TemporaryPostgres, tmp_path: Path
) -> None:
    url = await asyncio.to_thread(temporary_postgres.create_database, "order_across_workers")
    await upgrade(url)
    workers = [Worker(tmp_path, name, config(url)) for name in ("a", "b")]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            await worker.wait_healthy()
        bases = [w.base for w in workers]
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            visitors = [await new_visitor(http, bases[n % 2], f"v{n:02d}") for n in range(VISITORS)]
            await asyncio.gather(*(visitor_writes(http, bases, v) for v in visitors))

            expected = {v.name: [f"echo: {text}" for _, text in v.sent] for v in visitors}
            found: dict[str, list[str]] = {}
            deadline = time.monotonic() + SETTLE_DEADLINE
            while time.monotonic() < deadline:
                found = {v.name: await answers(http, bases[0], v) for v in visitors}
                if all(len(found[name]) >= MESSAGES for name in expected):
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(1)  # an answer given twice would show by now
            found = {v.name: await answers(http, bases[0], v) for v in visitors}
        wrong = {name: found[name] for name in expected if found[name] != expected[name]}
        if wrong:
            pytest.fail(
                f"{len(wrong)} of {VISITORS} visitors were answered out of order, twice or not "
                f"at all, e.g. {next(iter(wrong.items()))}\n{all_logs(workers)[-5000:]}"
            )
    finally:
        for worker in workers:
            worker.stop()


async def test_a_message_whose_worker_died_unprocessed_is_answered_before_the_next_one(
    temporary_postgres: TemporaryPostgres, tmp_path: Path
) -> None:
    url = await asyncio.to_thread(temporary_postgres.create_database, "order_takeover")
    await upgrade(url)
    (tmp_path / "stuck_bot.py").write_text(textwrap.dedent(STUCK_BOT), encoding="utf-8")
    stuck = Worker(tmp_path, "stuck", config(url, bot="stuck_bot:bot"))
    echo = Worker(tmp_path, "echo", config(url))
    workers = [stuck, echo]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            await worker.wait_healthy()
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            visitor = await new_visitor(http, echo.base, "v")
            await visitor_writes(http, [stuck.base, echo.base], visitor, count=1)
            stuck.kill()  # acknowledged, stored, and never processed by its worker
            await visitor_writes(http, [echo.base], visitor, count=1)

            expected = ["echo: v says 1", "echo: v says 2"]
            found: list[str] = []
            deadline = time.monotonic() + SETTLE_DEADLINE  # far below the recovery grace, 120 s
            while time.monotonic() < deadline and len(found) < 2:
                await asyncio.sleep(0.2)
                found = await answers(http, echo.base, visitor)
            await asyncio.sleep(1)
            found = await answers(http, echo.base, visitor)
        assert found == expected, all_logs(workers)[-5000:]
        assert "waited for event" in echo.log()
    finally:
        for worker in workers:
            worker.stop()
