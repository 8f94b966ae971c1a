"""A line's Open Lines settings: distribution, availability, auto-replies, hours, rating.

One frozen model, validated when the config is read and again whenever it is changed at run time
(``line.update(distribution="evenly")``), so a running line never holds a setting that makes no
sense. Texts may be written as a plain string or as ``{default: ..., translations: {de: ...}}``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import BeforeValidator, Field, field_validator, model_validator

from omniline.engine.hours import WorkingHours
from omniline.engine.texts import LocalizedText
from omniline.engine.validation import error_at
from omniline.model._base import Frozen


def _text(value: Any) -> Any:
    return {"default": value} if isinstance(value, str) else value


Text = Annotated[LocalizedText, BeforeValidator(_text)]
"""A line's text: a string, or a default with translations."""


class Distribution(StrEnum):
    STRICT = "strict"
    """To the first available operator in queue order; down the queue on skip or timeout."""
    EVENLY = "evenly"
    """To the operator who has received the fewest dialogs on this line (ties: fewest open)."""
    ALL = "all"
    """To every available operator at once; the first to accept takes it."""


class NobodyAnswered(StrEnum):
    TEXT = "text"
    """Tell the client (``nobody_answered_text``); the dialog waits for an operator to take it."""
    FORM = "form"
    """Ask the client for their name, phone and email (``contact_form_text``)."""
    CIRCULATE = "circulate"
    """Start again from the top of the queue, until somebody answers."""
    NOTHING = "nothing"
    """The dialog waits for an operator to take it from the queue."""


class OffHours(StrEnum):
    TEXT = "text"
    FORM = "form"
    NOTHING = "nothing"


class Rating(Frozen):
    enabled: bool = False
    webchat_text: Text = LocalizedText(default="Please rate how we helped you:")
    messenger_text: Text = LocalizedText(
        default="Please rate how we helped you, from 1 (bad) to 5 (excellent):"
    )
    thanks: Text | None = LocalizedText(default="Thank you for your rating!")
    window: float = Field(default=86_400.0, gt=0)
    """Seconds after the close during which a rating is still taken."""


class LineSettings(Frozen):
    """What a line does between a client's message and an operator. Durations are in seconds."""

    queue: tuple[str, ...] = ()
    """Operator ids, in queue order."""
    distribution: Distribution = Distribution.STRICT
    response_timeout: float = Field(default=180.0, gt=0, le=1800)
    """How long an offered operator has to accept before the dialog moves on (1 to 30 minutes;
    fractions of a minute are for tests)."""
    only_online: bool = True
    """Offer only to operators who are online."""
    only_working: bool = True
    """Do not offer to operators whose working day has not started or who are on a break."""
    default_capacity: int = Field(default=10, ge=1)
    """Most open dialogs per operator, for operators without a capacity of their own."""
    nobody_answered: NobodyAnswered = NobodyAnswered.TEXT
    nobody_answered_text: Text = LocalizedText(
        default="All our operators are busy at the moment. We will answer you as soon as we can."
    )
    contact_form_text: Text = LocalizedText(
        default="Please leave your name, phone number and email, and we will get back to you."
    )
    return_to_last_operator: bool = True
    """A client who comes back within ``return_within`` goes to the operator who served them."""
    return_within: float = Field(default=7 * 86_400.0, gt=0)
    responsible_outside_queue: bool = True
    """A client whose CRM record has a responsible manager goes to that manager even if the
    manager is not in this line's queue."""
    welcome: Text | None = None
    """Sent right after the client's first message of a dialog."""
    closing: Text | None = None
    """Sent when an operator closes the dialog."""
    working_hours: WorkingHours | None = None
    off_hours: OffHours = OffHours.TEXT
    off_hours_text: Text = LocalizedText(
        default="We are closed now. Your message is saved and we will answer when we open."
    )
    auto_close_after: float | None = Field(default=None, gt=0)
    """Close a dialog the client has left silent this long after an operator's answer (not a
    pinned one)."""
    auto_close_text: Text | None = None
    reopen_within: float = Field(default=0.0, ge=0)
    """A client writing within this long of the close reopens the dialog instead of a new one."""
    rating: Rating = Rating()
    collect_contacts: bool = True
    """Remember phone numbers and emails the client gives (a shared contact, the contact form's
    answer, a number written in a message) on their identity, for the operator and the CRM."""
    crm_check: bool = True
    """Look the client up in the CRM when a dialog opens: a known client goes to the record's
    responsible manager; the CRM learns the phones, emails and messenger identities given."""
    crm_leads: Literal["auto", "manual"] = "auto"
    """A client the CRM does not know becomes a lead by itself (``auto``; only once they can be
    written back to), or when an operator makes one from the dialog (``manual``)."""
    lead_source: str = "Open line"
    lead_title: Text = LocalizedText(default="{client_name|Client} ({line_name})")
    crm_transcripts: bool = True
    """Attach the dialog's transcript to the client's CRM record when it closes."""
    crm_reassign_on_transfer: bool = False
    """Make the operator a dialog is transferred to by hand the record's responsible manager."""
    link_clients: bool = True
    """The chat tracker: a client who gives a phone or email another client gave before (on any
    channel) becomes that client: one history, one CRM record."""
    default_region: str | None = None
    """Country (ISO 3166 code, e.g. ``DE``) of phone numbers written without a country code."""

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str | None) -> str | None:
        if value is not None and value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a country code phone numbers know (e.g. 'DE')")
        return value.upper() if value is not None else None

    @model_validator(mode="after")
    def _distinct_queue(self) -> LineSettings:
        seen: dict[str, int] = {}
        for qi, operator_id in enumerate(self.queue):
            if operator_id in seen:
                raise error_at(
                    f"operator {operator_id!r} is in the queue twice (also at queue[{seen[operator_id]}])",
                    "queue",
                    qi,
                )
            seen[operator_id] = qi
        return self
