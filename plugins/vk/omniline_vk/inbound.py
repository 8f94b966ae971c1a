"""VK updates (the same shape from the Callback API and Bots Long Poll) as omniline messages."""

from __future__ import annotations

import json
from typing import Any

from omniline.model import Attachment, AttachmentKind, InboundMessage, Location

HANDLED = frozenset({"message_new", "message_event"})
"""Update types that carry something from a client; others are acknowledged and dropped."""


def update_id(update: dict[str, Any]) -> str:
    """The update's own id, the inbox's key for dropping redeliveries."""
    event_id = update.get("event_id")
    if event_id:
        return str(event_id)
    obj = update.get("object") or {}
    message = obj.get("message") or {}
    return f"{update.get('type')}:{message.get('peer_id')}:{message.get('id')}"


def sender(update: dict[str, Any]) -> str | None:
    """The peer (the client's chat) the update came from."""
    obj = update.get("object") or {}
    if update.get("type") == "message_new":
        peer = (obj.get("message") or {}).get("peer_id")
    else:
        peer = obj.get("peer_id") or obj.get("user_id")
    return str(peer) if peer else None


def message_of(update: dict[str, Any]) -> InboundMessage:
    obj = update.get("object") or {}
    if update.get("type") == "message_event":
        return InboundMessage(button_payload=_payload_text(obj.get("payload")))
    message = obj.get("message") or {}
    geo = (message.get("geo") or {}).get("coordinates")
    return InboundMessage(
        text=message.get("text") or None,
        attachments=tuple(a for a in map(_attachment, message.get("attachments") or ()) if a),
        location=Location(latitude=geo["latitude"], longitude=geo["longitude"]) if geo else None,
        button_payload=_payload_text(message.get("payload")),
    )


def platform_message_id(update: dict[str, Any]) -> str | None:
    message = (update.get("object") or {}).get("message") or {}
    return str(message["id"]) if message.get("id") else None


def _payload_text(payload: Any) -> str | None:
    """Our buttons carry ``{"p": payload}``; anything else is passed on as its JSON text."""
    if payload is None or payload == "":
        return None
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            return str(payload)
    if isinstance(payload, dict) and isinstance(payload.get("p"), str):
        return str(payload["p"])
    if isinstance(payload, dict) and payload.get("command") == "start":
        return None  # the "Start" button VK shows before a first message
    return json.dumps(payload, ensure_ascii=False)


def _ref(kind: str, item: dict[str, Any]) -> str | None:
    """VK's attachment string (``photo-1_2_key``): what ``messages.send`` takes back."""
    if "owner_id" not in item or "id" not in item:
        return None
    ref = f"{kind}{item['owner_id']}_{item['id']}"
    return f"{ref}_{item['access_key']}" if item.get("access_key") else ref


def _attachment(attachment: dict[str, Any]) -> Attachment | None:
    kind = attachment.get("type")
    item = attachment.get(kind or "") or {}
    if kind == "photo":
        sizes = sorted(
            item.get("sizes") or (), key=lambda s: s.get("width", 0) * s.get("height", 0)
        )
        return Attachment(
            kind=AttachmentKind.IMAGE,
            url=sizes[-1]["url"] if sizes else None,
            file_id=_ref("photo", item),
        )
    if kind == "doc":
        return Attachment(
            kind=AttachmentKind.DOCUMENT,
            url=item.get("url"),
            file_id=_ref("doc", item),
            name=item.get("title"),
            size=item.get("size"),
        )
    if kind == "audio_message":
        return Attachment(
            kind=AttachmentKind.VOICE,
            url=item.get("link_ogg") or item.get("link_mp3"),
            file_id=_ref("audio_message", item),
            mime_type="audio/ogg" if item.get("link_ogg") else None,
        )
    if kind == "sticker":
        images = item.get("images") or ()
        return Attachment(
            kind=AttachmentKind.STICKER,
            url=images[-1]["url"] if images else None,
            file_id=str(item.get("sticker_id")) if item.get("sticker_id") else None,
        )
    if kind == "video":
        return Attachment(
            kind=AttachmentKind.VIDEO, file_id=_ref("video", item), name=item.get("title")
        )
    if kind == "audio":
        return Attachment(
            kind=AttachmentKind.AUDIO, url=item.get("url"), file_id=_ref("audio", item)
        )
    return None
