"""Fixtures: the fake Bot API on 127.0.0.1 and the real omniline app with a telegram channel."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from omniline_telegram import plugin
from omniline_telegram.testing import SECRET, TOKEN, FakeTelegram, RunningApp, serve

from omniline import Config, MessageContext, Omniline, Router
from omniline.testing import VirtualClock


@pytest_asyncio.fixture
async def telegram() -> AsyncIterator[tuple[FakeTelegram, str]]:
    fake = FakeTelegram()
    server = await serve(fake)
    try:
        yield fake, str(server.make_url("/")).rstrip("/")
    finally:
        await server.close()


def echo_bot() -> Router:
    bot = Router()

    @bot.message()
    async def echo(ctx: MessageContext) -> None:
        ctx.reply(f"echo: {ctx.text}")

    return bot


AppFactory = Callable[..., Awaitable[RunningApp]]


@pytest_asyncio.fixture
async def start_app(
    tmp_path: Path, telegram: tuple[FakeTelegram, str]
) -> AsyncIterator[AppFactory]:
    _, base = telegram
    started: list[tuple[Omniline, TestClient[Any, Any]]] = []

    async def start(bot: Router | None = None, **settings: Any) -> RunningApp:
        config = Config.model_validate(
            {
                "storage": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
                "operators": [{"id": "anna", "name": "Anna Petrova"}],
                "lines": [
                    {
                        "id": "support",
                        "name": "Support",
                        "channels": [
                            {
                                "type": "telegram",
                                "account": "main",
                                "settings": {
                                    "api_base_url": base,
                                    "token": TOKEN,
                                    "webhook_secret": SECRET,
                                    **settings,
                                },
                            }
                        ],
                    }
                ],
            }
        )
        clock = VirtualClock()
        app = Omniline(
            config,
            clock=clock,
            bots={"support": bot or echo_bot()},
            channel_plugins={"telegram": plugin},
            migrate=True,
            serve_http=False,
        )
        await app.start()
        client: TestClient[Any, Any] = TestClient(TestServer(app.web))
        await client.start_server()
        started.append((app, client))
        return RunningApp(app, clock, client)

    try:
        yield start
    finally:
        for app, client in reversed(started):
            await client.close()
            await app.stop()
