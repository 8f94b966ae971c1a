"""Fixtures: a fake Bitrix24 portal on 127.0.0.1, a CRM talking to it, and a driver that runs a
test's calls while moving a virtual clock shared by the CRM and the portal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from omniline_bitrix24 import Bitrix24Crm
from omniline_bitrix24.testing import CrmTestHost, FakeBitrix24, fake_bitrix24

from omniline.testing import VirtualClock

T = TypeVar("T")
Drive = Callable[[Awaitable[T]], Awaitable[T]]


@pytest_asyncio.fixture
async def portal() -> AsyncIterator[FakeBitrix24]:
    async with fake_bitrix24() as fake:
        yield fake


@pytest_asyncio.fixture
async def crm(portal: FakeBitrix24) -> AsyncIterator[Bitrix24Crm]:
    crm = Bitrix24Crm(portal.settings(), CrmTestHost())
    try:
        yield crm
    finally:
        await crm.close()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest_asyncio.fixture
async def clocked_portal(clock: VirtualClock) -> AsyncIterator[FakeBitrix24]:
    """A portal on the virtual clock: its leaky bucket drains only as the clock moves."""
    async with fake_bitrix24(clock=clock) as fake:
        yield fake


@pytest.fixture
def drive(clock: VirtualClock) -> Callable[..., Awaitable[Any]]:
    """``await drive(*awaitables)``: run them to their end (their results, in order; one result
    for one awaitable), moving the virtual clock in small steps. The clock moves only when every
    unfinished one waits on it, so no call is in flight to the fake while time jumps."""

    async def run(*awaitables: Awaitable[Any], step: float = 0.05, limit: float = 600.0) -> Any:
        tasks = [asyncio.ensure_future(a) for a in awaitables]
        moved = 0.0
        try:
            while not all(t.done() for t in tasks):
                for _ in range(2000):  # a call on the loopback: well under a second
                    await asyncio.sleep(0.001)
                    if clock.sleepers >= sum(not t.done() for t in tasks):
                        break
                if all(t.done() for t in tasks):
                    break
                if moved >= limit:
                    raise AssertionError(f"still running after {limit} virtual seconds")
                await clock.advance(step)
                moved += step
        finally:
            for t in tasks:
                t.cancel()
        results = [t.result() for t in tasks]
        return results[0] if len(results) == 1 else results

    return run
