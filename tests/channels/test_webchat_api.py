"""The web chat's HTTP and WebSocket API, against the real application and store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient, TestServer

from omniline import Config, Omniline
from omniline.model import Identity
from tests.conftest import echo_bot

BASE = "/channels/webchat/site"


@pytest_asyncio.fixture
async def app(tmp_path: Path) -> AsyncIterator[Omniline]:
    config = Config.model_validate(
        {
            "storage": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
            "operators": [{"id": "anna", "name": "Anna Petrova"}],
            "lines": [
                {
                    "id": "support",
                    "name": "Support",
                    "channels": [
                        {
                            "type": "webchat",
                            "account": "site",
                            "settings": {
                                "secret": "x" * 32,
                                "allowed_origins": ["https://shop.example"],
                            },
                        }
                    ],
                }
            ],
        }
    )
    application = Omniline(config, bots={"support": echo_bot()}, migrate=True, serve_http=False)
    await application.start()
    try:
        yield application
    finally:
        await application.stop()


@pytest_asyncio.fixture
async def client(app: Omniline) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(app.web)) as test_client:
        yield test_client


async def new_visitor(client: TestClient[Any, Any]) -> tuple[str, dict[str, str]]:
    response = await client.post(f"{BASE}/api/visitors", json={})
    assert response.status == 201
    body = await response.json()
    return body["visitor_id"], {"Authorization": f"Bearer {body['token']}"}


async def history(client: TestClient[Any, Any], auth: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get(f"{BASE}/api/messages", headers=auth)
    assert response.status == 200
    messages: list[dict[str, Any]] = (await response.json())["messages"]
    return messages


async def test_a_message_is_stored_before_the_answer_and_the_bot_replies(
    app: Omniline, client: TestClient[Any, Any]
) -> None:
    visitor, auth = await new_visitor(client)
    response = await client.post(
        f"{BASE}/api/messages", json={"client_message_id": "msg-00001", "text": "hi"}, headers=auth
    )
    assert response.status == 200
    body = await response.json()
    assert body["duplicate"] is False
    identity = Identity(channel=next(iter(app.channels)), external_id=visitor)
    stored = await app.store.dialogs.identity_history(identity)
    assert [m.id for m in stored][:1] == [body["message_id"]]
    await app.idle()
    assert [(m["direction"], m["text"]) for m in await history(client, auth)] == [
        ("in", "hi"),
        ("out", "echo: hi"),
    ]


async def test_a_retried_post_is_stored_once(client: TestClient[Any, Any], app: Omniline) -> None:
    _, auth = await new_visitor(client)
    body = {"client_message_id": "same-id-1", "text": "hello"}
    first = await (await client.post(f"{BASE}/api/messages", json=body, headers=auth)).json()
    again = await (await client.post(f"{BASE}/api/messages", json=body, headers=auth)).json()
    assert again == {"message_id": first["message_id"], "duplicate": True}
    await app.idle()
    assert [m["text"] for m in await history(client, auth)] == ["hello", "echo: hello"]


async def test_two_visitors_may_use_the_same_client_message_id(
    client: TestClient[Any, Any],
) -> None:
    _, ann = await new_visitor(client)
    _, bob = await new_visitor(client)
    body = {"client_message_id": "collides-1", "text": "hi"}
    a = await (await client.post(f"{BASE}/api/messages", json=body, headers=ann)).json()
    b = await (await client.post(f"{BASE}/api/messages", json=body, headers=bob)).json()
    assert not a["duplicate"] and not b["duplicate"]
    assert a["message_id"] != b["message_id"]


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "unauthorized"),
        ({"Authorization": "Bearer nodot"}, "unauthorized"),
        ({"Authorization": "Bearer abc.forged"}, "unauthorized"),
    ],
)
async def test_requests_without_a_valid_token_are_refused(
    client: TestClient[Any, Any], headers: dict[str, str], code: str
) -> None:
    response = await client.post(
        f"{BASE}/api/messages",
        json={"client_message_id": "msg-00001", "text": "x"},
        headers=headers,
    )
    assert response.status == 401
    assert (await response.json())["error"]["code"] == code


async def test_a_token_of_one_visitor_cannot_read_another(client: TestClient[Any, Any]) -> None:
    visitor, _ = await new_visitor(client)
    other, auth = await new_visitor(client)
    token = auth["Authorization"].split(".", 1)[1]
    forged = {"Authorization": f"Bearer {visitor}.{token}"}
    response = await client.get(f"{BASE}/api/messages", headers=forged)
    assert response.status == 401
    assert other != visitor


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"client_message_id": "short", "text": "x"}, "client_message_id"),
        ({"client_message_id": "msg-00001"}, None),
        ({"client_message_id": "msg-00001", "text": "x" * 4097}, "text"),
        ({"client_message_id": "msg-00001", "text": "x", "extra": 1}, "extra"),
    ],
)
async def test_bad_messages_get_422_with_the_field(
    client: TestClient[Any, Any], body: dict[str, Any], field: str | None
) -> None:
    _, auth = await new_visitor(client)
    response = await client.post(f"{BASE}/api/messages", json=body, headers=auth)
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "invalid"
    assert error.get("field") == field


async def test_a_validation_error_has_no_value_error_prefix(client: TestClient[Any, Any]) -> None:
    _, auth = await new_visitor(client)
    body = {"client_message_id": "msg-00001"}
    response = await client.post(f"{BASE}/api/messages", json=body, headers=auth)
    error = (await response.json())["error"]
    assert error["message"] == "a message needs text or a button_payload"


async def test_bad_json_and_oversized_bodies_are_refused(client: TestClient[Any, Any]) -> None:
    _, auth = await new_visitor(client)
    bad = await client.post(f"{BASE}/api/messages", data=b"{not json", headers=auth)
    assert bad.status == 400
    assert (await bad.json())["error"]["code"] == "bad_json"
    big = await client.post(f"{BASE}/api/messages", data=b"x" * 70_000, headers=auth)
    assert big.status == 413


async def test_profile_form_validates_and_shares_the_phone(
    client: TestClient[Any, Any], app: Omniline
) -> None:
    visitor, auth = await new_visitor(client)
    bad = await client.post(f"{BASE}/api/profile", json={"email": "not-an-email"}, headers=auth)
    assert bad.status == 422
    assert (await bad.json())["error"]["field"] == "email"
    bad_phone = await client.post(f"{BASE}/api/profile", json={"phone": "call me"}, headers=auth)
    assert (await bad_phone.json())["error"]["field"] == "phone"
    ok = await client.post(
        f"{BASE}/api/profile",
        json={"name": "Ann", "phone": "+49 30 1234567", "email": "ann@example.com"},
        headers=auth,
    )
    assert ok.status == 200
    await app.idle()
    ref = next(iter(app.channels))
    dialog = await app.store.dialogs.open_of(Identity(channel=ref, external_id=visitor), "support")
    assert dialog is not None
    assert dialog.identity.display_name == "Ann"
    assert dialog.identity.profile == {
        "name": "Ann",
        "phone": "+49 30 1234567",
        "email": "ann@example.com",
    }
    messages = await app.store.dialogs.messages(dialog.id)
    assert messages[0].contact is not None and messages[0].contact.phone == "+49 30 1234567"


async def test_cors_allows_only_the_configured_sites(client: TestClient[Any, Any]) -> None:
    allowed = await client.options(
        f"{BASE}/api/messages", headers={"Origin": "https://shop.example"}
    )
    assert allowed.status == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Authorization" in allowed.headers["Access-Control-Allow-Headers"]
    other = await client.options(f"{BASE}/api/messages", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_the_socket_catches_up_then_pushes_live_and_acks(
    client: TestClient[Any, Any], app: Omniline
) -> None:
    visitor, auth = await new_visitor(client)
    await client.post(
        f"{BASE}/api/messages", json={"client_message_id": "before-ws", "text": "one"}, headers=auth
    )
    await app.idle()
    token = auth["Authorization"][7:]
    async with client.ws_connect(f"{BASE}/api/ws?token={token}&after=0") as ws:
        caught_up = [(await ws.receive_json(timeout=5))["message"]["text"] for _ in range(2)]
        assert caught_up == ["one", "echo: one"]
        await ws.send_json({"type": "message", "client_message_id": "over-ws-1", "text": "two"})
        frames = [await ws.receive_json(timeout=5) for _ in range(3)]
        kinds = sorted(f["type"] for f in frames)
        assert kinds == ["ack", "message", "message"]
        texts = {f["message"]["text"] for f in frames if f["type"] == "message"}
        assert texts == {"two", "echo: two"}
        # an operator's answer arrives live with the operator's name
        ref = next(iter(app.channels))
        dialog = await app.store.dialogs.open_of(
            Identity(channel=ref, external_id=visitor), "support"
        )
        assert dialog is not None
        await app.dialogs.handoff(dialog.id)
        await app.dialogs.accept(dialog.id, "anna")
        await app.dialogs.whisper(dialog.id, "anna", "internal note")
        await app.dialogs.reply(dialog.id, "anna", "Anna here")
        pushed = await ws.receive_json(timeout=5)
        assert pushed["message"]["text"] == "Anna here"
        assert pushed["message"]["author"] == "operator"
        assert pushed["message"]["author_name"] == "Anna Petrova"
        with pytest.raises(asyncio.TimeoutError):
            await ws.receive_json(timeout=0.3)  # the whisper is never pushed
    texts_now = [m["text"] for m in await history(client, auth)]
    assert "internal note" not in texts_now and "Anna here" in texts_now


async def test_the_socket_refuses_a_bad_token(client: TestClient[Any, Any]) -> None:
    response = await client.get(f"{BASE}/api/ws?token=forged.token")
    assert response.status == 401


async def test_the_socket_answers_a_bad_frame_with_an_error(client: TestClient[Any, Any]) -> None:
    _, auth = await new_visitor(client)
    async with client.ws_connect(f"{BASE}/api/ws?token={auth['Authorization'][7:]}") as ws:
        await ws.send_str("{nope")
        assert (await ws.receive_json(timeout=5))["code"] == "bad_json"
        await ws.send_json({"type": "message", "client_message_id": "x"})
        assert (await ws.receive_json(timeout=5))["code"] == "invalid"
        await ws.close()
        assert ws.closed
        msg = await ws.receive()
        assert msg.type in (WSMsgType.CLOSED, WSMsgType.CLOSE)


async def test_the_widget_script_and_demo_page_are_served(client: TestClient[Any, Any]) -> None:
    script = await client.get(f"{BASE}/widget.js")
    assert script.status == 200
    assert script.headers["Content-Type"].startswith("application/javascript")
    page = await client.get(f"{BASE}/demo")
    text = await page.text()
    assert f'src="{BASE}/widget.js"' in text


async def test_the_socket_refuses_a_site_that_may_not_embed_the_chat(
    client: TestClient[Any, Any],
) -> None:
    _, auth = await new_visitor(client)
    token = auth["Authorization"][7:]
    refused = await client.get(
        f"{BASE}/api/ws?token={token}", headers={"Origin": "https://evil.example"}
    )
    assert refused.status == 403
    async with client.ws_connect(
        f"{BASE}/api/ws?token={token}", headers={"Origin": "https://shop.example"}
    ) as ws:
        assert not ws.closed


async def test_contact_details_given_at_the_start_are_kept(
    client: TestClient[Any, Any], app: Omniline
) -> None:
    response = await client.post(
        f"{BASE}/api/visitors", json={"name": "Bob", "phone": "+1 555 0100"}
    )
    visitor = (await response.json())["visitor_id"]
    await app.idle()
    ref = next(iter(app.channels))
    dialog = await app.store.dialogs.open_of(Identity(channel=ref, external_id=visitor), "support")
    assert dialog is not None and dialog.identity.display_name == "Bob"
    [shared, *_] = await app.store.dialogs.messages(dialog.id)
    assert shared.contact is not None and shared.contact.phone == "+1 555 0100"


async def test_a_visitor_sending_too_fast_is_told_to_wait(client: TestClient[Any, Any]) -> None:
    _, auth = await new_visitor(client)
    answers = []
    for n in range(12):  # the default allows bursts of 10
        response = await client.post(
            f"{BASE}/api/messages",
            json={"client_message_id": f"burst-{n:04d}", "text": "spam"},
            headers=auth,
        )
        answers.append(response.status)
        if response.status == 429:
            assert (await response.json())["error"]["code"] == "too_many_messages"
            assert int(response.headers["Retry-After"]) >= 1
    assert answers[:10] == [200] * 10
    assert answers[10:] == [429, 429]
    _, other = await new_visitor(client)  # others are not held up
    response = await client.post(
        f"{BASE}/api/messages",
        json={"client_message_id": "other-0001", "text": "hi"},
        headers=other,
    )
    assert response.status == 200
