"""Telegram updates as omniline inbound events: pure functions, no I/O.

Updates are read from their JSON, not through aiogram's models. Telegram sends updates in the
shapes of many Bot API versions (a photo without ``file_unique_id`` from an old one, fields and kinds
from one newer than aiogram): a model refuses such an update whole, and an update that is not
acknowledged comes back for a day. Here each part omniline uses is read where it is, and anything
else is left in ``event.raw``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiogram.types import Update
from pydantic import JsonValue, ValidationError

from omniline.model import (
    Attachment,
    AttachmentKind,
    ChannelRef,
    ContactShare,
    Identity,
    InboundEvent,
    InboundMessage,
    Location,
    Unsupported,
)

Json = dict[str, Any]


@dataclass(frozen=True)
class Ignored:
    """An update acknowledged and not stored: ``kind`` names what it was, for the log line."""

    kind: str
    why: str


UNSUPPORTED_CONTENT = (
    "dice",
    "poll",
    "game",
    "story",
    "invoice",
    "giveaway",
    "giveaway_winners",
    "giveaway_completed",
    "paid_media",
    "checklist",
    "web_app_data",
    "users_shared",
    "chat_shared",
    "passport_data",
    "successful_payment",
    "refunded_payment",
)
"""What a client can send that omniline does not model: stored as ``Unsupported(kind)``, the update
kept in ``event.raw``."""

SERVICE = (
    "new_chat_members",
    "left_chat_member",
    "new_chat_title",
    "new_chat_photo",
    "delete_chat_photo",
    "group_chat_created",
    "supergroup_chat_created",
    "channel_chat_created",
    "message_auto_delete_timer_changed",
    "migrate_to_chat_id",
    "migrate_from_chat_id",
    "pinned_message",
    "write_access_allowed",
    "connected_website",
    "proximity_alert_triggered",
    "boost_added",
    "chat_background_set",
    "forum_topic_created",
    "forum_topic_edited",
    "forum_topic_closed",
    "forum_topic_reopened",
    "general_forum_topic_hidden",
    "general_forum_topic_unhidden",
    "giveaway_created",
    "video_chat_scheduled",
    "video_chat_started",
    "video_chat_ended",
    "video_chat_participants_invited",
)
"""Service messages (a pin, a timer change, members coming and going): nothing a client said,
acknowledged and ignored."""

ENVELOPE = frozenset(
    {
        "message_id",
        "message_thread_id",
        "from",
        "sender_chat",
        "sender_boost_count",
        "sender_business_bot",
        "date",
        "business_connection_id",
        "chat",
        "forward_origin",
        "forward_from",
        "forward_from_chat",
        "forward_from_message_id",
        "forward_signature",
        "forward_sender_name",
        "forward_date",
        "is_topic_message",
        "is_automatic_forward",
        "reply_to_message",
        "external_reply",
        "quote",
        "reply_to_story",
        "via_bot",
        "edit_date",
        "has_protected_content",
        "is_from_offline",
        "media_group_id",
        "author_signature",
        "text",
        "entities",
        "caption",
        "caption_entities",
        "show_caption_above_media",
        "has_media_spoiler",
        "link_preview_options",
        "effect_id",
        "reply_markup",
        "paid_star_count",
    }
)
"""A message's fields that say how and where it was sent rather than what it holds. A message with
nothing omniline reads and a field not named anywhere here holds something newer than this plugin:
it is stored as unsupported, of that kind."""

_FILES = (
    ("animation", AttachmentKind.DOCUMENT),
    ("video", AttachmentKind.VIDEO),
    ("video_note", AttachmentKind.VIDEO),
    ("audio", AttachmentKind.AUDIO),
    ("voice", AttachmentKind.VOICE),
    ("document", AttachmentKind.DOCUMENT),
    ("sticker", AttachmentKind.STICKER),
)
"""Message fields holding one file, and the kind of attachment each becomes. (An animation comes
with a ``document`` copy of itself for old clients: only one of the two is taken.)"""


def update_id_of(raw: JsonValue) -> int | None:
    """The ``update_id`` of something that is a Telegram update, None for anything else."""
    if not isinstance(raw, dict):
        return None
    return _int(raw.get("update_id"))


def event_from_update(ref: ChannelRef, raw: Json, received_at: datetime) -> InboundEvent | Ignored:
    """The event an update stands for, or why it is ignored. Never raises for an update's shape."""
    update_id = _int(raw.get("update_id"))
    if update_id is None:
        return Ignored("?", "no update_id")
    kind = update_kind(raw)
    if kind == "message":
        return _from_message(ref, update_id, raw["message"], raw, received_at)
    if kind == "callback_query":
        return _pressed(ref, update_id, raw["callback_query"], raw, received_at)
    return Ignored(kind, "an update kind a contact center has no use for")


