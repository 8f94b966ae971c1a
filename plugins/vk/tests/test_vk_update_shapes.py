"""Updates in the shapes of many VK API versions, each POSTed to the real Callback API endpoint of a
real Omniline app: stored as the table in docs/channels/vk.md says, or acknowledged, ignored and
logged naming their kind. Never a 5xx."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from omniline_vk import plugin
from omniline_vk.testing import GROUP_ID, SECRET, FakeVk, message_new

from omniline import Config, MessageContext, Omniline, Router
from omniline.model import (
    Attachment,
    AttachmentKind,
    Identity,
    InboundEvent,
    Location,
    StoredMessage,
    Unsupported,
)
from omniline.testing import VirtualClock

pytestmark = pytest.mark.asyncio(loop_scope="module")

URL = "/channels/vk/main/webhook"
_peers = itertools.count(10_000)


@dataclass
class Running:
    app: Omniline
    client: TestClient[Any, Any]
    seen: list[InboundEvent] = field(default_factory=list)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    """One app for the whole table (each case writes from a chat of its own); its bot records
    every event it is given and answers nothing."""
    fake = FakeVk()
    seen: list[InboundEvent] = []
    router = Router()

    @router.message()
    async def record(ctx: MessageContext) -> None:
        seen.append(ctx.event)

    database = tmp_path_factory.mktemp("shapes") / "db.sqlite"
    async with TestServer(fake.application(), host="127.0.0.1") as server:
        fake.server = server
        config = Config.model_validate(
            {
                "storage": {"url": f"sqlite:///{database}"},
                "lines": [
                    {
                        "id": "support",
                        "name": "Support",
                        "channels": [
                            {"type": "vk", "account": "main", "settings": fake.settings()}
                        ],
                    }
                ],
            }
        )
        app = Omniline(
            config,
            clock=VirtualClock(),
            bots={"support": router},
            channel_plugins={"vk": plugin},
            migrate=True,
            serve_http=False,
        )
        await app.start()
        try:
            async with TestClient(TestServer(app.web)) as client:
                yield Running(app, client, seen)
        finally:
            await app.stop()


# --- the shapes ----------------------------------------------------------------------------------


def current(peer: int, **message: Any) -> dict[str, Any]:
    """5.199 (and 5.103+): ``object`` is ``{message, client_info}``."""
    return message_new(f"ev-{peer}", peer, message.pop("text", ""), **message)


def legacy(peer: int, version: str = "5.80", **message: Any) -> dict[str, Any]:
    """Before 5.103: ``object`` is the message itself."""
    return {
        "type": "message_new",
        "event_id": f"ev-{peer}",
        "v": version,
        "group_id": GROUP_ID,
        "object": {
            "id": 700,
            "date": 1_500_000_000,
            "out": 0,
            "peer_id": peer,
            "from_id": peer,
            "text": "",
            "conversation_message_id": 3,
            "fwd_messages": [],
            "important": False,
            "random_id": 0,
            "attachments": [],
            "is_hidden": False,
            **message,
        },
    }


def event(kind: str, peer: int, obj: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": kind,
        "event_id": f"ev-{peer}",
        "v": "5.199",
        "group_id": GROUP_ID,
        "object": {"user_id": peer, "peer_id": peer} if obj is None else obj,
    }


def attached(peer: int, *attachments: dict[str, Any], text: str = "") -> dict[str, Any]:
    return current(peer, text=text, attachments=list(attachments))


PHOTO_SIZES = {
    "id": 1,
    "owner_id": 5,
    "access_key": "k",
    "sizes": [
        {"type": "s", "url": "https://sun.example/s.jpg", "width": 75, "height": 50},
        {"type": "w", "url": "https://sun.example/w.jpg", "width": 2560, "height": 1700},
        {"type": "m", "url": "https://sun.example/m.jpg", "width": 130, "height": 87},
    ],
}


@dataclass(frozen=True)
class Case:
    name: str
    body: Any
    """A builder taking the case's own peer id."""
    stored: dict[str, Any] | None = None
    """The stored message's fields; None: ignored, and logged naming ``ignored_kind``."""
    ignored_kind: str | None = None


