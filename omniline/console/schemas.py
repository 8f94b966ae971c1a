"""The REST API's bodies: what handlers validate and answer with, and what the OpenAPI document
describes (generated from these very models)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from omniline.crm import CrmRecord
from omniline.engine.stats import Figures
from omniline.model import (
    Attachment,
    Button,
    ChannelRef,
    ClientLink,
    ContactShare,
    DialogStatus,
    Direction,
    Identity,
    Location,
    Operator,
    Presence,
    Route,
    Unsupported,
    Visibility,
)
from omniline.model.account import LOGIN_PATTERN, Account, ApiToken, Role


class Body(BaseModel):
    """A request body: unknown fields are an error, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- errors ---------------------------------------------------------------------------------------


class FieldError(View):
    field: str
    message: str


class ErrorDetail(View):
    code: str
    """Stable: ``unauthenticated``, ``forbidden``, ``csrf``, ``not_found``, ``conflict``,
    ``invalid``, ``too_large``, ``rate_limited``, ``internal``, ``crm_failed``."""
    message: str
    fields: list[FieldError] = Field(default_factory=list)


class ErrorBody(View):
    error: ErrorDetail


# --- sessions, accounts, tokens -------------------------------------------------------------------


class LoginBody(Body):
    login: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class SessionView(View):
    account: Account
    csrf_token: str | None = None
    """Send it as ``X-CSRF-Token`` with every change made with the session cookie."""


class AccountBody(Body):
    id: str = Field(pattern=LOGIN_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    role: Role
    operator_id: str | None = None
    lines: list[str] | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1024)


class AccountPatch(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    operator_id: str | None = None
    lines: list[str] | None = None
    disabled: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1024)


class TokenBody(Body):
    name: str = Field(min_length=1, max_length=200)
    account_id: str | None = Field(default=None, pattern=LOGIN_PATTERN)
    """Whose token (admins only; yours by default)."""


class NewToken(View):
    token: str
    """The secret: shown this once, never again."""
    record: ApiToken


# --- lines and operators --------------------------------------------------------------------------


class LineView(View):
    id: str
    name: str
    settings: dict[str, Any]


class OperatorView(Operator):
    lines: list[str] = Field(default_factory=list)


class OperatorPatch(Body):
    presence: Presence | None = None
    capacity: int | None = Field(default=None, ge=1, le=1000)
    name: str | None = Field(default=None, min_length=1, max_length=200)


class ShiftBody(Body):
    action: Literal["start", "break", "resume", "finish"]


# --- dialogs and messages -------------------------------------------------------------------------


class ClientBrief(View):
    name: str | None
    channel: ChannelRef
    user_id: str


class DialogView(View):
    id: int
    line_id: str
    client_id: int
    status: DialogStatus
    operator_id: str | None
    offered_to: list[str]
    members: list[str]
    pinned: bool
    opened_at: AwareDatetime
    closed_at: AwareDatetime | None
    rating: int | None
    route: Route | None
    awaiting_rating: bool
    client: ClientBrief
    last_message_id: int | None = None


class MessageView(View):
    id: int
    dialog_id: int
    direction: Direction
    visibility: Visibility
    """``operators``: a whisper or a note the client never sees."""
    author: str
    author_name: str
    text: str | None
    """For a button press, the button's label where the platform gives one."""
    attachments: list[Attachment]
    """Files, and shared web pages (``kind: link``: ``url``, title in ``name``). An attachment
    may have only a ``file_id`` (the platform's handle) and no ``url``."""
    buttons: list[list[Button]]
    """The buttons the message offered the client (bot menus, the rating question)."""
    contact: ContactShare | None
    """A phone number the client shared through the platform (a contact card)."""
    location: Location | None
    """A point on the map the client shared."""
    button_payload: str | None
    """Set when the client pressed a button instead of typing: the button's payload."""
    unsupported: Unsupported | None
    """Something the client sent that omniline does not model (``kind``: the platform's name
    for it, e.g. ``poll``)."""
    created_at: AwareDatetime


class EventView(View):
    id: int | None
    """The event's place in the live feed (pushed events); null in a dialog's log."""
    dialog_id: int
    type: str
    at: AwareDatetime
    actor: str | None
    data: dict[str, Any]


T = TypeVar("T")


class Page(View, Generic[T]):
    items: list[T]
    next: str | None = None
    """Pass it as ``cursor`` (``after`` for messages) for the next page; null: no more."""


class Empty(Body):
    reason: str | None = Field(default=None, max_length=500)


class TransferBody(Body):
    operator_id: str | None = None
    line_id: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> TransferBody:
        if (self.operator_id is None) == (self.line_id is None):
            raise ValueError("give exactly one of operator_id or line_id")
        return self


class InviteBody(Body):
    operator_id: str = Field(min_length=1, max_length=64)


class WhisperBody(Body):
    text: str = Field(min_length=1, max_length=10_000)


class ReplyBody(Body):
    text: str | None = Field(default=None, max_length=10_000)
    attachments: list[Attachment] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _not_empty(self) -> ReplyBody:
        if not (self.text and self.text.strip()) and not self.attachments:
            raise ValueError("a reply needs text or an attachment")
        return self


class LeadView(View):
    dialog: DialogView
    record_id: str | None


# --- clients --------------------------------------------------------------------------------------


class ClientView(View):
    id: int
    identities: list[Identity]
    contacts: dict[str, list[str]]
    crm_record: str | None
    """The linked CRM record's id."""
    crm: CrmRecord | None = None
    """The record as the CRM has it now (null when none is linked or the CRM does not answer)."""
    links: list[ClientLink]
    dialogs: list[DialogView]


class UnmergeBody(Body):
    link_id: int = Field(ge=1)


# --- statistics -----------------------------------------------------------------------------------


class DayCount(View):
    day: str
    dialogs: int


class StatisticsView(View):
    since: datetime
    until: datetime
    overall: Figures
    by_line: dict[str, Figures]
    by_operator: dict[str, Figures]
    open_by_operator: dict[str, int]
    by_day: list[DayCount]
