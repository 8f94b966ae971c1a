"""Updates in the shapes of many Bot API versions, posted to the real webhook with the right secret:
each is acknowledged, stored as what it holds and shown to operators as such.

Telegram answers a non-2xx with a retry for a day, so an authentic update must be taken whatever
its shape: older ones lack fields aiogram's models require (``file_unique_id`` came with Bot API
4.5, a sticker's ``type`` with 6.2), newer ones carry fields and kinds no model knows yet.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from omniline_telegram.desk_texts import message_text
from omniline_telegram.inbound import update_model
from omniline_telegram.testing import RunningApp, call_webhook

from omniline import Router
from omniline.model import (
    ChannelRef,
    ContactShare,
    Direction,
    Identity,
    StoredMessage,
)

AppFactory = Callable[..., Awaitable[RunningApp]]
REF = ChannelRef(type="telegram", account="main")
DATE = 1767600000


def private_chat(user_id: int, *, old: bool = False) -> dict[str, Any]:
    chat: dict[str, Any] = {"id": user_id, "type": "private", "first_name": "Mila"}
    if not old:
        chat["last_name"] = "Novak"
    return chat


def sender(user_id: int, *, old: bool = False, new: bool = False) -> dict[str, Any]:
    """A user as Telegram describes them: old versions without ``language_code``, new ones with
    fields aiogram does not know yet."""
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": "Mila"}
    if not old:
        user |= {"last_name": "Novak", "username": "mila_n", "language_code": "de"}
    if new:
        user |= {"is_premium": True, "profile_accent": {"color_id": 3}}
    return user


def message(user_id: int, content: dict[str, Any], **kw: bool) -> dict[str, Any]:
    return {
        "message_id": user_id + 7,
        "from": sender(user_id, **kw),
        "chat": private_chat(user_id, old=kw.get("old", False)),
        "date": DATE,
        **content,
    }


def update(user_id: int, content: dict[str, Any], **kw: bool) -> dict[str, Any]:
    return {"update_id": 880000 + user_id, "message": message(user_id, content, **kw)}


def press(user_id: int, data: str, *, keyboard: bool, accessible: bool = True) -> dict[str, Any]:
    """A press on an inline button of the bot's message (which may be too old to be shown: an
    inaccessible message comes with its chat and ``date`` 0 only)."""
    bots_message: dict[str, Any] = {"message_id": 40, "chat": private_chat(user_id), "date": 0}
    if accessible:
        bots_message |= {
            "date": DATE,
            "from": {"id": 123456, "is_bot": True, "first_name": "Shop bot"},
            "text": "Was this helpful?",
        }
    if keyboard:
        bots_message["reply_markup"] = {
            "inline_keyboard": [
                [
                    {"text": "Yes, thanks", "callback_data": "helpful:yes"},
                    {"text": "No", "callback_data": "helpful:no"},
                ]
            ]
        }
    return {
        "update_id": 880000 + user_id,
        "callback_query": {
            "id": f"4{user_id}",
            "from": sender(user_id),
            "chat_instance": "-58213",
            "data": data,
            "message": bots_message,
        },
    }


@dataclass(frozen=True)
class Stored:
    """What the stored message holds."""

    text: str | None = None
    files: tuple[tuple[str, str | None, str | None], ...] = ()
    """(kind, file_id or url, name) of each attachment."""
    contact: ContactShare | None = None
    location: tuple[float, float] | None = None
    payload: str | None = None
    unsupported: str | None = None
    shown: tuple[str, ...] = field(default=())
    """Lines the operators' desk shows for it."""


def held(message: StoredMessage) -> Stored:
    files = tuple((a.kind.value, a.file_id or a.url, a.name) for a in message.attachments)
    place = message.location
    return Stored(
        text=message.text,
        files=files,
        contact=message.contact,
        location=(place.latitude, place.longitude) if place is not None else None,
        payload=message.button_payload,
        unsupported=message.unsupported.kind if message.unsupported is not None else None,
    )


