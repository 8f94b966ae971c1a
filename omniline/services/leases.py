"""Work that one worker process at a time may do: a channel's ``getUpdates`` loop, VK's Long Poll,
a desk's group. Several processes on one database each run :meth:`Leases.exclusive`; the one that
holds the lease (``store.leases``) runs the work, the others wait, and one of them takes over
within seconds when the holder dies.

The rule that keeps two holders from overlapping: a lease is written to run out ``ttl`` seconds
after the moment its taker *sent* the statement, and the taker counts its own time from that same
moment, but stops its work a quarter of ``ttl`` sooner (``hold``). So whatever happens to a renewal
(refused, failed, slow, the process paused), the work is cancelled before any other process can
take the lease. Renewals go every quarter of ``ttl``; a failed one is tried again every twentieth.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar

from omniline.engine.ports import Clock
from omniline.store.leases import LeaseRepository

log = logging.getLogger("omniline.leases")

T = TypeVar("T")

DEFAULT_TTL = 10.0
"""Seconds a lease lasts unless renewed: a dead holder's work is taken over within about this."""
RELEASE_LIMIT = 3.0
"""Seconds a stop waits for the database to release a lease (it runs out anyway)."""


class LeaseLost(Exception):
    """The lease could not be kept (renewal refused, or no renewal came back in time)."""


def process_owner() -> str:
    """A name for this process as a lease holder: readable (host and pid) and unique (a random
    part, since one process may run several applications)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Leases:
    """Runs work under leases held by one owner (one application)."""

    def __init__(
        self,
        repository: LeaseRepository,
        clock: Clock,
        *,
        ttl: float = DEFAULT_TTL,
        owner: str | None = None,
    ) -> None:
        if ttl <= 0:
            raise ValueError("a lease's ttl must be positive")
        self._repository = repository
        self._clock = clock
        self.ttl = ttl
        self.owner = owner or process_owner()
        self.hold = ttl * 3 / 4
        """Seconds after a (re)newal was sent that the work may run without another."""
        self.renew_every = ttl / 4
        self.retry_every = ttl / 20
        """Seconds between tries of a renewal that failed."""
        self.wait_every = min(1.0, ttl / 10)
        """Seconds between tries to take a lease someone else holds."""
        self._running: set[asyncio.Task[Any]] = set()

    async def exclusive(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` while this owner holds the lease ``name``, in no other owner at the same
        time: wait until the lease is free (or ran out), take it, run ``work`` and renew the lease
        meanwhile. If the lease is lost, ``work`` is cancelled, and it runs again (called afresh)
        once the lease is taken again. Returns when ``work`` returns, and raises what it raises;
        the lease is released then, and when this is cancelled, so the next owner starts at once.

        ``work`` must stop promptly when it is cancelled: it is cancelled a quarter of the lease's
        time before another owner may take it."""
        me = asyncio.current_task()
        if me is not None:
            self._running.add(me)
        try:
            while True:
                until = await self._take(name)
                log.info("lease %s taken by %s", name, self.owner)
                try:
                    await self._hold(name, work, until)
                except LeaseLost as exc:
                    log.warning(
                        "lease %s lost (%s); its work stopped until it is ours again", name, exc
                    )
                    continue
                return
        finally:
            if me is not None:
                self._running.discard(me)

    async def stop(self) -> None:
        """Cancel the work still running under this owner's leases and release every lease it
        holds (what a stopping process does, so the next owner starts at once)."""
        running = list(self._running)
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(BaseException):
                await task
        try:
            await self._within(self._repository.release_all(self.owner), RELEASE_LIMIT)
        except Exception as exc:  # they run out by themselves
            log.warning("could not release the leases of %s: %s", self.owner, exc)

    # --- inside -----------------------------------------------------------------------------------

    async def _take(self, name: str) -> datetime:
        """Wait until the lease is ours; the moment its work must have stopped by."""
        failing = False
        while True:
            sent = self._clock.now()
            try:
                taken = await self._within(self._renew(name, sent), self.hold)
            except Exception as exc:
                if not failing:
                    log.warning("lease %s: cannot ask the database (%s); trying again", name, exc)
                failing = True
            else:
                failing = False
                if taken and self._clock.now() < sent + self._hold_delta:
                    return sent + self._hold_delta
            await self._clock.sleep(self.wait_every)

    @property
    def _hold_delta(self) -> timedelta:
        return timedelta(seconds=self.hold)

    def _renew(self, name: str, sent: datetime) -> Coroutine[Any, Any, bool]:
        return self._repository.take(name, self.owner, now=sent, ttl=self.ttl)

    async def _hold(self, name: str, work: Callable[[], Awaitable[None]], until: datetime) -> None:
        """Run ``work`` and keep the lease until ``work`` ends, then release it; raise
        ``LeaseLost`` (``work`` cancelled) when the lease cannot be kept until ``until``."""
        task: asyncio.Task[None] = asyncio.ensure_future(work())
        renewed, failed = self._clock.now(), False
        try:
            while not task.done():
                every = self.retry_every if failed else self.renew_every
                due = min(renewed + timedelta(seconds=every), until)
                left = (due - self._clock.now()).total_seconds()
                if left > 0:
                    await self._wait(task, left)
                    continue
                sent = self._clock.now()
                if sent >= until:
                    raise LeaseLost("no renewal came back in time")
                try:
                    taken = await self._within(
                        self._renew(name, sent), (until - sent).total_seconds()
                    )
                except TimeoutError:
                    raise LeaseLost("no renewal came back in time") from None
                except Exception as exc:
                    log.warning("lease %s: renewal failed (%s); trying again", name, exc)
                    renewed, failed = sent, True
                    continue
                if not taken:
                    raise LeaseLost("another owner holds it")
                until, renewed, failed = sent + self._hold_delta, sent, False
        except BaseException:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            await self._release(name)
            raise
        await self._release(name)
        task.result()  # what the work raised

    async def _wait(self, task: asyncio.Task[None], seconds: float) -> None:
        """Until ``task`` ends or ``seconds`` of the clock have passed."""
        timer = asyncio.ensure_future(self._clock.sleep(seconds))
        try:
            await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer

    async def _within(self, aw: Awaitable[T], seconds: float) -> T:
        """The result of ``aw``, or ``TimeoutError`` after ``seconds`` of the clock."""
        job = asyncio.ensure_future(aw)
        timer = asyncio.ensure_future(self._clock.sleep(seconds))
        try:
            await asyncio.wait({job, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            if not job.done():
                job.cancel()
            await asyncio.gather(job, timer, return_exceptions=True)
        if job.cancelled():
            raise TimeoutError(f"no answer within {seconds:g} s")
        return job.result()

    async def _release(self, name: str) -> None:
        try:
            await self._within(self._repository.release(name, self.owner), RELEASE_LIMIT)
        except Exception as exc:  # it runs out by itself
            log.warning("could not release lease %s: %s", name, exc)


__all__ = ["DEFAULT_TTL", "LeaseLost", "Leases", "process_owner"]
