"""Two worker processes on one PostgreSQL: the live push of one wakes for what the other did
(LISTEN/NOTIFY), not at its next poll, and a desk connected to either sees the same dialogs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from omniline.app import Omniline
from omniline.config.models import Config
from omniline.console import push
from omniline.model import ChannelRef
from omniline.testing import TemporaryPostgres
from omniline.testing.fake_channel import FakeChannel, fake_channel_plugin

REF = ChannelRef(type="fake", account="test")


def application(url: str, channel: FakeChannel) -> Omniline:
    config = Config.model_validate(
        {
            "storage": {"url": url, "pool_size": 4},
            "server": {"port": 0},
            "operators": [{"id": "ann", "name": "Ann"}],
            "lines": [
                {
                    "id": "support",
                    "name": "Support",
                    "queue": ["ann"],
                    "channels": [{"type": "fake", "account": "test"}],
                }
            ],
            "accounts": [{"login": "ann", "name": "Ann", "password": "ann-secret-1"}],
        }
    )
    return Omniline(
        config,
        channel_plugins={"fake": fake_channel_plugin(channel)},
        migrate=True,
        recovery_grace=3600,
    )


async def test_a_push_in_one_process_wakes_for_a_message_taken_in_another(
    temporary_postgres: TemporaryPostgres, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = await asyncio.to_thread(temporary_postgres.create_database, "push_two_processes")
    # No polling to fall back on: only the notification can wake the push in time.
    monkeypatch.setattr(push, "POLL", 3600.0)
    writer_channel, reader_channel = FakeChannel(REF), FakeChannel(REF)
    writer = application(url, writer_channel)
    reader = application(url, reader_channel)
    await writer.start()
    await reader.start()
    try:
        for app in (writer, reader):
            assert app._wakeup is not None
            await asyncio.wait_for(app._wakeup.ready.wait(), 10)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(
                reader.url + "/api/v1/session", json={"login": "ann", "password": "ann-secret-1"}
            ) as answer:
                assert answer.status == 200
            ws = await http.ws_connect(reader.url + "/api/v1/push")
            hello = await ws.receive_json()
            assert hello["type"] == "hello"
            await asyncio.sleep(0.3)  # the push is now waiting for news
            receipt = await writer_channel.receive("zoe", "written through the other process")
            frames: list[dict[str, Any]] = []
            async with asyncio.timeout(20):
                while not any(f["type"] == "message" for f in frames):
                    frame = await ws.receive_json()
                    if frame["type"] != "presence":
                        frames.append(frame)
            message = next(f for f in frames if f["type"] == "message")["message"]
            assert message["dialog_id"] == receipt.dialog_id
            assert message["text"] == "written through the other process"
            await ws.close()
    finally:
        await reader.stop()
        await writer.stop()


async def test_the_login_limit_counts_the_tries_made_on_every_process(
    temporary_postgres: TemporaryPostgres,
) -> None:
    url = await asyncio.to_thread(temporary_postgres.create_database, "login_two_processes")
    one, two = application(url, FakeChannel(REF)), application(url, FakeChannel(REF))
    await one.start()
    await two.start()
    try:
        async with aiohttp.ClientSession() as http:

            async def log_in(app: Omniline, password: str) -> int:
                body = {"login": "ann", "password": password}
                async with http.post(app.url + "/api/v1/session", json=body) as answer:
                    return answer.status

            # Five tries at once are allowed, wherever they land; the sixth is refused on
            # either process, even with the right password.
            tries = [await log_in(app, "wrong") for app in (one, two, one, two, one)]
            assert tries == [401] * 5
            assert await log_in(two, "ann-secret-1") == 429
            assert await log_in(one, "ann-secret-1") == 429
    finally:
        await two.stop()
        await one.stop()
