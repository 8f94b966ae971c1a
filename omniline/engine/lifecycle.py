"""The dialog state machine: which transitions exist, as data, and the one way to build a move.

``bot -> queued -> offered -> active -> closed``, plus the side roads the code takes: skip, timeout
and a withdrawn parked offer send an offered dialog back to the queue; a transfer offers the dialog
to a colleague or queues it on another line; an operator can hand a dialog back to the bot; a
closed dialog is reopened into the queue by the client writing again, or straight to an operator
who reopens it from its history.

Every status change in omniline is built here: :func:`transition` makes the ``StatusAction`` that
``Dialogs`` and the pipeline apply, the store's own moves (an offer, a reopen in ingest) take their
target from :func:`next_status`, and the store refuses through :func:`check_move` any
``StatusAction`` whose move is not in :data:`TRANSITIONS` (and through :func:`check_opening` a new
dialog in a status other than :data:`OPENS_AS`), so the table is what the writes obey.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from omniline.engine.ports import StatusAction
from omniline.errors import IllegalTransition
from omniline.model import DialogStatus

BOT, QUEUED, OFFERED, ACTIVE, CLOSED = (
    DialogStatus.BOT,
    DialogStatus.QUEUED,
    DialogStatus.OFFERED,
    DialogStatus.ACTIVE,
    DialogStatus.CLOSED,
)


class Transition(StrEnum):
    HANDOFF = "handoff"
    """The bot (or the client asking for a person) hands the dialog to the line's queue."""
    OFFER = "offer"
    """The distributor offers a queued dialog to an operator, or to all of them at once."""
    ACCEPT = "accept"
    """An operator takes a dialog offered to them, or one waiting in the queue."""
    SKIP = "skip"
    """The offered operator passes: the dialog goes to the next one."""
    TIMEOUT = "timeout"
    """The offered operator did not accept in time: the dialog goes to the next one."""
    WITHDRAW = "withdraw"
    """A dialog parked with an unavailable operator is taken back to be offered afresh."""
    TRANSFER = "transfer"
    """The dialog is offered to a colleague, who accepts it like any offer."""
    TRANSFER_TO_LINE = "transfer_to_line"
    """The holder sends the dialog to another line's queue."""
    BACK_TO_BOT = "back_to_bot"
    CLOSE = "close"
    """By an operator, by auto-close, by the bot or by code."""
    REOPEN = "reopen"
    """The client writes again within the line's reopen window (in ingest)."""
    REOPEN_TO_OPERATOR = "reopen_to_operator"
    """An operator reopens a closed dialog from its history and holds it at once."""


TRANSITIONS: Final[dict[Transition, dict[DialogStatus, DialogStatus]]] = {
    Transition.HANDOFF: {BOT: QUEUED},
    Transition.OFFER: {QUEUED: OFFERED},
    Transition.ACCEPT: {OFFERED: ACTIVE, QUEUED: ACTIVE},
    Transition.SKIP: {OFFERED: QUEUED},
    Transition.TIMEOUT: {OFFERED: QUEUED},
    Transition.WITHDRAW: {OFFERED: QUEUED},
    Transition.TRANSFER: {ACTIVE: OFFERED, OFFERED: OFFERED, QUEUED: OFFERED},
    Transition.TRANSFER_TO_LINE: {ACTIVE: QUEUED},
    Transition.BACK_TO_BOT: {QUEUED: BOT, OFFERED: BOT, ACTIVE: BOT},
    Transition.CLOSE: {BOT: CLOSED, QUEUED: CLOSED, OFFERED: CLOSED, ACTIVE: CLOSED},
    Transition.REOPEN: {CLOSED: QUEUED},
    Transition.REOPEN_TO_OPERATOR: {CLOSED: ACTIVE},
}

OPENS_AS: Final = frozenset({BOT, QUEUED})
"""The statuses a new dialog starts in: ``bot`` on a line with a bot, else ``queued``."""

MOVES: Final = frozenset(
    (before, after) for moves in TRANSITIONS.values() for before, after in moves.items()
)
"""Every (from, to) pair some transition makes: what the store lets a ``StatusAction`` do."""

_NEW_ROUND: Final = frozenset({Transition.WITHDRAW, Transition.TRANSFER_TO_LINE})
"""Moves that start the queue's round afresh: operators tried before may be offered it again
(a skip or a timeout keeps the round, so the dialog goes on to the next operator)."""

_COUNTS_AS_OFFER: Final = frozenset({Transition.TRANSFER})
"""Moves that offer the dialog themselves, so they count one more hop like the distributor's."""


def next_status(current: DialogStatus, transition: Transition) -> DialogStatus:
    """The status after ``transition``, or ``IllegalTransition`` saying why it cannot happen now."""
    target = TRANSITIONS[transition].get(current)
    if target is None:
        allowed = ", ".join(s.value for s in TRANSITIONS[transition])
        raise IllegalTransition(
            f"cannot {transition.value} a dialog that is {current.value} (only from: {allowed})"
        )
    return target


def transition(
    current: DialogStatus,
    which: Transition,
    *,
    operator_id: str | None = None,
    capacity: int | None = None,
) -> StatusAction:
    """The status change ``which`` makes from ``current``, to be held by ``operator_id``.

    ``capacity`` is the line's default for a holder without their own; without it the action
    keeps ``StatusAction``'s own (a move to nobody has no room to check)."""
    return StatusAction(
        expected=current,
        status=next_status(current, which),
        operator_id=operator_id,
        new_round=which in _NEW_ROUND,
        counts_as_offer=which in _COUNTS_AS_OFFER,
        **({} if capacity is None else {"capacity": capacity}),
    )


def check_opening(status: DialogStatus) -> None:
    """Refuse to open a dialog in a status it cannot start in: nobody holds a new dialog yet, so it
    cannot be offered or active, and it is not over."""
    if status not in OPENS_AS:
        allowed = ", ".join(sorted(s.value for s in OPENS_AS))
        raise IllegalTransition(f"a dialog cannot open {status.value} (only: {allowed})")


def check_move(action: StatusAction) -> None:
    """Refuse a status change that no transition makes (a ``StatusAction`` built by hand)."""
    if (action.expected, action.status) not in MOVES:
        raise IllegalTransition(
            f"no transition moves a dialog from {action.expected.value} to "
            f"{action.status.value}; build status changes with omniline.engine.lifecycle."
            "transition()"
        )
