"""The SQL store over SQLite or PostgreSQL: one repository per kind of thing it keeps."""

from __future__ import annotations

from omniline.engine.ports import Clock
from omniline.store.clients import ClientStore
from omniline.store.dialogs import DialogStore
from omniline.store.executor import Executor
from omniline.store.feed import FeedStore
from omniline.store.inbox import InboxStore
from omniline.store.operators import OperatorStore
from omniline.store.outbox import OutboxStore
from omniline.store.state import StateStore
from omniline.store.stats import StatsStore
from omniline.store.timers import TimerStore


class SqlStore:
    """Durable state in one SQL database, kept by small repositories that share one executor.

    Every method of every repository is one unit of work, one transaction; a change that must be
    atomic with a dialog's (a timer, a profile, an outbox row) is an action of
    :meth:`DialogStore.apply <omniline.store.dialogs.DialogStore.apply>`.
    """

    def __init__(self, executor: Executor, clock: Clock, *, outbox_lease: float = 60.0) -> None:
        self._x = executor
        self.inbox = InboxStore(executor, clock)
        self.dialogs = DialogStore(executor, clock, outbox_lease=outbox_lease)
        self.outbox = OutboxStore(executor, clock)
        self.timers = TimerStore(executor, clock)
        self.operators = OperatorStore(executor, clock)
        self.feed = FeedStore(executor, clock)
        self.state = StateStore(executor, clock)
        self.clients = ClientStore(executor, clock)
        self.stats = StatsStore(executor)

    @property
    def executor(self) -> Executor:
        """Where units of work run: for parts that keep their own tables (the embedded CRM)."""
        return self._x

    @property
    def dialect_name(self) -> str:
        return self._x.dialect_name

    async def close(self) -> None:
        await self._x.close()
