"""The login rate limit, kept in the database so that every worker process counts the same tries.

The same rule as :class:`omniline.engine.ratelimit.Throttle` (GCRA: at most ``rate`` a second per key,
bursts up to ``burst``), with each key's state kept by the store's
:class:`~omniline.store.throttle.ThrottleRepository`, read and written in one transaction. Logins
are rare, so the two statements a try costs do not matter; tries spread over the processes of a
deployment no longer multiply the limit.
"""

from __future__ import annotations

from datetime import timedelta

from omniline.engine.ports import Clock
from omniline.store.throttle import ThrottleRepository

FORGET_AFTER = 3600.0
"""Rows whose next allowed try is this far in the past are deleted (now and then)."""


class SharedThrottle:
    """Refuses what comes too fast, across processes: ``check`` answers 0 when allowed (and
    counts it), else the seconds to wait; ``peek`` answers the same without counting."""

    def __init__(
        self, stored: ThrottleRepository, clock: Clock, *, rate: float, burst: float
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self._stored = stored
        self._clock = clock
        self._interval = 1.0 / rate
        self._tolerance = (burst - 1) * self._interval
        self._checks = 0

    async def peek(self, key: str) -> float:
        now = self._clock.now().timestamp()
        tat = await self._stored.read(key)
        return max(0.0, max(tat, now) - self._tolerance - now)

    async def check(self, key: str) -> float:
        moment = self._clock.now()
        now = moment.timestamp()
        self._checks += 1
        forget = moment - timedelta(seconds=FORGET_AFTER) if self._checks % 100 == 0 else None

        def step(stored: float) -> tuple[float, float | None]:
            tat = max(stored, now)
            wait = tat - self._tolerance - now
            return max(0.0, wait), (tat + self._interval if wait <= 0 else None)

        return await self._stored.advance(key, step, forget_before=forget)
