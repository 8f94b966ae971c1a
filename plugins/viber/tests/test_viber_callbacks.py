"""What Viber's callbacks become: every kind of message in the shapes of Viber's REST API reference
(and with fields missing or added), posted signed to the real webhook and read back from the
store; and the webhook's edges (size, pieces, nesting, bodies that are no Viber callback)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from omniline_viber.testing import FakeViber, message_update, viber_calls, viber_posts

from omniline.model import (
    Attachment,
    AttachmentKind,
    ChannelRef,
    ContactShare,
    Identity,
    Location,
    Unsupported,
)

AppFactory = Callable[..., Awaitable[Any]]
USER = "01234567890A="
ANN = Identity(channel=ChannelRef(type="viber", account="main"), external_id=USER)
DL = "https://dl-media.viber.com/1/share/2/long/vibes"


def image(url: str, name: str | None = None, size: int | None = None) -> Attachment:
    return Attachment(kind=AttachmentKind.IMAGE, url=url, name=name, size=size)


# (what it is, Viber's `message` object, what is stored: text, attachments, contact, location,
# unsupported kind)
KINDS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "text",
        {"type": "text", "text": "a message to the service", "tracking_data": "tracking data"},
        {"text": "a message to the service"},
    ),
    (
        "text with fields Viber added later",
        {"type": "text", "text": "hi", "quote": {"id": 7}, "reply_type": "message", "x": [1]},
        {"text": "hi"},
    ),
    ("text without its text", {"type": "text"}, {"unsupported": "text"}),
    (
        "picture",
        {
            "type": "picture",
            "text": "my receipt",
            "media": f"{DL}/p.jpg",
            "thumbnail": f"{DL}/p-thumb.jpg",
            "file_name": "p.jpg",
            "size": 90015,
        },
        {"text": "my receipt", "attachments": [image(f"{DL}/p.jpg", "p.jpg", 90015)]},
    ),
    (
        "picture with an empty caption",
        {"type": "picture", "text": "", "media": f"{DL}/p.jpg", "thumbnail": f"{DL}/t.jpg"},
        {"attachments": [image(f"{DL}/p.jpg")]},
    ),
    (
        "picture with its thumbnail only",
        {"type": "picture", "text": "", "thumbnail": f"{DL}/t.jpg"},
        {"attachments": [image(f"{DL}/t.jpg")]},
    ),
    (
        "picture without media (a forwarded one)",
        {"type": "picture", "text": "", "media": None, "thumbnail": None},
        {"unsupported": "picture"},
    ),
    (
        "video",
        {
            "type": "video",
            "media": f"{DL}/v.mp4",
            "thumbnail": f"{DL}/v.jpg",
            "size": 1000,
            "duration": 10,
        },
        {"attachments": [Attachment(kind=AttachmentKind.VIDEO, url=f"{DL}/v.mp4", size=1000)]},
    ),
    (
        "file",
        {
            "type": "file",
            "media": f"{DL}/f.pdf",
            "file_name": "invoice.pdf",
            "file_size": 2048,
        },
        {
            "attachments": [
                Attachment(
                    kind=AttachmentKind.DOCUMENT, url=f"{DL}/f.pdf", name="invoice.pdf", size=2048
                )
            ]
        },
    ),
    (
        "file with size instead of file_size",
        {"type": "file", "media": f"{DL}/f.doc", "size": 10000, "file_name": "name_of_file.doc"},
        {
            "attachments": [
                Attachment(
                    kind=AttachmentKind.DOCUMENT,
                    url=f"{DL}/f.doc",
                    name="name_of_file.doc",
                    size=10000,
                )
            ]
        },
    ),
    (
        "sticker",
        {
            "type": "sticker",
            "sticker_id": 46105,
            "media": "https://stickers.viber.example/46105.png",
        },
        {
            "attachments": [
                Attachment(
                    kind=AttachmentKind.STICKER,
                    url="https://stickers.viber.example/46105.png",
                    file_id="46105",
                )
            ]
        },
    ),
    (
        "sticker without media",
        {"type": "sticker", "sticker_id": 46105},
        {"attachments": [Attachment(kind=AttachmentKind.STICKER, file_id="46105")]},
    ),
    ("sticker without an id or media", {"type": "sticker"}, {"unsupported": "sticker"}),
    (
        "contact",
        {
            "type": "contact",
            "contact": {
                "name": "Itamar",
                "phone_number": "+49 151 12345678",
                "avatar": "https://avatar.example.com",
            },
        },
        {"contact": ContactShare(phone="+49 151 12345678", name="Itamar")},
    ),
    (
        "contact without a phone",
        {"type": "contact", "contact": {"name": "Itamar"}},
        {"unsupported": "contact"},
    ),
    (
        "location",
        {"type": "location", "location": {"lat": 50.76891, "lon": 6.11499}},
        {"location": Location(latitude=50.76891, longitude=6.11499)},
    ),
    (
        "location off the globe",
        {"type": "location", "location": {"lat": 123.0, "lon": 6.1}},
        {"unsupported": "location"},
    ),
    ("location without coordinates", {"type": "location"}, {"unsupported": "location"}),
    (
        "url",
        {"type": "url", "media": "http://www.website.com/go_here"},
        {
            "attachments": [
                Attachment(kind=AttachmentKind.LINK, url="http://www.website.com/go_here")
            ]
        },
    ),
    ("url without its url", {"type": "url"}, {"unsupported": "url"}),
    (
        "rich_media",
        {
            "type": "rich_media",
            "rich_media": {"Type": "rich_media", "ButtonsGroupColumns": 6, "Buttons": []},
            "alt_text": "upgrade now!",
        },
        {"unsupported": "rich_media"},
    ),
    ("a kind newer than the plugin", {"type": "poll", "poll": {}}, {"unsupported": "poll"}),
]


async def test_every_kind_of_viber_message_is_stored_as_the_table_says(
    start_app: AppFactory, viber: FakeViber
) -> None:
    running = await start_app()
    for token, (_, message, _) in enumerate(KINDS, start=5000):
        assert await viber_calls(running.client, message_update(token, message)) == 200
    await running.app.idle()
    stored = await running.app.store.dialogs.identity_history(ANN)
    assert len(stored) == len(KINDS)
    for (what, _, expected), got in zip(KINDS, stored, strict=True):
        unsupported = expected.get("unsupported")
        assert (
            got.text,
            list(got.attachments),
            got.contact,
            got.location,
            got.unsupported,
        ) == (
            expected.get("text"),
            expected.get("attachments", []),
            expected.get("contact"),
            expected.get("location"),
            Unsupported(kind=unsupported) if unsupported else None,
        ), what


async def test_a_sticker_is_stored_as_a_sticker_with_its_url(
    start_app: AppFactory,
) -> None:
    running = await start_app()
    sticker = {"type": "sticker", "sticker_id": 40133, "media": "https://stk.example/40133.png"}
    assert await viber_calls(running.client, message_update(1, sticker)) == 200
    [stored] = await running.app.store.dialogs.identity_history(ANN)
    [attachment] = stored.attachments
    assert (attachment.kind, attachment.url) == ("sticker", "https://stk.example/40133.png")


async def test_a_video_is_stored_as_a_video_with_its_size(start_app: AppFactory) -> None:
    running = await start_app()
    video = {"type": "video", "media": f"{DL}/v.mp4", "file_size": 1000, "duration": 3}
    assert await viber_calls(running.client, message_update(1, video)) == 200
    [stored] = await running.app.store.dialogs.identity_history(ANN)
    [attachment] = stored.attachments
    assert (attachment.kind, attachment.url, attachment.size) == ("video", f"{DL}/v.mp4", 1000)


async def test_a_forwarded_picture_without_media_is_stored_not_dropped(
    start_app: AppFactory,
) -> None:
    running = await start_app()
    picture = {"type": "picture", "text": "", "media": "", "thumbnail": ""}
    assert await viber_calls(running.client, message_update(1, picture)) == 200
    [stored] = await running.app.store.dialogs.identity_history(ANN)
    assert stored.unsupported == Unsupported(kind="picture") and stored.attachments == ()


async def test_a_contact_shared_on_viber_ends_in_the_clients_contacts(
    start_app: AppFactory,
) -> None:
    running = await start_app()
    card = {"type": "contact", "contact": {"name": "Ann", "phone_number": "4915112345678"}}
    assert await viber_calls(running.client, message_update(1, card)) == 200
    await running.app.idle()
    dialog = await running.app.store.dialogs.open_of(ANN, "support")
    assert dialog is not None
    assert dialog.identity.profile["phone"] == "+4915112345678"  # read as international
    contacts = await running.app.store.clients.contact_values(dialog.client_id)
    assert contacts["phone"] == ["+4915112345678"]


async def test_a_url_message_is_a_link_attachment_not_text(start_app: AppFactory) -> None:
    running = await start_app()
    link = {"type": "url", "media": "https://shop.example/item/7"}
    assert await viber_calls(running.client, message_update(1, link)) == 200
    [stored] = await running.app.store.dialogs.identity_history(ANN)
    assert stored.text is None
    assert stored.attachments == (Attachment(kind=AttachmentKind.LINK, url=link["media"]),)


async def test_an_unsupported_kind_is_logged_once(
    start_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="omniline.channel.viber")
    running = await start_app()
    rich = {"type": "rich_media", "rich_media": {"Buttons": []}, "alt_text": "see more"}
    assert await viber_calls(running.client, message_update(1, rich)) == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "omniline.channel.viber"]
    assert lines == ["viber/main: a Viber 'rich_media' message is stored as unsupported"]


# --- events ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"event": 7}, "'event' is missing or not a string"),
        ({"timestamp": 1}, "'event' is missing or not a string"),
        ([{"event": "message"}], "not a JSON object"),
        ("message", "not a JSON object"),
        (
            {"event": "message", "sender": {"id": USER}, "message": {"type": "text"}},
            "message_token",
        ),
        (
            {"event": "message", "message_token": 1, "message": {"type": "text", "text": "x"}},
            "'sender' object",
        ),
        (
            {
                "event": "message",
                "message_token": 1,
                "sender": {"id": 42},
                "message": {"type": "text", "text": "x"},
            },
            "'sender.id'",
        ),
        ({"event": "message", "message_token": 1, "sender": {"id": USER}}, "'message' object"),
        (
            {"event": "message", "message_token": 1, "sender": {"id": USER}, "message": {}},
            "'message.type'",
        ),
        (
            {
                "event": "message",
                "message_token": "9" * 300,
                "sender": {"id": USER},
                "message": {"type": "text", "text": "x"},
            },
            "longer than 256",
        ),
    ],
)
async def test_a_body_that_is_no_viber_callback_gets_a_400_that_says_why(
    start_app: AppFactory, body: Any, why: str
) -> None:
    running = await start_app()
    status, answer = await viber_posts(running.client, json.dumps(body).encode())
    assert status == 400
    assert answer.startswith("not a Viber callback: ") and why in answer
    assert await running.app.store.dialogs.identity_history(ANN) == []


async def test_an_event_whose_name_is_a_number_is_not_acknowledged_as_a_callback(
    start_app: AppFactory,
) -> None:
    running = await start_app()
    assert await viber_calls(running.client, {"event": 7}) == 400


async def test_an_unknown_event_is_acknowledged_and_logged_once(
    start_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="omniline.channel.viber")
    running = await start_app()
    update = {"event": "client_status", "timestamp": 1, "message_token": 5, "user_id": USER}
    status, answer = await viber_posts(running.client, json.dumps(update).encode())
    assert (status, answer) == (200, "{}")
    lines = [r.getMessage() for r in caplog.records if r.name == "omniline.channel.viber"]
    assert lines == ["viber/main: ignored a Viber 'client_status' callback"]
    assert await running.app.store.dialogs.identity_history(ANN) == []


@pytest.mark.parametrize(
    "update",
    [
        {"event": "webhook", "timestamp": 1, "chat_hostname": "SN-1_", "message_token": 2},
        {
            "event": "subscribed",
            "timestamp": 1,
            "user": {"id": USER, "name": "Ann", "api_version": 1},
            "message_token": 3,
        },
        {"event": "unsubscribed", "timestamp": 1, "user_id": USER, "message_token": 4},
        {
            "event": "conversation_started",
            "timestamp": 1,
            "message_token": 5,
            "type": "open",
            "context": "ctx",
            "user": {"id": USER, "name": "Ann"},
            "subscribed": False,
        },
        {"event": "delivered", "timestamp": 1, "message_token": 6, "user_id": USER},
        {"event": "seen", "timestamp": 1, "message_token": 7, "user_id": USER},
        {"event": "failed", "timestamp": 1, "message_token": 8, "user_id": USER, "desc": "x"},
    ],
)
async def test_vibers_service_callbacks_are_acknowledged_quietly_and_not_stored(
    start_app: AppFactory, update: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="omniline.channel.viber")
    running = await start_app()
    status, answer = await viber_posts(running.client, json.dumps(update).encode())
    assert (status, answer) == (200, "{}")
    assert [r for r in caplog.records if r.name == "omniline.channel.viber"] == []
    assert await running.app.store.dialogs.identity_history(ANN) == []


# --- the body -----------------------------------------------------------------------------------


async def test_a_callback_over_the_limit_is_refused_with_413_before_it_is_read(
    start_app: AppFactory,
) -> None:
    running = await start_app(max_callback_bytes=4096)
    big = message_update(1, {"type": "text", "text": "x" * 5000})
    status, _ = await viber_posts(running.client, json.dumps(big).encode())
    assert status == 413
    # the same, sent in pieces without a Content-Length
    status, _ = await viber_posts(running.client, json.dumps(big).encode(), pieces=8)
    assert status == 413
    assert await running.app.store.dialogs.identity_history(ANN) == []


async def test_a_callback_that_arrives_in_pieces_is_stored_whole(start_app: AppFactory) -> None:
    running = await start_app()
    update = message_update(1, {"type": "text", "text": "piece by piece " * 40})
    status, _ = await viber_posts(running.client, json.dumps(update).encode(), pieces=7)
    assert status == 200
    [stored] = await running.app.store.dialogs.identity_history(ANN)
    assert stored.text == "piece by piece " * 40


async def test_a_signed_callback_nested_too_deep_is_a_400_not_a_500(
    start_app: AppFactory,
) -> None:
    running = await start_app()
    deep = b'{"event": "message", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    status, answer = await viber_posts(running.client, deep)
    assert status == 400 and "deeper" in answer


async def test_a_signature_over_other_bytes_than_those_sent_is_refused(
    start_app: AppFactory,
) -> None:
    running = await start_app()
    from omniline_viber.testing import sign

    body = json.dumps(message_update(1, {"type": "text", "text": "hi"})).encode()
    # the same JSON, written with other spacing: the signature is over the raw bytes
    respaced = json.dumps(json.loads(body), indent=1).encode()
    status, _ = await viber_posts(running.client, respaced, signature=sign(body))
    assert status == 403
    assert await running.app.store.dialogs.identity_history(ANN) == []


async def test_tracking_data_nested_too_deep_is_a_text_not_a_500(start_app: AppFactory) -> None:
    running = await start_app()
    tracking = "omniline:buttons:" + "[" * 100_000 + "]" * 100_000
    update = message_update(1, {"type": "text", "text": "yes", "tracking_data": tracking})
    assert await viber_calls(running.client, update) == 200
    [stored] = await running.app.store.dialogs.identity_history(ANN)
    assert (stored.text, stored.button_payload) == ("yes", None)
