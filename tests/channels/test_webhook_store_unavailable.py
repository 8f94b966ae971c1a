"""A webhook that could not store what it got answers 503, whatever the channel answered itself
(regression: the Telegram, VK and Viber channels answered 500 while the database was down)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from omniline.channels.webhook import mount
from omniline.errors import StoreUnavailable
from omniline.model import ChannelRef
from omniline.store.health import Reachability


class StoringChannel:
    """A channel whose webhook stores into a database that has just gone away."""

    def __init__(self, caught: bool) -> None:
        self.ref = ChannelRef(type="hook", account="a")
        self.caught = caught

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return [web.post("/webhook", self.webhook), web.post("/broken", self.broken)]

    async def webhook(self, request: web.Request) -> web.Response:
        try:
            raise Reachability().lost(ConnectionRefusedError("refused"))
        except StoreUnavailable:
            if not self.caught:
                raise
            return web.Response(status=500, text="not stored, retry")

    async def broken(self, request: web.Request) -> web.Response:
        return web.Response(status=500, text="a bug, not an outage")


async def answers(caught: bool) -> list[tuple[int, Any, str | None]]:
    app = web.Application()
    mount(app, StoringChannel(caught))  # type: ignore[arg-type]
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        found = []
        for path in ("webhook", "broken"):
            resp = await client.post(f"/channels/hook/a/{path}", data=b"{}")
            found.append((resp.status, await resp.text(), resp.headers.get("Retry-After")))
        return found
    finally:
        await client.close()


async def test_a_channel_that_answers_500_for_an_unreachable_store_is_answered_503() -> None:
    (status, body, retry), (other, _, _) = await answers(caught=True)
    assert (status, retry) == (503, "5") and "store_unavailable" in body
    assert other == 500  # a 500 that is no outage is left as it is


async def test_a_channel_that_lets_the_store_error_through_is_answered_503() -> None:
    (status, body, retry), _ = await answers(caught=False)
    assert (status, retry) == (503, "5") and "store_unavailable" in body
