"""The built-in web chat passes the channel conformance suite, driven over its real HTTP API."""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from omniline import Channel, ChannelRef
from omniline.channels.webchat import WebchatChannel, WebchatSettings
from omniline.channels.webhook import mount, mount_path
from omniline.testing.conformance import ChannelConformance, RecordingHost

REF = ChannelRef(type="webchat", account="conformance")
_ids = itertools.count(1)


class TestWebchatConformance(ChannelConformance):
    async def open_channel(self, host: RecordingHost) -> Channel:
        channel = WebchatChannel(REF, WebchatSettings.model_validate({"secret": "c" * 32}), host)
        app = web.Application()
        mount(app, channel)
        self.http: TestClient[Any, Any] = TestClient(TestServer(app))
        await self.http.start_server()
        self.base = mount_path(REF)
        visitor = await (await self.http.post(f"{self.base}/api/visitors", json={})).json()
        self.client_id = visitor["visitor_id"]
        self.auth = {"Authorization": f"Bearer {visitor['token']}"}
        # The visitor's open window is where the web chat "platform" shows what is sent.
        self.socket = await self.http.ws_connect(f"{self.base}/api/ws?token={visitor['token']}")
        self.shown: list[str] = []
        self.last_body: dict[str, Any] | None = None
        return channel

    async def close_platform(self) -> None:
        await self.socket.close()
        await self.http.close()

    async def _post(self, body: dict[str, Any]) -> bool:
        response = await self.http.post(f"{self.base}/api/messages", json=body, headers=self.auth)
        return response.status == 200

    async def client_writes(self, channel: Channel, external_id: str, text: str) -> bool:
        assert external_id == self.client_id
        self.last_body = {"client_message_id": f"conformance-{next(_ids):06d}", "text": text}
        return await self._post(self.last_body)

    async def redeliver_last(self, channel: Channel) -> bool:
        assert self.last_body is not None
        return await self._post(self.last_body)

    async def received_texts(self, channel: Channel, external_id: str) -> list[str]:
        while True:
            try:
                frame = await self.socket.receive(timeout=0.3)
            except TimeoutError:
                return self.shown
            if frame.type is not WSMsgType.TEXT:
                return self.shown
            message = frame.json()["message"]
            if message["direction"] == "out":
                self.shown.append(message["text"])

    async def forged_request_status(self, channel: Channel) -> int | None:
        forged = {"Authorization": f"Bearer {self.client_id}.forged-signature"}
        response = await self.http.post(
            f"{self.base}/api/messages",
            json={"client_message_id": "forged-00001", "text": "x"},
            headers=forged,
        )
        return response.status