CASES: list[tuple[str, dict[str, Any], Stored]] = [
    (
        "text, Bot API 2 (no language_code, no last name)",
        update(1, {"text": "Hallo, ist jemand da?"}, old=True),
        Stored(text="Hallo, ist jemand da?", shown=("👤 Mila: Hallo, ist jemand da?",)),
    ),
    (
        "text with fields newer than aiogram",
        update(
            2,
            {
                "text": "where is my parcel",
                "sender_tag": "vip",
                "reactions_preview": [{"emoji": "👍", "count": 1}],
            },
            new=True,
        ),
        Stored(text="where is my parcel", shown=("👤 Mila: where is my parcel",)),
    ),
    (
        "photo without file_unique_id (Bot API 4.4), with a caption",
        update(
            3,
            {
                "photo": [
                    {"file_id": "AgAD-small", "file_size": 1402, "width": 90, "height": 67},
                    {"file_id": "AgAD-large", "file_size": 61844, "width": 1280, "height": 960},
                    {"file_id": "AgAD-mid", "file_size": 21071, "width": 320, "height": 240},
                ],
                "caption": "the box arrived like this",
            },
        ),
        Stored(
            text="the box arrived like this",
            files=(("image", "AgAD-large", None),),
            shown=("the box arrived like this", "🖼 photo"),
        ),
    ),
    (
        "photo sizes without width and height",
        update(4, {"photo": [{"file_id": "AgAD-a", "file_size": 10}, {"file_id": "AgAD-b"}]}),
        Stored(files=(("image", "AgAD-a", None),), shown=("🖼 photo",)),
    ),
    (
        "video with the old thumb field",
        update(
            5,
            {
                "video": {
                    "file_id": "BAAD-video",
                    "duration": 12,
                    "width": 640,
                    "height": 360,
                    "mime_type": "video/mp4",
                    "thumb": {"file_id": "AAQ-thumb", "width": 90, "height": 50},
                    "file_size": 1048576,
                }
            },
        ),
        Stored(files=(("video", "BAAD-video", None),), shown=("🎬 video",)),
    ),
    (
        "video note (round video), old shape",
        update(6, {"video_note": {"file_id": "DQAD-note", "length": 240, "duration": 7}}),
        Stored(files=(("video", "DQAD-note", None),), shown=("🎬 video",)),
    ),
    (
        "audio with performer and title, old shape",
        update(
            7,
            {
                "audio": {
                    "file_id": "CQAD-audio",
                    "duration": 201,
                    "performer": "The Band",
                    "title": "Our Song",
                    "mime_type": "audio/mpeg",
                }
            },
        ),
        Stored(
            files=(("audio", "CQAD-audio", "The Band - Our Song"),),
            shown=("🎵 The Band - Our Song",),
        ),
    ),
    (
        "voice message without file_unique_id",
        update(
            8,
            {"voice": {"file_id": "AwAD-voice", "duration": 4, "mime_type": "audio/ogg"}},
            old=True,
        ),
        Stored(files=(("voice", "AwAD-voice", None),), shown=("🎤 voice message",)),
    ),
    (
        "document with a caption, old shape",
        update(
            9,
            {
                "document": {
                    "file_id": "BQAD-doc",
                    "file_name": "invoice-2291.pdf",
                    "mime_type": "application/pdf",
                    "file_size": 88213,
                    "thumb": {"file_id": "AAQ-t", "width": 62, "height": 90},
                },
                "caption": "this invoice is wrong",
            },
        ),
        Stored(
            text="this invoice is wrong",
            files=(("document", "BQAD-doc", "invoice-2291.pdf"),),
            shown=("📎 invoice-2291.pdf",),
        ),
    ),
    (
        "animation, with its document copy for old clients",
        update(
            10,
            {
                "animation": {
                    "file_id": "CgAD-gif",
                    "width": 320,
                    "height": 180,
                    "duration": 3,
                    "file_name": "wave.gif.mp4",
                    "mime_type": "video/mp4",
                },
                "document": {
                    "file_id": "CgAD-gif",
                    "file_name": "wave.gif.mp4",
                    "mime_type": "video/mp4",
                },
            },
        ),
        Stored(files=(("document", "CgAD-gif", "wave.gif.mp4"),), shown=("📎 wave.gif.mp4",)),
    ),
    (
        "sticker, Bot API 4 (no file_unique_id, no type, no is_video)",
        update(
            11,
            {
                "sticker": {
                    "file_id": "CAAD-sticker",
                    "width": 512,
                    "height": 512,
                    "emoji": "😅",
                    "set_name": "HotCherry",
                    "is_animated": False,
                }
            },
        ),
        Stored(files=(("sticker", "CAAD-sticker", "😅"),), shown=("🏷 sticker 😅",)),
    ),
    (
        "location, live, with accuracy",
        update(
            12,
            {
                "location": {
                    "latitude": 52.520008,
                    "longitude": 13.404954,
                    "horizontal_accuracy": 12.5,
                    "live_period": 900,
                }
            },
        ),
        Stored(
            location=(52.520008, 13.404954),
            shown=("📍 52.520008, 13.404954: https://www.openstreetmap.org/?mlat=52.520008",),
        ),
    ),
    (
        "venue",
        update(
            13,
            {
                "location": {"latitude": 48.8584, "longitude": 2.2945},
                "venue": {
                    "location": {"latitude": 48.8584, "longitude": 2.2945},
                    "title": "Eiffel Tower",
                    "address": "Champ de Mars, Paris",
                    "foursquare_id": "4adcda1bf964a520",
                },
            },
        ),
        Stored(
            text="Eiffel Tower\nChamp de Mars, Paris",
            location=(48.8584, 2.2945),
            shown=("Eiffel Tower", "📍 48.8584, 2.2945"),
        ),
    ),
    (
        "own contact, the phone without its +",
        update(
            14,
            {
                "contact": {
                    "phone_number": "4915112345678",
                    "first_name": "Mila",
                    "last_name": "Novak",
                    "user_id": 14,
                }
            },
        ),
        Stored(
            contact=ContactShare(phone="4915112345678", name="Mila Novak"),
            shown=("📞 Mila Novak: 4915112345678",),
        ),
    ),
    (
        "somebody else's contact card",
        update(
            15,
            {"contact": {"phone_number": "+4930123456", "first_name": "Office", "user_id": 99}},
        ),
        Stored(unsupported="contact", shown=("⚠️ unsupported: contact",)),
    ),
    (
        "inline button press, the label on the bot's message",
        press(16, "helpful:yes", keyboard=True),
        Stored(
            text="Yes, thanks",
            payload="helpful:yes",
            shown=("🔘 pressed “Yes, thanks” [helpful:yes]",),
        ),
    ),
    (
        "inline button press on a message too old to be shown",
        press(17, "helpful:no", keyboard=False, accessible=False),
        Stored(payload="helpful:no", shown=("🔘 pressed [helpful:no]",)),
    ),
    (
        "reply-keyboard press: its label comes as text",
        update(18, {"text": "Talk to a human"}),
        Stored(text="Talk to a human", shown=("Talk to a human",)),
    ),
    (
        "a word linked to a page",
        update(
            19,
            {
                "text": "I ordered this one",
                "entities": [
                    {
                        "offset": 10,
                        "length": 8,
                        "type": "text_link",
                        "url": "https://shop.example/p/7",
                    }
                ],
                "link_preview_options": {"url": "https://shop.example/p/7"},
            },
        ),
        Stored(
            text="I ordered this one",
            files=(("link", "https://shop.example/p/7", "this one"),),
            shown=("🔗 this one: https://shop.example/p/7",),
        ),
    ),
    (
        "dice",
        update(20, {"dice": {"emoji": "🎲", "value": 4}}),
        Stored(unsupported="dice", shown=("⚠️ unsupported: dice",)),
    ),
    (
        "poll sent by the client",
        update(
            21,
            {
                "poll": {
                    "id": "5843",
                    "question": "Which colour?",
                    "options": [
                        {"text": "red", "voter_count": 0},
                        {"text": "blue", "voter_count": 0},
                    ],
                    "total_voter_count": 0,
                    "is_closed": False,
                    "is_anonymous": True,
                    "type": "regular",
                    "allows_multiple_answers": False,
                }
            },
        ),
        Stored(unsupported="poll", shown=("⚠️ unsupported: poll",)),
    ),
    (
        "game, old shape (photo sizes without file_unique_id)",
        update(
            22,
            {
                "game": {
                    "title": "Tower Run",
                    "description": "Climb!",
                    "photo": [{"file_id": "AgAD-game", "width": 640, "height": 360}],
                }
            },
        ),
        Stored(unsupported="game", shown=("⚠️ unsupported: game",)),
    ),
    (
        "forwarded story",
        update(
            23,
            {"story": {"chat": {"id": -1001, "type": "channel", "title": "News"}, "id": 12}},
        ),
        Stored(unsupported="story", shown=("⚠️ unsupported: story",)),
    ),
    (
        "a content kind newer than this plugin",
        update(24, {"hologram": {"file_id": "HOLO-1", "depth": 3}}),
        Stored(unsupported="hologram", shown=("⚠️ unsupported: hologram",)),
    ),
    (
        "a reply, quoting, in today's shape",
        update(
            25,
            {
                "text": "yes, this one",
                "reply_to_message": message(25, {"text": "which order?"}),
                "quote": {"text": "which", "position": 0, "is_manual": True},
            },
        ),
        Stored(text="yes, this one", shown=("yes, this one",)),
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"), [(body, want) for _, body, want in CASES], ids=[c[0] for c in CASES]
)
async def test_an_update_of_any_bot_api_shape_is_stored_and_shown(
    start_app: AppFactory, body: dict[str, Any], expected: Stored
) -> None:
    run = await start_app(Router())
    assert await call_webhook(run.client, body) == 200
    update_id = body["update_id"]
    chat_id = update_id - 880000
    history = await run.app.store.dialogs.identity_history(
        Identity(channel=REF, external_id=str(chat_id))
    )
    [stored] = [m for m in history if m.direction is Direction.IN]
    assert held(stored) == Stored(
        text=expected.text,
        files=expected.files,
        contact=expected.contact,
        location=expected.location,
        payload=expected.payload,
        unsupported=expected.unsupported,
    )
    shown = message_text(stored, "Mila")
    for line in expected.shown:
        assert line in shown, shown


def test_the_table_covers_every_kind() -> None:
    """Every kind the channel reads is in the table above (at least 16 bodies)."""
    kinds = {
        kind
        for _, body, _ in CASES
        for kind in (body.get("message") or {"callback_query": 1})
        if kind in KINDS
    }
    assert kinds == set(KINDS) and len(CASES) >= 16


KINDS = (
    "text",
    "photo",
    "video",
    "video_note",
    "audio",
    "voice",
    "document",
    "animation",
    "sticker",
    "location",
    "venue",
    "contact",
    "callback_query",
    "entities",
    "dice",
    "poll",
    "game",
    "story",
)


IGNORED: list[tuple[str, dict[str, Any]]] = [
    (
        "edited_message",
        {"update_id": 881001, "edited_message": message(31, {"text": "fixed", "edit_date": DATE})},
    ),
    (
        "channel_post",
        {
            "update_id": 881002,
            "channel_post": {
                "message_id": 3,
                "chat": {"id": -1002, "type": "channel", "title": "News"},
                "date": DATE,
                "text": "news",
            },
        },
    ),
    (
        "poll_answer",
        {
            "update_id": 881003,
            "poll_answer": {"poll_id": "5843", "user": sender(32), "option_ids": [1]},
        },
    ),
    (
        "my_chat_member",
        {
            "update_id": 881004,
            "my_chat_member": {
                "chat": private_chat(33),
                "from": sender(33),
                "date": DATE,
                "old_chat_member": {"status": "member", "user": sender(123456)},
                "new_chat_member": {"status": "kicked", "user": sender(123456), "until_date": 0},
            },
        },
    ),
    (
        "message_reaction",
        {
            "update_id": 881005,
            "message_reaction": {
                "chat": private_chat(34),
                "message_id": 40,
                "user": sender(34),
                "date": DATE,
                "old_reaction": [],
                "new_reaction": [{"type": "emoji", "emoji": "👍"}],
            },
        },
    ),
    ("pinned_message", update(35, {"pinned_message": message(35, {"text": "pin me"})})),
    (
        "callback_query",  # a game's Play button: no data
        {
            "update_id": 881006,
            "callback_query": {
                "id": "game-1",
                "from": sender(36),
                "chat_instance": "1",
                "game_short_name": "tower",
            },
        },
    ),
    ("stardust_transfer", {"update_id": 881007, "stardust_transfer": {"amount": 5}}),
]


@pytest.mark.parametrize(("kind", "body"), IGNORED, ids=[k for k, _ in IGNORED])
async def test_an_update_with_nothing_to_store_is_acknowledged_with_a_log_line(
    start_app: AppFactory, caplog: pytest.LogCaptureFixture, kind: str, body: dict[str, Any]
) -> None:
    run = await start_app(Router())
    with caplog.at_level(logging.INFO, logger="omniline.channel.telegram"):
        assert await call_webhook(run.client, body) == 200
    [line] = [r.getMessage() for r in caplog.records if r.name == "omniline.channel.telegram"]
    assert f"({kind}) ignored" in line
    for chat_id in range(31, 37):
        identity = Identity(channel=REF, external_id=str(chat_id))
        assert await run.app.store.dialogs.identity_history(identity) == []


MANGLED: list[tuple[str, Any, int]] = [
    ("a message that is a string", {"update_id": 882001, "message": "hello"}, 200),
    ("a message without a chat", {"update_id": 882002, "message": {"text": "lost"}}, 200),
    (
        "a chat id that is text",
        {
            "update_id": 882003,
            "message": {"message_id": 1, "date": DATE, "chat": {"id": "forty-one"}, "text": "x"},
        },
        200,
    ),
    (
        "a location off the globe",
        update(42, {"location": {"latitude": 200, "longitude": "east"}}),
        200,
    ),
    ("a phone of one digit", update(43, {"contact": {"phone_number": "1", "user_id": 43}}), 200),
    ("photo sizes that are not a list", update(44, {"photo": {"file_id": "x"}}), 200),
    ("a file without its id", update(45, {"document": {"file_name": "a.pdf"}}), 200),
    ("a null update kind", {"update_id": 882004, "message": None}, 200),
    ("an update_id that is text", {"update_id": "882005", "message": {}}, 400),
    ("an update_id that is true", {"update_id": True}, 400),
    ("a list", [{"update_id": 882006}], 400),
]


@pytest.mark.parametrize(
    ("body", "status"), [(b, s) for _, b, s in MANGLED], ids=[m[0] for m in MANGLED]
)
async def test_a_mangled_update_with_the_right_secret_gets_no_5xx(
    start_app: AppFactory, body: Any, status: int
) -> None:
    run = await start_app(Router())
    assert await call_webhook(run.client, body) == status


def test_the_desk_reads_an_operators_update_without_the_parts_aiogram_refuses() -> None:
    raw = {
        "update_id": 5,
        "message": {
            "message_id": 50,
            "date": DATE,
            "chat": {"id": -100123, "type": "supergroup", "is_forum": True},
            "from": {"id": 7, "is_bot": False, "first_name": "Ann"},
            "photo": [{"file_id": "AgAD-old", "width": 9, "height": 9}],
            "sticker": {"file_id": "CAAD-old", "width": 512, "height": 512},
            "caption": "look",
        },
    }
    update = update_model(raw)
    assert update is not None and update.message is not None
    assert (update.message.caption, update.message.photo, update.message.sticker) == (
        "look",
        None,
        None,
    )
    assert raw["message"]["photo"]  # the update as it came is left as it was
    assert update_model({"update_id": 6, "message": {"text": "no chat"}}) is None
