"""Fuzzing the messengers' webhooks of the real plugins, called as each platform calls them: the
Telegram update with the secret-token header, the VK Callback API event with the community's
secret, the Viber callback with a correct HMAC signature over the very bytes sent.

Whatever the body, the answer is never a 5xx and the log never holds a traceback; a body
delivered twice is stored at most once; and a well-formed message is stored exactly once and read
back as sent. The bodies are real-shaped updates of many kinds, mutated (see ``mutations``).

Each example writes as a client of its own: the templates' ids (:data:`UPDATE`, :data:`USER`) are
replaced in the bytes sent with ids no other example uses.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from omniline_telegram import testing as telegram_fake
from omniline_viber import testing as viber_fake
from omniline_vk import testing as vk_fake

from omniline.model import ChannelRef, Identity
from tests.fuzz.conftest import ACCOUNT, VK_CONFIRMATION, VK_SECRET, Line, as_json
from tests.fuzz.mutations import Wire, bodies, fuzz_settings, mutated_value

UPDATE = 777000111
"""The update id (Telegram), event id (VK) and message token (Viber) in the templates."""
USER = 777000222
"""The client's id in the templates: Telegram user and chat, VK peer, Viber user."""


def fresh(line: Line, wire: Wire) -> tuple[Wire, int]:
    """``wire`` with the template ids replaced by ids of this example's own; the client's id."""
    n = line.next_id()
    user = USER + 1_000 * n
    body = wire.body.replace(str(UPDATE).encode(), str(UPDATE + n).encode())
    return Wire(body.replace(str(USER).encode(), str(user).encode()), wire.content_type), user


# --- Telegram -------------------------------------------------------------------------------------

TELEGRAM_HOOK = f"/channels/telegram/{ACCOUNT}/webhook"
TELEGRAM_AUTH = {"X-Telegram-Bot-Api-Secret-Token": telegram_fake.SECRET}


def _telegram(content: dict[str, Any]) -> dict[str, Any]:
    return telegram_fake.message_update(UPDATE, content, user_id=USER)


_pressed = telegram_fake.callback_update(UPDATE, "omniline:rate:5", user_id=USER)
TELEGRAM_UPDATES: list[dict[str, Any]] = [
    _telegram(
        {
            "text": "Hello, my order is late",
            "entities": [{"type": "bold", "offset": 0, "length": 5}],
        }
    ),
    _telegram(
        {
            "photo": [
                {"file_id": "p1", "file_unique_id": "u1", "width": 90, "height": 90},
                {
                    "file_id": "p2",
                    "file_unique_id": "u2",
                    "width": 800,
                    "height": 800,
                    "file_size": 9000,
                },
            ],
            "caption": "the broken part",
        }
    ),
    _telegram(
        {
            "document": {
                "file_id": "d1",
                "file_unique_id": "u3",
                "file_name": "invoice.pdf",
                "mime_type": "application/pdf",
                "file_size": 1234,
            }
        }
    ),
    _telegram({"voice": {"file_id": "v1", "file_unique_id": "u4", "duration": 3}}),
    _telegram(
        {
            "sticker": {
                "file_id": "s1",
                "file_unique_id": "u5",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            }
        }
    ),
    _telegram({"contact": {"phone_number": "79991234567", "first_name": "Ann", "user_id": USER}}),
    _telegram({"location": {"latitude": 52.52, "longitude": 13.405}}),
    _telegram(
        {
            "text": "see above",
            "reply_to_message": {
                "message_id": 5,
                "date": 1767600000,
                "chat": {"id": USER, "type": "private"},
                "text": "earlier",
            },
        }
    ),
    # an old Bot API's photo, without file_unique_id
    _telegram({"photo": [{"file_id": "p0", "width": 90, "height": 90}]}),
    # kinds a contact center has no use for, and one newer than the client library
    {
        "update_id": UPDATE,
        "edited_message": _telegram({"text": "edited", "edit_date": 1767600001})["message"],
    },
    {
        "update_id": UPDATE,
        "message_reaction": {
            "chat": {"id": USER, "type": "private"},
            "message_id": 5,
            "date": 1767600000,
            "old_reaction": [],
            "new_reaction": [{"type": "emoji", "emoji": "👍"}],
        },
    },
    {"update_id": UPDATE, "some_future_kind": {"id": 1, "from": telegram_fake.client_user(USER)}},
    _pressed,
]


@fuzz_settings(max_examples=150)
@given(wire=st.one_of(*(bodies(u) for u in TELEGRAM_UPDATES)))
async def test_telegram_webhook_bodies_never_fail_the_server_nor_store_twice(
    line: Line, wire: Wire
) -> None:
    wire, _ = fresh(line, wire)
    await line.delivered_twice_stored_once(TELEGRAM_HOOK, wire, TELEGRAM_AUTH)


# --- VK -------------------------------------------------------------------------------------------

VK_HOOK = f"/channels/vk/{ACCOUNT}/webhook"


def _vk(**message: Any) -> dict[str, Any]:
    update = vk_fake.message_new(str(UPDATE), USER, message.pop("text", ""), **message)
    return {**update, "secret": VK_SECRET}


