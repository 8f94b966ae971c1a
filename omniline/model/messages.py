"""Message content: what a client sends in, and what the business sends out."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from omniline.model._base import Frozen


class AttachmentKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    VOICE = "voice"
    DOCUMENT = "document"
    STICKER = "sticker"
    LINK = "link"
    """A shared web page: ``url``, with its title in ``name`` where the platform gives one."""


class Attachment(Frozen):
    """A file in a message. ``url`` where the platform gives one; ``file_id`` where it names files."""

    kind: AttachmentKind
    url: str | None = None
    file_id: str | None = None
    name: str | None = None
    size: int | None = Field(default=None, ge=0)
    mime_type: str | None = None

    @model_validator(mode="after")
    def _needs_a_handle(self) -> Attachment:
        if self.url is None and self.file_id is None:
            raise ValueError("an attachment needs a url or a file_id")
        return self


class ContactShare(Frozen):
    """A phone number the client shared through the platform (e.g. Telegram's contact button)."""

    phone: str = Field(min_length=3, max_length=64)
    name: str | None = None


class Location(Frozen):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class Unsupported(Frozen):
    """Something the client sent that omniline does not model (a poll, a dice roll, a kind newer
    than the plugin). Stored and shown as such; the platform's payload is kept in the event's
    ``raw``."""

    kind: str = Field(min_length=1, max_length=64)
    """The platform's own name for it: ``poll``, ``dice``, ``wall``..."""


class Button(Frozen):
    """A button the client can press. ``payload`` comes back in the inbound message when pressed."""

    text: str = Field(min_length=1, max_length=256)
    payload: str = Field(min_length=1, max_length=256)


class InboundMessage(Frozen):
    """What the client sent. At least one of the parts is present."""

    text: str | None = None
    attachments: tuple[Attachment, ...] = ()
    contact: ContactShare | None = None
    location: Location | None = None
    button_payload: str | None = None
    """Set when the client pressed a button (or a callback came in) instead of typing."""
    unsupported: Unsupported | None = None
    """Set when the message holds something omniline cannot show as it is."""
    reply_to: str | None = None
    """The platform's id of the message this one answers, when the client used "reply"."""

    @model_validator(mode="after")
    def _not_empty(self) -> InboundMessage:
        if (
            not self.text
            and not self.attachments
            and self.contact is None
            and self.location is None
            and self.button_payload is None
            and self.unsupported is None
        ):
            raise ValueError(
                "an inbound message needs text, an attachment, a contact, "
                "a location, a button press or an unsupported part"
            )
        return self


class OutboundMessage(Frozen):
    """What the business sends. ``buttons`` are rows of buttons; ``inline`` asks for buttons attached
    to the message rather than a reply keyboard, where the channel can tell the two apart."""

    text: str | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()
    inline: bool = True
    attachments: tuple[Attachment, ...] = ()

    @model_validator(mode="after")
    def _not_empty(self) -> OutboundMessage:
        if not self.text and not self.attachments:
            raise ValueError("an outbound message needs text or an attachment")
        return self

    @classmethod
    def of(cls, content: str | OutboundMessage) -> OutboundMessage:
        return content if isinstance(content, OutboundMessage) else cls(text=content)
