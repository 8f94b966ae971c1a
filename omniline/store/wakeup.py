"""Cross-process wake-ups on PostgreSQL: when something happens in one worker process, the desks
and live pushes of the others look at the feed at once instead of at their next poll.

Each process keeps one extra connection that LISTENs on a channel. When this process has news, it
sends a NOTIFY on that connection, at most one every ``NOTIFY_EVERY`` seconds however much
happens, so the hot path pays nothing per message. The notification carries no data: the feed in
the database stays the one source of what happened, so a lost notification costs only a delay
(readers still poll).

The same connection relays small notes between the processes for a topic (``relay``,
``subscribe``): the web chat uses it to tell the process holding a visitor's live socket that a
message for them was stored. A note names what happened (ids); the receiver reads the rest from
the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import deque
from collections.abc import Callable
from typing import Any

import asyncpg

log = logging.getLogger("omniline.store.wakeup")

CHANNEL = "omniline_feed"
RELAY = "omniline_relay"
MAX_WAITING_NOTES = 10_000
"""Notes kept while the connection is down; the oldest are dropped past this (a lost note costs
only live-ness: what it named is in the database)."""
NOTIFY_EVERY = 0.05
RECONNECT_AFTER = 2.0


class FeedWakeup:
    """LISTEN/NOTIFY between the worker processes of one database."""

    def __init__(self, dsn: str, on_news: Callable[[], None]) -> None:
        self._dsn = dsn
        self._on_news = on_news
        self._me = f"{os.getpid()}:{id(self)}"
        self._pending = asyncio.Event()
        self._news = False
        self._notes: deque[str] = deque(maxlen=MAX_WAITING_NOTES)
        self._subscribers: dict[str, Callable[[str], None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._connection: Any = None
        self._paused = False
        self.ready = asyncio.Event()
        """Set once the connection listens (tests wait for it)."""

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="omniline-feed-wakeup")

    def poke(self) -> None:
        """This process has news: tell the others (soon, batched)."""
        self._news = True
        self._pending.set()

    def relay(self, topic: str, data: str) -> None:
        """Send ``data`` (a few hundred bytes at most) to the subscribers of ``topic`` in the other
        processes, soon. Best effort, in order."""
        self._notes.append(json.dumps({"from": self._me, "topic": topic, "data": data}))
        self._pending.set()

    def subscribe(self, topic: str, receive: Callable[[str], None]) -> None:
        """Call ``receive(data)`` for every note on ``topic`` another process relays."""
        self._subscribers[topic] = receive

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _heard(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        if payload != self._me:  # our own NOTIFY comes back too
            self._on_news()

    def _noted(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        try:
            note = json.loads(payload)
            if note["from"] == self._me:
                return
            receive = self._subscribers.get(note["topic"])
            if receive is not None:
                receive(str(note["data"]))
        except Exception:
            log.exception("a relayed note could not be handled")

    async def _run(self) -> None:
        while True:
            try:
                await self._listen_and_notify()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database restarted, the network dropped...
                if not self._paused:  # once per outage, however many reconnects it takes
                    log.warning("feed wake-ups paused (%s); readers poll meanwhile", exc)
                self._paused = True
                self.ready.clear()
                await asyncio.sleep(RECONNECT_AFTER)

    async def _listen_and_notify(self) -> None:
        connection = await asyncpg.connect(self._dsn)
        try:
            await connection.add_listener(CHANNEL, self._heard)
            await connection.add_listener(RELAY, self._noted)
            self.ready.set()
            if self._paused:
                self._paused = False
                log.info("feed wake-ups resumed")
            self._on_news()  # what happened while we were not listening
            while True:
                await self._pending.wait()
                self._pending.clear()
                if self._news:
                    self._news = False
                    await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, self._me)
                if self._notes:
                    notes = list(self._notes)
                    self._notes.clear()
                    try:
                        await connection.execute(
                            "SELECT pg_notify($1, note) FROM unnest($2::text[]) AS note",
                            RELAY,
                            notes,
                        )
                    except BaseException:
                        self._notes.extendleft(reversed(notes))  # sent after reconnecting
                        raise
                await asyncio.sleep(NOTIFY_EVERY)
        finally:
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)
