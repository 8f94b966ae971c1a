"""Clients across channels: the chat tracker's links (and undoing them), the CRM record that
stands for a client, and every contact value a client gave. The tracking itself happens in
``store.tracker``, inside the transaction that stores the values."""

from __future__ import annotations

from functools import partial

from omniline.engine.ports import Clock
from omniline.model import ClientLink
from omniline.store import tracker
from omniline.store.executor import Executor
from omniline.store.rows import ts


class ClientRepository:
    """Clients. Every method is one unit of work, one transaction."""

    def __init__(self, executor: Executor, clock: Clock) -> None:
        self._x = executor
        self._clock = clock

    async def links(self, client_id: int) -> list[ClientLink]:
        """Why identities were moved into (or out of) the client, oldest first."""
        return await self._x.run(partial(tracker.links, client_id=client_id))

    async def unmerge(self, link_id: int) -> ClientLink:
        """Undo a link: the identity and its history go back to the client they came from."""
        now = ts(self._clock.now())
        return await self._x.run(partial(tracker.unmerge, link_id=link_id, at=now))

    async def record(self, client_id: int) -> str | None:
        """The CRM record that stands for the client."""
        return await self._x.run(partial(tracker.record_of, client_id=client_id))

    async def link_record(self, client_id: int, record_id: str) -> None:
        now = ts(self._clock.now())
        await self._x.run(
            partial(tracker.link_record, client_id=client_id, record_id=record_id, at=now)
        )

    async def contact_values(self, client_id: int) -> dict[str, list[str]]:
        """Phones, emails and messenger identities of all the client's identities."""
        return await self._x.run(partial(tracker.contact_values, client_id=client_id))
