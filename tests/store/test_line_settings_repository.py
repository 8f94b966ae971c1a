"""``store.line_settings``: lines' changed settings and their versions, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from omniline.store import SqlStore
from omniline.store.line_settings import StoredChanges
from omniline.testing import VirtualClock


def anything(merged: dict[str, Any]) -> None:
    return None


def no_greeting(merged: dict[str, Any]) -> None:
    if "greeting" in merged:
        raise ValueError("no greeting here")


async def test_merge_lays_changes_over_and_numbers_them(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    settings, now = sql_store.line_settings, virtual_clock.now()
    assert await settings.all() == []
    first = await settings.merge("sales", {"a": 1, "b": 2}, check=anything, by="root", now=now)
    assert first == StoredChanges(line_id="sales", version=1, changes={"a": 1, "b": 2})
    second = await settings.merge("sales", {"b": 3}, check=anything, by=None, now=now)
    assert second == StoredChanges(line_id="sales", version=2, changes={"a": 1, "b": 3})
    await settings.merge("support", {"c": [1, 2]}, check=anything, by=None, now=now)
    assert sorted(await settings.all(), key=lambda s: s.line_id) == [
        second,
        StoredChanges(line_id="support", version=1, changes={"c": [1, 2]}),
    ]
    assert await settings.versions() == {"sales": 2, "support": 1}


async def test_merge_writes_nothing_when_the_check_refuses(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    settings, now = sql_store.line_settings, virtual_clock.now()
    await settings.merge("sales", {"a": 1}, check=anything, by=None, now=now)
    with pytest.raises(ValueError, match="no greeting"):
        await settings.merge("sales", {"greeting": "hi"}, check=no_greeting, by=None, now=now)
    assert await settings.all() == [StoredChanges(line_id="sales", version=1, changes={"a": 1})]


async def test_concurrent_merges_keep_every_change(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    settings, now = sql_store.line_settings, virtual_clock.now()
    await asyncio.gather(
        *(settings.merge("sales", {f"k{n}": n}, check=anything, by=None, now=now) for n in range(6))
    )
    [stored] = await settings.all()
    assert stored.version == 6
    assert stored.changes == {f"k{n}": n for n in range(6)}


async def test_reset_drops_the_changes_with_the_next_version(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    settings, now = sql_store.line_settings, virtual_clock.now()
    assert await settings.reset("sales", now) is None
    await settings.merge("sales", {"a": 1}, check=anything, by=None, now=now)
    dropped = await settings.reset("sales", now)
    assert dropped == StoredChanges(line_id="sales", version=2, changes={"a": 1})
    assert await settings.all() == [StoredChanges(line_id="sales", version=2, changes={})]
