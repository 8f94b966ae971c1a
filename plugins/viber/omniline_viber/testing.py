"""A local fake of Viber's bot API and Viber's side of the webhook, for testing against Viber."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

TOKEN = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"


@dataclass
class Answer:
    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeViber:
    """Records what the bot sends; answers from ``script`` first, then with success."""

    server: TestServer
    sent: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)
    script: list[Answer] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/pa"))

    @property
    def texts(self) -> list[str]:
        return [body["text"] for body in self.sent if body.get("type") == "text"]


@asynccontextmanager
async def fake_viber() -> AsyncIterator[FakeViber]:
    app = web.Application()
    server = TestServer(app, host="127.0.0.1")
    fake = FakeViber(server)

    async def api(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = json.loads(await request.read())
        token = request.headers.get("X-Viber-Auth-Token")
        fake.calls.append((method, body, token))
        if token != TOKEN:
            return web.json_response({"status": 2, "status_message": "invalidAuthToken"})
        if fake.script:
            answer = fake.script.pop(0)
            if answer.status != 200 or answer.body is not None:
                return web.json_response(
                    answer.body or {}, status=answer.status, headers=answer.headers
                )
        if method == "send_message":
            fake.sent.append(body)
            return web.json_response(
                {"status": 0, "status_message": "ok", "message_token": 5000 + len(fake.sent)}
            )
        return web.json_response({"status": 0, "status_message": "ok", "event_types": []})

    app.router.add_post("/pa/{method}", api)
    async with server:
        yield fake


def sign(body: bytes, token: str = TOKEN) -> str:
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def message_update(
    token: int,
    message: dict[str, Any],
    *,
    user: str = "01234567890A=",
    name: str = "Ann Smith",
) -> dict[str, Any]:
    return {
        "event": "message",
        "timestamp": 1457764197627,
        "message_token": token,
        "sender": {
            "id": user,
            "name": name,
            "avatar": "https://media.example/ann.jpg",
            "country": "DE",
            "language": "de",
            "api_version": 8,
        },
        "message": message,
    }


async def viber_calls(
    client: TestClient[Any, Any],
    update: dict[str, Any],
    *,
    account: str = "main",
    signature: str | None = None,
) -> int:
    """Post ``update`` to the webhook as Viber does; returns the HTTP status of the answer."""
    body = json.dumps(update).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Viber-Content-Signature": signature if signature is not None else sign(body),
    }
    response = await client.post(f"/channels/viber/{account}/webhook", data=body, headers=headers)
    return response.status
