"""The Bots Long Poll's key rides in the query of every poll, and requests prints the URL, query and
all, in its errors: what the channel logs of a failed poll must not carry it."""

from __future__ import annotations

import pytest
import requests
from aiohttp import web
from aiohttp.test_utils import TestServer
from omniline_vk.api import VkClient


async def test_a_failed_long_poll_does_not_show_its_key() -> None:
    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500)

    app = web.Application()
    app.router.add_get("/lp", broken)
    async with TestServer(app, host="127.0.0.1") as server:
        client = VkClient(
            token="vk-token", api_base_url=str(server.make_url("/")), api_version="5.199", timeout=5
        )
        url = str(server.make_url("/lp"))
        with pytest.raises(requests.RequestException) as caught:
            await client.get_json(url, {"act": "a_check", "key": "long-poll-key-42", "ts": 1}, 5)
    assert "HTTPError" in str(caught.value)
    assert "long-poll-key-42" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
