"""The dialog state machine: which transitions exist, as data.

``bot -> queued -> offered -> active -> closed``, plus the side roads of the architecture: skip and
timeout send an offered dialog back to the queue, transfer sends an active one back, an operator can
hand a dialog back to the bot, and a closed dialog can be reopened.
"""

from __future__ import annotations

from enum import StrEnum

from omniline.errors import DialogError
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
    OFFER = "offer"
    ACCEPT = "accept"
    SKIP = "skip"
    TIMEOUT = "timeout"
    TRANSFER = "transfer"
    BACK_TO_BOT = "back_to_bot"
    CLOSE = "close"
    REOPEN = "reopen"


TRANSITIONS: dict[Transition, dict[DialogStatus, DialogStatus]] = {
    Transition.HANDOFF: {BOT: QUEUED},
    Transition.OFFER: {QUEUED: OFFERED},
    Transition.ACCEPT: {OFFERED: ACTIVE, QUEUED: ACTIVE},
    Transition.SKIP: {OFFERED: QUEUED},
    Transition.TIMEOUT: {OFFERED: QUEUED},
    Transition.TRANSFER: {ACTIVE: QUEUED, OFFERED: QUEUED},
    Transition.BACK_TO_BOT: {QUEUED: BOT, OFFERED: BOT, ACTIVE: BOT},
    Transition.CLOSE: {BOT: CLOSED, QUEUED: CLOSED, OFFERED: CLOSED, ACTIVE: CLOSED},
    Transition.REOPEN: {CLOSED: QUEUED},
}


def next_status(current: DialogStatus, transition: Transition) -> DialogStatus:
    """The status after ``transition``, or a ``DialogError`` saying why it cannot happen now."""
    target = TRANSITIONS[transition].get(current)
    if target is None:
        allowed = ", ".join(s.value for s in TRANSITIONS[transition])
        raise DialogError(
            f"cannot {transition.value} a dialog that is {current.value} (only from: {allowed})"
        )
    return target
