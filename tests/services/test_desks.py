"""Desks from plugins: configured, started and stopped with the application, following the feed
of everything that happens and acting through the same operator actions as every other desk."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import BaseModel

from omniline.app import Omniline
from omniline.config.models import Config
from omniline.engine.ports import FeedCursor
from omniline.errors import ConfigError
from omniline.model import ChannelRef, Visibility
from omniline.plugins import Desk, Plugin, PluginKind
from omniline.services.desk_plugins import DeskHost
from omniline.testing.clock import VirtualClock
from omniline.testing.fake_channel import FakeChannel, fake_channel_plugin


class RecorderSettings(BaseModel):
    greeting: str = "hi"


class Recorder:
    """A desk that follows the feed from its saved cursor and writes down what it saw."""

    def __init__(self, settings: RecorderSettings, host: DeskHost) -> None:
        self.settings = settings
        self.host = host
        self.seen: list[str] = []
        self.task: asyncio.Task[None] | None = None
        self.started = self.stopped = False

    async def start(self) -> None:
        self.started = True
        self.task = asyncio.create_task(self.follow())

    async def follow(self) -> None:
        saved = await self.host.state.get("cursor")
        cursor = FeedCursor.model_validate_json(saved) if saved else FeedCursor()
        while True:
            page = await self.host.feed(cursor)
            for item in page.events:
                self.seen.append(f"{item.dialog_id}:{item.event.kind}")
            for message in page.messages:
                hidden = message.visibility is Visibility.OPERATORS
                who = self.host.author_name(message.author)
                self.seen.append(f"{message.dialog_id}:{who}:{message.text}{' (hidden)' * hidden}")
            cursor = page.cursor
            await self.host.state.put("cursor", cursor.model_dump_json())
            await self.host.wait_for_news(at_most=60)

    async def stop(self) -> None:
        self.stopped = True
        if self.task is not None:
            self.task.cancel()


def recorder_plugin(made: list[Recorder]) -> Plugin[RecorderSettings, Desk]:
    def factory(settings: RecorderSettings, host: DeskHost) -> Recorder:
        desk = Recorder(settings, host)
        made.append(desk)
        return desk

    return Plugin(
        kind=PluginKind.DESK, name="recorder", config_model=RecorderSettings, factory=factory
    )


def app_with_desk(database: Path, clock: VirtualClock, made: list[Recorder]) -> Omniline:
    config = Config.model_validate(
        {
            "storage": {"url": f"sqlite:///{database}"},
            "operators": [{"id": "ann", "name": "Ann"}],
            "lines": [
                {
                    "id": "support",
                    "name": "Support",
                    "queue": ["ann"],
                    "channels": [{"type": "fake", "account": "test"}],
                }
            ],
            "desks": [{"type": "recorder", "settings": {"greeting": "hello"}}],
        }
    )
    channel = FakeChannel(ChannelRef(type="fake", account="test"), clock=clock)
    return Omniline(
        config,
        clock=clock,
        channel_plugins={"fake": fake_channel_plugin(channel)},
        desk_plugins={"recorder": recorder_plugin(made)},
        migrate=True,
        serve_http=False,
    )


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the desk did not catch up")


async def test_a_desk_follows_the_feed_in_order_and_resumes_after_a_restart(
    tmp_path: Path,
) -> None:
    clock = VirtualClock()
    made: list[Recorder] = []
    app = app_with_desk(tmp_path / "db.sqlite", clock, made)
    await app.start()
    try:
        [desk] = made
        assert desk.started and desk.settings.greeting == "hello"
        channel = app.channels[ChannelRef(type="fake", account="test")]
        assert isinstance(channel, FakeChannel)
        receipt = await channel.receive("zoe", "hi there", event_id="e1")
        await app.idle()
        d = receipt.dialog_id
        await app.operators.set_presence("ann", "online")
        await app.operators.start_day("ann")
        await app.idle()
        await app.dialogs.accept(d, "ann")
        await app.dialogs.whisper(d, "ann", "regular client")
        await app.dialogs.reply(d, "ann", "Hello!")
        await app.idle()
        await until(lambda: f"{d}:Ann:Hello!" in desk.seen)
        assert f"{d}:Client:hi there" in desk.seen
        assert f"{d}:Ann:regular client (hidden)" in desk.seen
        assert desk.seen.index(f"{d}:opened") < desk.seen.index(f"{d}:accepted")
    finally:
        await app.stop()
    assert desk.stopped

    # Restarted, the desk goes on from its saved cursor: only what is new.
    again: list[Recorder] = []
    app = app_with_desk(tmp_path / "db.sqlite", clock, again)
    await app.start()
    try:
        [desk] = again
        await app.dialogs.reply(d, "ann", "Anything else?")
        await until(lambda: bool(desk.seen))
        assert desk.seen == [f"{d}:Ann:Anything else?"]
    finally:
        await app.stop()


async def test_an_unknown_desk_type_is_a_config_error(tmp_path: Path) -> None:
    app = app_with_desk(tmp_path / "db.sqlite", VirtualClock(), [])
    app.config = app.config.model_copy(
        update={"desks": [app.config.desks[0].model_copy(update={"type": "nonexistent"})]}
    )
    with pytest.raises(ConfigError, match=r"desks\[0\]: no desk plugin 'nonexistent'"):
        await app.start()
