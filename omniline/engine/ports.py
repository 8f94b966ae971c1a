"""The ports: what the engine and the pipeline need from the outside world, as protocols.

Adapters implement them: channel plugins the :class:`Channel`, ``omniline.testing`` a virtual
:class:`Clock`. The store is no port: it has one implementation, ``omniline.store.SqlStore``, and
these are the data its repositories exchange with the engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import Final, Protocol, runtime_checkable

from pydantic import AwareDatetime, Field, JsonValue, model_validator

from omniline.engine.settings import Distribution
from omniline.model import (
    ChannelRef,
    Dialog,
    DialogEvent,
    DialogStatus,
    Identity,
    InboundEvent,
    OutboundMessage,
    StoredMessage,
    Visibility,
)
from omniline.model._base import Frozen


class Unset(Enum):
    UNSET = "unset"


UNSET: Final = Unset.UNSET
"""Leave a field as it is (where None is a value of its own)."""


# --- time -----------------------------------------------------------------------------------------


class Clock(Protocol):
    """Where time comes from. Tests inject a virtual clock and move it by hand."""

    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


# --- channels -------------------------------------------------------------------------------------


class Capabilities(Frozen):
    """What a channel can render. Content beyond it is degraded in one shared place."""

    max_text_length: int = Field(default=4096, ge=16)
    buttons: bool = True
    """Reply-keyboard buttons."""
    inline_buttons: bool = True
    """Buttons attached to a message."""
    attachments: bool = True
    link_attachments: bool = False
    """Shared web pages (``AttachmentKind.LINK``) sent as such; without, each becomes a line of
    text with its title and url (no messenger sends a link as a file)."""
    edits: bool = False
    per_chat_rate: float | None = Field(default=None, gt=0)
    """Messages per second to one chat the platform tolerates (None: no limit)."""
    global_rate: float | None = Field(default=None, gt=0)
    """Messages per second across all chats of one account (None: no limit)."""


class Delivery(Frozen):
    """One part of an outbound message, taken from the outbox for a channel to send."""

    outbox_id: int
    delivery_key: str
    """Stable across retries: a channel that can pass an idempotency key to its platform uses it."""
    dialog_id: int
    message_id: int
    recipient: Identity
    message: OutboundMessage
    author: str = "bot"
    """``bot``, ``system`` or ``operator:<id>``."""
    attempt: int = 1


class Receipt(Frozen):
    """What the inbox answers a channel: the event is stored (or was already), so acknowledge it."""

    duplicate: bool
    inbox_id: int
    dialog_id: int
    message_id: int
    dialog: Dialog | None = None
    """The dialog as the event left it (absent for a duplicate)."""
    opened: bool = False
    """The event opened a new dialog."""
    reopened: bool = False
    """The event reopened a recently closed dialog."""


InboundSink = Callable[[InboundEvent], Awaitable[Receipt]]
"""Hands one inbound event to omniline. Returns once it is durably stored; raises if it could not be,
in which case the channel must not acknowledge the platform."""


@runtime_checkable
class Channel(Protocol):
    """One connected messenger account."""

    @property
    def ref(self) -> ChannelRef: ...

    @property
    def capabilities(self) -> Capabilities: ...

    async def start(self, sink: InboundSink) -> None:
        """Begin receiving: every inbound event goes to ``sink`` and is acknowledged after it."""
        ...

    async def stop(self) -> None:
        """Stop receiving and release connections. Deliveries in flight may finish."""
        ...

    async def send(self, delivery: Delivery) -> str:
        """Send one part and return the platform's message id. Raise ``DeliveryError`` on failure."""
        ...


