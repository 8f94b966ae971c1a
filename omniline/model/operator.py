"""An operator as the distributor sees them: presence, shift, capacity and current load."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from omniline.model._base import Frozen


class Presence(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class Shift(StrEnum):
    NOT_STARTED = "not_started"
    """The working day has not started (or is finished)."""
    WORKING = "working"
    BREAK = "break"


class Operator(Frozen):
    id: str
    name: str
    presence: Presence = Presence.OFFLINE
    shift: Shift = Shift.NOT_STARTED
    capacity: int | None = Field(default=None, ge=1)
    """Most dialogs offered to or held by the operator at once; None takes the line's default."""
    load: int = 0
    """Dialogs offered to this operator alone or held by them now."""
