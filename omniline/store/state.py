"""Plugin state: small durable strings per plugin instance (a desk's cursor, a polling offset)."""

from __future__ import annotations

from functools import partial

from omniline.engine.ports import Clock
from omniline.store.executor import Executor, Tx
from omniline.store.rows import ts


class StateRepository:
    """Plugin state. Every method is one unit of work, one transaction."""

    def __init__(self, executor: Executor, clock: Clock) -> None:
        self._x = executor
        self._clock = clock

    async def load(self, owner: str, key: str) -> str | None:
        """A value a plugin saved (``owner`` names the plugin and its instance)."""
        return await self._x.run(partial(load, owner=owner, key=key))

    async def save(self, owner: str, key: str, value: str) -> None:
        now = ts(self._clock.now())
        await self._x.run(partial(save, owner=owner, key=key, value=value, now=now))


class PluginState:
    """Durable values of one plugin instance (``owner``), as strings: what a desk, a middleware or
    a polling channel keeps across restarts (a cursor, an offset, its own ids)."""

    def __init__(self, state: StateRepository, owner: str) -> None:
        self._state = state
        self.owner = owner

    async def get(self, key: str) -> str | None:
        return await self._state.load(self.owner, key)

    async def put(self, key: str, value: str) -> None:
        await self._state.save(self.owner, key, value)


def load(tx: Tx, owner: str, key: str) -> str | None:
    row = tx.first(tx.q.state_get, {"owner": owner, "key": key})
    return str(row["value"]) if row is not None else None


def save(tx: Tx, owner: str, key: str, value: str, now: float) -> None:
    tx.run(tx.q.state_put, {"owner": owner, "key": key, "value": value, "now": now})
