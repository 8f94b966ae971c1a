"""aiogram's HTTP session, minus the bot's token in its errors.

The Bot API puts the token in the path of every URL (``/bot<token>/sendMessage``), and aiohttp
prints the URL in some of its errors (too many redirects, an invalid URL); aiogram passes their
text on in ``TelegramNetworkError``. Raised as they are, the token would reach the log, an outbox
row's error and the console. The channel and the desk make their bots with this session instead.
"""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import AiogramError, TelegramNetworkError
from aiogram.methods.base import TelegramMethod, TelegramType

HIDDEN = "<token>"


class TokenSafeSession(AiohttpSession):
    """Raises an error whose text holds the bot's token again without it, and without the
    original (and its URL) chained to it."""

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> TelegramType:
        try:
            return await super().make_request(bot, method, timeout)
        except AiogramError as exc:
            text = str(exc)
            if bot.token not in text:
                raise
            said = exc.message if isinstance(exc, TelegramNetworkError) else text
            raise TelegramNetworkError(
                method=method, message=said.replace(bot.token, HIDDEN)
            ) from None


def token_safe_bot(token: str, api_base_url: str, request_timeout: float) -> Bot:
    """A bot on ``api_base_url`` whose errors never print ``token``."""
    session = TokenSafeSession(
        api=TelegramAPIServer.from_base(api_base_url), timeout=request_timeout
    )
    return Bot(token, session=session)