class ChannelHost(Protocol):
    """What omniline offers a channel beyond the inbound sink."""

    @property
    def clock(self) -> Clock: ...

    async def history(
        self, identity: Identity, *, after_id: int = 0, limit: int = 100
    ) -> list[StoredMessage]:
        """What ``identity`` can read back of its conversation (never operator-only notes)."""
        ...

    async def update_profile(self, identity: Identity) -> None:
        """Remember profile fields the person gave (name, phone, email...)."""
        ...

    def author_name(self, author: str) -> str | None:
        """The name to show for an author (``operator:<id>`` -> the operator's name)."""
        ...

    async def load_state(self, key: str) -> str | None:
        """A value this channel saved (a polling offset...), kept across restarts."""
        ...

    async def save_state(self, key: str, value: str) -> None:
        """Keep a small value for this channel durably (in omniline's database)."""
        ...

    async def exclusive(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` (a polling loop) in one worker process at a time: wait until this channel's
        lease ``name`` is this process's, run ``work`` while renewing it, cancel ``work`` if the
        lease is lost and run it afresh when it is taken again. Returns when ``work`` returns;
        cancel it to stop (the lease is released, the next process starts at once)."""
        ...


# --- desks ---------------------------------------------------------------------------------------


class FeedCursor(Frozen):
    """Where a reader of the feed is: the last dialog event and the last message it has seen."""

    event_id: int = 0
    message_id: int = 0


class FeedEvent(Frozen):
    id: int
    dialog_id: int
    event: DialogEvent


class FeedPage(Frozen):
    """What happened after a cursor: dialog events and messages (whispers included), each in
    order, and the cursor after them. Read again from ``cursor`` for what follows."""

    events: tuple[FeedEvent, ...]
    messages: tuple[StoredMessage, ...]
    cursor: FeedCursor


@runtime_checkable
class Desk(Protocol):
    """Where operators work, from a plugin (group ``omniline.desks``): it follows the feed and
    acts through the host's ``dialogs`` and ``operators``."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


# --- storage --------------------------------------------------------------------------------------


class SendAction(Frozen):
    """Send a message in the dialog (to the client, or among operators when visibility says so)."""

    author: str
    message: OutboundMessage
    parts: tuple[OutboundMessage, ...]
    """The message as the channel will send it (degraded, split); empty for operator-only notes."""
    visibility: Visibility = Visibility.CLIENT


class LogAction(Frozen):
    event: DialogEvent


class StatusAction(Frozen):
    """Move the dialog from ``expected`` to ``status``, held by ``operator_id``; fails the whole
    unit if it moved meanwhile. Operators' loads follow in the same transaction: the new holder's
    is raised only if it stays within ``capacity`` (their own, else this default), otherwise the
    unit fails with ``OperatorBusy``."""

    expected: DialogStatus
    status: DialogStatus
    operator_id: str | None = None
    capacity: int = 1_000_000
    new_round: bool = False
    """Back to the queue for a new round: operators offered it before may be offered it again."""
    counts_as_offer: bool = False
    """The move offers the dialog (a transfer to a colleague): one more hop."""


class RoutePlan(Frozen):
    """How to give a queued dialog to an operator: the line's rules, decided in the database."""

    line_id: str
    distribution: Distribution
    """The mode, whose strategy (``omniline.engine.distribution``) chooses among the queue."""
    default_capacity: int = Field(ge=1)
    only_online: bool
    only_working: bool
    timeout: float = Field(gt=0)
    """Seconds an offered operator has to accept."""
    offer_due: AwareDatetime | None = None
    """When an offer made now times out, if not ``timeout`` seconds from now (the line's
    working hours: time when the line is closed does not count)."""
    prefer: tuple[str, ...] = ()
    """Operators to try before the queue if they are available (the CRM's responsible manager),
    even if they are not in the line's queue."""
    return_within: float | None = None
    """Also prefer the operator who served the client last, if within this many seconds."""
    circulate: bool = False
    """When everyone was tried, start again from the top of the queue."""
    when_exhausted: tuple[SendAction | LogAction, ...] = ()
    """What to do when everyone was tried and nobody answered (unless circulating)."""


class RouteAction(Frozen):
    """Offer the dialog, if it is queued, by ``plan`` (one atomic statement decides who)."""

    plan: RoutePlan


class TimerAction(Frozen):
    """Set the timer (kind, key) to ``due_at``, or cancel it (``due_at`` None), with the dialog's
    other changes. With ``rearm`` (and no ``due_at``), set a timer that has fired back to wait at
    its own due time instead, so that it fires again (at once if that time has passed); nothing
    when there is no such timer."""

    kind: str
    key: str
    due_at: AwareDatetime | None
    data: JsonValue = None
    rearm: bool = False

    @model_validator(mode="after")
    def _rearm_keeps_its_time(self) -> TimerAction:
        if self.rearm and self.due_at is not None:
            raise ValueError("a timer re-armed keeps its own due time: give no due_at")
        return self


class FieldsAction(Frozen):
    """Change the dialog's own fields (those given)."""

    pinned: bool | None = None
    awaiting_rating: bool | None = None
    rating: int | None = Field(default=None, ge=1, le=5)
    route: str | None = None
    """A :class:`~omniline.model.Route` value, or "" to clear it."""
    line_id: str | None = None
    """Move the dialog to this line (a transfer)."""


class ProfileAction(Frozen):
    """Remember contact details the client gave (``phone``, ``email``, ``name``) on the identity
    they wrote from. A field the identity has already keeps its first value."""

    fields: dict[str, str]
    message_id: int | None = None
    """The message the details came in (the chat tracker records why it linked clients)."""
    link: bool = True
    """Let the chat tracker join the client who gave the same phone or email first."""


class MemberAction(Frozen):
    """Invite an operator into the dialog (``join``) or let them leave."""

    operator_id: str
    join: bool = True


DialogAction = (
    SendAction
    | LogAction
    | StatusAction
    | RouteAction
    | TimerAction
    | FieldsAction
    | MemberAction
    | ProfileAction
)


class OutboxResult(Frozen):
    outbox_id: int
    outcome: str = Field(pattern="^(sent|retry|failed)$")
    platform_message_id: str | None = None
    error: str | None = None
    next_attempt_at: AwareDatetime | None = None


class Timer(Frozen):
    id: int
    kind: str
    key: str
    due_at: AwareDatetime
    dialog_id: int | None = None
    data: JsonValue = None


class PendingInbound(Frozen):
    """An inbound event that was stored but whose pipeline run did not finish (e.g. a crash)."""

    receipt: Receipt
    event: InboundEvent
    line_id: str


__all__ = [
    "Capabilities",
    "Channel",
    "ChannelHost",
    "Clock",
    "Delivery",
    "Desk",
    "DialogAction",
    "FeedCursor",
    "FeedEvent",
    "FeedPage",
    "FieldsAction",
    "InboundSink",
    "LogAction",
    "MemberAction",
    "OutboxResult",
    "PendingInbound",
    "ProfileAction",
    "Receipt",
    "RouteAction",
    "RoutePlan",
    "SendAction",
    "StatusAction",
    "Timer",
    "TimerAction",
]
