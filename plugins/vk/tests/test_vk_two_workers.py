"""Two applications on one database with one VK community in Long Poll mode: one polls at a time
(each would get every event), and the other takes over at once when it stops."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from omniline_vk import plugin
from omniline_vk.testing import FakeVk, message_new

from omniline import Config, MessageContext, Omniline, Router
from omniline.testing import TemporaryPostgres, VirtualClock

PEER = 4242
LEASE = "channel:vk/main:long_poll"


def worker(url: str, vk: FakeVk) -> Omniline:
    """One worker process's application: PostgreSQL, since two SQLite apps in one event loop
    would wait for each other's locks on the loop itself."""
    bot = Router()

    @bot.message()
    async def echo(ctx: MessageContext) -> None:
        ctx.reply(f"echo: {ctx.text}")

    config = Config.model_validate(
        {
            "storage": {"url": url, "pool_size": 2},
            "console": {"enabled": False},
            "lines": [
                {
                    "id": "support",
                    "name": "Support",
                    "channels": [
                        {
                            "type": "vk",
                            "account": "main",
                            "settings": vk.settings(mode="polling", long_poll_wait=1),
                        }
                    ],
                }
            ],
        }
    )
    return Omniline(
        config,
        clock=VirtualClock(),
        bots={"support": bot},
        channel_plugins={"vk": plugin},
        migrate=True,
        serve_http=False,
    )


async def until(check: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "it did not happen in time"
        await asyncio.sleep(0.02)


async def test_one_of_two_workers_runs_the_long_poll_and_the_other_takes_over_when_it_stops(
    temporary_postgres: TemporaryPostgres, vk: FakeVk
) -> None:
    url = await asyncio.to_thread(temporary_postgres.create_database, "vk_two_workers")
    polling, overlaps = 0, 0

    async def watch(ts: int) -> None:
        nonlocal polling, overlaps
        polling += 1
        overlaps += polling > 1
        await asyncio.sleep(0.05)
        polling -= 1

    vk.on_poll = watch
    vk.updates[1] = [message_new("lp-1", PEER, "before the stop")]
    first, second = worker(url, vk), worker(url, vk)
    await first.start()
    await second.start()
    stopped = False
    try:
        await until(lambda: len(vk.sent) == 1)
        holder = await first.store.leases.holder(LEASE, now=datetime.now(UTC))
        assert holder == first.leases.owner
        polls = len(vk.polled)
        await asyncio.sleep(1.0)  # both run; the first keeps polling and renewing
        assert len(vk.polled) > polls
        assert await second.store.leases.holder(LEASE, now=datetime.now(UTC)) == holder

        await first.stop()
        stopped = True
        # released at stop: the second goes on at once from the saved ts, well within the ttl
        vk.updates[2] = [message_new("lp-2", PEER, "after the stop")]
        took = time.monotonic()
        await until(lambda: len(vk.sent) == 2, within=second.leases.ttl / 2)
        assert time.monotonic() - took < second.leases.ttl
        assert await second.store.leases.holder(LEASE, now=datetime.now(UTC)) == (
            second.leases.owner
        )
        assert [s["message"] for s in vk.sent] == ["echo: before the stop", "echo: after the stop"]
        assert overlaps == 0, "two workers polled at once"
    finally:
        if not stopped:
            await first.stop()
        await second.stop()
