"""Durable timers fire once, at their time, and survive a failing handler."""

from __future__ import annotations

from datetime import timedelta

from omniline.engine.ports import Timer
from omniline.testing import Kit


async def test_a_timer_fires_once_at_its_time() -> None:
    async with Kit() as kit:
        fired: list[Timer] = []

        async def handler(timer: Timer) -> None:
            fired.append(timer)

        kit.app.scheduler.on("reminder", handler)
        due = kit.clock.now() + timedelta(minutes=5)
        await kit.app.store.timers.schedule("reminder", "dialog-1", due, data={"text": "ping"})
        await kit.advance(299)
        assert fired == []
        await kit.advance(1)
        assert [t.data for t in fired] == [{"text": "ping"}]
        await kit.advance(3600)
        assert len(fired) == 1


async def test_setting_a_timer_again_moves_it() -> None:
    async with Kit() as kit:
        fired: list[str] = []

        async def handler(timer: Timer) -> None:
            fired.append(timer.key)

        kit.app.scheduler.on("autoclose", handler)
        now = kit.clock.now()
        await kit.app.store.timers.schedule("autoclose", "d1", now + timedelta(seconds=60))
        await kit.app.store.timers.schedule("autoclose", "d1", now + timedelta(seconds=600))
        await kit.advance(120)
        assert fired == []
        await kit.advance(600)
        assert fired == ["d1"]


async def test_a_failing_handler_is_retried_after_the_lease() -> None:
    async with Kit() as kit:
        calls = 0

        async def flaky(timer: Timer) -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("CRM is down")

        kit.app.scheduler.on("crm-sync", flaky)
        await kit.app.store.timers.schedule("crm-sync", "c1", kit.clock.now())
        await kit.advance(0)
        assert calls == 1
        await kit.advance(kit.app.scheduler.lease - 1)
        assert calls == 1
        await kit.advance(2)
        assert calls == 2
        await kit.advance(kit.app.scheduler.lease * 3)
        assert calls == 2


async def test_a_cancelled_timer_never_fires() -> None:
    async with Kit() as kit:
        fired: list[str] = []

        async def handler(timer: Timer) -> None:
            fired.append(timer.key)

        kit.app.scheduler.on("t", handler)
        await kit.app.store.timers.schedule("t", "k", kit.clock.now() + timedelta(seconds=5))
        await kit.app.store.timers.cancel("t", "k")
        await kit.advance(10)
        assert fired == []