def text_of(text: str) -> dict[str, Any]:
    return {"text": text}


CASES = [
    # --- message_new in the shapes of several API versions ---
    Case("5.199 text", lambda p: current(p, text="hello"), text_of("hello")),
    Case(
        "5.131 with fields added since",
        lambda p: {
            **current(
                p,
                text="new fields",
                is_cropped=False,
                reaction_id=3,
                reactions=[{"reaction_id": 3, "count": 1}],
                members_count=2,
                update_time=1_700_000_000,
                format_data={"version": 1, "items": []},
            ),
            "v": "5.131",
            "object": {
                **current(p, text="new fields", is_unavailable=False)["object"],
                "client_info": {
                    "button_actions": ["text", "callback", "open_app"],
                    "keyboard": True,
                    "inline_keyboard": True,
                    "carousel": True,
                    "lang_id": 0,
                },
            },
        },
        text_of("new fields"),
    ),
    Case(
        "5.199 with fields missing",
        lambda p: {
            "type": "message_new",
            "event_id": f"ev-{p}",
            "group_id": GROUP_ID,
            "object": {"message": {"peer_id": p, "text": "bare"}},
        },
        text_of("bare"),
    ),
    Case("5.80 legacy message_new", lambda p: legacy(p, text="old shape"), text_of("old shape")),
    Case(
        "5.50 legacy message_new (body, user_id, no event_id)",
        lambda p: {
            "type": "message_new",
            "group_id": GROUP_ID,
            "object": {"id": 41, "date": 1, "out": 0, "user_id": p, "body": "older still"},
        },
        text_of("older still"),
    ),
    Case(
        "legacy message_new with an attachment",
        lambda p: legacy(
            p,
            attachments=[
                {
                    "type": "photo",
                    "photo": {
                        "id": 2,
                        "owner_id": p,
                        "photo_75": "https://sun.example/75.jpg",
                        "photo_604": "https://sun.example/604.jpg",
                    },
                }
            ],
        ),
        {
            "attachments": (
                Attachment(
                    kind=AttachmentKind.IMAGE,
                    url="https://sun.example/604.jpg",
                    file_id="photo{p}_2",
                ),
            )
        },
    ),
    # --- buttons ---
    Case(
        "keyboard button: payload as a JSON string, the label as text",
        lambda p: current(p, text="Yes", payload='{"p":"y"}'),
        {"text": "Yes", "button_payload": "y"},
    ),
    Case(
        "keyboard button of another bot's making",
        lambda p: current(p, text="One", payload='{"button":"1"}'),
        {"text": "One", "button_payload": '{"button": "1"}'},
    ),
    Case(
        "legacy keyboard button",
        lambda p: legacy(p, text="No", payload='{"p":"n"}'),
        {"text": "No", "button_payload": "n"},
    ),
    Case(
        "the Start button",
        lambda p: current(p, text="Начать", payload='{"command":"start"}'),
        {"text": "Начать", "button_payload": None},
    ),
    Case(
        "callback button (message_event)",
        lambda p: event(
            "message_event",
            p,
            {"user_id": p, "peer_id": p, "event_id": "cb", "payload": {"p": "yes"}},
        ),
        {"button_payload": "yes"},
    ),
    Case(
        "callback button with a foreign payload",
        lambda p: event(
            "message_event", p, {"user_id": p, "peer_id": p, "event_id": "cb", "payload": [1, 2]}
        ),
        {"button_payload": "[1, 2]"},
    ),
    # --- locations ---
    Case(
        "geo",
        lambda p: current(
            p,
            geo={"type": "point", "coordinates": {"latitude": 55.75, "longitude": 37.62}},
        ),
        {"location": Location(latitude=55.75, longitude=37.62)},
    ),
    Case(
        "legacy geo (coordinates as text)",
        lambda p: legacy(p, geo={"type": "point", "coordinates": "59.93 30.31"}),
        {"location": Location(latitude=59.93, longitude=30.31)},
    ),
    Case(
        "geo out of range",
        lambda p: current(p, geo={"coordinates": {"latitude": 123, "longitude": 500}}),
        {"unsupported": Unsupported(kind="geo")},
    ),
    # --- attachments ---
    Case(
        "photo: the largest size",
        lambda p: attached(p, {"type": "photo", "photo": PHOTO_SIZES}),
        {
            "attachments": (
                Attachment(
                    kind=AttachmentKind.IMAGE, url="https://sun.example/w.jpg", file_id="photo5_1_k"
                ),
            )
        },
    ),
    Case(
        "sticker: an image url",
        lambda p: attached(
            p,
            {
                "type": "sticker",
                "sticker": {
                    "product_id": 1,
                    "sticker_id": 9,
                    "images": [
                        {"url": "https://vk.example/s/512.png", "width": 512, "height": 512},
                        {"url": "https://vk.example/s/64.png", "width": 64, "height": 64},
                    ],
                },
            },
        ),
        {
            "attachments": (
                Attachment(
                    kind=AttachmentKind.STICKER, url="https://vk.example/s/512.png", file_id="9"
                ),
            )
        },
    ),
    Case(
        "legacy sticker (photo_256)",
        lambda p: legacy(
            p,
            attachments=[
                {
                    "type": "sticker",
                    "sticker": {
                        "id": 9,
                        "photo_64": "https://vk.example/64",
                        "photo_256": "https://vk.example/256",
                    },
                }
            ],
        ),
        {"attachments": (Attachment(kind=AttachmentKind.STICKER, url="https://vk.example/256"),)},
    ),
    Case(
        "link",
        lambda p: attached(
            p,
            {
                "type": "link",
                "link": {
                    "url": "https://example.com/a",
                    "title": "A page",
                    "caption": "example.com",
                },
            },
            text="look",
        ),
        {
            "text": "look",
            "attachments": (
                Attachment(kind=AttachmentKind.LINK, url="https://example.com/a", name="A page"),
            ),
        },
    ),
    Case(
        "wall post",
        lambda p: attached(p, {"type": "wall", "wall": {"id": 12, "owner_id": -5, "text": "News"}}),
        {
            "attachments": (
                Attachment(
                    kind=AttachmentKind.LINK,
                    url="https://vk.com/wall-5_12",
                    file_id="wall-5_12",
                    name="News",
                ),
            )
        },
    ),
    Case(
        "wall comment",
        lambda p: attached(
            p, {"type": "wall_reply", "wall_reply": {"id": 3, "owner_id": -5, "post_id": 12}}
        ),
        {
            "attachments": (
                Attachment(kind=AttachmentKind.LINK, url="https://vk.com/wall-5_12?reply=3"),
            )
        },
    ),
    Case(
        "market item",
        lambda p: attached(
            p, {"type": "market", "market": {"id": 8, "owner_id": -5, "title": "Mug"}}
        ),
        {
            "attachments": (
                Attachment(
                    kind=AttachmentKind.LINK,
                    url="https://vk.com/product-5_8",
                    file_id="market-5_8",
                    name="Mug",
                ),
            )
        },
    ),
    Case(
        "graffiti",
        lambda p: attached(
            p, {"type": "graffiti", "graffiti": {"id": 4, "owner_id": p, "url": "https://g.png"}}
        ),
        {"attachments": (Attachment(kind=AttachmentKind.IMAGE, url="https://g.png"),)},
    ),
    Case(
        "video, audio, voice, document",
        lambda p: attached(
            p,
            {"type": "video", "video": {"id": 1, "owner_id": p, "title": "clip"}},
            {
                "type": "audio",
                "audio": {"id": 2, "owner_id": p, "artist": "A", "title": "B", "url": ""},
            },
            {
                "type": "audio_message",
                "audio_message": {"id": 3, "owner_id": p, "link_mp3": "https://v.mp3"},
            },
            {"type": "doc", "doc": {"id": 4, "owner_id": p, "title": "cv.pdf", "size": -1}},
        ),
        {
            "attachments": (
                Attachment(kind=AttachmentKind.VIDEO, file_id="video{p}_1", name="clip"),
                Attachment(kind=AttachmentKind.AUDIO, file_id="audio{p}_2", name="A — B"),
                Attachment(
                    kind=AttachmentKind.VOICE, url="https://v.mp3", file_id="audio_message{p}_3"
                ),
                Attachment(kind=AttachmentKind.DOCUMENT, file_id="doc{p}_4", name="cv.pdf"),
            )
        },
    ),
    Case(
        "poll",
        lambda p: attached(p, {"type": "poll", "poll": {"id": 1, "owner_id": p, "question": "?"}}),
        {"unsupported": Unsupported(kind="poll")},
    ),
    Case(
        "gift, story and call with text",
        lambda p: attached(
            p,
            {"type": "gift", "gift": {"id": 1}},
            {"type": "story", "story": {"id": 2, "owner_id": p}},
            {"type": "call", "call": {"initiator_id": p, "state": "reached"}},
            text="for you",
        ),
        {"text": "for you", "unsupported": Unsupported(kind="gift,story,call")},
    ),
    Case(
        "an attachment type newer than the plugin",
        lambda p: attached(p, {"type": "hologram", "hologram": {"id": 1}}),
        {"unsupported": Unsupported(kind="hologram")},
    ),
    Case(
        "a photo beside something unreadable",
        lambda p: attached(
            p, {"type": "photo", "photo": PHOTO_SIZES}, {"type": "photo"}, "not an object"
        ),
        {
            "attachments": (
                Attachment(
                    kind=AttachmentKind.IMAGE, url="https://sun.example/w.jpg", file_id="photo5_1_k"
                ),
            ),
            "unsupported": Unsupported(kind="photo,attachment"),
        },
    ),
    Case(
        "forwarded messages only",
        lambda p: current(p, fwd_messages=[{"from_id": 1, "text": "fw", "date": 1}]),
        {"unsupported": Unsupported(kind="fwd_messages")},
    ),
    # --- other update types ---
    Case(
        "a client's edit",
        lambda p: event(
            "message_edit", p, {"id": 5, "peer_id": p, "from_id": p, "out": 0, "text": "fixed"}
        ),
        {"text": "fixed", "unsupported": Unsupported(kind="message_edit")},
    ),
    Case(
        "the community's own edit",
        lambda p: event(
            "message_edit", p, {"id": 5, "peer_id": p, "from_id": -GROUP_ID, "out": 1, "text": "x"}
        ),
        ignored_kind="message_edit",
    ),
    Case(
        "message_reply",
        lambda p: event(
            "message_reply",
            p,
            {"id": 6, "peer_id": p, "from_id": -GROUP_ID, "out": 1, "text": "hi"},
        ),
        ignored_kind="message_reply",
    ),
    Case(
        "message_allow",
        lambda p: event("message_allow", p, {"user_id": p, "key": "k"}),
        ignored_kind="message_allow",
    ),
    Case(
        "message_deny",
        lambda p: event("message_deny", p, {"user_id": p}),
        ignored_kind="message_deny",
    ),
    Case(
        "message_typing_state",
        lambda p: event(
            "message_typing_state", p, {"state": "typing", "from_id": p, "to_id": -GROUP_ID}
        ),
        ignored_kind="message_typing_state",
    ),
    Case(
        "group_join",
        lambda p: event("group_join", p, {"user_id": p, "join_type": "join"}),
        ignored_kind="group_join",
    ),
    Case(
        "wall_post_new",
        lambda p: event("wall_post_new", p, {"id": 1, "owner_id": -GROUP_ID, "text": "post"}),
        ignored_kind="wall_post_new",
    ),
    Case(
        "an update type newer than the plugin",
        lambda p: event("brand_new_event", p),
        ignored_kind="brand_new_event",
    ),
    Case(
        "a group chat's service message",
        lambda p: current(p, action={"type": "chat_invite_user", "member_id": 5}),
        ignored_kind="message_new",
    ),
    Case(
        "message_new with nothing in it",
        lambda p: current(p, text="   "),
        ignored_kind="message_new",
    ),
    Case(
        "message_new without an object",
        lambda p: {"type": "message_new", "event_id": f"ev-{p}", "group_id": GROUP_ID},
        ignored_kind="message_new",
    ),
    Case(
        "message_new whose object is a list",
        lambda p: {
            "type": "message_new",
            "event_id": f"ev-{p}",
            "group_id": GROUP_ID,
            "object": [p],
        },
        ignored_kind="message_new",
    ),
    Case(
        "message_new whose sender is not a number",
        lambda p: {**current(p, text="x"), "object": {"message": {"peer_id": "abc", "text": "x"}}},
        ignored_kind="message_new",
    ),
    Case(
        "an update without a type",
        lambda p: {"event_id": f"ev-{p}", "group_id": GROUP_ID, "object": {}},
        ignored_kind="(no type)",
    ),
]


