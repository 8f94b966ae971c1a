"""Fault: the platform's API answers 429 with a retry time, then 5xx, for a while (Telegram's Bot
API, played by the plugin's fake, on a virtual clock).

Guaranteed: the outbox waits at least the retry time the platform gave before it sends to that
chat again, backs off exponentially on 5xx (no tight loop), sends everything once the API is back,
and keeps each dialog's messages in the order they were written.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from omniline_telegram import plugin
from omniline_telegram.testing import (
    SECRET,
    TOKEN,
    FakeTelegram,
    RunningApp,
    call_webhook,
    text_update,
)

from omniline import Config, Omniline
from omniline.testing import VirtualClock
from tests.conftest import echo_bot

CHATS = (7001, 7002, 7003)
MESSAGES = 4
RETRY_AFTER = 20
"""Seconds Telegram's 429 asks to wait."""
LIMITED_FOR = 15.0
"""Virtual seconds the API answers 429..."""
FAILING_FOR = 60.0
"""...then 502 until this long after the start."""
BASE_DELAY = 2.0
MAX_DELAY = 16.0


@dataclass
class Attempt:
    at: datetime
    chat: str
    text: str
    status: int


class FlakyTelegram:
    """The fake Bot API behind a window of failures on the virtual clock: ``sendMessage`` answers
    429 (with ``retry_after``) until ``limited_until``, then 502 until ``failing_until``, then
    works. Every attempt is written down with the virtual time it came at."""

    def __init__(self, clock: VirtualClock) -> None:
        self.fake = FakeTelegram()
        self.clock = clock
        self.start = clock.now()
        self.attempts: list[Attempt] = []

    def app(self) -> web.Application:
        @web.middleware
        async def flaky(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            if not request.path.endswith("/sendMessage"):
                return await handler(request)
            form = await request.post()
            chat, text = str(form["chat_id"]), str(form["text"])
            elapsed = (self.clock.now() - self.start).total_seconds()
            if elapsed < LIMITED_FOR:
                status, body = (
                    429,
                    {
                        "ok": False,
                        "error_code": 429,
                        "description": f"Too Many Requests: retry after {RETRY_AFTER}",
                        "parameters": {"retry_after": RETRY_AFTER},
                    },
                )
            elif elapsed < FAILING_FOR:
                status, body = 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}
            else:
                status, body = 200, {}
            self.attempts.append(Attempt(self.clock.now(), chat, text, status))
            if status != 200:
                return web.json_response(body, status=status)
            return await handler(request)

        app = self.fake.app()
        app.middlewares.append(flaky)
        return app


@pytest_asyncio.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[RunningApp, FlakyTelegram]]:
    clock = VirtualClock()
    flaky = FlakyTelegram(clock)
    api = TestServer(flaky.app(), host="127.0.0.1")
    await api.start_server()
    config = Config.model_validate(
        {
            "storage": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
            "outbox": {"base_delay": BASE_DELAY, "max_delay": MAX_DELAY, "max_attempts": 50},
            "console": {"enabled": False},
            "lines": [
                {
                    "id": "support",
                    "name": "Support",
                    "handoff_when_unhandled": False,
                    "channels": [
                        {
                            "type": "telegram",
                            "account": "main",
                            "settings": {
                                "api_base_url": str(api.make_url("/")).rstrip("/"),
                                "token": TOKEN,
                                "webhook_secret": SECRET,
                            },
                        }
                    ],
                }
            ],
        }
    )
    app = Omniline(
        config,
        clock=clock,
        bots={"support": echo_bot()},
        channel_plugins={"telegram": plugin},
        migrate=True,
        serve_http=False,
    )
    await app.start()
    client: TestClient[Any, Any] = TestClient(TestServer(app.web))
    await client.start_server()
    try:
        yield RunningApp(app, clock, client), flaky
    finally:
        await client.close()
        await app.stop()
        await api.close()


async def test_the_outbox_waits_out_429_and_5xx_and_then_sends_each_dialog_in_order(
    running: tuple[RunningApp, FlakyTelegram],
) -> None:
    app, flaky = running
    update_id = 100
    for n in range(1, MESSAGES + 1):  # the clients write while the API refuses
        for chat in CHATS:
            update_id += 1
            assert (
                await call_webhook(app.client, text_update(update_id, f"{chat}-{n}", user_id=chat))
                == 200
            )
        await app.advance(1.0)
    for _ in range(int(FAILING_FOR) + 60):  # the virtual clock moves a second at a time
        await app.advance(1.0)

    # Caught up: each chat got every answer once, in the order its messages were written.
    for chat in CHATS:
        delivered = [a.text for a in flaky.attempts if a.chat == str(chat) and a.status == 200]
        assert delivered == [f"echo: {chat}-{n}" for n in range(1, MESSAGES + 1)], (
            f"chat {chat}: {delivered}"
        )

    # The retry time was honoured: after a 429, nothing went to that chat for RETRY_AFTER seconds.
    refused = [a for a in flaky.attempts if a.status == 429]
    assert refused, "the API never answered 429"
    for limited in refused:
        early = [
            a
            for a in flaky.attempts
            if a.chat == limited.chat
            and limited.at < a.at
            and (a.at - limited.at).total_seconds() < RETRY_AFTER
        ]
        assert not early, f"sent to {limited.chat} {early} within {RETRY_AFTER} s of a 429"

    # On 5xx the outbox backs off exponentially: the n-th retry of a message waits at least half
    # of min(max_delay, base_delay * 2^(n-1)) (the back-off's lower bound): no tight loop.
    failing = [a for a in flaky.attempts if a.status == 502]
    assert failing, "the API never answered 5xx"
    for key in {(a.chat, a.text) for a in flaky.attempts}:
        tries = [a for a in flaky.attempts if (a.chat, a.text) == key]
        for n, (failed, retried) in enumerate(itertools.pairwise(tries), start=1):
            gap = (retried.at - failed.at).total_seconds()
            backoff = min(MAX_DELAY, BASE_DELAY * 2 ** (n - 1)) / 2
            wanted = RETRY_AFTER if failed.status == 429 else backoff
            assert gap >= wanted, f"{key}: attempt {n + 1} came {gap} s after a {failed.status}"
    per_chat = max(sum(a.chat == str(chat) for a in flaky.attempts) for chat in CHATS)
    assert per_chat <= MESSAGES + 12, f"{per_chat} attempts to one chat: the outbox hammers"
