"""``store.throttle``: each key's stored time, moved on under a lock, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from omniline.store import SqlStore
from omniline.testing import VirtualClock


def plus_one(stored: float) -> tuple[float, float | None]:
    return stored, stored + 1.0


async def test_advance_stores_what_the_step_says(sql_store: SqlStore) -> None:
    throttle = sql_store.throttle
    assert await throttle.read("login:anna") == 0.0
    assert await throttle.advance("login:anna", lambda stored: (7.0, 100.0)) == 7.0
    assert await throttle.read("login:anna") == 100.0
    # None leaves the stored time as it is.
    assert await throttle.advance("login:anna", lambda stored: (stored, None)) == 100.0
    assert await throttle.read("login:anna") == 100.0
    assert await throttle.read("login:other") == 0.0


async def test_concurrent_advances_of_one_key_lose_no_step(sql_store: SqlStore) -> None:
    throttle = sql_store.throttle
    await asyncio.gather(*(throttle.advance("address:1", plus_one) for _ in range(10)))
    assert await throttle.read("address:1") == 10.0


async def test_advance_forgets_keys_older_than_asked(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    throttle, now = sql_store.throttle, virtual_clock.now()
    old = (now - timedelta(hours=2)).timestamp()
    await throttle.advance("old", lambda stored: (0.0, old))
    await throttle.advance("new", lambda stored: (0.0, now.timestamp()))
    await throttle.advance("new", plus_one, forget_before=now - timedelta(hours=1))
    assert await throttle.read("old") == 0.0
    assert await throttle.read("new") == now.timestamp() + 1.0