def expected_value(value: Any, peer: int) -> Any:
    """``{p}`` in expected file ids stands for the case's peer."""
    if isinstance(value, tuple):
        return tuple(
            a.model_copy(update={"file_id": a.file_id.format(p=peer)}) if a.file_id else a
            for a in value
        )
    return value


async def history(app: Omniline, peer: int) -> list[StoredMessage]:
    who = Identity(channel=next(iter(app.channels)), external_id=str(peer))
    return [m for m in await app.store.dialogs.identity_history(who) if m.direction == "in"]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_an_update_of_any_api_version_is_stored_or_ignored_as_the_table_says(
    running: Running, case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    peer = next(_peers)
    update = case.body(peer)
    caplog.set_level(logging.DEBUG, logger="omniline.channel.vk")
    response = await running.client.post(URL, json={**update, "secret": SECRET})
    assert (response.status, await response.text()) == (200, "ok")
    await running.app.idle(paced=False)
    stored = await history(running.app, peer)
    if case.stored is None:
        assert stored == []
        lines = [r.getMessage() for r in caplog.records if r.name == "omniline.channel.vk"]
        assert len([line for line in lines if f"VK {case.ignored_kind} " in line]) == 1, lines
        return
    assert len(stored) == 1
    for name, value in case.stored.items():
        assert getattr(stored[0], name) == expected_value(value, peer), name
    # The whole update is kept as the event's raw payload (all but the secret).
    raw = [e.raw for e in running.seen if e.identity.external_id == str(peer)]
    assert raw == [update]


async def test_a_legacy_message_new_is_read_not_dropped(running: Running) -> None:
    peer = next(_peers)
    update = legacy(peer, text="from a 5.80 community")
    response = await running.client.post(URL, json={**update, "secret": SECRET})
    assert response.status == 200
    assert [m.text for m in await history(running.app, peer)] == ["from a 5.80 community"]


async def test_a_keyboard_buttons_payload_on_message_new_is_the_button_payload(
    running: Running,
) -> None:
    peer = next(_peers)
    update = current(peer, text="Delivery", payload=json.dumps({"p": "menu:delivery"}))
    await running.client.post(URL, json={**update, "secret": SECRET})
    [stored] = await history(running.app, peer)
    assert (stored.text, stored.button_payload) == ("Delivery", "menu:delivery")


async def test_a_reply_to_a_message_names_the_message_it_answers(running: Running) -> None:
    peer = next(_peers)
    update = current(peer, text="this one", reply_message={"id": 31, "text": "earlier"})
    await running.client.post(URL, json={**update, "secret": SECRET})
    await running.app.idle(paced=False)
    [event] = [e for e in running.seen if e.identity.external_id == str(peer)]
    assert (event.message.text, event.message.reply_to) == ("this one", "31")
