"""One Telegram bot as an omniline channel: webhook or long polling in, Bot API out (aiogram 3)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Sequence
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)
from aiohttp import web
from pydantic import ValidationError

from omniline.errors import DeliveryError
from omniline.model import Attachment, AttachmentKind, ChannelRef, OutboundMessage
from omniline.plugins import (
    BodyRefused,
    Capabilities,
    ChannelHost,
    Delivery,
    InboundSink,
    read_json,
    secrets_match,
)
from omniline_telegram.inbound import Ignored, event_from_update, update_id_of, update_kind
from omniline_telegram.polling import ALLOWED_UPDATES, UpdatePoller
from omniline_telegram.session import token_safe_bot
from omniline_telegram.settings import TelegramSettings

log = logging.getLogger("omniline.channel.telegram")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_CALLBACK_DATA = 64
"""Bytes Telegram keeps of an inline button's ``callback_data``."""
MAX_BODY = 1024 * 1024
STOP_GRACE = 10.0
"""Seconds a stop waits for the update being stored (polling)."""
POLL_LEASE = "getUpdates"
"""The lease (``ChannelHost.exclusive``) under which one worker process polls."""
CONTACT_REQUEST = "telegram:request_contact"
"""A reply-keyboard button with this payload asks the client to share their phone number."""

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup


