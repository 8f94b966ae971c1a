"""``store.presence``: open consoles per operator and process, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from omniline.store import SqlStore
from omniline.testing import VirtualClock


async def test_put_counts_and_zero_drops(sql_store: SqlStore, virtual_clock: VirtualClock) -> None:
    presence, now = sql_store.presence, virtual_clock.now()
    await presence.put("anna", process="p1", sockets=2, now=now)
    assert await presence.is_connected("anna", since=now)
    assert not await presence.is_connected("anna", since=now + timedelta(seconds=1))
    assert not await presence.is_connected("boris", since=now - timedelta(hours=1))
    await presence.put("anna", process="p1", sockets=1, now=now + timedelta(seconds=5))
    assert await presence.is_connected("anna", since=now + timedelta(seconds=5))
    await presence.put("anna", process="p1", sockets=0, now=now)
    assert not await presence.is_connected("anna", since=now - timedelta(hours=1))


async def test_sweep_refreshes_this_process_and_drops_stale_ones(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    presence, start = sql_store.presence, virtual_clock.now()
    await presence.put("anna", process="p1", sockets=1, now=start)
    await presence.put("boris", process="dead", sockets=1, now=start)
    await presence.put("vera", process="dead", sockets=3, now=start)
    later = start + timedelta(seconds=100)
    gone = await presence.sweep("p1", now=later, stale_before=later - timedelta(seconds=90))
    assert sorted(gone) == ["boris", "vera"]
    assert await presence.is_connected("anna", since=later)
    assert not await presence.is_connected("boris", since=start)
    assert await presence.sweep("p1", now=later, stale_before=later) == []


async def test_leave_drops_the_process_and_names_its_operators(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    presence, now = sql_store.presence, virtual_clock.now()
    await presence.put("anna", process="p1", sockets=1, now=now)
    await presence.put("boris", process="p1", sockets=2, now=now)
    await presence.put("anna", process="p2", sockets=1, now=now)
    assert sorted(await presence.leave("p1")) == ["anna", "boris"]
    assert not await presence.is_connected("boris", since=now)
    assert await presence.is_connected("anna", since=now)  # still open on p2
    assert await presence.leave("p1") == []
