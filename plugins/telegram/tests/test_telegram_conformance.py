"""The Telegram channel (webhook mode, real aiogram against the fake Bot API) passes omniline's
channel conformance suite."""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from omniline_telegram import TelegramChannel, TelegramSettings
from omniline_telegram.testing import SECRET, TOKEN, FakeTelegram, call_webhook, serve, text_update

from omniline import Channel
from omniline.model import ChannelRef
from omniline.plugins import mount
from omniline.testing.conformance import ChannelConformance, RecordingHost

REF = ChannelRef(type="telegram", account="main")
_update_ids = itertools.count(1000)


class TestTelegramConformance(ChannelConformance):
    client_id = "4242"

    async def open_channel(self, host: RecordingHost) -> Channel:
        self.fake = FakeTelegram()
        self.api = await serve(self.fake)
        settings = TelegramSettings(
            token=TOKEN,
            webhook_secret=SECRET,
            api_base_url=str(self.api.make_url("")).rstrip("/"),
        )
        channel = TelegramChannel(REF, settings, host)
        app = web.Application()
        mount(app, channel)
        self.http: TestClient[Any, Any] = TestClient(TestServer(app))
        await self.http.start_server()
        self.last: dict[str, Any] | None = None
        return channel

    async def close_platform(self) -> None:
        await self.http.close()
        await self.api.close()

    async def client_writes(self, channel: Channel, external_id: str, text: str) -> bool:
        self.last = text_update(next(_update_ids), text, user_id=int(external_id))
        return await call_webhook(self.http, self.last) == 200

    async def redeliver_last(self, channel: Channel) -> bool:
        assert self.last is not None
        return await call_webhook(self.http, self.last) == 200

    async def received_texts(self, channel: Channel, external_id: str) -> list[str]:
        return [text for chat, text in self.fake.texts() if chat == external_id]

    async def forged_request_status(self, channel: Channel) -> int | None:
        return await call_webhook(self.http, text_update(1, "forged"), secret="wrong-secret")
