"""Presence follows the console: open, the operator is online; all their consoles closed for the
grace period, they go offline and get no more offers; a reload within the grace period changes
nothing; a console open on another worker process keeps them online; the shift is never touched."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from omniline.app import Omniline
from omniline.config.models import Config
from omniline.console import presence as console_presence
from omniline.model import ChannelRef, DialogStatus, Presence, Route, Shift
from omniline.testing import TemporaryPostgres
from omniline.testing.fake_channel import FakeChannel, fake_channel_plugin

REF = ChannelRef(type="fake", account="test")
GRACE = 0.6


def application(url: str, *, offline_after: float | None = GRACE) -> Omniline:
    config = Config.model_validate(
        {
            "storage": {"url": url, "pool_size": 4},
            "server": {"port": 0},
            "outbox": {"poll_interval": 0.1},
            "console": {"offline_after": offline_after},
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
        config, channel_plugins={"fake": fake_channel_plugin(FakeChannel(REF))}, migrate=True
    )


@pytest_asyncio.fixture
async def app(tmp_path: Path) -> AsyncIterator[Omniline]:
    started = application(f"sqlite:///{tmp_path / 'db.sqlite'}")
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


async def logged_in(app: Omniline) -> aiohttp.ClientSession:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.post(
        app.url + "/api/v1/session", json={"login": "ann", "password": "ann-secret-1"}
    ) as answer:
        assert answer.status == 200
    return http


async def presence_of(app: Omniline) -> Presence:
    operator = await app.store.operators.get("ann")
    assert operator is not None
    return operator.presence


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 15) -> None:
    """Wait for what a timer in the database brings about (polled: it has no event to wait on)."""
    async with asyncio.timeout(seconds):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_closing_the_console_takes_the_operator_offline_after_the_grace(
    app: Omniline,
) -> None:
    http = await logged_in(app)
    try:
        ws = await http.ws_connect(app.url + "/api/v1/push")
        await ws.receive_json()
        assert await presence_of(app) is Presence.ONLINE
        await app.operators.start_day("ann")
        await ws.close()

        async def offline() -> bool:
            return await presence_of(app) is Presence.OFFLINE

        await eventually(offline)
        operator = await app.store.operators.get("ann")
        assert operator is not None and operator.shift is Shift.WORKING  # the day goes on

        # Offline, ann is not offered the next client (it waits, parked with her, the line's
        # rule when nobody is available); opening the console again, she is offered it.
        channel = app.channels[REF]
        assert isinstance(channel, FakeChannel)
        receipt = await channel.receive("zoe", "anyone there?")
        await app.idle()
        dialog = await app.store.dialogs.get(receipt.dialog_id)
        assert dialog is not None and dialog.route is Route.PARKED
        ws = await http.ws_connect(app.url + "/api/v1/push")
        await ws.receive_json()

        async def offered() -> bool:
            found = await app.store.dialogs.get(receipt.dialog_id)
            return (
                found is not None
                and found.status is DialogStatus.OFFERED
                and found.route is None
                and found.operator_id == "ann"
            )

        await eventually(offered)
        await ws.close()
    finally:
        await http.close()


async def test_a_reload_within_the_grace_keeps_the_operator_online(app: Omniline) -> None:
    http = await logged_in(app)
    try:
        first = await http.ws_connect(app.url + "/api/v1/push")
        await first.receive_json()
        await first.close()
        second = await http.ws_connect(app.url + "/api/v1/push")  # the page reloaded
        await second.receive_json()
        await asyncio.sleep(GRACE * 3)
        await app.scheduler.run_due()
        assert await presence_of(app) is Presence.ONLINE
        await second.close()
    finally:
        await http.close()


async def test_with_the_feature_off_the_console_leaves_presence_alone(tmp_path: Path) -> None:
    app = application(f"sqlite:///{tmp_path / 'db.sqlite'}", offline_after=None)
    await app.start()
    http = await logged_in(app)
    try:
        ws = await http.ws_connect(app.url + "/api/v1/push")
        await ws.receive_json()
        assert await presence_of(app) is Presence.OFFLINE
        await app.operators.set_presence("ann", Presence.ONLINE)
        await ws.close()
        await asyncio.sleep(GRACE * 3)
        await app.scheduler.run_due()
        assert await presence_of(app) is Presence.ONLINE
    finally:
        await http.close()
        await app.stop()


async def test_a_console_open_on_another_process_keeps_the_operator_online(
    temporary_postgres: TemporaryPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = await asyncio.to_thread(temporary_postgres.create_database, "console_presence")
    monkeypatch.setattr(console_presence, "REFRESH_EVERY", 0.2)
    monkeypatch.setattr(console_presence, "STALE_AFTER", 1.0)
    one, two = application(url), application(url)
    await one.start()
    await two.start()
    http = await logged_in(one)
    try:
        on_one = await http.ws_connect(one.url + "/api/v1/push")
        await on_one.receive_json()
        on_two = await http.ws_connect(two.url + "/api/v1/push")
        await on_two.receive_json()
        await on_one.close()
        await asyncio.sleep(GRACE * 3)
        for app in (one, two):
            await app.scheduler.run_due()
        assert await presence_of(one) is Presence.ONLINE

        # The second process dies without a word: its rows go stale and ann goes offline.
        two.console.presence._task.cancel()  # type: ignore[union-attr]
        two.console.presence = None  # type: ignore[union-attr]
        two.console.push.presence = None  # type: ignore[union-attr]
        await on_two.close()

        async def offline() -> bool:
            return await presence_of(one) is Presence.OFFLINE

        await eventually(offline)
    finally:
        await http.close()
        await two.stop()
        await one.stop()
