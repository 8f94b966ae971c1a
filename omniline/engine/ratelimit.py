"""Client-side pacing for a channel account: a rate with bursts per account, and a spacing per chat.

Both use the generic cell rate algorithm: each send reserves the next free slot and sleeps until it,
so waiting for one busy chat never holds up the others.
"""

from __future__ import annotations

from collections import OrderedDict

from omniline.engine.ports import Clock

MAX_TRACKED_CHATS = 10_000


class _Gcra:
    def __init__(self, rate: float, burst: float) -> None:
        self.interval = 1.0 / rate
        self.tolerance = max(0.0, burst - 1) * self.interval
        self.tat = 0.0  # theoretical arrival time of the next send

    def reserve(self, now: float) -> float:
        """Seconds to wait before sending; the slot is taken."""
        tat = max(self.tat, now)
        wait = max(0.0, tat - self.tolerance - now)
        self.tat = tat + self.interval
        return wait


class RateLimiter:
    """At most ``global_rate`` sends a second from the account (bursts up to one second's worth) and
    at most ``per_chat_rate`` a second to one chat; ``None`` means no limit. Per-chat state is
    bounded: the least recently used chats are forgotten first."""

    def __init__(
        self, clock: Clock, global_rate: float | None, per_chat_rate: float | None
    ) -> None:
        self._clock = clock
        self._global = _Gcra(global_rate, burst=global_rate) if global_rate else None
        self._per_chat_rate = per_chat_rate
        self._chats: OrderedDict[str, _Gcra] = OrderedDict()

    async def acquire(self, chat: str) -> None:
        wait = self.reserve(chat)
        if wait > 0:
            await self._clock.sleep(wait)

    def reserve(self, chat: str) -> float:
        """Take the next slot for ``chat``; returns the seconds to wait before using it."""
        if self._global is None and self._per_chat_rate is None:
            return 0.0
        now = self._clock.now().timestamp()
        wait = 0.0
        if self._per_chat_rate is not None:
            cell = self._chats.get(chat)
            if cell is None:
                cell = self._chats[chat] = _Gcra(self._per_chat_rate, burst=1)
            self._chats.move_to_end(chat)
            while len(self._chats) > MAX_TRACKED_CHATS:
                self._chats.popitem(last=False)
            wait = cell.reserve(now)
        if self._global is not None:
            # The account slot is taken now; the send goes when both its slots have come.
            wait = max(wait, self._global.reserve(now))
        return wait


class Throttle:
    """Refuses what comes too fast: at most ``rate`` a second per key, bursts up to ``burst``.
    ``check`` answers 0 when allowed (and counts it), else the seconds to wait. Per-key state is
    bounded: the least recently seen keys are forgotten first."""

    def __init__(self, clock: Clock, rate: float, burst: float, max_keys: int = 100_000) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self._clock = clock
        self._rate = rate
        self._burst = burst
        self._max_keys = max_keys
        self._cells: OrderedDict[str, _Gcra] = OrderedDict()

    def check(self, key: str) -> float:
        now = self._clock.now().timestamp()
        cell = self._cells.get(key)
        if cell is None:
            cell = self._cells[key] = _Gcra(self._rate, self._burst)
            while len(self._cells) > self._max_keys:
                self._cells.popitem(last=False)
        self._cells.move_to_end(key)
        tat = max(cell.tat, now)
        wait = tat - cell.tolerance - now
        if wait > 0:
            return wait
        cell.tat = tat + cell.interval
        return 0.0