def update_kind(raw: Json) -> str:
    """The update's kind: the one field besides ``update_id`` (``message``, ``poll``...)."""
    for key, value in raw.items():
        if key != "update_id" and value is not None:
            return str(key)
    return "empty"


def _from_message(
    ref: ChannelRef, update_id: int, message: Any, raw: Json, received_at: datetime
) -> InboundEvent | Ignored:
    if not isinstance(message, dict):
        return Ignored("message", "not an object")
    content = message_content(message)
    if isinstance(content, Ignored):
        return content
    identity = identity_of(ref, message.get("chat"), message.get("from"), content.contact)
    if identity is None:
        return Ignored("message", "no chat")
    message_id = _int(message.get("message_id"))
    return InboundEvent(
        event_id=str(update_id),
        identity=identity,
        message=content,
        received_at=received_at,
        platform_message_id=str(message_id) if message_id is not None else None,
        raw=raw,
    )


def _pressed(
    ref: ChannelRef, update_id: int, query: Any, raw: Json, at: datetime
) -> InboundEvent | Ignored:
    if not isinstance(query, dict):
        return Ignored("callback_query", "not an object")
    data = _str(query.get("data"))
    if data is None:
        # a game's Play button (game_short_name), or nothing at all
        return Ignored("callback_query", "a press without data")
    pressed_on = _obj(query.get("message"))
    if pressed_on is None:
        return Ignored("callback_query", "a press on an inline-mode message: no chat")
    identity = identity_of(ref, pressed_on.get("chat"), query.get("from"))
    if identity is None:
        return Ignored("callback_query", "no chat")
    return InboundEvent(
        event_id=str(update_id),
        identity=identity,
        message=InboundMessage(text=button_label(pressed_on, data), button_payload=data),
        received_at=at,
        platform_message_id=None,
        raw=raw,
    )


def button_label(message: Json, data: str) -> str | None:
    """The label of the inline button with callback data ``data`` on ``message``, if it shows it."""
    markup = _obj(message.get("reply_markup"))
    rows = markup.get("inline_keyboard") if markup is not None else None
    for row in rows if isinstance(rows, list) else ():
        for button in row if isinstance(row, list) else ():
            if isinstance(button, dict) and button.get("callback_data") == data:
                return _str(button.get("text"))
    return None


def identity_of(
    ref: ChannelRef, chat: Any, user: Any, contact: ContactShare | None = None
) -> Identity | None:
    """The chat is the identity (it is where answers go; in a private chat it is the user's id);
    the profile is the user's. None without a chat."""
    chat = _obj(chat)
    chat_id = _int(chat.get("id")) if chat is not None else None
    if chat is None or chat_id is None:
        return None
    profile: dict[str, str] = {}
    name: str | None = None
    user = _obj(user)
    if user is not None:
        first, last = _str(user.get("first_name")), _str(user.get("last_name"))
        name = " ".join(p for p in (first, last) if p) or None
        for field, key in (
            ("first_name", "first_name"),
            ("last_name", "last_name"),
            ("username", "username"),
            ("language_code", "language"),
        ):
            value = _str(user.get(field))
            if value:
                profile[key] = value
    else:
        name = _str(chat.get("title"))
    if contact is not None:
        profile["phone"] = contact.phone
    return Identity(
        channel=ref,
        external_id=str(chat_id),
        display_name=name[:256] if name else None,
        profile=profile,
    )


