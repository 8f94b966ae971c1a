"""Inbound events (what a channel hands to omniline) and dialog events (the dialog's stored log)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, JsonValue, TypeAdapter

from omniline.model._base import Frozen
from omniline.model.identity import Identity
from omniline.model.messages import InboundMessage


class InboundEvent(Frozen):
    """One normalized update from a platform.

    ``event_id`` is the platform's own id for the update (Telegram ``update_id``, VK ``event_id``,
    Viber ``message_token``, the web chat's client message id). Together with the channel it is the
    inbox key: a redelivery with the same id is recognised and dropped.
    """

    event_id: str = Field(min_length=1, max_length=256)
    identity: Identity
    message: InboundMessage
    received_at: AwareDatetime
    platform_message_id: str | None = None
    raw: JsonValue = None
    """The platform's payload exactly as it came, for plugins and debugging."""


class _DialogEventBase(Frozen):
    at: AwareDatetime
    actor: str | None = None
    """Who caused it: ``client``, ``bot``, ``system`` or ``operator:<id>``."""


class Opened(_DialogEventBase):
    kind: Literal["opened"] = "opened"


class HandedOff(_DialogEventBase):
    kind: Literal["handed_off"] = "handed_off"
    reason: str | None = None


class Queued(_DialogEventBase):
    kind: Literal["queued"] = "queued"


class Offered(_DialogEventBase):
    kind: Literal["offered"] = "offered"
    operator_ids: tuple[str, ...]
    hop: int = 0
    """1 for the dialog's first offer, counting up with every further one."""
    parked: bool = False
    """Offered to someone unavailable because nobody in the queue was available."""


class Accepted(_DialogEventBase):
    kind: Literal["accepted"] = "accepted"
    operator_id: str


class Skipped(_DialogEventBase):
    kind: Literal["skipped"] = "skipped"
    operator_id: str
    reason: str | None = None
    """``skip`` (the operator passed), ``timeout`` (no answer in time), ``withdrawn`` (moved to an
    operator who became available) or ``unavailable``."""


class Withdrawn(_DialogEventBase):
    kind: Literal["withdrawn"] = "withdrawn"
    operator_ids: tuple[str, ...]
    """Operators who saw the dialog offered and no longer do (another one accepted it)."""


class Transferred(_DialogEventBase):
    kind: Literal["transferred"] = "transferred"
    from_operator_id: str | None = None
    to_operator_id: str | None = None
    to_line_id: str | None = None


class Invited(_DialogEventBase):
    kind: Literal["invited"] = "invited"
    operator_id: str


class Whispered(_DialogEventBase):
    kind: Literal["whisper"] = "whisper"
    operator_id: str
    text: str


class Pinned(_DialogEventBase):
    kind: Literal["pinned"] = "pinned"


class Unpinned(_DialogEventBase):
    kind: Literal["unpinned"] = "unpinned"


class Closed(_DialogEventBase):
    kind: Literal["closed"] = "closed"
    reason: str | None = None


class Reopened(_DialogEventBase):
    kind: Literal["reopened"] = "reopened"


class BackToBot(_DialogEventBase):
    kind: Literal["back_to_bot"] = "back_to_bot"


class Rated(_DialogEventBase):
    kind: Literal["rated"] = "rated"
    score: int = Field(ge=1, le=5)


DialogEvent = Annotated[
    Opened
    | HandedOff
    | Queued
    | Offered
    | Accepted
    | Skipped
    | Transferred
    | Invited
    | Whispered
    | Pinned
    | Unpinned
    | Closed
    | Reopened
    | Rated
    | Withdrawn
    | BackToBot,
    Field(discriminator="kind"),
]
"""Any event of a dialog's log; ``kind`` tells which."""

dialog_event_adapter: TypeAdapter[DialogEvent] = TypeAdapter(DialogEvent)


def parse_dialog_event(data: str | bytes) -> DialogEvent:
    """Read a dialog event back from its JSON form."""
    return dialog_event_adapter.validate_json(data)
