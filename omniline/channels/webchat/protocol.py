"""The web chat's wire format between the widget and the server."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from omniline.model import Attachment, Button, ContactShare, StoredMessage

MAX_TEXT = 4096


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        # PostgreSQL cannot keep a NUL in text: refused here, it is a 422, not a failed store
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class PostMessage(_Body):
    client_message_id: str = Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")
    text: str | None = Field(default=None, max_length=MAX_TEXT)
    button_payload: str | None = Field(default=None, min_length=1, max_length=256)

    @model_validator(mode="after")
    def _content(self) -> PostMessage:
        if not self.text and self.button_payload is None:
            raise ValueError("a message needs text or a button_payload")
        return self


class Profile(_Body):
    name: str | None = Field(default=None, max_length=128)
    phone: str | None = Field(default=None, max_length=32)
    email: EmailStr | None = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        allowed = set("0123456789+-() ")
        digits = sum(ch.isdigit() for ch in value)
        if not set(value) <= allowed or not 6 <= digits <= 20:
            raise ValueError("a phone number has 6 to 20 digits and only + - ( ) and spaces")
        return value


class WireButton(BaseModel):
    text: str
    payload: str


class WireAttachment(BaseModel):
    kind: str
    """``image``, ``video``, ``audio``, ``voice``, ``document``, ``sticker`` or ``link`` (a web
    page: ``url``, its title in ``name``)."""
    url: str | None
    """Null for a file known only by a messenger's own id: nothing a browser can fetch."""
    name: str | None
    size: int | None = None
    mime_type: str | None = None


class WireContact(BaseModel):
    phone: str
    name: str | None


class WireMessage(BaseModel):
    id: int
    direction: Literal["in", "out"]
    author: Literal["client", "bot", "operator", "system"]
    author_name: str | None = None
    text: str | None
    buttons: list[list[WireButton]]
    attachments: list[WireAttachment]
    contact: WireContact | None = None
    """A phone the visitor shared (given in the contact form)."""
    button_payload: str | None = None
    """Set when the visitor pressed a button: its payload (the label is ``text``)."""
    created_at: datetime

    @classmethod
    def build(
        cls,
        *,
        id: int,
        direction: Literal["in", "out"],
        author: str,
        author_name: str | None,
        text: str | None,
        buttons: tuple[tuple[Button, ...], ...],
        attachments: tuple[Attachment, ...],
        created_at: datetime,
        contact: ContactShare | None = None,
        button_payload: str | None = None,
    ) -> WireMessage:
        kind = author.split(":", 1)[0]
        return cls(
            id=id,
            direction=direction,
            author=kind if kind in ("client", "bot", "operator") else "system",
            author_name=author_name,
            text=text,
            buttons=[[WireButton(text=b.text, payload=b.payload) for b in row] for row in buttons],
            attachments=[
                WireAttachment(
                    kind=a.kind.value, url=a.url, name=a.name, size=a.size, mime_type=a.mime_type
                )
                for a in attachments
            ],
            contact=(
                None if contact is None else WireContact(phone=contact.phone, name=contact.name)
            ),
            button_payload=button_payload,
            created_at=created_at,
        )

    @classmethod
    def of(cls, message: StoredMessage, author_name: str | None) -> WireMessage:
        return cls.build(
            id=message.id,
            direction=message.direction.value,
            author=message.author,
            author_name=author_name,
            text=message.text,
            buttons=message.buttons,
            attachments=message.attachments,
            created_at=message.created_at,
            contact=message.contact,
            button_payload=message.button_payload,
        )
