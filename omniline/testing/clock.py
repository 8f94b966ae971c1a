"""A clock that only moves when a test moves it."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday morning


class VirtualClock:
    """Implements the ``Clock`` port. ``sleep`` waits until ``advance`` moves time past its end.

    ``advance`` wakes sleepers in time order, letting the event loop run after each, so code that
    sleeps in a loop (a poller, a retry) sees every step it would see in real time.
    """

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        if start.tzinfo is None:
            raise ValueError("the start time must be timezone-aware")
        self._now = start.astimezone(UTC)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(
            self._sleepers, (self._now + timedelta(seconds=seconds), next(self._counter), future)
        )
        await future

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking each sleeper at its moment."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        target = self._now + timedelta(seconds=seconds)
        while self._sleepers and self._sleepers[0][0] <= target:
            when, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, when)
            if not future.done():
                future.set_result(None)
            await _let_run()
        self._now = target
        await _let_run()

    async def advance_to(self, moment: datetime) -> None:
        await self.advance(max(0.0, (moment - self._now).total_seconds()))

    @property
    def sleepers(self) -> int:
        return sum(1 for _, _, f in self._sleepers if not f.done())


async def _let_run() -> None:
    for _ in range(5):
        await asyncio.sleep(0)
