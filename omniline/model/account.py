"""Who may use the console and the API: accounts with roles, their sessions and API tokens.

Pure data, shared by the store (which keeps them) and the desk (which checks them).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from omniline.model._base import Frozen

LOGIN_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"


class Role(StrEnum):
    OPERATOR = "operator"
    """Sees and acts on the dialogs of the lines whose queue they are in."""
    SUPERVISOR = "supervisor"
    """Sees every dialog of their lines, the statistics, and moves dialogs between operators."""
    ADMIN = "admin"
    """Everything, including lines' settings, operators and accounts."""


RANK = {Role.OPERATOR: 0, Role.SUPERVISOR: 1, Role.ADMIN: 2}


class Account(Frozen):
    id: str = Field(pattern=LOGIN_PATTERN)
    name: str
    role: Role
    operator_id: str | None = None
    """The operator this account acts as (takes dialogs, answers clients); None for a supervisor
    or admin who does not take dialogs."""
    lines: tuple[str, ...] | None = None
    """The lines this account sees; None: an operator's queues, every line for the others."""
    disabled: bool = False

    def at_least(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]


class ApiToken(Frozen):
    id: int
    account_id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class Session(Frozen):
    account: Account
    csrf_token: str
    expires_at: datetime