class TelegramChannel:
    """A Telegram bot account, served under ``/channels/telegram/{account}/``."""

    def __init__(self, ref: ChannelRef, settings: TelegramSettings, host: ChannelHost) -> None:
        self._ref = ref
        self._settings = settings
        self._host = host
        self._sink: InboundSink | None = None
        self._bot: Bot | None = None
        self._poller: UpdatePoller | None = None
        self._polling: asyncio.Task[None] | None = None
        self._capabilities = Capabilities(
            max_text_length=settings.max_text_length,
            buttons=True,
            inline_buttons=True,
            attachments=True,
            per_chat_rate=settings.per_chat_rate,
            global_rate=settings.global_rate,
        )

    # --- Channel ----------------------------------------------------------------------------------

    @property
    def ref(self) -> ChannelRef:
        return self._ref

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def offset(self) -> int | None:
        """The next ``getUpdates`` offset (polling): one past the last update stored."""
        return None if self._poller is None else self._poller.offset

    @property
    def bot(self) -> Bot:
        if self._bot is None:
            raise RuntimeError(f"channel {self._ref} is not started")
        return self._bot

    async def start(self, sink: InboundSink) -> None:
        s = self._settings
        self._bot = token_safe_bot(s.token.get_secret_value(), s.api_base_url, s.request_timeout)
        if s.mode == "polling":
            self._sink = sink
            # Telegram answers a second getUpdates caller with 409 Conflict: with several worker
            # processes, the one holding the lease polls; every one of them sends.
            self._polling = asyncio.create_task(
                self._host.exclusive(POLL_LEASE, functools.partial(self._poll, sink)),
                name=f"telegram-poll-{self._ref}",
            )
            return
        if s.webhook_url is not None:
            assert s.webhook_secret is not None  # the settings insist on one in webhook mode
            await self._bot.set_webhook(
                s.webhook_url,
                secret_token=s.webhook_secret.get_secret_value(),
                allowed_updates=ALLOWED_UPDATES,
            )
        self._sink = sink

    async def stop(self) -> None:
        self._sink = None
        polling, self._polling = self._polling, None
        if polling is not None:  # the update being stored finishes first (UpdatePoller.run)
            polling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await polling
        if self._bot is not None:
            await self._bot.session.close()
            self._bot = None

    # --- receiving: webhook -----------------------------------------------------------------------

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return [web.post("/webhook", self._webhook)]

    async def _webhook(self, request: web.Request) -> web.Response:
        secret = self._settings.webhook_secret
        given = request.headers.get(SECRET_HEADER)
        if (
            self._settings.mode != "webhook"
            or secret is None
            or not secrets_match(given, secret.get_secret_value())
        ):
            return web.Response(status=401, text="bad secret token")
        sink = self._sink
        if sink is None:
            # not started yet (or stopping): Telegram retries, and the update comes back
            return web.Response(status=503, text="not started")
        try:
            raw = await read_json(request, max_bytes=MAX_BODY)
        except BodyRefused as exc:
            log.warning("%s: a webhook call was refused: %s", self._ref, exc.reason)
            return exc.response()
        if not isinstance(raw, dict) or update_id_of(raw) is None:
            log.warning("%s: a webhook call that is no Telegram update was refused", self._ref)
            return web.Response(status=400, text="not a Telegram update")
        try:
            await self._receive(sink, raw)
        except Exception:
            log.exception("%s: update %s could not be stored", self._ref, raw["update_id"])
            return web.Response(status=500, text="not stored, retry")  # Telegram retries
        return web.Response(status=200)

    async def _receive(self, sink: InboundSink, raw: dict[str, Any]) -> None:
        """Hand one update to omniline; returns once it is stored (or raises). An update of a
        shape or kind omniline cannot store is acknowledged with one log line naming its kind."""
        try:
            event = event_from_update(self._ref, raw, self._host.clock.now())
        except ValidationError as exc:  # a value out of omniline's bounds: nothing to store
            event = Ignored(update_kind(raw), f"unreadable: {exc.error_count()} errors")
        if isinstance(event, Ignored):
            log.info(
                "%s: update %s (%s) ignored: %s",
                self._ref,
                raw.get("update_id"),
                event.kind,
                event.why,
            )
        else:
            await sink(event)
        query = raw.get("callback_query")
        query_id = query.get("id") if isinstance(query, dict) else None
        bot = self._bot  # None once a stop has begun: the spinner stops by itself then
        if isinstance(query_id, str) and query_id and bot is not None:
            # stops the spinner on the pressed button; the press is stored already
            try:
                await bot.answer_callback_query(query_id)
            except TelegramAPIError as exc:
                log.info("%s: answerCallbackQuery failed: %s", self._ref, exc)

    # --- receiving: long polling ------------------------------------------------------------------

    async def _poll(self, sink: InboundSink) -> None:
        """The ``getUpdates`` loop, run while this process holds the lease. It starts with no
        offset each time: Telegram then sends every update not confirmed yet, whichever process
        confirmed the others, and one stored already comes back as a duplicate, dropped."""
        s = self._settings
        self._poller = UpdatePoller(
            self.bot,
            functools.partial(self._polled, sink),
            clock=self._host.clock,
            timeout=s.poll_timeout,
            request_timeout=s.request_timeout,
            retry_delay=s.poll_retry_delay,
            offset=None,
            log=log,
            name=f"telegram-poll-{self._ref}",
        )
        await self._poller.run(STOP_GRACE)

    async def _polled(self, sink: InboundSink, raw: dict[str, Any]) -> None:
        await self._receive(sink, raw)

    # --- sending ----------------------------------------------------------------------------------

    async def send(self, delivery: Delivery) -> str:
        chat_id = delivery.recipient.external_id
        message = delivery.message
        markup = self._markup(message)
        try:
            sent = await self._send_parts(chat_id, message, markup)
        except TelegramRetryAfter as exc:
            raise DeliveryError(
                f"Telegram flood control: {exc.message}", retry_after=float(exc.retry_after)
            ) from exc
        except (TelegramForbiddenError, TelegramNotFound, TelegramMigrateToChat) as exc:
            raise DeliveryError(f"Telegram refused: {exc.message}", permanent=True) from exc
        except TelegramBadRequest as exc:
            # malformed for Telegram ("chat not found", a bad file id...): a retry sends the same
            raise DeliveryError(f"Telegram refused: {exc.message}", permanent=True) from exc
        except TelegramAPIError as exc:
            raise DeliveryError(f"Telegram error: {exc.message}") from exc
        return str(sent.message_id)

    async def _send_parts(
        self, chat_id: str, message: OutboundMessage, markup: Markup | None
    ) -> Message:
        text = message.text or ""
        # no shared page comes here: Telegram declares no link attachments, so the core writes
        # each into the text (engine.rendering.degrade), where Telegram previews it
        files = message.attachments
        caption: str | None = None
        if len(files) == 1 and len(text) <= self._settings.max_caption_length:
            caption, text = text or None, ""
        last: Message | None = None
        for i, file in enumerate(files):
            final = i == len(files) - 1 and not text
            last = await self._send_file(
                chat_id, file, caption if final else None, markup if final else None
            )
        if text:
            last = await self.bot.send_message(chat_id, text, reply_markup=markup)
        if last is None:
            raise DeliveryError(
                "nothing to send: the message has no text and no file", permanent=True
            )
        return last

    async def _send_file(
        self, chat_id: str, file: Attachment, caption: str | None, markup: Markup | None
    ) -> Message:
        handle = file.file_id or file.url
        assert handle is not None  # an Attachment has one or the other
        bot = self.bot
        match file.kind:
            case AttachmentKind.IMAGE:
                return await bot.send_photo(chat_id, handle, caption=caption, reply_markup=markup)
            case AttachmentKind.VIDEO:
                return await bot.send_video(chat_id, handle, caption=caption, reply_markup=markup)
            case AttachmentKind.AUDIO:
                return await bot.send_audio(chat_id, handle, caption=caption, reply_markup=markup)
            case AttachmentKind.VOICE:
                return await bot.send_voice(chat_id, handle, caption=caption, reply_markup=markup)
            case AttachmentKind.STICKER:
                sticker = await bot.send_sticker(chat_id, handle, reply_markup=markup)
                if caption:
                    return await bot.send_message(chat_id, caption)
                return sticker
            case _:
                return await bot.send_document(
                    chat_id, handle, caption=caption, reply_markup=markup
                )

    def _markup(self, message: OutboundMessage) -> Markup | None:
        if not message.buttons:
            return None
        if message.inline:
            for row in message.buttons:
                for button in row:
                    if len(button.payload.encode()) > MAX_CALLBACK_DATA:
                        raise DeliveryError(
                            f"button {button.text!r}: Telegram keeps at most {MAX_CALLBACK_DATA} "
                            "bytes of an inline button's payload",
                            permanent=True,
                        )
            return InlineKeyboardMarkup(
                inline_keyboard=[
                    [InlineKeyboardButton(text=b.text, callback_data=b.payload) for b in row]
                    for row in message.buttons
                ]
            )
        # a reply keyboard sends the button's text back as the client's message
        return ReplyKeyboardMarkup(
            keyboard=[
                [
                    KeyboardButton(
                        text=b.text, request_contact=b.payload == CONTACT_REQUEST or None
                    )
                    for b in row
                ]
                for row in message.buttons
            ],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
