"""``Leases.exclusive``: work that one owner at a time runs, taken over when its owner stops or
dies, and stopped before its lease can run out when the lease cannot be renewed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path

import pytest
import pytest_asyncio

from omniline.engine.clock import SystemClock
from omniline.services.leases import Leases
from omniline.store import SqlStore, open_store, upgrade
from omniline.store.leases import LeaseRepository

TTL = 2.0
"""Seconds: renewals every half second, ample for SQLite on two busy cores."""


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    url = f"sqlite:///{tmp_path / 'omniline.db'}"
    await upgrade(url)
    opened = await open_store(url, SystemClock())
    try:
        yield opened
    finally:
        await opened.close()


class Log:
    """When each owner's work started and stopped (monotonic seconds)."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str, str]] = []

    def work(self, owner: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            self.events.append((time.monotonic(), owner, "start"))
            try:
                await asyncio.Event().wait()
            finally:
                self.events.append((time.monotonic(), owner, "stop"))

        return run

    def starts(self, owner: str) -> int:
        return sum(1 for _, o, what in self.events if o == owner and what == "start")

    def never_overlapped(self) -> bool:
        running: set[str] = set()
        for _, owner, what in self.events:
            if what == "start":
                if running:
                    return False
                running.add(owner)
            else:
                running.discard(owner)
        return True


async def until(check: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "it did not happen in time"
        await asyncio.sleep(0.02)


async def cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_only_one_owner_runs_the_work_and_the_next_takes_over_at_once_when_it_stops(
    store: SqlStore,
) -> None:
    log = Log()
    a = Leases(store.leases, SystemClock(), ttl=TTL, owner="a")
    b = Leases(store.leases, SystemClock(), ttl=TTL, owner="b")
    task_a = asyncio.create_task(a.exclusive("poll", log.work("a")))
    await until(lambda: log.starts("a") == 1)
    task_b = asyncio.create_task(b.exclusive("poll", log.work("b")))
    await asyncio.sleep(1.5 * TTL)  # a renews all along: b never starts
    assert log.starts("b") == 0
    assert log.starts("a") == 1
    stopped = time.monotonic()
    await a.stop()  # releases at once: b need not wait for the lease to run out
    assert task_a.done()
    await until(lambda: log.starts("b") == 1)
    assert log.events[-1][0] - stopped < TTL
    assert log.never_overlapped()
    await cancel(task_b)
    assert await store.leases.holder("poll", now=datetime.now().astimezone()) is None


async def test_a_dead_owners_work_is_taken_over_once_its_lease_ran_out(store: SqlStore) -> None:
    log = Log()
    # an owner that took the lease and died: nobody renews or releases it
    assert await store.leases.take("poll", "dead", now=SystemClock().now(), ttl=TTL)
    taken = time.monotonic()
    b = Leases(store.leases, SystemClock(), ttl=TTL, owner="b")
    task = asyncio.create_task(b.exclusive("poll", log.work("b")))
    await until(lambda: log.starts("b") == 1)
    assert log.events[0][0] - taken >= TTL * 0.9
    await cancel(task)


class Failing(LeaseRepository):
    """The lease repository of a process cut off from the database after its first take."""

    def __init__(self, real: LeaseRepository) -> None:
        self._real = real
        self.cut = False
        self.cut_at = 0.0

    async def take(self, name: str, owner: str, *, now: datetime, ttl: float) -> bool:
        if self.cut:
            await asyncio.Event().wait()  # a renewal that never comes back
        return await self._real.take(name, owner, now=now, ttl=ttl)

    async def release(self, name: str, owner: str) -> None:
        if self.cut:
            raise ConnectionError("the database is unreachable")

    async def release_all(self, owner: str) -> None:
        if self.cut:
            raise ConnectionError("the database is unreachable")


async def test_work_stops_before_its_lease_can_run_out_when_renewals_hang(
    store: SqlStore,
) -> None:
    log = Log()
    cut_off = Failing(store.leases)
    a = Leases(cut_off, SystemClock(), ttl=TTL, owner="a")
    b = Leases(store.leases, SystemClock(), ttl=TTL, owner="b")
    task_a = asyncio.create_task(a.exclusive("poll", log.work("a")))
    await until(lambda: log.starts("a") == 1)
    cut_off.cut = True
    task_b = asyncio.create_task(b.exclusive("poll", log.work("b")))
    await until(lambda: log.starts("b") == 1)
    # a stopped its work on its own, and b started only after that: they never ran together
    assert [(owner, what) for _, owner, what in log.events] == [
        ("a", "start"),
        ("a", "stop"),
        ("b", "start"),
    ]
    # with time to spare: a stopped a quarter of the ttl before its lease could run out
    assert log.events[2][0] - log.events[1][0] >= TTL / 4 * 0.9
    assert not task_a.done()  # a waits to take the lease again
    await cancel(task_b)
    await cancel(task_a)


async def test_work_that_returns_or_raises_ends_exclusive_and_frees_the_lease(
    store: SqlStore,
) -> None:
    leases = Leases(store.leases, SystemClock(), ttl=TTL, owner="a")
    done: list[str] = []

    async def finishes() -> None:
        done.append("finished")

    async def fails() -> None:
        raise RuntimeError("the loop broke")

    await leases.exclusive("poll", finishes)
    assert done == ["finished"]
    assert await store.leases.holder("poll", now=SystemClock().now()) is None
    with pytest.raises(RuntimeError, match="the loop broke"):
        await leases.exclusive("poll", fails)
    assert await store.leases.holder("poll", now=SystemClock().now()) is None
