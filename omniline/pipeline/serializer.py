"""Run jobs one at a time per key, in submission order; different keys run concurrently.

No task lives longer than its key has work: a key's worker ends when its queue is empty, so memory
follows the number of busy dialogs, not the number of open ones.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

Job = Callable[[], Awaitable[Any]]


class KeyedSerializer:
    def __init__(self) -> None:
        self._queues: dict[Hashable, deque[tuple[Job, asyncio.Future[Any]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, key: Hashable, job: Job) -> asyncio.Future[Any]:
        """Queue ``job`` behind the jobs already queued for ``key``; the future gets its result."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(key)
        if queue is not None:
            queue.append((job, future))
            return future
        self._queues[key] = deque([(job, future)])
        self._idle.clear()
        task = asyncio.create_task(self._drain(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return future

    async def _drain(self, key: Hashable) -> None:
        queue = self._queues[key]
        try:
            while queue:
                job, future = queue[0]
                try:
                    result = await job()
                except Exception as exc:
                    if not future.done():
                        future.set_exception(exc)
                else:
                    if not future.done():
                        future.set_result(result)
                queue.popleft()
        finally:
            del self._queues[key]
            if not self._queues:
                self._idle.set()

    def keys(self) -> list[Hashable]:
        """The keys with work queued or running."""
        return list(self._queues)

    @property
    def busy_keys(self) -> int:
        return len(self._queues)

    async def join(self) -> None:
        """Wait until every queued job has finished."""
        while self._queues:
            await self._idle.wait()