VK_UPDATES: list[dict[str, Any]] = [
    _vk(text="Hello, my order is late"),
    _vk(
        text="",
        attachments=[
            {
                "type": "photo",
                "photo": {
                    "id": 1,
                    "owner_id": USER,
                    "access_key": "k",
                    "sizes": [
                        {"type": "s", "url": "https://vk.example/s.jpg", "width": 75, "height": 75},
                        {
                            "type": "x",
                            "url": "https://vk.example/x.jpg",
                            "width": 604,
                            "height": 604,
                        },
                    ],
                },
            }
        ],
    ),
    _vk(
        text="the invoice",
        attachments=[
            {
                "type": "doc",
                "doc": {
                    "id": 2,
                    "owner_id": USER,
                    "title": "invoice.pdf",
                    "size": 1234,
                    "ext": "pdf",
                    "url": "https://vk.example/doc",
                },
            }
        ],
    ),
    _vk(
        attachments=[
            {
                "type": "audio_message",
                "audio_message": {
                    "id": 3,
                    "owner_id": USER,
                    "duration": 3,
                    "link_ogg": "https://vk.example/a.ogg",
                    "link_mp3": "https://vk.example/a.mp3",
                },
            }
        ]
    ),
    _vk(
        attachments=[
            {
                "type": "sticker",
                "sticker": {
                    "sticker_id": 9,
                    "product_id": 1,
                    "images": [{"url": "https://vk.example/st.png", "width": 128, "height": 128}],
                },
            }
        ]
    ),
    _vk(attachments=[{"type": "wall", "wall": {"id": 4, "owner_id": -1}}]),
    _vk(text="here", geo={"type": "point", "coordinates": {"latitude": 55.75, "longitude": 37.61}}),
    _vk(text="★★★★★", payload='{"p": "omniline:rate:5"}'),
    _vk(text="Start", payload='{"command": "start"}'),
    {
        "type": "message_event",
        "event_id": str(UPDATE),
        "v": "5.199",
        "group_id": vk_fake.GROUP_ID,
        "secret": VK_SECRET,
        "object": {
            "user_id": USER,
            "peer_id": USER,
            "event_id": "press-1",
            "payload": {"p": "omniline:rate:4"},
            "conversation_message_id": 7,
        },
    },
    {
        "type": "message_typing_state",
        "event_id": str(UPDATE),
        "v": "5.199",
        "group_id": vk_fake.GROUP_ID,
        "secret": VK_SECRET,
        "object": {"state": "typing", "from_id": USER, "to_id": -vk_fake.GROUP_ID},
    },
    {"type": "confirmation", "group_id": vk_fake.GROUP_ID},
]


@fuzz_settings(max_examples=150)
@given(wire=st.one_of(*(bodies(u) for u in VK_UPDATES)))
async def test_vk_callback_bodies_never_fail_the_server_nor_store_twice(
    line: Line, wire: Wire
) -> None:
    wire, _ = fresh(line, wire)
    status, text = await line.delivered_twice_stored_once(VK_HOOK, wire)
    if status == 200:
        assert text in ("ok", VK_CONFIRMATION), text


# --- Viber ----------------------------------------------------------------------------------------

VIBER_HOOK = f"/channels/viber/{ACCOUNT}/webhook"


def _viber(message: dict[str, Any]) -> dict[str, Any]:
    return viber_fake.message_update(UPDATE, message, user=str(USER), name="Olga Orlova")


VIBER_UPDATES: list[dict[str, Any]] = [
    _viber({"type": "text", "text": "Hello, my order is late"}),
    _viber({"type": "text", "text": "Yes", "tracking_data": 'omniline:buttons:["Yes", "No"]'}),
    _viber(
        {
            "type": "picture",
            "text": "the broken part",
            "media": "https://viber.example/p.jpg",
            "thumbnail": "https://viber.example/t.jpg",
            "size": 9000,
        }
    ),
    _viber(
        {
            "type": "file",
            "media": "https://viber.example/f",
            "file_name": "invoice.pdf",
            "size": 1234,
        }
    ),
    _viber({"type": "video", "media": "https://viber.example/v.mp4", "size": 99999, "duration": 4}),
    _viber({"type": "sticker", "sticker_id": 46105}),
    _viber({"type": "url", "media": "https://shop.example/order/5"}),
    _viber({"type": "contact", "contact": {"name": "Olga", "phone_number": "+491701234567"}}),
    _viber({"type": "location", "location": {"lat": 52.52, "lon": 13.405}}),
    {
        "event": "conversation_started",
        "timestamp": 1457764197627,
        "message_token": UPDATE,
        "type": "open",
        "context": "ad",
        "user": {"id": str(USER), "name": "Olga"},
        "subscribed": False,
    },
    {
        "event": "subscribed",
        "timestamp": 1457764197627,
        "message_token": UPDATE,
        "user": {"id": str(USER), "name": "Olga"},
    },
    {
        "event": "delivered",
        "timestamp": 1457764197627,
        "message_token": UPDATE,
        "user_id": str(USER),
    },
    {"event": "webhook", "timestamp": 1457764197627, "message_token": UPDATE},
]


