"""Telegram updates as omniline inbound events: pure functions, no I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiogram.types import CallbackQuery, Chat, Message, Update, User

from omniline.model import (
    Attachment,
    AttachmentKind,
    ChannelRef,
    ContactShare,
    Identity,
    InboundEvent,
    InboundMessage,
    Location,
)


def event_from_update(
    ref: ChannelRef, update: Update, raw: dict[str, Any], received_at: datetime
) -> InboundEvent | None:
    """The event an update stands for, or None for updates a contact center has no use for
    (edits, reactions, member changes, channel posts...)."""
    if update.message is not None:
        message = update.message
        content = message_content(message)
        if content is None:
            return None
        return InboundEvent(
            event_id=str(update.update_id),
            identity=identity_of(ref, message.chat, message.from_user, content.contact),
            message=content,
            received_at=received_at,
            platform_message_id=str(message.message_id),
            raw=raw,
        )
    if update.callback_query is not None:
        return _pressed(ref, update.update_id, update.callback_query, raw, received_at)
    return None


def _pressed(
    ref: ChannelRef, update_id: int, query: CallbackQuery, raw: dict[str, Any], at: datetime
) -> InboundEvent | None:
    if not query.data or query.message is None:
        return None  # a game or an inline-mode button: nothing to hand to a line
    return InboundEvent(
        event_id=str(update_id),
        identity=identity_of(ref, query.message.chat, query.from_user, None),
        message=InboundMessage(button_payload=query.data),
        received_at=at,
        platform_message_id=None,
        raw=raw,
    )


def identity_of(
    ref: ChannelRef, chat: Chat, user: User | None, contact: ContactShare | None
) -> Identity:
    """The chat is the identity (it is where answers go; in a private chat it is the user's id);
    the profile is the user's."""
    profile: dict[str, str] = {}
    name: str | None = None
    if user is not None:
        name = user.full_name
        profile["first_name"] = user.first_name
        if user.last_name:
            profile["last_name"] = user.last_name
        if user.username:
            profile["username"] = user.username
        if user.language_code:
            profile["language"] = user.language_code
    elif chat.title:
        name = chat.title
    if contact is not None:
        profile["phone"] = contact.phone
    return Identity(
        channel=ref,
        external_id=str(chat.id),
        display_name=name[:256] if name else None,
        profile=profile,
    )


def message_content(message: Message) -> InboundMessage | None:
    text = message.text or message.caption
    attachments = attachments_of(message)
    contact: ContactShare | None = None
    if message.contact is not None and _own_contact(message):
        contact = ContactShare(
            phone=message.contact.phone_number,
            name=" ".join(p for p in (message.contact.first_name, message.contact.last_name) if p)
            or None,
        )
    location: Location | None = None
    if message.location is not None:
        location = Location(
            latitude=message.location.latitude, longitude=message.location.longitude
        )
    if not text and not attachments and contact is None and location is None:
        return None
    reply_to = message.reply_to_message
    return InboundMessage(
        text=text,
        attachments=attachments,
        contact=contact,
        location=location,
        reply_to=str(reply_to.message_id) if reply_to is not None else None,
    )


def _own_contact(message: Message) -> bool:
    """A shared contact is the client's phone only when it is their own card (the contact button
    shares exactly that); a forwarded address-book card of somebody else is not."""
    contact = message.contact
    user = message.from_user
    return contact is not None and (
        contact.user_id is None or user is None or contact.user_id == user.id
    )


_FILES = (
    ("document", AttachmentKind.DOCUMENT),
    ("voice", AttachmentKind.VOICE),
    ("audio", AttachmentKind.AUDIO),
    ("video", AttachmentKind.VIDEO),
    ("sticker", AttachmentKind.STICKER),
)
"""Message fields holding one file, and the kind of attachment each becomes."""


def attachments_of(message: Message) -> tuple[Attachment, ...]:
    """Files by their Telegram ``file_id`` (a download URL would carry the bot token)."""
    found: list[Attachment] = []
    if message.photo:
        best = max(message.photo, key=lambda p: p.width * p.height)
        found.append(
            Attachment(kind=AttachmentKind.IMAGE, file_id=best.file_id, size=best.file_size)
        )
    for field, kind in _FILES:
        file = getattr(message, field)
        if file is not None:
            found.append(
                Attachment(
                    kind=kind,
                    file_id=file.file_id,
                    name=getattr(file, "file_name", None),
                    size=file.file_size,
                    mime_type=getattr(file, "mime_type", None),
                )
            )
    return tuple(found)
