"""Fixtures: Viber's fake on 127.0.0.1 and the real omniline application with a viber channel."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from omniline_viber import plugin
from omniline_viber.testing import TOKEN, FakeViber, fake_viber

from omniline import Config, Omniline
from omniline.testing import VirtualClock


@dataclass
class RunningApp:
    app: Omniline
    clock: VirtualClock
    client: TestClient[Any, Any] | None
    """Posts to the application's routes (None when the application serves HTTP itself)."""
    port: int


AppFactory = Callable[..., Awaitable[RunningApp]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest_asyncio.fixture
async def viber() -> AsyncIterator[FakeViber]:
    async with fake_viber() as fake:
        yield fake


@pytest_asyncio.fixture
async def start_app(tmp_path: Path, viber: FakeViber) -> AsyncIterator[AppFactory]:
    """Start the application as ``omniline run`` does (``serve=True``: it listens on a port of
    its own) or embedded (``serve=False``: the test serves ``app.web``, at once unless
    ``test_server=False``)."""
    started: list[RunningApp] = []

    async def start(
        *, serve: bool = False, test_server: bool = True, port: int | None = None, **settings: Any
    ) -> RunningApp:
        port = port or free_port()
        config = Config.model_validate(
            {
                "storage": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
                "server": {"host": "127.0.0.1", "port": port},
                "operators": [{"id": "anna", "name": "Anna Petrova"}],
                "lines": [
                    {
                        "id": "support",
                        "name": "Support",
                        "channels": [
                            {
                                "type": "viber",
                                "account": "main",
                                "settings": {
                                    "api_base_url": viber.url,
                                    "auth_token": TOKEN,
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
            channel_plugins={"viber": plugin},
            migrate=True,
            serve_http=serve,
        )
        await app.start()
        client: TestClient[Any, Any] | None = None
        if not serve and test_server:
            client = TestClient(TestServer(app.web, host="127.0.0.1"))
            await client.start_server()
        running = RunningApp(app, clock, client, port)
        started.append(running)
        return running

    try:
        yield start
    finally:
        for running in reversed(started):
            if running.client is not None:
                await running.client.close()
            await running.app.stop()


@pytest.fixture
def port() -> int:
    """A port nothing listens on yet."""
    return free_port()
