"""Viber callbacks turned into omniline's inbound messages."""

from __future__ import annotations

from typing import Any

from omniline.model import (
    Attachment,
    AttachmentKind,
    ContactShare,
    InboundMessage,
    Location,
)

_MEDIA_KINDS = {
    "picture": AttachmentKind.IMAGE,
    "video": AttachmentKind.VIDEO,
    "file": AttachmentKind.DOCUMENT,
}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _size(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def parse_message(message: dict[str, Any]) -> InboundMessage | None:
    """The content of a Viber ``message`` callback; ``None`` for what omniline cannot keep."""
    kind = message.get("type")
    text = _text(message.get("text"))
    attachments: list[Attachment] = []
    contact: ContactShare | None = None
    location: Location | None = None
    media = _text(message.get("media"))
    if kind in _MEDIA_KINDS and media:
        attachments.append(
            Attachment(
                kind=_MEDIA_KINDS[kind],
                url=media,
                name=_text(message.get("file_name")),
                size=_size(message.get("size")),
            )
        )
    elif kind == "sticker":
        sticker_id = message.get("sticker_id")
        file_id = str(sticker_id) if sticker_id is not None else None
        if file_id or media:
            attachments.append(Attachment(kind=AttachmentKind.STICKER, url=media, file_id=file_id))
    elif kind == "url" and media:
        text = media
    elif kind == "contact":
        shared = message.get("contact")
        if isinstance(shared, dict) and _text(shared.get("phone_number")):
            contact = ContactShare(
                phone=shared["phone_number"][:64], name=_text(shared.get("name"))
            )
    elif kind == "location":
        place = message.get("location")
        if isinstance(place, dict):
            try:
                location = Location(latitude=place["lat"], longitude=place["lon"])
            except (KeyError, ValueError):
                location = None
    if not (text or attachments or contact or location):
        return None
    return InboundMessage(
        text=text, attachments=tuple(attachments), contact=contact, location=location
    )


def sender_profile(sender: dict[str, Any]) -> dict[str, str]:
    """Profile fields of a Viber ``sender`` (name, avatar, language, country)."""
    keys = {"name": "name", "avatar": "avatar_url", "language": "language", "country": "country"}
    return {ours: sender[theirs] for theirs, ours in keys.items() if _text(sender.get(theirs))}
