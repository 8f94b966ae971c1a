"""VK updates (the same shape from the Callback API and Bots Long Poll) as omniline messages.

Whatever VK sends, :func:`read` answers; it never raises. An update is either :class:`Received`
(something a client sent: stored, then acknowledged) or :class:`Ignored` (acknowledged and logged
once, naming its kind). What a client sent that omniline does not model is kept as an
:class:`~omniline.model.Unsupported` part of a stored message, the whole update in the event's
``raw``. ``docs/channels/vk.md`` publishes these decisions as tables.

Updates come in the shapes of many API versions: before 5.103 a ``message_new``'s ``object`` is
the message itself, not ``{"message": ..., "client_info": ...}``; before 5.80 a message has
``body`` and ``user_id`` rather than ``text`` and ``peer_id``; older photos and stickers list
``photo_604``-style fields rather than ``sizes`` and ``images``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from omniline.model import Attachment, AttachmentKind, InboundMessage, Location, Unsupported
from omniline.plugins import BodyRefused, parse_json

IGNORED: dict[str, str] = {
    "message_reply": "the community's own outgoing message",
    "message_allow": "the client allowed the community's messages",
    "message_deny": "the client denied the community's messages",
    "message_typing_state": "the client is typing",
}
"""Update types known and ignored, with the reason logged. Any other type (``group_join``,
``wall_post_new``, a type newer than this plugin...) is ignored too, with one log line naming it."""

QUIET = frozenset({"message_typing_state"})
"""Ignored types frequent enough to be logged at debug level only."""

LINK_KINDS = frozenset({"link", "article", "wall", "wall_reply", "market"})
"""Attachments that are a web page: they become ``AttachmentKind.LINK`` (``wall``: the post's
page, ``wall_reply``: the comment's, ``market``: the product's)."""

UNSUPPORTED_KINDS = frozenset(
    {
        "poll",
        "gift",
        "story",
        "call",
        "market_album",
        "audio_playlist",
        "podcast",
        "event",
        "money_transfer",
        "money_request",
        "mini_app",
        "group_call_in_progress",
        "sticker_pack_preview",
        "widget",
        "curator",
        "textlive",
    }
)
"""Attachments omniline does not model (interactive, ephemeral or payments): the message is stored
with ``Unsupported(kind=...)`` (any type not named anywhere here is treated the same)."""

_PHOTO_FIELDS = ("photo_2560", "photo_1280", "photo_807", "photo_604", "photo_130", "photo_75")
_STICKER_FIELDS = ("photo_512", "photo_352", "photo_256", "photo_128", "photo_64")


@dataclass(frozen=True)
class Received:
    """Something a client sent: store it, then acknowledge."""

    peer: str
    message: InboundMessage
    platform_message_id: str | None = None


@dataclass(frozen=True)
class Ignored:
    """Acknowledged and not stored; ``kind`` names it in the one log line."""

    kind: str
    reason: str
    quiet: bool = False


def read(update: dict[str, Any]) -> Received | Ignored:
    """What one update is. Never raises, whatever its shape."""
    kind = update.get("type")
    if not isinstance(kind, str) or not kind:
        return Ignored("(no type)", "an update without a type")
    kind = kind[:64]  # it names the update in a log line
    obj = update.get("object")
    if not isinstance(obj, dict):
        return Ignored(kind, "an update without an object")
    if kind == "message_new":
        return _message(kind, message_object(update))
    if kind == "message_event":
        return _callback(obj)
    if kind == "message_edit":
        if _is_own(obj):
            return Ignored(kind, "the community edited its own message")
        return _message(kind, obj, edit=True)
    if kind in IGNORED:
        return Ignored(kind, IGNORED[kind], quiet=kind in QUIET)
    return Ignored(kind, "an update type omniline does not handle")


def update_id(update: dict[str, Any]) -> str:
    """The update's own id, the inbox's key for dropping redeliveries. Old API versions send no
    ``event_id``: then the type, the chat and VK's message id (or the whole update's digest)."""
    event_id = update.get("event_id")
    if isinstance(event_id, (str, int)) and not isinstance(event_id, bool) and str(event_id):
        return str(event_id)[:256]
    obj = update.get("object")
    message = message_object(update) if isinstance(obj, dict) else {}
    peer, ident = _peer(message), _int(message.get("id")) or _int(message.get("event_id"))
    if peer is not None and ident:
        return f"{update.get('type')}:{peer}:{ident}"[:256]
    digest = json.dumps(update, sort_keys=True, ensure_ascii=False)
    return f"{update.get('type')}:{hashlib.sha256(digest.encode()).hexdigest()}"[:256]


def message_object(update: dict[str, Any]) -> dict[str, Any]:
    """The message of a ``message_new``: ``object.message`` since 5.103, ``object`` before."""
    obj = update.get("object")
    if not isinstance(obj, dict):
        return {}
    inner = obj.get("message")
    return inner if isinstance(inner, dict) else obj


# --- messages ------------------------------------------------------------------------------------


def _message(kind: str, message: dict[str, Any], *, edit: bool = False) -> Received | Ignored:
    peer = _peer(message)
    if peer is None:
        return Ignored(kind, "a message without a sender")
    text = _text(message.get("text")) or _text(message.get("body"))
    attachments: list[Attachment] = []
    unsupported: list[str] = ["message_edit"] if edit else []
    for item in _list(message.get("attachments")):
        read_attachment(item, attachments, unsupported)
    location = None
    if message.get("geo") is not None:
        location = _location(message.get("geo"))
        if location is None:
            unsupported.append("geo")
    if _list(message.get("fwd_messages")):
        unsupported.append("fwd_messages")
    payload = _payload_text(message.get("payload"))
    reply = message.get("reply_message")
    reply_to = _int(reply.get("id")) if isinstance(reply, dict) else None
    nothing_else = not (text or attachments or location or payload or unsupported)
    if nothing_else:
        action = message.get("action")
        if isinstance(action, dict):
            return Ignored(kind, f"a service message ({action.get('type')})")
        return Ignored(kind, "a message with nothing to store")
    try:
        content = InboundMessage(
            text=text,
            attachments=tuple(attachments),
            location=location,
            button_payload=payload,
            unsupported=_unsupported(unsupported),
            reply_to=str(reply_to) if reply_to else None,
        )
    except ValidationError:  # a shape we did not foresee: keep it rather than lose it
        content = InboundMessage(unsupported=Unsupported(kind=kind[:64]))
    message_id = _int(message.get("id"))
    return Received(peer, content, str(message_id) if message_id else None)


def _callback(obj: dict[str, Any]) -> Received | Ignored:
    """A callback button pressed (``message_event``): its payload is an object, not a string."""
    peer = _peer(obj)
    if peer is None:
        return Ignored("message_event", "a button press without a sender")
    payload = _payload_text(obj.get("payload"))
    if payload is None:
        return Received(peer, InboundMessage(unsupported=Unsupported(kind="message_event")))
    return Received(peer, InboundMessage(button_payload=payload))


def _is_own(message: dict[str, Any]) -> bool:
    """Sent by the community (``out``; or from the community's own negative id)."""
    if message.get("out") in (1, True):
        return True
    sender = _int(message.get("from_id"))
    return sender is not None and sender < 0


def _peer(message: dict[str, Any]) -> str | None:
    """The chat the message belongs to: ``peer_id`` (``user_id`` before 5.80)."""
    for field in ("peer_id", "user_id", "from_id"):
        value = _int(message.get(field))
        if value:
            return str(value)
    return None


def _payload_text(payload: Any) -> str | None:
    """A pressed button's payload. VK sends a keyboard button's as a JSON string in
    ``message.payload`` and a callback button's as an object. Our buttons carry ``{"p": payload}``;
    anything else is passed on as its JSON text."""
    if payload is None or payload == "":
        return None
    if isinstance(payload, str):
        text = payload
        try:
            payload = parse_json(text)  # depth-limited: a string may hold any JSON
        except BodyRefused:
            return text
    if isinstance(payload, dict) and isinstance(payload.get("p"), str) and payload["p"]:
        return str(payload["p"])
    if isinstance(payload, dict) and payload.get("command") == "start":
        return None  # the "Start" button VK shows before a first message: its label is the text
    return json.dumps(payload, ensure_ascii=False)


def _location(geo: Any) -> Location | None:
    """``geo.coordinates``: ``{latitude, longitude}``, or ``"lat lon"`` in old API versions."""
    if not isinstance(geo, dict):
        return None
    coordinates = geo.get("coordinates")
    latitude: Any
    longitude: Any
    if isinstance(coordinates, dict):
        latitude, longitude = coordinates.get("latitude"), coordinates.get("longitude")
    elif isinstance(coordinates, str) and len(coordinates.split()) == 2:
        latitude, longitude = coordinates.split()
    else:
        return None
    try:
        return Location(latitude=float(latitude), longitude=float(longitude))
    except (TypeError, ValueError):  # ValidationError included: out of range
        return None


def _unsupported(kinds: list[str]) -> Unsupported | None:
    names = list(dict.fromkeys(k for k in kinds if k))
    if not names:
        return None
    return Unsupported(kind=",".join(names)[:64])


# --- attachments ---------------------------------------------------------------------------------


def read_attachment(item: Any, into: list[Attachment], unsupported: list[str]) -> None:
    """One of a message's ``attachments``: an attachment added to ``into``, or its type added
    to ``unsupported``."""
    if not isinstance(item, dict):
        unsupported.append("attachment")
        return
    kind = item.get("type")
    if not isinstance(kind, str) or not kind:
        unsupported.append("attachment")
        return
    body = item.get(kind)
    attachment = None
    if isinstance(body, dict) and kind not in UNSUPPORTED_KINDS:
        try:
            attachment = _attachment(kind, body)
        except (ValidationError, TypeError, ValueError, KeyError):
            attachment = None
    if attachment is None:
        unsupported.append(kind)
    else:
        into.append(attachment)


def _attachment(kind: str, item: dict[str, Any]) -> Attachment | None:
    if kind == "photo":
        return _image(_photo_url(item), _ref("photo", item))
    if kind == "graffiti":  # sent back as a doc, so its url is the handle
        return _image(_str(item.get("url")), None)
    if kind == "sticker":
        sticker_id = _int(item.get("sticker_id"))
        url = _sticker_url(item)
        if url is None and not sticker_id:
            return None
        return Attachment(
            kind=AttachmentKind.STICKER, url=url, file_id=str(sticker_id) if sticker_id else None
        )
    if kind == "doc":
        return _file(
            AttachmentKind.DOCUMENT,
            _str(item.get("url")),
            _ref("doc", item),
            name=_str(item.get("title")),
            size=_int(item.get("size")),
        )
    if kind == "audio_message":
        ogg = _str(item.get("link_ogg"))
        return _file(
            AttachmentKind.VOICE,
            ogg or _str(item.get("link_mp3")),
            _ref("audio_message", item),
            mime_type="audio/ogg" if ogg else None,
        )
    if kind == "video":
        return _file(
            AttachmentKind.VIDEO,
            _str(item.get("player")),
            _ref("video", item),
            name=_str(item.get("title")),
        )
    if kind == "audio":
        title = " — ".join(t for t in (_str(item.get("artist")), _str(item.get("title"))) if t)
        return _file(
            AttachmentKind.AUDIO, _str(item.get("url")), _ref("audio", item), name=title or None
        )
    if kind in LINK_KINDS:
        return _link(kind, item)
    return None


def _link(kind: str, item: dict[str, Any]) -> Attachment | None:
    owner, ident = _int(item.get("owner_id")), _int(item.get("id"))
    if kind in ("link", "article"):
        return _file(AttachmentKind.LINK, _str(item.get("url")), None, name=_str(item.get("title")))
    if kind == "wall":
        owner = owner or _int(item.get("to_id"))  # older versions call the wall's owner to_id
        if not owner or not ident:
            return None
        text = _str(item.get("text"))
        return Attachment(
            kind=AttachmentKind.LINK,
            url=f"https://vk.com/wall{owner}_{ident}",
            file_id=f"wall{owner}_{ident}",
            name=text[:200] if text else None,
        )
    if kind == "wall_reply":
        post = _int(item.get("post_id"))
        if not owner or not ident or not post:
            return None
        return Attachment(
            kind=AttachmentKind.LINK, url=f"https://vk.com/wall{owner}_{post}?reply={ident}"
        )
    if kind == "market":
        if not owner or not ident:
            return None
        return Attachment(
            kind=AttachmentKind.LINK,
            url=f"https://vk.com/product{owner}_{ident}",
            file_id=f"market{owner}_{ident}",
            name=_str(item.get("title")),
        )
    return None


def _image(url: str | None, file_id: str | None) -> Attachment | None:
    return _file(AttachmentKind.IMAGE, url, file_id)


def _file(
    kind: AttachmentKind,
    url: str | None,
    file_id: str | None,
    *,
    name: str | None = None,
    size: int | None = None,
    mime_type: str | None = None,
) -> Attachment | None:
    if url is None and file_id is None:
        return None
    return Attachment(
        kind=kind,
        url=url,
        file_id=file_id,
        name=name,
        size=size if size is not None and size >= 0 else None,
        mime_type=mime_type,
    )


def _photo_url(item: dict[str, Any]) -> str | None:
    """The largest size's url: ``orig_photo`` or ``sizes``, else (old versions) ``photo_2560``..."""
    best: tuple[int, str] | None = None
    candidates = [item.get("orig_photo"), *_list(item.get("sizes"))]
    for size in candidates:
        if isinstance(size, dict) and _str(size.get("url")):
            area = (_int(size.get("width")) or 0) * (_int(size.get("height")) or 0)
            if best is None or area >= best[0]:
                best = (area, str(size["url"]))
    if best is not None:
        return best[1]
    return next((u for f in _PHOTO_FIELDS if (u := _str(item.get(f)))), None)


def _sticker_url(item: dict[str, Any]) -> str | None:
    """The largest image: ``images``, ``images_with_background``, else (old) ``photo_512``..."""
    for field in ("images", "images_with_background"):
        sized = [i for i in _list(item.get(field)) if isinstance(i, dict) and _str(i.get("url"))]
        if sized:
            return str(max(sized, key=lambda i: _int(i.get("width")) or 0)["url"])
    return next((u for f in _STICKER_FIELDS if (u := _str(item.get(f)))), None)


def _ref(kind: str, item: dict[str, Any]) -> str | None:
    """VK's attachment string (``photo-1_2_key``): what ``messages.send`` takes back."""
    owner, ident = _int(item.get("owner_id")), _int(item.get("id"))
    if not owner or not ident:
        return None
    key = _str(item.get("access_key"))
    return f"{kind}{owner}_{ident}_{key}" if key else f"{kind}{owner}_{ident}"


# --- tolerant field readers ----------------------------------------------------------------------


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit() and len(value) < 20:
        return int(value)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
