"""Fixtures: the fake VK API on 127.0.0.1 and the real omniline app with a VK channel."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from omniline_vk import plugin
from omniline_vk.testing import FakeVk

from omniline import Config, MessageContext, Omniline, Router
from omniline.testing import VirtualClock


def echo_bot() -> Router:
    router = Router()

    @router.message()
    async def echo(ctx: MessageContext) -> None:
        ctx.reply(f"echo: {ctx.text}")

    return router


@pytest_asyncio.fixture
async def vk() -> AsyncIterator[FakeVk]:
    fake = FakeVk()
    async with TestServer(fake.application(), host="127.0.0.1") as server:
        fake.server = server
        yield fake


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


AppMaker = Callable[..., Omniline]


@pytest.fixture
def make_app(tmp_path: Path, vk: FakeVk, clock: VirtualClock) -> AppMaker:
    """An app (not started) with one line whose channel is VK account ``main``; ``database``
    names the SQLite file, so two apps can share one database or have one each."""

    def make(
        router: Router | None = None, *, database: str = "db.sqlite", **extra: Any
    ) -> Omniline:
        config = Config.model_validate(
            {
                "storage": {"url": f"sqlite:///{tmp_path / database}"},
                "operators": [{"id": "anna", "name": "Anna"}],
                "lines": [
                    {
                        "id": "support",
                        "name": "Support",
                        "channels": [
                            {"type": "vk", "account": "main", "settings": vk.settings(**extra)}
                        ],
                    }
                ],
            }
        )
        return Omniline(
            config,
            clock=clock,
            bots={"support": router or echo_bot()},
            channel_plugins={"vk": plugin},
            migrate=True,
            serve_http=False,
        )

    return make


@pytest_asyncio.fixture
async def app(make_app: AppMaker) -> AsyncIterator[Omniline]:
    application = make_app()
    await application.start()
    try:
        yield application
    finally:
        await application.stop()


@pytest_asyncio.fixture
async def client(app: Omniline) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(app.web)) as test_client:
        yield test_client
