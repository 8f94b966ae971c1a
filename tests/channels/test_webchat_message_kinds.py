"""What the web chat's history and socket carry besides text: the contact a visitor shared, the
button they pressed, and every attachment the bot or an operator sends (a shared web page as
itself, a file with its size, a file known only by a messenger's id without an address)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient, TestServer

from omniline import Config, Omniline
from omniline.model import Attachment, AttachmentKind, OutboundMessage
from omniline.pipeline import MessageContext, Router

BASE = "/channels/webchat/site"
PAGE = Attachment(kind=AttachmentKind.LINK, url="https://shop.example/mug", name="The mug")
INVOICE = Attachment(
    kind=AttachmentKind.DOCUMENT,
    url="https://cdn.example/invoice.pdf",
    name="invoice.pdf",
    size=48_213,
    mime_type="application/pdf",
)
STICKER = Attachment(kind=AttachmentKind.STICKER, file_id="CAACAgIAAxkB")


def shop_bot() -> Router:
    """Answers a button press with its payload, and anything else with a link and files."""
    bot = Router()

    @bot.message()
    async def answer(ctx: MessageContext) -> None:
        payload = ctx.event.message.button_payload
        if payload is not None:
            ctx.reply(f"pressed {payload}")
        else:
            ctx.reply(OutboundMessage(text="Here", attachments=(PAGE, INVOICE, STICKER)))

    return bot


@pytest_asyncio.fixture
async def app(tmp_path: Path) -> AsyncIterator[Omniline]:
    config = Config.model_validate(
        {
            "storage": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
            "lines": [
                {
                    "id": "support",
                    "name": "Support",
                    "channels": [
                        {"type": "webchat", "account": "site", "settings": {"secret": "x" * 32}}
                    ],
                }
            ],
        }
    )
    application = Omniline(config, bots={"support": shop_bot()}, migrate=True, serve_http=False)
    await application.start()
    try:
        yield application
    finally:
        await application.stop()


@pytest_asyncio.fixture
async def client(app: Omniline) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(app.web)) as test_client:
        yield test_client


async def _visitor(client: TestClient[Any, Any]) -> tuple[str, dict[str, str]]:
    response = await client.post(f"{BASE}/api/visitors", json={})
    body = await response.json()
    return body["token"], {"Authorization": f"Bearer {body['token']}"}


async def _post(client: TestClient[Any, Any], auth: dict[str, str], **body: str) -> None:
    response = await client.post(f"{BASE}/api/messages", json=body, headers=auth)
    assert response.status == 200, await response.text()


async def _history(
    app: Omniline, client: TestClient[Any, Any], auth: dict[str, str]
) -> list[dict[str, Any]]:
    await app.idle(paced=False)
    response = await client.get(f"{BASE}/api/messages", headers=auth)
    assert response.status == 200
    messages: list[dict[str, Any]] = (await response.json())["messages"]
    return messages


async def test_the_history_carries_the_bots_link_and_files_as_they_are(
    app: Omniline, client: TestClient[Any, Any]
) -> None:
    _, auth = await _visitor(client)
    await _post(client, auth, client_message_id="msg-00001", text="show me")
    _, answer = await _history(app, client, auth)
    assert answer["text"] == "Here"
    assert answer["attachments"] == [
        {
            "kind": "link",
            "url": "https://shop.example/mug",
            "name": "The mug",
            "size": None,
            "mime_type": None,
        },
        {
            "kind": "document",
            "url": "https://cdn.example/invoice.pdf",
            "name": "invoice.pdf",
            "size": 48_213,
            "mime_type": "application/pdf",
        },
        {"kind": "sticker", "url": None, "name": None, "size": None, "mime_type": None},
    ]


async def test_a_button_press_and_a_shared_phone_are_in_the_history(
    app: Omniline, client: TestClient[Any, Any]
) -> None:
    _, auth = await _visitor(client)
    await _post(
        client, auth, client_message_id="msg-00002", text="Yes, please", button_payload="yes"
    )
    profile = {"name": "Zoe", "phone": "+49 30 1234567"}
    assert (await client.post(f"{BASE}/api/profile", json=profile, headers=auth)).status == 200
    messages = await _history(app, client, auth)
    press, contact = [m for m in messages if m["direction"] == "in"]
    assert (press["text"], press["button_payload"]) == ("Yes, please", "yes")
    assert (contact["text"], contact["button_payload"]) == (None, None)
    assert contact["contact"] == {"phone": "+49 30 1234567", "name": "Zoe"}
    answers = [m for m in messages if m["direction"] == "out"]
    assert "pressed yes" in [m["text"] for m in answers]
    assert all(m["button_payload"] is None and m["contact"] is None for m in answers)


async def test_the_socket_pushes_a_button_press_and_a_shared_phone_as_they_happen(
    app: Omniline, client: TestClient[Any, Any]
) -> None:
    token, auth = await _visitor(client)
    async with client.ws_connect(f"{BASE}/api/ws?token={token}") as ws:
        frame = {"type": "message", "client_message_id": "msg-00003", "text": "Yes"}
        await ws.send_json({**frame, "button_payload": "yes"})
        pushed: list[dict[str, Any]] = []
        while not any(m.get("contact") for m in pushed):
            msg = await ws.receive(timeout=10)
            assert msg.type is WSMsgType.TEXT
            data = msg.json()
            if data["type"] == "ack":
                profile = {"name": "Zoe", "phone": "+49 30 1234567"}
                await client.post(f"{BASE}/api/profile", json=profile, headers=auth)
            elif data["type"] == "message" and data["message"]["direction"] == "in":
                pushed.append(data["message"])
    assert [(m["text"], m["button_payload"], m["contact"]) for m in pushed] == [
        ("Yes", "yes", None),
        (None, None, {"phone": "+49 30 1234567", "name": "Zoe"}),
    ]


async def test_a_message_with_text_and_files_is_pushed_whole(
    app: Omniline, client: TestClient[Any, Any]
) -> None:
    """It goes out in two parts under one id; the widget shows an id once, so the first part
    alone (the files) used to hide the text until a reload."""
    token, _ = await _visitor(client)
    async with client.ws_connect(f"{BASE}/api/ws?token={token}") as ws:
        await ws.send_json({"type": "message", "client_message_id": "msg-00004", "text": "hi"})
        while True:
            msg = await ws.receive(timeout=10)
            assert msg.type is WSMsgType.TEXT
            data = msg.json()
            if data["type"] == "message" and data["message"]["direction"] == "out":
                break
    answer = data["message"]
    assert answer["text"] == "Here"
    assert [a["kind"] for a in answer["attachments"]] == ["link", "document", "sticker"]
