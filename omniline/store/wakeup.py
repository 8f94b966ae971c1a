"""Cross-process wake-ups on PostgreSQL: when something happens in one worker process, the desks
and live pushes of the others look at the feed at once instead of at their next poll.

Each process keeps one extra connection that LISTENs on a channel. When this process has news, it
sends a NOTIFY on that connection, at most one every ``NOTIFY_EVERY`` seconds however much
happens, so the hot path pays nothing per message. The notification carries no data: the feed in
the database stays the one source of what happened, so a lost notification costs only a delay
(readers still poll).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any

import asyncpg

log = logging.getLogger("omniline.store.wakeup")

CHANNEL = "omniline_feed"
NOTIFY_EVERY = 0.05
RECONNECT_AFTER = 2.0


class FeedWakeup:
    """LISTEN/NOTIFY between the worker processes of one database."""

    def __init__(self, dsn: str, on_news: Callable[[], None]) -> None:
        self._dsn = dsn
        self._on_news = on_news
        self._me = f"{os.getpid()}:{id(self)}"
        self._pending = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connection: Any = None
        self.ready = asyncio.Event()
        """Set once the connection listens (tests wait for it)."""

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="omniline-feed-wakeup")

    def poke(self) -> None:
        """This process has news: tell the others (soon, batched)."""
        self._pending.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _heard(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        if payload != self._me:  # our own NOTIFY comes back too
            self._on_news()

    async def _run(self) -> None:
        while True:
            try:
                await self._listen_and_notify()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database restarted, the network dropped...
                log.warning("feed wake-ups paused (%s); readers poll meanwhile", exc)
                self.ready.clear()
                await asyncio.sleep(RECONNECT_AFTER)

    async def _listen_and_notify(self) -> None:
        connection = await asyncpg.connect(self._dsn)
        try:
            await connection.add_listener(CHANNEL, self._heard)
            self.ready.set()
            self._on_news()  # what happened while we were not listening
            while True:
                await self._pending.wait()
                self._pending.clear()
                await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, self._me)
                await asyncio.sleep(NOTIFY_EVERY)
        finally:
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)
