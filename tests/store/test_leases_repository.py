"""``store.leases``: one owner at a time per name, taken, renewed, run out and released, on SQLite
and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from omniline.store import SqlStore
from omniline.testing import VirtualClock


async def test_a_free_lease_is_taken_and_renewed_by_its_owner(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    leases, now = sql_store.leases, virtual_clock.now()
    assert await leases.holder("poll", now=now) is None
    assert await leases.take("poll", "a", now=now, ttl=10)
    assert await leases.holder("poll", now=now) == "a"
    later = now + timedelta(seconds=8)
    assert await leases.take("poll", "a", now=later, ttl=10)  # renewed: good until later + 10
    assert await leases.holder("poll", now=now + timedelta(seconds=15)) == "a"


async def test_a_held_lease_is_refused_to_a_second_owner(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    leases, now = sql_store.leases, virtual_clock.now()
    assert await leases.take("poll", "a", now=now, ttl=10)
    assert not await leases.take("poll", "b", now=now + timedelta(seconds=9.9), ttl=10)
    assert await leases.holder("poll", now=now) == "a"
    assert await leases.take("other", "b", now=now, ttl=10)  # names are apart


async def test_a_lease_that_ran_out_is_taken_over(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    leases, now = sql_store.leases, virtual_clock.now()
    assert await leases.take("poll", "a", now=now, ttl=10)
    after = now + timedelta(seconds=10)
    assert await leases.holder("poll", now=after) is None
    assert await leases.take("poll", "b", now=after, ttl=10)
    assert await leases.holder("poll", now=after) == "b"
    assert not await leases.take("poll", "a", now=after, ttl=10)  # the old owner cannot renew


async def test_a_released_lease_is_taken_at_once_and_only_its_owner_releases_it(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    leases, now = sql_store.leases, virtual_clock.now()
    assert await leases.take("poll", "a", now=now, ttl=10)
    await leases.release("poll", "b")  # not b's: nothing happens
    assert await leases.holder("poll", now=now) == "a"
    await leases.release("poll", "a")
    assert await leases.take("poll", "b", now=now, ttl=10)
    assert await leases.take("desk", "b", now=now, ttl=10)
    await leases.release_all("b")
    assert await leases.holder("poll", now=now) is None
    assert await leases.holder("desk", now=now) is None


async def test_owners_racing_for_a_free_lease_get_it_once(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    leases, now = sql_store.leases, virtual_clock.now()
    taken = await asyncio.gather(
        *(leases.take("poll", f"owner-{i}", now=now, ttl=10) for i in range(8))
    )
    assert taken.count(True) == 1
    winner = f"owner-{taken.index(True)}"
    assert await leases.holder("poll", now=now) == winner


async def test_owners_racing_for_a_lease_that_ran_out_get_it_once(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    leases, now = sql_store.leases, virtual_clock.now()
    assert await leases.take("poll", "dead", now=now, ttl=10)
    after = now + timedelta(seconds=11)
    taken = await asyncio.gather(
        *(leases.take("poll", f"owner-{i}", now=after, ttl=10) for i in range(8))
    )
    assert taken.count(True) == 1
