"""A dialog as stored: one episode of conversation between a client and a line."""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime

from omniline.model._base import Frozen
from omniline.model.identity import Identity
from omniline.model.messages import Attachment, Button, ContactShare, Location, Unsupported


class DialogStatus(StrEnum):
    BOT = "bot"
    QUEUED = "queued"
    OFFERED = "offered"
    ACTIVE = "active"
    CLOSED = "closed"


class Route(StrEnum):
    """Where a dialog stands with the distributor while no operator answers it."""

    WAITING = "waiting"
    """Queued because nobody could take it (all at capacity): given out as soon as someone can."""
    PARKED = "parked"
    """Nobody available, so offered by queue order to someone who is not (the line's rule); moved
    to the first operator who becomes available."""
    HOURS = "hours"
    """Queued outside working hours; routed when the line opens."""
    EXHAUSTED = "exhausted"
    """The whole queue was tried and nobody answered; waits for an operator to take it."""


class Dialog(Frozen):
    id: int
    line_id: str
    client_id: int
    identity: Identity
    status: DialogStatus
    operator_id: str | None = None
    pinned: bool = False
    opened_at: AwareDatetime
    closed_at: AwareDatetime | None = None
    rating: int | None = None
    hops: int = 0
    """How many times the dialog was offered to an operator (every hop is also in its log)."""
    route: Route | None = None
    tried: tuple[str, ...] = ()
    """Operators offered the dialog in the current round of the queue."""
    awaiting_rating: bool = False
    """The client was asked to rate the closed dialog and has not answered yet."""
    pending_buttons: tuple[tuple[Button, ...], ...] = ()
    """Buttons last shown to the client whose press comes back as text: a numbered list (their
    channel has no buttons) or a reply keyboard (the platform sends the label). A reply that is
    one of the numbers, or a button's label, stands for pressing that button."""


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class Visibility(StrEnum):
    CLIENT = "client"
    """The client sees it (everything they sent, everything sent to them)."""
    OPERATORS = "operators"
    """Operators only: whispers and system notes. Never delivered to, nor read back by, the client."""


class StoredMessage(Frozen):
    """A message in a dialog's history."""

    id: int
    dialog_id: int
    client_id: int
    direction: Direction
    visibility: Visibility
    author: str
    """``client``, ``bot``, ``system`` or ``operator:<id>``."""
    text: str | None = None
    attachments: tuple[Attachment, ...] = ()
    buttons: tuple[tuple[Button, ...], ...] = ()
    contact: ContactShare | None = None
    location: Location | None = None
    button_payload: str | None = None
    unsupported: Unsupported | None = None
    created_at: AwareDatetime
