"""What the desk writes in the group: topic names, messages, announcements and system lines.
Pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from aiogram.types import User
from aiogram.utils.formatting import Text, TextMention

from omniline.model import (
    Accepted,
    Attachment,
    AttachmentKind,
    BackToBot,
    Closed,
    Dialog,
    DialogEvent,
    Direction,
    HandedOff,
    Identity,
    Invited,
    Location,
    Pinned,
    Rated,
    Reopened,
    Skipped,
    StoredMessage,
    Transferred,
    Unpinned,
    Visibility,
    Withdrawn,
)

TOPIC_NAME_LIMIT = 128
"""Characters Telegram allows in a forum topic's name."""
TEXT_LIMIT = 4096
"""Characters (UTF-16 code units) Telegram allows in one message."""
ANSWER_LIMIT = 200
"""Characters Telegram shows of an answer to a button press."""

Names = Callable[[str], str]
"""An author or actor (``operator:ann``, ``client``, ``bot``, ``system``) as people read it."""


def topic_name(identity: Identity) -> str:
    """The client's name (or their id on the channel) and the channel they write from."""
    suffix = f" · {identity.channel.type}"
    who = " ".join((identity.display_name or identity.external_id).split()) or "?"
    room = TOPIC_NAME_LIMIT - len(suffix)
    if len(who) > room:
        who = who[: room - 1] + "…"
    return who + suffix


def client_name(identity: Identity) -> str:
    return identity.display_name or identity.external_id


def message_text(message: StoredMessage, author: str) -> str:
    """A dialog's message as the topic shows it, ``author`` being its author's name. Every part is
    shown in words: the desk bot cannot send another bot's files, and a place shows as a map link."""
    lines: list[str] = []
    if message.button_payload is not None:
        label = f"“{message.text}” " if message.text else ""
        lines.append(f"🔘 pressed {label}[{message.button_payload}]")
    elif message.text:
        lines.append(message.text)
    lines.extend(attachment_line(file) for file in message.attachments)
    if message.contact is not None:
        who = f"{message.contact.name}: " if message.contact.name else ""
        lines.append(f"📞 {who}{message.contact.phone}")
    if message.location is not None:
        lines.append(location_line(message.location))
    if message.unsupported is not None:
        lines.append(f"⚠️ unsupported: {message.unsupported.kind}")
    if message.buttons:
        lines.append(" | ".join(f"[{b.text}]" for row in message.buttons for b in row))
    body = "\n".join(lines) or "(empty message)"
    if message.direction is Direction.IN:
        return f"👤 {author}: {body}"
    if message.visibility is Visibility.OPERATORS:
        return f"🔒 {author} (whisper): {body}"
    return f"💬 {author}: {body}"


_FILE_WORDS = {
    AttachmentKind.IMAGE: ("🖼", "photo"),
    AttachmentKind.VIDEO: ("🎬", "video"),
    AttachmentKind.AUDIO: ("🎵", "audio"),
    AttachmentKind.VOICE: ("🎤", "voice message"),
    AttachmentKind.DOCUMENT: ("📎", "file"),
    AttachmentKind.STICKER: ("🏷", "sticker"),
    AttachmentKind.LINK: ("🔗", "link"),
}


def attachment_line(file: Attachment) -> str:
    """``🖼 photo``, ``📎 invoice.pdf``, ``🏷 sticker 😀``, ``🔗 our prices: https://...``."""
    icon, word = _FILE_WORDS.get(file.kind, ("📎", file.kind.value))
    if file.kind is AttachmentKind.STICKER:
        label = f"{word} {file.name}" if file.name else word
    else:
        label = file.name or word
    return f"{icon} {label}: {file.url}" if file.url else f"{icon} {label}"


def location_line(place: Location) -> str:
    """The coordinates and a map link: the operator opens the place with one tap."""
    lat, lon = place.latitude, place.longitude
    return (
        f"📍 {lat}, {lon}: https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"
    )


def earlier_messages(texts: Sequence[str]) -> str:
    """The messages a dialog had before its topic opened (its talk with the bot, say), as one
    message of the topic: the group takes only some twenty messages a minute."""
    return "\n\n".join(texts)