def signed(wire: Wire) -> dict[str, str]:
    """The header Viber sends: the HMAC-SHA256 of the very bytes, under the bot's token."""
    return {"X-Viber-Content-Signature": viber_fake.sign(wire.body)}


@fuzz_settings(max_examples=150)
@given(wire=st.one_of(*(bodies(u) for u in VIBER_UPDATES)))
async def test_viber_callback_bodies_never_fail_the_server_nor_store_twice(
    line: Line, wire: Wire
) -> None:
    wire, _ = fresh(line, wire)
    await line.delivered_twice_stored_once(VIBER_HOOK, wire, signed(wire))


# --- well-formed messages, stored once and read back ----------------------------------------------

good_texts = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=300
).filter(lambda t: bool(t.strip()))


def identity(channel: str, user: int) -> Identity:
    return Identity(channel=ChannelRef(type=channel, account=ACCOUNT), external_id=str(user))


async def stored_once_and_read_back(
    line: Line, channel: str, path: str, wire: Wire, headers: dict[str, str], user: int, text: str
) -> None:
    before = await line.cursor()
    for _ in range(2):  # delivered, and delivered again as the platform retries
        status, answer = await line.post(path, wire, headers)
        assert status == 200, (status, answer)
    [stored] = await line.stored_since(before)
    history = await line.app.store.dialogs.identity_history(identity(channel, user))
    assert [(m.id, m.text) for m in history if m.direction.value == "in"] == [(stored.id, text)]
    line.no_traceback()


@fuzz_settings(max_examples=50)
@given(text=good_texts)
async def test_a_well_formed_telegram_message_is_stored_once_and_read_back(
    line: Line, text: str
) -> None:
    wire, user = fresh(line, as_json(_telegram({"text": text})))
    await stored_once_and_read_back(
        line, "telegram", TELEGRAM_HOOK, wire, TELEGRAM_AUTH, user, text
    )


@fuzz_settings(max_examples=50)
@given(text=good_texts)
async def test_a_well_formed_vk_message_is_stored_once_and_read_back(line: Line, text: str) -> None:
    wire, user = fresh(line, as_json(_vk(text=text)))
    await stored_once_and_read_back(line, "vk", VK_HOOK, wire, {}, user, text)


@fuzz_settings(max_examples=50)
@given(text=good_texts)
async def test_a_well_formed_viber_message_is_stored_once_and_read_back(
    line: Line, text: str
) -> None:
    wire, user = fresh(line, as_json(_viber({"type": "text", "text": text})))
    await stored_once_and_read_back(line, "viber", VIBER_HOOK, wire, signed(wire), user, text)


def _authentic(value: Any) -> bool:
    """What Telegram itself could send: a JSON object with an integer update_id (of any Bot API
    version's shape), so no lone surrogates, no NUL and no nesting past the depth limit."""
    if not isinstance(value, dict) or type(value.get("update_id")) is not int:
        return False
    try:
        text = json.dumps(value)  # a Deep or a Twice inside is not what Telegram sends
    except (TypeError, RecursionError):
        return False
    return not re.search(r"\\u(d[89a-f]|0000)", text)


@fuzz_settings(max_examples=60)
@given(
    update=st.one_of(*(mutated_value(u) for u in TELEGRAM_UPDATES)).filter(_authentic),
)
async def test_an_authentic_telegram_update_of_any_shape_is_acknowledged(
    line: Line, update: dict[str, Any]
) -> None:
    wire, _ = fresh(line, as_json(update))
    status, text = await line.delivered_twice_stored_once(TELEGRAM_HOOK, wire, TELEGRAM_AUTH)
    assert status == 200, f"{status} {text} for {wire!r}"


async def test_a_nul_or_lone_surrogate_in_an_update_is_stored_as_a_replacement_not_a_500(
    postgres_line: Line,
) -> None:
    # JSON's \u0000 and \ud800 escapes made every plugin answer 500 (PostgreSQL keeps no NUL in
    # text, UTF-8 encodes no lone surrogate) and the platforms retried the update for a day.
    line = postgres_line
    text = "a\\u0000b\\ud800c"
    for channel, path, template, auth in (
        ("telegram", TELEGRAM_HOOK, _telegram({"text": "TEXT"}), lambda _: TELEGRAM_AUTH),
        ("vk", VK_HOOK, _vk(text="TEXT"), lambda _: {}),
        ("viber", VIBER_HOOK, _viber({"type": "text", "text": "TEXT"}), signed),
    ):
        raw = json.dumps(template).replace('"TEXT"', f'"{text}"').encode()
        wire, _ = fresh(line, Wire(raw, "application/json"))
        before = await line.cursor()
        status, answer = await line.post(path, wire, auth(wire))
        assert status == 200, (channel, status, answer)
        [stored] = await line.stored_since(before)
        assert stored.text == "a\ufffdb\ufffdc", channel
        line.no_traceback(channel)
