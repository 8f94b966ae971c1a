"""The ports: what the engine and the pipeline need from the outside world, as protocols.

Adapters implement them: ``omniline.store`` the :class:`Store`, channel plugins the :class:`Channel`,
``omniline.testing`` a virtual :class:`Clock`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from pydantic import AwareDatetime, Field, JsonValue

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
    """Move the dialog from ``expected`` to ``status``; fails the whole unit if it moved meanwhile."""

    expected: DialogStatus
    status: DialogStatus
    operator_id: str | None = None


DialogAction = SendAction | LogAction | StatusAction


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


class Store(Protocol):
    """Durable state. Every method is one unit of work: it commits whole or not at all."""

    async def ingest(
        self, event: InboundEvent, *, line_id: str, initial_status: DialogStatus
    ) -> Receipt:
        """Store an inbound event in the inbox and in its dialog (opening one if none is open).
        A redelivery (same channel and event id) changes nothing and comes back ``duplicate``."""
        ...

    async def pending_inbound(
        self, *, before: datetime, after_id: int = 0, limit: int = 500
    ) -> list[PendingInbound]:
        """Stored inbound events received at or before ``before`` whose processing never finished, with
        inbox ids above ``after_id``, oldest first."""
        ...

    async def apply(
        self,
        dialog_id: int,
        actions: Sequence[DialogAction],
        *,
        inbox_id: int | None = None,
        inbox_error: str | None = None,
        guard: DialogStatus | None = None,
        known: Dialog | None = None,
    ) -> list[Delivery]:
        """Apply a pipeline run's or an operator's actions to a dialog in one transaction, and mark
        ``inbox_id`` processed (failed, with ``inbox_error``). With ``guard``, raise
        ``DialogConflict`` and change nothing unless the dialog is still in that status.
        ``known`` is this dialog as the caller read it from the store: its identity is taken as
        the recipient instead of being read again. Returns the new outbox deliveries, leased to
        the caller."""
        ...

    async def fail_inbound(self, inbox_id: int, error: str) -> None:
        """Mark an inbound event whose processing failed for good, so it is not replayed."""
        ...

    async def claim_outbox(self, *, now: datetime, lease: float, limit: int) -> list[Delivery]: ...

    async def finish_outbox(self, results: Sequence[OutboxResult]) -> None: ...

    async def outbox_status(self, outbox_id: int) -> OutboxResult | None: ...

    async def dialog(self, dialog_id: int) -> Dialog | None: ...

    async def open_dialog_of(self, identity: Identity, line_id: str) -> Dialog | None: ...

    async def dialog_events(self, dialog_id: int) -> list[DialogEvent]: ...

    async def messages(
        self, dialog_id: int, *, after_id: int = 0, limit: int = 100, with_internal: bool = False
    ) -> list[StoredMessage]: ...

    async def client_history(
        self, client_id: int, *, after_id: int = 0, limit: int = 100, with_internal: bool = False
    ) -> list[StoredMessage]:
        """Every message of every dialog of a client, oldest first."""
        ...

    async def identity_history(
        self, identity: Identity, *, after_id: int = 0, limit: int = 100
    ) -> list[StoredMessage]:
        """What this identity can read back: client-visible messages of its own dialogs."""
        ...

    async def update_profile(self, identity: Identity) -> None:
        """Merge the identity's display name and profile fields into the stored identity."""
        ...

    async def schedule_timer(
        self,
        kind: str,
        key: str,
        due_at: datetime,
        *,
        dialog_id: int | None = None,
        data: JsonValue = None,
    ) -> None:
        """Set (or move) the timer named (kind, key)."""
        ...

    async def cancel_timer(self, kind: str, key: str) -> None: ...

    async def claim_timers(self, *, now: datetime, lease: float, limit: int) -> list[Timer]: ...

    async def finish_timer(self, timer_id: int) -> None: ...

    async def close(self) -> None: ...


__all__ = [
    "Capabilities",
    "Channel",
    "ChannelHost",
    "Clock",
    "Delivery",
    "DialogAction",
    "InboundSink",
    "LogAction",
    "OutboxResult",
    "PendingInbound",
    "Receipt",
    "SendAction",
    "StatusAction",
    "Store",
    "Timer",
]