def message_content(message: Json) -> InboundMessage | Ignored:
    """What a client's message holds, whatever Bot API version shaped it."""
    text = _str(message.get("text")) or _str(message.get("caption"))
    attachments = attachments_of(message)
    contact: ContactShare | None = None
    unsupported: Unsupported | None = None
    card = _obj(message.get("contact"))
    if card is not None:
        contact = _own_contact(card, _obj(message.get("from")))
        if contact is None:  # somebody else's card, or no usable number
            unsupported = Unsupported(kind="contact")
    venue = _obj(message.get("venue"))
    location = _location(_obj(message.get("location")) or _obj((venue or {}).get("location")))
    if venue is not None and not text:
        text = "\n".join(p for p in (_str(venue.get("title")), _str(venue.get("address"))) if p)
        text = text or None
    if unsupported is None:
        kind = next((k for k in UNSUPPORTED_CONTENT if message.get(k) is not None), None)
        if kind is not None:
            unsupported = Unsupported(kind=kind)
    empty = not text and not attachments and contact is None and location is None
    if empty and unsupported is None:
        service = next((k for k in SERVICE if message.get(k) is not None), None)
        if service is not None:
            return Ignored(service, "a service message")
        newer = next((k for k in message if k not in ENVELOPE), None)
        if newer is None or len(newer) > 64:
            return Ignored("message", "nothing in it")
        unsupported = Unsupported(kind=newer)
    reply_to = _obj(message.get("reply_to_message"))
    reply_id = _int(reply_to.get("message_id")) if reply_to is not None else None
    return InboundMessage(
        text=text,
        attachments=attachments,
        contact=contact,
        location=location,
        unsupported=unsupported,
        reply_to=str(reply_id) if reply_id is not None else None,
    )


def _own_contact(card: Json, user: Json | None) -> ContactShare | None:
    """A shared contact is the client's phone only when it is their own card (the contact button
    shares exactly that); a forwarded address-book card of somebody else is not. The number is
    passed as Telegram sent it (often without its ``+``): the core reads it as international."""
    owner = _int(card.get("user_id"))
    if owner is not None and user is not None and owner != _int(user.get("id")):
        return None
    phone = _str(card.get("phone_number"))
    if phone is None or not 3 <= len(phone.strip()) <= 64:
        return None
    name = " ".join(p for p in (_str(card.get("first_name")), _str(card.get("last_name"))) if p)
    return ContactShare(phone=phone.strip(), name=name or None)


def _location(place: Json | None) -> Location | None:
    if place is None:
        return None
    latitude, longitude = place.get("latitude"), place.get("longitude")
    if not isinstance(latitude, int | float) or not isinstance(longitude, int | float):
        return None
    if isinstance(latitude, bool) or isinstance(longitude, bool):
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return Location(latitude=latitude, longitude=longitude)


def attachments_of(message: Json) -> tuple[Attachment, ...]:
    """Files by their Telegram ``file_id`` (a download URL would carry the bot token), and the links
    the text hides behind words."""
    found: list[Attachment] = []
    photo = _best_photo(message.get("photo"))
    if photo is not None:
        found.append(photo)
    for field, kind in _FILES:
        if field == "document" and _obj(message.get("animation")) is not None:
            continue  # the animation's copy for old clients: taken already
        file = _obj(message.get(field))
        file_id = _str(file.get("file_id")) if file is not None else None
        if file is None or file_id is None:
            continue
        name = _str(file.get("file_name"))
        if field == "sticker":
            name = _str(file.get("emoji"))
        elif field == "audio" and name is None:
            tags = (_str(file.get("performer")), _str(file.get("title")))
            name = " - ".join(p for p in tags if p) or None
        found.append(
            Attachment(
                kind=kind,
                file_id=file_id,
                name=name,
                size=_size(file.get("file_size")),
                mime_type=_str(file.get("mime_type")),
            )
        )
    found.extend(_links(message))
    return tuple(found)


