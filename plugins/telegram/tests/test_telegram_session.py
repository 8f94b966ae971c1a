"""The bot's token is in the path of every Bot API URL, and aiohttp prints the URL in some errors:
the error omniline gets (and logs, and keeps as an outbox row's reason) must not carry it."""

from __future__ import annotations

import traceback

import pytest
from aiogram.exceptions import TelegramNetworkError
from aiohttp import web
from aiohttp.test_utils import TestServer
from omniline_telegram.session import token_safe_bot
from omniline_telegram.testing import TOKEN


async def test_a_network_error_that_prints_the_url_does_not_carry_the_token() -> None:
    async def again(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(str(request.url))  # a proxy sending calls in circles

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", again)
    async with TestServer(app, host="127.0.0.1") as server:
        bot = token_safe_bot(TOKEN, str(server.make_url("")).rstrip("/"), 5)
        try:
            with pytest.raises(TelegramNetworkError) as caught:
                await bot.get_me()
        finally:
            await bot.session.close()
    told = "".join(traceback.format_exception(caught.value))
    assert "TooManyRedirects" in told and "/bot<token>/getMe" in told
    assert TOKEN not in told
