"""Rows to models, and the few conversions every repository of the store shares.

Timestamps are float seconds in the database (the same SQL on SQLite and PostgreSQL) and aware
datetimes everywhere else; structured message content is JSON beside the text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from omniline.model import (
    Attachment,
    Button,
    ChannelRef,
    ContactShare,
    Dialog,
    DialogStatus,
    Direction,
    Identity,
    InboundMessage,
    Location,
    OutboundMessage,
    Route,
    StoredMessage,
    Unsupported,
    Visibility,
)
from omniline.model._base import Frozen
from omniline.store.statements import Row


class MessageContent(Frozen):
    """The structured part of a stored message, kept as JSON beside its text."""

    attachments: tuple[Attachment, ...] = ()
    buttons: tuple[tuple[Button, ...], ...] = ()
    contact: ContactShare | None = None
    location: Location | None = None
    button_payload: str | None = None
    unsupported: Unsupported | None = None


def content_json(message: InboundMessage | OutboundMessage, parts: tuple[str, ...]) -> str:
    """A message's structured parts as stored (read back as ``MessageContent``): ``{}`` for plain
    text, the common case."""
    if not any(getattr(message, name) for name in parts):
        return "{}"
    return message.model_dump_json(include=set(parts), exclude_defaults=True)


class Choices(Frozen):
    """A dialog's buttons last shown as plain text, whose press comes back as a message."""

    buttons: tuple[tuple[Button, ...], ...]


def ts(value: datetime) -> float:
    return value.timestamp()


def dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def identity_key(identity: Identity) -> dict[str, str]:
    """The parameters that find an identity's row."""
    return {
        "channel_type": identity.channel.type,
        "account": identity.channel.account,
        "external_id": identity.external_id,
    }


def identity_from(row: Row) -> Identity:
    return Identity(
        channel=ChannelRef(type=row["channel_type"], account=row["account"]),
        external_id=row["external_id"],
        display_name=row["display_name"],
        profile=json.loads(row["profile"]),
    )


def dialog_from(row: Row) -> Dialog:
    choices = Choices.model_validate_json(row["choices"]).buttons if row["choices"] else ()
    return Dialog(
        id=row["id"],
        line_id=row["line_id"],
        client_id=row["client_id"],
        status=DialogStatus(row["status"]),
        operator_id=row["operator_id"],
        pinned=bool(row["pinned"]),
        opened_at=dt(row["opened_at"]),
        closed_at=dt(row["closed_at"]) if row["closed_at"] is not None else None,
        rating=row["rating"],
        pending_buttons=choices,
        hops=row["hops"],
        route=Route(row["route"]) if row["route"] else None,
        tried=tuple(json.loads(row["tried"])) if row["tried"] else (),
        awaiting_rating=bool(row["awaiting_rating"]),
        identity=identity_from(row),
    )


def message_from(row: Row) -> StoredMessage:
    content = MessageContent.model_validate_json(row["content"])
    return StoredMessage(
        id=row["id"],
        dialog_id=row["dialog_id"],
        client_id=row["client_id"],
        direction=Direction(row["direction"]),
        visibility=Visibility(row["visibility"]),
        author=row["author"],
        text=row["text"],
        attachments=content.attachments,
        buttons=content.buttons,
        contact=content.contact,
        location=content.location,
        button_payload=content.button_payload,
        unsupported=content.unsupported,
        created_at=dt(row["created_at"]),
    )
