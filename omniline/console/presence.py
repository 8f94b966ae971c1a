"""Presence from the console: an operator whose console is open is online; one whose consoles
have all been closed (or lost their connection) for ``console.offline_after`` seconds goes
offline, so the line stops offering them dialogs nobody will see.

Open consoles are counted per worker process in ``desk_connections`` and refreshed while open,
so a console open on any process keeps the operator online, and a process that dies without
saying so is noticed when its rows go stale. Going offline is a durable timer (``desk_away``),
so a reload or a short network drop, which reconnects within the grace period, changes nothing.
The shift is the operator's own: closing the console never ends their day.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING

from omniline.engine.ports import Timer
from omniline.model import Presence

if TYPE_CHECKING:
    from omniline.console.host import ConsoleHost

log = logging.getLogger("omniline.console.presence")

AWAY_TIMER = "desk_away"
REFRESH_EVERY = 20.0
STALE_AFTER = 90.0
"""A process's rows not refreshed for this long belong to a process that is gone."""


class ConsolePresence:
    """Counts the open consoles of each operator in this process, and sets presence from them."""

    def __init__(self, host: ConsoleHost, *, offline_after: float) -> None:
        self.host = host
        self._stored = host.store.presence
        self.offline_after = offline_after
        self.process = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._open: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.host.scheduler.on(AWAY_TIMER, self._away)
        self._task = asyncio.create_task(self._refresh_loop(), name="omniline-console-presence")

    async def stop(self) -> None:
        """Leave as if every console here closed: those that reconnect elsewhere stay online."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._open.clear()
        for operator_id in await self._stored.leave(self.process):
            await self._later_offline(operator_id)

    async def connected(self, operator_id: str) -> None:
        self._open[operator_id] += 1
        await self._write(operator_id)
        await self.host.store.timers.cancel(AWAY_TIMER, operator_id)
        operator = await self.host.store.operators.get(operator_id)
        if operator is not None and operator.presence is not Presence.ONLINE:
            await self.host.operators.set_presence(operator_id, Presence.ONLINE)

    async def disconnected(self, operator_id: str) -> None:
        self._open[operator_id] -= 1
        if self._open[operator_id] <= 0:
            del self._open[operator_id]
            await self._write(operator_id)
            await self._later_offline(operator_id)
        else:
            await self._write(operator_id)

    async def _write(self, operator_id: str) -> None:
        await self._stored.put(
            operator_id,
            process=self.process,
            sockets=self._open.get(operator_id, 0),
            now=self.host.clock.now(),
        )

    async def _later_offline(self, operator_id: str) -> None:
        due = self.host.clock.now() + timedelta(seconds=self.offline_after)
        await self.host.store.timers.schedule(AWAY_TIMER, operator_id, due)

    async def _away(self, timer: Timer) -> None:
        """The grace period is over: offline, unless a console of theirs is open somewhere."""
        operator_id = timer.key
        since = self.host.clock.now() - timedelta(seconds=STALE_AFTER)
        if await self._stored.is_connected(operator_id, since=since):
            return
        operator = await self.host.store.operators.get(operator_id)
        if operator is not None and operator.presence is Presence.ONLINE:
            log.info("operator %s closed the console: offline", operator_id)
            await self.host.operators.set_presence(operator_id, Presence.OFFLINE)

    async def _refresh_loop(self) -> None:
        while True:
            await self.host.clock.sleep(REFRESH_EVERY)
            now = self.host.clock.now()
            try:
                gone = await self._stored.sweep(
                    self.process, now=now, stale_before=now - timedelta(seconds=STALE_AFTER)
                )
                for operator_id in gone:  # their process died: offline unless they come back
                    await self._later_offline(operator_id)
            except Exception:
                log.exception("refreshing the consoles' presence failed; trying again later")
