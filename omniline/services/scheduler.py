"""Durable timers: rows with a due time, claimed by a loop and fired once.

A timer is named by (kind, key); setting it again moves it. Handlers are registered per kind. A
claimed timer carries a lease: if its process dies before the handler finishes, another claim fires
it again once the lease has run out, so handlers must be idempotent (fire "at least once, and once
done, never again"). On PostgreSQL the claim skips rows other workers hold (``SKIP LOCKED``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from omniline import metrics
from omniline.engine.clock import first_of
from omniline.engine.ports import Clock, Timer
from omniline.log_context import log_context
from omniline.store.sql_store import SqlStore

log = logging.getLogger("omniline.scheduler")

TimerHandler = Callable[[Timer], Awaitable[None]]


class Scheduler:
    def __init__(
        self,
        store: SqlStore,
        clock: Clock,
        *,
        lease: float = 60.0,
        poll_interval: float = 1.0,
        batch: int = 100,
        concurrency: int = 16,
    ) -> None:
        self._store = store
        self._clock = clock
        self._handlers: dict[str, TimerHandler] = {}
        self.lease = lease
        self.poll_interval = poll_interval
        self._batch = batch
        self._stopping = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)

    def on(self, kind: str, handler: TimerHandler) -> None:
        """Fire ``handler`` for due timers of ``kind``."""
        if kind in self._handlers:
            raise ValueError(f"a handler for timers of kind {kind!r} is registered already")
        self._handlers[kind] = handler

    async def run_due(self) -> int:
        """Fire every due timer now. Returns how many fired."""
        fired = 0
        while True:
            due = await self._store.timers.claim(
                now=self._clock.now(), lease=self.lease, limit=self._batch
            )
            # Fired together (in due order, each dialog's work still in turn), so one slow
            # handler (a CRM that takes its time) does not hold up the others' timers.
            results = await asyncio.gather(*(self._bounded(timer) for timer in due))
            fired += sum(results)
            if len(due) < self._batch:
                return fired

    async def _bounded(self, timer: Timer) -> bool:
        async with self._slots:
            return await self._fire(timer)

    async def _fire(self, timer: Timer) -> bool:
        handler = self._handlers.get(timer.kind)
        if handler is None:
            log.error(
                "no handler for timer kind %r (timer %s); it fires again later",
                timer.kind,
                timer.id,
            )
            return False
        late = (self._clock.now() - timer.due_at).total_seconds()
        metrics.TIMER_LAG.of(timer.kind).observe(max(late, 0.0))
        with log_context(fresh=True, dialog_id=timer.dialog_id):
            try:
                await handler(timer)
            except Exception:
                metrics.TIMERS_FIRED.of(timer.kind, "failed").inc()
                log.exception(
                    "timer %s (%s/%s) failed; it fires again after its lease",
                    timer.id,
                    timer.kind,
                    timer.key,
                )
                return False
        metrics.TIMERS_FIRED.of(timer.kind, "done").inc()
        await self._store.timers.finish(timer.id)
        return True

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.run_due()
            except Exception:
                log.exception("timer poll failed; trying again")
            await first_of(self._clock.sleep(self.poll_interval), self._stopping.wait())

    def stop(self) -> None:
        self._stopping.set()
