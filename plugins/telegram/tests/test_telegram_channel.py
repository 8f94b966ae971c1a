"""The channel on its own: settings, the entry point, webhook answers around the sink."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from omniline_telegram import TelegramChannel, TelegramSettings, plugin
from omniline_telegram.testing import (
    SECRET,
    TOKEN,
    FakeTelegram,
    RunningApp,
    StandaloneHost,
    call_webhook,
    text_update,
)
from pydantic import ValidationError

from omniline import InboundEvent, Receipt
from omniline.model import ChannelRef
from omniline.plugins import channel_plugin, mount
from omniline.testing import VirtualClock

AppFactory = Callable[..., Awaitable[RunningApp]]
REF = ChannelRef(type="telegram", account="main")


def test_the_entry_point_names_the_plugin() -> None:
    assert channel_plugin("telegram") is plugin


def test_settings_defaults_follow_telegram() -> None:
    settings = TelegramSettings(token=TOKEN, webhook_secret=SECRET)
    assert settings.api_base_url == "https://api.telegram.org"
    assert settings.mode == "webhook"
    channel = TelegramChannel(REF, settings, StandaloneHost(VirtualClock()))
    caps = channel.capabilities
    assert (caps.max_text_length, caps.per_chat_rate, caps.global_rate) == (4096, 1.0, 30.0)
    assert caps.buttons and caps.inline_buttons and caps.attachments


@pytest.mark.parametrize(
    "settings",
    [
        {"token": TOKEN},  # webhook mode needs a secret
        {"token": TOKEN, "webhook_secret": "has spaces"},
        {"token": TOKEN, "webhook_secret": "x" * 257},
        {"token": TOKEN, "mode": "polling", "tokne": "typo"},
        {"token": TOKEN, "mode": "polling", "max_text_length": 5000},
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TelegramSettings.model_validate(settings)


def test_a_secret_is_not_echoed() -> None:
    settings = TelegramSettings(token=TOKEN, webhook_secret=SECRET)
    assert TOKEN not in repr(settings) and SECRET not in repr(settings)


async def test_start_registers_the_webhook_with_its_secret(
    start_app: AppFactory, telegram: tuple[FakeTelegram, str]
) -> None:
    fake, _ = telegram
    url = "https://bot.shop.example/channels/telegram/main/webhook"
    await start_app(webhook_url=url)
    [call] = fake.of("setWebhook")
    assert call["url"] == url
    assert call["secret_token"] == SECRET


async def test_the_webhook_answers_503_before_start_and_500_when_storing_fails(
    telegram: tuple[FakeTelegram, str],
) -> None:
    _, base = telegram
    settings = TelegramSettings(token=TOKEN, api_base_url=base, webhook_secret=SECRET)
    channel = TelegramChannel(REF, settings, StandaloneHost(VirtualClock()))
    app = web.Application()
    mount(app, channel)
    fail = True
    stored: list[InboundEvent] = []

    async def sink(event: InboundEvent) -> Receipt:
        if fail:
            raise RuntimeError("database is down")
        stored.append(event)
        return Receipt(duplicate=False, inbox_id=1, dialog_id=1, message_id=1)

    async with TestClient(TestServer(app)) as client:
        assert await call_webhook(client, text_update(4001, "early")) == 503
        await channel.start(sink)
        try:
            assert await call_webhook(client, text_update(4001, "early")) == 500  # retried
            fail = False
            assert await call_webhook(client, text_update(4001, "early")) == 200
            assert [e.event_id for e in stored] == ["4001"]
        finally:
            await channel.stop()
        assert await call_webhook(client, text_update(4002, "late")) == 503


async def test_in_polling_mode_the_webhook_takes_nothing(
    telegram: tuple[FakeTelegram, str],
) -> None:
    _, base = telegram
    settings = TelegramSettings(
        token=TOKEN, api_base_url=base, webhook_secret=SECRET, mode="polling"
    )
    channel = TelegramChannel(REF, settings, StandaloneHost(VirtualClock()))
    app = web.Application()
    mount(app, channel)
    async with TestClient(TestServer(app)) as client:
        assert await call_webhook(client, text_update(4003, "hi")) == 401
