"""The real clock. Tests use ``omniline.testing.VirtualClock`` instead."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime


async def first_of(*waits: Awaitable[object]) -> None:
    """Wait until the first of ``waits`` finishes; the others are cancelled, even when this wait
    is cancelled itself (no task is left behind)."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class SystemClock:
    """Wall-clock time in UTC and ``asyncio.sleep``."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))
