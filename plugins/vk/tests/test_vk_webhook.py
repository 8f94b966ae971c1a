"""The Callback API endpoint at its edges: body size and depth, bodies in pieces, malformed but
authentic updates, the confirmation and events that come before the channel started."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from omniline_vk import plugin
from omniline_vk.testing import CONFIRMATION, GROUP_ID, SECRET, FakeVk, message_new

from omniline import Omniline, Receipt
from omniline.model import ChannelRef, Identity, InboundEvent
from omniline.plugins import mount
from omniline.testing import VirtualClock
from omniline.testing.conformance import RecordingHost

URL = "/channels/vk/main/webhook"
PEER = 4242
LIMIT = 8192


def signed(update: dict[str, Any]) -> dict[str, Any]:
    return {**update, "secret": SECRET}


async def stored_texts(app: Omniline, peer: int = PEER) -> list[str | None]:
    who = Identity(channel=next(iter(app.channels)), external_id=str(peer))
    return [m.text for m in await app.store.dialogs.identity_history(who) if m.direction == "in"]


async def pieces(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
        await asyncio.sleep(0.05)


@pytest.fixture
async def small(make_app: Callable[..., Omniline]) -> AsyncIterator[tuple[Omniline, str]]:
    """A started app whose VK channel takes bodies up to LIMIT bytes, served on a real port."""
    app = make_app(max_body_bytes=LIMIT)
    await app.start()
    try:
        async with TestServer(app.web) as server:
            yield app, str(server.make_url(URL))
    finally:
        await app.stop()


async def test_a_body_over_the_limit_is_413_declared_or_sent_in_pieces(
    small: tuple[Omniline, str],
) -> None:
    app, url = small
    big = json.dumps(signed(message_new("ev-big", PEER, "x" * LIMIT))).encode()
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=big) as declared:
            assert declared.status == 413
        async with http.post(url, data=pieces(big[:5000], big[5000:])) as chunked:
            assert chunked.status == 413
    assert await stored_texts(app) == []


async def test_an_update_sent_in_pieces_is_stored(small: tuple[Omniline, str]) -> None:
    app, url = small
    body = json.dumps(signed(message_new("ev-pieces", PEER, "in three pieces"))).encode()
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=pieces(body[:20], body[20:90], body[90:])) as response,
    ):
        assert (response.status, await response.text()) == (200, "ok")
    assert await stored_texts(app) == ["in three pieces"]


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000, b"{" * 100_000, b"[" * 129 + b"]" * 129, b"not json", b"{\xff}", b""],
    ids=["100000 [", "100000 {", "129 levels", "not json", "not utf-8", "empty"],
)
async def test_deep_or_broken_json_is_a_400_not_a_500(
    client: TestClient[Any, Any], body: bytes
) -> None:
    response = await client.post(URL, data=body)
    assert response.status == 400
    assert "Traceback" not in await response.text()


async def test_an_authentic_update_nesting_too_deep_is_a_400_that_says_why(
    client: TestClient[Any, Any],
) -> None:
    deep: Any = "bottom"
    for _ in range(200):
        deep = [deep]
    response = await client.post(URL, json=signed(message_new("ev-deep", PEER, "x", extra=deep)))
    assert response.status == 400
    assert "deeper than 128" in await response.text()


async def test_forwarded_messages_nested_deeper_than_64_levels_are_stored(
    app: Omniline, client: TestClient[Any, Any]
) -> None:
    forwarded: dict[str, Any] = {"from_id": 1, "text": "the first", "date": 1}
    for level in range(40):  # 80 levels of JSON: each forward adds an object and a list
        forwarded = {"from_id": 1, "text": f"level {level}", "date": 1, "fwd_messages": [forwarded]}
    update = message_new("ev-fwd", PEER, "see below", fwd_messages=[forwarded])
    response = await client.post(URL, json=signed(update))
    assert (response.status, await response.text()) == (200, "ok")
    assert await stored_texts(app) == ["see below"]


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        "a string",
        None,
    ],
)
async def test_a_json_body_that_is_not_an_object_is_a_400(
    client: TestClient[Any, Any], body: Any
) -> None:
    response = await client.post(URL, json=body)
    assert response.status == 400


MALFORMED: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("object is a number", lambda u: u.update(object=5)),
    ("message is a string", lambda u: u["object"].update(message="hi")),
    ("peer_id is a float", lambda u: u["object"]["message"].update(peer_id=1.5)),
    ("peer_id is true", lambda u: u["object"]["message"].update(peer_id=True)),
    ("text is a number", lambda u: u["object"]["message"].update(text=42)),
    ("attachments is a dict", lambda u: u["object"]["message"].update(attachments={"a": 1})),
    ("attachment without a body", lambda u: u["object"]["message"].update(attachments=[{}])),
    (
        "photo sizes are strings",
        lambda u: u["object"]["message"].update(
            attachments=[{"type": "photo", "photo": {"sizes": ["big"]}}]
        ),
    ),
    ("geo is a string", lambda u: u["object"]["message"].update(geo="here")),
    (
        "geo coordinates are not numbers",
        lambda u: u["object"]["message"].update(
            geo={"coordinates": {"latitude": "north", "longitude": None}}
        ),
    ),
    ("payload nests 1000 deep", lambda u: u["object"]["message"].update(payload="[" * 1000)),
    ("payload is a number", lambda u: u["object"]["message"].update(payload=7)),
    ("reply_message is a list", lambda u: u["object"]["message"].update(reply_message=[1])),
    ("event_id is an object", lambda u: u.update(event_id={"a": 1})),
    ("event_id is 1000 characters", lambda u: u.update(event_id="e" * 1000)),
    ("type is a number", lambda u: u.update(type=3)),
]


@pytest.mark.parametrize("change", [c for _, c in MALFORMED], ids=[n for n, _ in MALFORMED])
async def test_a_malformed_authentic_update_is_acknowledged_never_a_5xx(
    client: TestClient[Any, Any], change: Callable[[dict[str, Any]], None]
) -> None:
    update = message_new("ev-odd", PEER, "odd")
    change(update)
    response = await client.post(URL, json=signed(update))
    assert (response.status, await response.text()) == (200, "ok")


async def test_the_callback_secret_is_not_kept_in_the_stored_raw_update(
    tmp_path: Any, vk: FakeVk
) -> None:
    host = RecordingHost(VirtualClock())
    channel = plugin.factory(
        ChannelRef(type="vk", account="main"),
        plugin.config_model.model_validate(vk.settings()),
        host,
    )
    seen: list[InboundEvent] = []

    async def sink(event: InboundEvent) -> Receipt:
        seen.append(event)
        return Receipt(duplicate=False, inbox_id=1, dialog_id=1, message_id=1)

    web_app = web.Application()
    mount(web_app, channel)  # type: ignore[arg-type]
    await channel.start(sink)
    try:
        async with TestClient(TestServer(web_app)) as http:
            response = await http.post(URL, json=signed(message_new("ev-raw", PEER, "hi")))
            assert response.status == 200
    finally:
        await channel.stop()
    assert seen[0].raw == message_new("ev-raw", PEER, "hi")
    assert SECRET not in json.dumps(seen[0].raw)


# --- before the channel started ------------------------------------------------------------------


async def test_the_confirmation_is_answered_before_the_channel_started(vk: FakeVk) -> None:
    channel = plugin.factory(
        ChannelRef(type="vk", account="main"),
        plugin.config_model.model_validate(vk.settings()),
        RecordingHost(VirtualClock()),
    )
    web_app = web.Application()
    mount(web_app, channel)  # type: ignore[arg-type]
    async with TestClient(TestServer(web_app)) as http:
        confirm = {"type": "confirmation", "group_id": GROUP_ID}
        response = await http.post(URL, json=confirm)
        assert (response.status, await response.text()) == (200, CONFIRMATION)
        response = await http.post(URL, json={**confirm, "secret": SECRET})  # VK may send it
        assert (response.status, await response.text()) == (200, CONFIRMATION)
        response = await http.post(URL, json={**confirm, "group_id": GROUP_ID + 1})
        assert response.status == 403


async def test_an_event_before_the_channel_started_is_a_503_to_retry_then_stored(
    vk: FakeVk,
) -> None:
    channel = plugin.factory(
        ChannelRef(type="vk", account="main"),
        plugin.config_model.model_validate(vk.settings()),
        RecordingHost(VirtualClock()),
    )
    stored: list[str] = []

    async def sink(event: InboundEvent) -> Receipt:
        stored.append(event.event_id)
        return Receipt(duplicate=False, inbox_id=1, dialog_id=1, message_id=1)

    web_app = web.Application()
    mount(web_app, channel)  # type: ignore[arg-type]
    update = signed(message_new("ev-early", PEER, "early"))
    async with TestClient(TestServer(web_app)) as http:
        early = await http.post(URL, json=update)
        assert early.status == 503 and early.headers["Retry-After"]
        assert stored == []
        await channel.start(sink)
        try:
            retried = await http.post(URL, json=update, headers={"X-Retry-Counter": "1"})
            assert (retried.status, await retried.text()) == (200, "ok")
        finally:
            await channel.stop()
        after = await http.post(URL, json=update)
        assert after.status == 503  # stopped: VK keeps it and retries
    assert stored == ["ev-early"]


async def test_a_polling_account_has_no_callback_endpoint_to_confirm(vk: FakeVk) -> None:
    """It answered the confirmation with an empty text: a Callback API server confirmed for an
    account that polls, whose events it then refused."""
    channel = plugin.factory(
        ChannelRef(type="vk", account="main"),
        plugin.config_model.model_validate(vk.settings(mode="polling", confirmation=None)),
        RecordingHost(VirtualClock()),
    )
    web_app = web.Application()
    mount(web_app, channel)  # type: ignore[arg-type]
    async with TestClient(TestServer(web_app)) as http:
        response = await http.post(URL, json={"type": "confirmation", "group_id": GROUP_ID})
        assert response.status == 404
