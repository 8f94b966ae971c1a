"""What the built-in console gets from the application, in the manner of a desk plugin's
:class:`~omniline.services.desk_plugins.DeskHost`: the services it acts through and the few stores and settings it
reads, never the application itself.

Keeping the console on this narrow host means it follows the same rules as every other desk (it
acts through ``dialogs`` and ``operators``), it can be built in a test from parts, and the
application does not depend on the console's module in both directions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from omniline.config.models import ConsoleConfig
from omniline.crm.service import CrmService
from omniline.engine.ports import Clock
from omniline.pipeline.line import Line
from omniline.services.dialogs import Dialogs
from omniline.services.line_changes import LineChanges
from omniline.services.operators import Operators
from omniline.services.scheduler import Scheduler
from omniline.store.sql_store import SqlStore

Rename = Callable[[str, str], Awaitable[None]]
"""Gives an operator a new display name, everywhere in this process and in the database."""


@dataclass(frozen=True)
class ConsoleHost:
    """What omniline offers its own console."""

    clock: Clock
    store: SqlStore
    """The SQL store: the console's accounts, sessions and files are tables beside the dialogs."""
    dialogs: Dialogs
    operators: Operators
    lines: Mapping[str, Line]
    line_changes: LineChanges
    scheduler: Scheduler
    """For the durable timer that sets an operator offline when their consoles have closed."""
    settings: ConsoleConfig
    operator_names: Mapping[str, str]
    """Read-only: a name changes through :attr:`rename_operator`, so that the application, which
    shares the names with the dialogs service and the desks, stays their one owner."""
    rename_operator: Rename
    base_url: Callable[[], str]
    """Where this server is reached from outside (files are linked there); known once it
    listens, hence asked for when needed."""
    public_url: str | None
    """``server.public_url``: the origin of the console's pages behind a proxy."""
    crm: CrmService | None = None
