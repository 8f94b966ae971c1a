"""Desks from plugins: where operators work (a Telegram group, a helpdesk, ...).

A desk plugin's entry point (group ``omniline.desks``) names a :class:`~omniline.plugins.Plugin` of
kind ``desk``. Its desk gets a :class:`DeskHost`: the feed of everything that happens (dialog
events and messages, whispers included, in order, from a cursor it keeps), the operators' actions
(``dialogs``, ``operators``) which follow the same rules as every other desk, and a small durable
key-value state.

The feed is read from the database, so a desk sees what every worker process did. In this process
``wait_for_news`` wakes as soon as something happens; what other processes do is seen within the
``timeout`` it is given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from omniline.engine.clock import first_of
from omniline.engine.ports import Clock, FeedCursor, FeedPage
from omniline.services.leases import Leases
from omniline.store.sql_store import SqlStore
from omniline.store.state import PluginState

if TYPE_CHECKING:
    from omniline.pipeline.line import Line
    from omniline.services.dialogs import Dialogs
    from omniline.services.operators import Operators


class DeskHost:
    """What omniline offers a desk."""

    def __init__(
        self,
        *,
        clock: Clock,
        store: SqlStore,
        dialogs: Dialogs,
        operators: Operators,
        lines: Mapping[str, Line],
        operator_names: Mapping[str, str],
        news: asyncio.Event,
        name: str,
        leases: Leases,
    ) -> None:
        self.clock = clock
        self.store = store
        self.dialogs = dialogs
        self.operators = operators
        self.lines = lines
        self.operator_names = operator_names
        self._news = news
        self._name = name
        self._leases = leases
        self.state = PluginState(store.state, f"desk:{name}")
        """This desk's durable values (its feed cursor, its own ids for dialogs...)."""

    async def feed(self, cursor: FeedCursor, *, limit: int = 200) -> FeedPage:
        """What happened after ``cursor`` (see :meth:`FeedRepository.read <omniline.store.feed.FeedRepository.read>`)."""
        return await self.store.feed.read(cursor, limit=limit)

    async def feed_end(self) -> FeedCursor:
        """The cursor after everything that happened so far (a new desk starts from now)."""
        return await self.store.feed.end()

    async def wait_for_news(self, at_most: float) -> None:
        """Return when something happened in this process since the last call (at once if it
        did meanwhile), or after ``at_most`` seconds."""
        await first_of(self._news.wait(), self.clock.sleep(at_most))
        self._news.clear()

    async def exclusive(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` (a loop that must not run twice at once: polling a group's updates,
        writing the feed into it) in one worker process at a time: wait until this desk's lease
        ``name`` is this process's, run ``work`` while renewing it, cancel ``work`` if the lease
        is lost and run it afresh when it is taken again. Returns when ``work`` returns; cancel it
        to stop (the lease is released, the next process starts at once). ``work`` should read
        its place (a cursor, an offset) from ``state`` each time it starts: another process may
        have moved it meanwhile."""
        await self._leases.exclusive(f"desk:{self._name}:{name}", work)

    def author_name(self, author: str) -> str:
        """A message author as people read it (``operator:anna`` -> Anna's name)."""
        return author_name(author, self.operator_names)


def author_name(author: str, operator_names: Mapping[str, str]) -> str:
    """A message author (``client``, ``bot``, ``system``, ``operator:<id>``) as people read it."""
    kind, _, ident = author.partition(":")
    if kind == "operator":
        return operator_names.get(ident, ident)
    return {"client": "Client", "bot": "Bot", "system": "Auto-reply"}.get(kind, author)


__all__ = ["DeskHost", "PluginState", "author_name"]
