"""The web chat while the database cannot be reached: 503 ``store_unavailable`` with a
Retry-After that the widget can read (CORS), never a 500 (regression: posting answered a generic
``unavailable`` and reading the history a 500)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from omniline.channels.webchat.channel import WebchatChannel, WebchatSettings
from omniline.channels.webhook import mount
from omniline.errors import StoreUnavailable
from omniline.model import ChannelRef, Identity, InboundEvent, StoredMessage
from omniline.testing import VirtualClock


class DownHost:
    """What the web chat gets from the application, with the database gone."""

    def __init__(self) -> None:
        self.clock = VirtualClock()

    async def history(
        self, identity: Identity, *, after_id: int = 0, limit: int = 100
    ) -> list[StoredMessage]:
        raise StoreUnavailable("down")

    async def update_profile(self, identity: Identity) -> None:
        raise StoreUnavailable("down")

    def author_name(self, author: str) -> str | None:
        return None


async def test_posting_and_reading_while_the_store_is_down_answer_503_store_unavailable() -> None:
    ref = ChannelRef(type="webchat", account="site")
    channel = WebchatChannel(ref, WebchatSettings(secret=SecretStr("s" * 32)), DownHost())  # type: ignore[arg-type]

    async def sink(event: InboundEvent) -> Any:
        raise StoreUnavailable("down")

    await channel.start(sink)
    app = web.Application()
    mount(app, channel)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        visitor = await (await client.post("/channels/webchat/site/api/visitors", json={})).json()
        auth = {"Authorization": f"Bearer {visitor['token']}", "Origin": "https://shop.example"}
        api = "/channels/webchat/site/api"
        for resp in (
            await client.post(
                f"{api}/messages",
                json={"client_message_id": "m-00000001", "text": "hi"},
                headers=auth,
            ),
            await client.get(f"{api}/messages", headers=auth),
            await client.post(f"{api}/profile", json={"name": "Zoe"}, headers=auth),
        ):
            assert resp.status == 503, await resp.text()
            assert (await resp.json())["error"]["code"] == "store_unavailable"
            assert resp.headers["Retry-After"] == "5"
            assert resp.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    finally:
        await client.close()
