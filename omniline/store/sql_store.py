"""The SQL store over SQLite or PostgreSQL: one repository per kind of thing it keeps."""

from __future__ import annotations

from omniline.engine.ports import Clock
from omniline.store.accounts import AccountRepository
from omniline.store.clients import ClientRepository
from omniline.store.console import ConsoleRepository
from omniline.store.crm import CrmRepository
from omniline.store.dialogs import DialogRepository
from omniline.store.executor import Executor, Tx
from omniline.store.feed import FeedRepository
from omniline.store.gauges import GaugeRepository
from omniline.store.inbox import InboxRepository
from omniline.store.leases import LeaseRepository
from omniline.store.line_settings import LineSettingsRepository
from omniline.store.operators import OperatorRepository
from omniline.store.outbox import OutboxRepository
from omniline.store.presence import PresenceRepository
from omniline.store.state import StateRepository
from omniline.store.stats import StatsRepository
from omniline.store.throttle import ThrottleRepository
from omniline.store.timers import TimerRepository


class SqlStore:
    """Durable state in one SQL database, kept by small repositories that share one executor.

    Every method of every repository is one unit of work, one transaction; a change that must be
    atomic with a dialog's (a timer, a profile, an outbox row) is an action of
    :meth:`DialogRepository.apply <omniline.store.dialogs.DialogRepository.apply>`.
    """

    def __init__(self, executor: Executor, clock: Clock, *, outbox_lease: float = 60.0) -> None:
        self._x = executor
        self.inbox = InboxRepository(executor, clock)
        self.dialogs = DialogRepository(executor, clock, outbox_lease=outbox_lease)
        self.outbox = OutboxRepository(executor, clock)
        self.timers = TimerRepository(executor, clock)
        self.operators = OperatorRepository(executor, clock)
        self.feed = FeedRepository(executor, clock)
        self.state = StateRepository(executor, clock)
        self.clients = ClientRepository(executor, clock)
        self.stats = StatsRepository(executor)
        # The console, its login throttle and presence, run-time line settings, the embedded CRM.
        self.accounts = AccountRepository(executor)
        self.console = ConsoleRepository(executor)
        self.throttle = ThrottleRepository(executor)
        self.presence = PresenceRepository(executor)
        self.line_settings = LineSettingsRepository(executor)
        self.crm = CrmRepository(executor)
        # Which worker process runs the loops that one process at a time may run.
        self.leases = LeaseRepository(executor)
        self.gauges = GaugeRepository(executor)  # what /metrics reads from the database

    @property
    def dialect_name(self) -> str:
        return self._x.dialect_name

    @property
    def available(self) -> bool:
        """False while the database is known to be unreachable (units fail with
        ``StoreUnavailable`` meanwhile)."""
        return self._x.available

    async def schema_revision(self) -> str | None:
        """The schema revision the database is at (None: none recorded), read through the
        running store: one round trip, which also shows that the database answers."""
        return await self._x.run(_schema_revision)

    async def close(self) -> None:
        await self._x.close()


def _schema_revision(tx: Tx) -> str | None:
    row = tx.first(tx.q.schema_revision, {})
    return str(row["version_num"]) if row is not None else None