def offer_announcement(offered: Sequence[tuple[str, int | None]], *, parked: bool) -> Text:
    """Who a dialog is offered to (name, Telegram user id), each mentioned so that Telegram tells
    them."""
    parts: list[str | TextMention] = ["🔔 Offered to "]
    for i, (name, user_id) in enumerate(offered):
        if i:
            parts.append(", ")
        parts.append(mention(name, user_id))
    if len(offered) > 1:
        parts.append(": the first to accept takes it")
    elif parked:
        parts.append(" (not available now: it waits with them until someone in the queue is)")
    return Text(*parts)


def mention(name: str, user_id: int | None) -> str | TextMention:
    if user_id is None:
        return name
    return TextMention(name, user=User(id=user_id, is_bot=False, first_name=name))


def outcome_line(event: DialogEvent, names: Names) -> str | None:
    """How an announcement ends (or goes on): accepted, passed on, withdrawn, closed."""
    match event:
        case Accepted(operator_id=operator_id):
            return f"✅ Accepted by {names(f'operator:{operator_id}')}"
        case Skipped(operator_id=operator_id, reason=reason):
            who = names(f"operator:{operator_id}")
            if reason == "timeout":
                return f"⌛ {who} did not answer in time"
            if reason == "withdrawn":
                return f"↩️ Taken back from {who}: an available operator gets it"
            if reason in (None, "skip"):
                return f"⏭ Skipped by {who}"
            return f"⏭ Passed on from {who} ({reason})"
        case Withdrawn(operator_ids=operator_ids):
            return "No longer offered to " + ", ".join(names(f"operator:{o}") for o in operator_ids)
        case Closed():
            return "🏁 The dialog was closed"
        case Transferred(to_operator_id=to_operator_id, to_line_id=to_line_id):
            target = to_line_id if to_operator_id is None else names(f"operator:{to_operator_id}")
            return f"↔️ Transferred to {target}"
    return None


def event_line(event: DialogEvent, names: Names, line_names: Mapping[str, str]) -> str | None:
    """A dialog event as a line in its topic, or None for events the topic shows otherwise (the
    offer's announcement, a whisper's message) or not at all."""
    actor = names(event.actor) if event.actor else "Someone"
    match event:
        case HandedOff(reason=reason):
            return "🙋 The bot handed the dialog to operators" + (f": {reason}" if reason else "")
        case Accepted(operator_id=operator_id):
            return f"✅ {names(f'operator:{operator_id}')} took the dialog"
        case Skipped():
            return outcome_line(event, names)
        case Transferred(to_line_id=to_line_id) if to_line_id is not None:
            line = line_names.get(to_line_id, to_line_id)
            return f"↔️ {actor} transferred the dialog to the line {line}"
        case Transferred(to_operator_id=to_operator_id) if to_operator_id is not None:
            return f"↔️ {actor} transferred the dialog to {names(f'operator:{to_operator_id}')}"
        case Invited(operator_id=operator_id):
            return f"👥 {actor} invited {names(f'operator:{operator_id}')}"
        case Pinned():
            return f"📌 {actor} pinned the dialog: it is never closed automatically"
        case Unpinned():
            return f"{actor} unpinned the dialog"
        case Closed(reason=reason):
            if reason == "auto":
                return "🏁 Closed automatically: the client did not answer"
            by = {"bot": "the bot", "system": "omniline", "client": "the client"}
            who = by.get(event.actor or "system", actor)
            return f"🏁 Closed by {who}" + (f" ({reason})" if reason else "")
        case Reopened():
            if event.actor == "client":
                return "🔄 The client wrote again: the dialog is reopened"
            return f"🔄 Reopened by {actor}"
        case Rated(score=score):
            return f"⭐ The client rated the dialog {score}/5"
        case BackToBot():
            return f"🤖 {actor} handed the dialog back to the bot"
    return None


def rating_text(dialog: Dialog) -> str:
    if dialog.rating is not None:
        return f"⭐ The client rated dialog {dialog.id} {dialog.rating}/5"
    if dialog.awaiting_rating:
        return f"Dialog {dialog.id} is not rated yet: the client was asked"
    return f"Dialog {dialog.id} is not rated"


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces within Telegram's limit, cut at line ends where there are any."""
    pieces: list[str] = []
    while utf16_length(text) > limit:
        units, cut = 0, len(text)
        for i, char in enumerate(text):  # the longest prefix within the limit
            units += 2 if ord(char) > 0xFFFF else 1
            if units > limit:
                cut = i
                break
        newline = text.rfind("\n", 0, cut)
        if newline > 0:
            cut = newline
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*pieces, text] if text else pieces
