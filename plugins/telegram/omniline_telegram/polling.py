"""Long polling with ``getUpdates``, for the channel (clients' updates) and the desk (the group's).

``getUpdates`` confirms every update below the offset it is asked with, and Telegram forgets a
confirmed update for good. So the offset moves past an update only after its handler returned
(stored, or acted on): a handler that fails leaves the update to be asked for again after a pause,
and a restart never loses one. A stop lets the update being handled finish, within a grace, rather
than cut it off half done.

Updates are fetched as JSON, not as aiogram's models: one update in a shape aiogram's version cannot
read (an old photo without ``file_unique_id``) would make it refuse the whole batch, every time it
is asked again, and the loop would never get past it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods.base import TelegramMethod

from omniline.plugins import Clock

ALLOWED_UPDATES = ["message", "callback_query"]

RawUpdate = dict[str, Any]


class GetRawUpdates(TelegramMethod[list[Any]]):
    """``getUpdates``, answered as the JSON Telegram sent: each update is read on its own."""

    __returning__ = list[Any]
    __api_method__ = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


class UpdatePoller:
    """One ``getUpdates`` loop: each update goes to ``handle``, one at a time, in order."""

    def __init__(
        self,
        bot: Bot,
        handle: Callable[[RawUpdate], Coroutine[Any, Any, None]],
        *,
        clock: Clock,
        timeout: int,
        request_timeout: float,
        retry_delay: float,
        offset: int | None,
        log: logging.Logger,
        name: str,
    ) -> None:
        self._bot = bot
        self._handle = handle
        self._clock = clock
        self._timeout = timeout
        self._request_timeout = request_timeout
        self._retry_delay = retry_delay
        self._log = log
        self._name = name
        self.offset = offset
        """The next ``getUpdates`` offset: one past the last update handled."""
        self._in_flight: asyncio.Task[None] | None = None

    async def run(self, grace: float) -> None:
        """The loop, until cancelled; then the update being handled gets ``grace`` seconds to
        finish (cancelled, the loop waits for it rather than leave it half done)."""
        try:
            await self._run()
        finally:
            flight, self._in_flight = self._in_flight, None
            if flight is not None:
                await asyncio.wait({flight}, timeout=grace)
                flight.cancel()
                with contextlib.suppress(BaseException):
                    await flight

    async def _run(self) -> None:
        webhook_removed = False
        while True:
            try:
                if not webhook_removed:
                    # getUpdates is refused while a webhook is set; pending updates stay queued
                    await self._bot.delete_webhook(drop_pending_updates=False)
                    webhook_removed = True
                method = GetRawUpdates(
                    offset=self.offset, timeout=self._timeout, allowed_updates=ALLOWED_UPDATES
                )
                updates = await self._bot(
                    method, request_timeout=self._timeout + int(self._request_timeout)
                )
                for update in updates:
                    update_id = update.get("update_id") if isinstance(update, dict) else None
                    if not isinstance(update_id, int) or isinstance(update_id, bool):
                        self._log.warning("%s: something that is no update skipped", self._name)
                        continue
                    if self.offset is not None and update_id < self.offset:
                        continue  # handled already: Telegram sent it again
                    # shielded: a stop waits for the update rather than leave it half done
                    self._in_flight = asyncio.create_task(self._take(update))
                    await asyncio.shield(self._in_flight)
                    self._in_flight = None
            except asyncio.CancelledError:
                raise
            except TelegramRetryAfter as exc:
                self._in_flight = None
                await self._clock.sleep(exc.retry_after)
            except Exception:
                self._in_flight = None
                self._log.exception(
                    "%s: reading updates failed; asking again in %s s",
                    self._name,
                    self._retry_delay,
                )
                await self._clock.sleep(self._retry_delay)

    async def _take(self, update: RawUpdate) -> None:
        await self._handle(update)
        # only now is the update safe: the next poll confirms it to Telegram
        self.offset = int(update["update_id"]) + 1


__all__ = ["ALLOWED_UPDATES", "GetRawUpdates", "RawUpdate", "UpdatePoller"]
