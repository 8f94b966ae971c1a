"""Viber callbacks turned into omniline's inbound messages.

What each kind of Viber message becomes is the table on ``docs/channels/viber.md``; keep them in
step. A body that is not a Viber callback at all raises :class:`NotACallback` (answered 400); a
message omniline cannot show as it is becomes an ``Unsupported`` part, stored like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from omniline.model import (
    Attachment,
    AttachmentKind,
    ContactShare,
    InboundMessage,
    Location,
    Unsupported,
)

SERVICE_EVENTS = frozenset(
    {
        "webhook",  # Viber checking the URL while set_webhook runs
        "subscribed",
        "unsubscribed",
        "conversation_started",
        "delivered",
        "seen",
        "failed",
    }
)
"""Callbacks that carry nothing to store: answered 200 and dropped."""

MAX_ID = 256
"""The longest user id or message token kept (the inbox's limits)."""


class NotACallback(ValueError):
    """The body is JSON but not a Viber callback; the message says what is wrong with it."""


@dataclass(frozen=True)
class IncomingMessage:
    """The parts of a ``message`` callback that every kind has."""

    token: str
    user_id: str
    sender: dict[str, Any]
    message: dict[str, Any]


def callback_of(update: object) -> tuple[str, dict[str, Any]]:
    """The callback's ``event`` (what every Viber callback names) and the callback."""
    if not isinstance(update, dict):
        raise NotACallback("the body is not a JSON object")
    event = update.get("event")
    if not isinstance(event, str) or not event:
        raise NotACallback("'event' is missing or not a string")
    return event, update


def message_callback(update: dict[str, Any]) -> IncomingMessage:
    """The sender, token and message of a ``message`` callback."""
    token = update.get("message_token")
    if isinstance(token, bool) or not isinstance(token, int | str) or token == "":
        raise NotACallback("a message callback needs a 'message_token' (a number)")
    if len(str(token)) > MAX_ID:
        raise NotACallback(f"'message_token' is longer than {MAX_ID} characters")
    sender = update.get("sender")
    if not isinstance(sender, dict):
        raise NotACallback("a message callback needs a 'sender' object")
    user_id = sender.get("id")
    if not isinstance(user_id, str) or not user_id or len(user_id) > MAX_ID:
        raise NotACallback(f"'sender.id' must be a string of 1 to {MAX_ID} characters")
    message = update.get("message")
    if not isinstance(message, dict):
        raise NotACallback("a message callback needs a 'message' object")
    kind = message.get("type")
    if not isinstance(kind, str) or not kind:
        raise NotACallback("'message.type' is missing or not a string")
    return IncomingMessage(token=str(token), user_id=user_id, sender=sender, message=message)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _size(message: dict[str, Any]) -> int | None:
    # Viber's callback reference names it file_size; callbacks in the wild also carry size
    for key in ("file_size", "size"):
        value = message.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _media(kind: AttachmentKind, message: dict[str, Any]) -> Attachment | None:
    # media is the file itself; a picture or video also has a thumbnail, used only without it
    url = _text(message.get("media")) or _text(message.get("thumbnail"))
    if url is None:
        return None
    return Attachment(kind=kind, url=url, name=_text(message.get("file_name")), size=_size(message))


def _sticker(message: dict[str, Any]) -> Attachment | None:
    sticker_id = message.get("sticker_id")
    file_id = None
    if isinstance(sticker_id, int | str) and not isinstance(sticker_id, bool) and sticker_id != "":
        file_id = str(sticker_id)
    url = _text(message.get("media")) or _text(message.get("thumbnail"))
    if url is None and file_id is None:
        return None
    return Attachment(kind=AttachmentKind.STICKER, url=url, file_id=file_id)


def _contact(message: dict[str, Any]) -> ContactShare | None:
    shared = message.get("contact")
    if not isinstance(shared, dict):
        return None
    phone = _text(shared.get("phone_number"))
    if phone is None:
        return None
    try:
        return ContactShare(phone=phone.strip(), name=_text(shared.get("name")))
    except ValidationError:  # not 3 to 64 characters: no phone number
        return None


def _location(message: dict[str, Any]) -> Location | None:
    place = message.get("location")
    if not isinstance(place, dict):
        return None
    latitude, longitude = _number(place.get("lat")), _number(place.get("lon"))
    if latitude is None or longitude is None:
        return None
    try:
        return Location(latitude=latitude, longitude=longitude)
    except ValidationError:  # off the globe
        return None


def parse_message(message: dict[str, Any]) -> InboundMessage:
    """The content of a Viber ``message``: what it is, or ``Unsupported`` with Viber's type when
    omniline does not model that type or the message lacks what its type needs."""
    kind = str(message.get("type"))
    text = _text(message.get("text"))
    content: InboundMessage | None = None
    if kind == "text" and text:
        content = InboundMessage(text=text)
    elif kind in ("picture", "video", "file"):
        attachment_kind = {
            "picture": AttachmentKind.IMAGE,
            "video": AttachmentKind.VIDEO,
            "file": AttachmentKind.DOCUMENT,
        }[kind]
        attachment = _media(attachment_kind, message)
        if attachment is not None:
            content = InboundMessage(text=text, attachments=(attachment,))
    elif kind == "sticker":
        sticker = _sticker(message)
        if sticker is not None:
            content = InboundMessage(attachments=(sticker,))
    elif kind == "url":
        link = _text(message.get("media"))
        if link is not None:
            content = InboundMessage(attachments=(Attachment(kind=AttachmentKind.LINK, url=link),))
    elif kind == "contact":
        contact = _contact(message)
        if contact is not None:
            content = InboundMessage(contact=contact)
    elif kind == "location":
        location = _location(message)
        if location is not None:
            content = InboundMessage(location=location)
    if content is None:
        return InboundMessage(text=text, unsupported=Unsupported(kind=kind[:64]))
    return content


def sender_profile(sender: dict[str, Any]) -> dict[str, str]:
    """Profile fields of a Viber ``sender`` (name, avatar, language, country)."""
    keys = {"name": "name", "avatar": "avatar_url", "language": "language", "country": "country"}
    return {ours: sender[theirs] for theirs, ours in keys.items() if _text(sender.get(theirs))}
