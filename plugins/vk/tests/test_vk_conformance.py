"""The VK channel (Callback API, real vk-api against the fake VK) passes omniline's channel
conformance suite."""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from omniline_vk import VkChannel
from omniline_vk.config import VkSettings
from omniline_vk.testing import GROUP_ID, TOKEN, FakeVk, message_new

from omniline import Channel
from omniline.model import ChannelRef
from omniline.plugins import mount
from omniline.testing.conformance import ChannelConformance, RecordingHost

REF = ChannelRef(type="vk", account="main")
SECRET = "callback-secret"
_event_ids = itertools.count(1)


class TestVkConformance(ChannelConformance):
    client_id = "4242"

    async def open_channel(self, host: RecordingHost) -> Channel:
        self.fake = FakeVk()
        self.api = TestServer(self.fake.application(), host="127.0.0.1")
        await self.api.start_server()
        self.fake.server = self.api
        settings = VkSettings.model_validate(
            {
                "api_base_url": self.fake.api_url,
                "token": TOKEN,
                "group_id": GROUP_ID,
                "confirmation": "c0nf1rm",
                "secret": SECRET,
            }
        )
        channel = VkChannel(REF, settings, host)
        app = web.Application()
        mount(app, channel)
        self.http: TestClient[Any, Any] = TestClient(TestServer(app))
        await self.http.start_server()
        self.last: dict[str, Any] | None = None
        return channel

    async def close_platform(self) -> None:
        await self.http.close()
        await self.api.close()

    async def _call_in(self, update: dict[str, Any], secret: str) -> int:
        response = await self.http.post(
            "/channels/vk/main/webhook", json={**update, "secret": secret}
        )
        return response.status

    async def client_writes(self, channel: Channel, external_id: str, text: str) -> bool:
        self.last = message_new(f"conformance-{next(_event_ids)}", int(external_id), text)
        return await self._call_in(self.last, SECRET) == 200

    async def redeliver_last(self, channel: Channel) -> bool:
        assert self.last is not None
        return await self._call_in(self.last, SECRET) == 200

    async def received_texts(self, channel: Channel, external_id: str) -> list[str]:
        return [m["message"] for m in self.fake.sent if m.get("peer_id") == external_id]

    async def forged_request_status(self, channel: Channel) -> int | None:
        return await self._call_in(message_new("forged-1", 4242, "forged"), "wrong-secret")