def _best_photo(sizes: Any) -> Attachment | None:
    """The largest size of a photo (by pixels, else by bytes, else the last, as Telegram orders
    them from small to large)."""
    if not isinstance(sizes, list):
        return None
    usable = [s for s in sizes if isinstance(s, dict) and _str(s.get("file_id"))]
    if not usable:
        return None

    def area(size: Json) -> tuple[int, int]:
        width, height = _int(size.get("width")) or 0, _int(size.get("height")) or 0
        return width * height, _int(size.get("file_size")) or 0

    best = max(reversed(usable), key=area)
    return Attachment(
        kind=AttachmentKind.IMAGE, file_id=str(best["file_id"]), size=_size(best.get("file_size"))
    )


def _links(message: Json) -> list[Attachment]:
    """Web pages the client shared that its text does not show: a word linked to a page
    (``text_link``), a preview of a page the text does not name."""
    text = _str(message.get("text")) or _str(message.get("caption")) or ""
    links: list[Attachment] = []
    seen: set[str] = set()
    for field in ("entities", "caption_entities"):
        entities = message.get(field)
        for entity in entities if isinstance(entities, list) else ():
            if not isinstance(entity, dict) or entity.get("type") != "text_link":
                continue
            url = _str(entity.get("url"))
            if url is None or url in seen:
                continue
            seen.add(url)
            links.append(
                Attachment(kind=AttachmentKind.LINK, url=url, name=_entity_text(text, entity))
            )
    preview = _obj(message.get("link_preview_options")) or {}
    url = _str(preview.get("url"))
    if url is not None and url not in seen and url not in text and not preview.get("is_disabled"):
        links.append(Attachment(kind=AttachmentKind.LINK, url=url))
    return links


def _entity_text(text: str, entity: Json) -> str | None:
    """The words an entity covers (its offsets count UTF-16 code units)."""
    offset, length = _int(entity.get("offset")), _int(entity.get("length"))
    if offset is None or length is None:
        return None
    units = text.encode("utf-16-le")
    words = units[2 * offset : 2 * (offset + length)].decode("utf-16-le", errors="ignore")
    return words.strip()[:256] or None


def update_model(raw: Json) -> Update | None:
    """aiogram's model of an update (for the desk), with the parts its version cannot read left
    out: a photo in an older shape costs the photo, not the operator's text. None if what is left
    is no update."""
    data = copy.deepcopy(raw)
    for _ in range(20):
        try:
            return Update.model_validate(data)
        except ValidationError as exc:
            pruned = False
            for error in exc.errors():
                pruned = _drop(data, [p for p in error["loc"] if not _is_tag(p)]) or pruned
            if not pruned:
                return None
    return None


def _is_tag(part: int | str) -> bool:
    """A union member's name in an error's location (``Message``, ``InaccessibleMessage``)."""
    return isinstance(part, str) and part[:1].isupper()


def _drop(data: Json, loc: list[int | str]) -> bool:
    """Remove the field of the update's object that the error is in (``message.photo`` for an error
    at ``message.photo.0.file_unique_id``); False when the error is in the update itself."""
    if len(loc) < 2:
        return False
    holder = data.get(str(loc[0]))
    if not isinstance(holder, dict) or loc[1] not in holder:
        return False
    del holder[str(loc[1])]
    return True


def _obj(value: Any) -> Json | None:
    return value if isinstance(value, dict) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _size(value: Any) -> int | None:
    size = _int(value)
    return size if size is not None and size >= 0 else None
