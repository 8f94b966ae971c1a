"""Long polling: an update is stored before the offset moves past it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from omniline_telegram import TelegramChannel, TelegramSettings
from omniline_telegram.testing import (
    TOKEN,
    FakeTelegram,
    RunningApp,
    StandaloneHost,
    message_update,
    text_update,
)

from omniline import InboundEvent, Receipt, Router
from omniline.model import ChannelRef, Direction, Identity
from omniline.testing import VirtualClock

AppFactory = Callable[..., Awaitable[RunningApp]]
REF = ChannelRef(type="telegram", account="main")
ANN = Identity(channel=REF, external_id="4242")


async def eventually(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """The poller runs on real time (its HTTP calls do): wait for it, boundedly."""
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def test_polling_stores_the_update_before_moving_the_offset(
    start_app: AppFactory, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, _ = telegram
    stored_when_confirmed: list[list[str | None]] = []
    run: RunningApp | None = None

    async def check(offset: int | None) -> None:
        if offset == 3002 and run is not None:  # Telegram now forgets update 3001
            history = await run.app.store.dialogs.identity_history(ANN)
            stored_when_confirmed.append([m.text for m in history][:1])

    fake.on_get_updates = check
    fake.queue_update(text_update(3001, "hi by polling"))
    run = await start_app(mode="polling")
    await eventually(lambda: len(fake.texts()) == 1 and bool(stored_when_confirmed))
    await run.settle()
    assert fake.texts() == [("4242", "echo: hi by polling")]
    assert stored_when_confirmed[0] == ["hi by polling"]
    assert fake.offsets[0] is None
    assert 3002 in fake.offsets
    assert len(fake.of("deleteWebhook")) == 1  # getUpdates is refused while a webhook is set


async def test_an_update_that_could_not_be_stored_is_asked_for_again(
    telegram: tuple[FakeTelegram, str],
) -> None:
    fake, base = telegram
    clock = VirtualClock()
    settings = TelegramSettings(token=TOKEN, api_base_url=base, mode="polling", poll_retry_delay=5)
    channel = TelegramChannel(REF, settings, StandaloneHost(clock))
    stored: list[InboundEvent] = []
    attempts = 0

    async def flaky_sink(event: InboundEvent) -> Receipt:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("database is down")
        stored.append(event)
        return Receipt(duplicate=False, inbox_id=1, dialog_id=1, message_id=1)

    fake.queue_update(text_update(3101, "do not lose me"))
    await channel.start(flaky_sink)
    try:
        await eventually(lambda: attempts == 1 and clock.sleepers > 0)
        assert channel.offset is None  # not confirmed to Telegram
        assert fake.offsets == [None]
        await clock.advance(5)
        await eventually(lambda: 3102 in fake.offsets)
        assert fake.offsets[:2] == [None, None]  # asked for again from the same place
        assert [e.event_id for e in stored] == ["3101"]
        assert stored[0].message.text == "do not lose me"
        assert isinstance(stored[0].received_at, datetime)
        assert channel.offset == 3102
    finally:
        await channel.stop()


async def test_a_stop_lets_the_update_being_stored_finish(
    telegram: tuple[FakeTelegram, str],
) -> None:
    """The channel and the desk share one polling loop; the channel's stop used to cut a store
    off half done, as the desk's never did."""
    fake, base = telegram
    settings = TelegramSettings(token=TOKEN, api_base_url=base, mode="polling")
    channel = TelegramChannel(REF, settings, StandaloneHost(VirtualClock()))
    storing, release = asyncio.Event(), asyncio.Event()
    stored: list[str] = []

    async def slow_sink(event: InboundEvent) -> Receipt:
        storing.set()
        await release.wait()
        stored.append(event.event_id)
        return Receipt(duplicate=False, inbox_id=1, dialog_id=1, message_id=1)

    fake.queue_update(text_update(3201, "let me finish"))
    await channel.start(slow_sink)
    await asyncio.wait_for(storing.wait(), 5)
    stopping = asyncio.create_task(channel.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # waiting for the store, not cancelling it
    release.set()
    await asyncio.wait_for(stopping, 5)
    assert stored == ["3201"]
    assert channel.offset == 3202


async def test_one_update_of_an_older_shape_does_not_stall_polling(
    start_app: AppFactory, telegram: tuple[FakeTelegram, str]
) -> None:
    """aiogram's ``getUpdates`` reads the whole batch through its models: one sticker without
    ``file_unique_id`` made every poll fail, and nothing after it was ever read."""
    fake, _ = telegram
    old_sticker = {"sticker": {"file_id": "CAAD-old", "width": 512, "height": 512, "emoji": "👋"}}
    fake.queue_update(message_update(3301, old_sticker))
    fake.queue_update(text_update(3302, "and then this"))
    run = await start_app(Router(), mode="polling")
    await eventually(lambda: 3303 in fake.offsets)
    await run.settle()
    stored = await run.app.store.dialogs.identity_history(ANN)
    inbound = [m for m in stored if m.direction is Direction.IN]
    assert [(m.text, [a.file_id for a in m.attachments]) for m in inbound] == [
        (None, ["CAAD-old"]),
        ("and then this", []),
    ]
