"""A local fake of Viber's bot API and Viber's side of the webhook, for testing against Viber.

Like Viber, the fake checks a webhook while ``set_webhook`` runs: it posts a signed
``{"event": "webhook"}`` callback to the URL and refuses the URL (status 1, ``invalidUrl``) unless
the answer is a 200.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
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
    webhook: str | None = None
    """The URL Viber took in the last successful ``set_webhook``."""
    checks: list[tuple[str, int | None]] = field(default_factory=list)
    """Viber's checks of webhook URLs: (url, HTTP status of the answer, None if none came)."""
    registered: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a ``set_webhook`` succeeds."""

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
        if method == "set_webhook":
            return await set_webhook(body)
        if method == "send_message":
            fake.sent.append(body)
            return web.json_response(
                {"status": 0, "status_message": "ok", "message_token": 5000 + len(fake.sent)}
            )
        return web.json_response({"status": 0, "status_message": "ok", "event_types": []})

    async def set_webhook(body: dict[str, Any]) -> web.Response:
        url = body.get("url")
        if not isinstance(url, str) or not url:
            return web.json_response({"status": 4, "status_message": "missingData"})
        status = await check_webhook(url)
        fake.checks.append((url, status))
        if status != 200:
            return web.json_response({"status": 1, "status_message": "invalidUrl"})
        fake.webhook = url
        fake.registered.set()
        return web.json_response(
            {
                "status": 0,
                "status_message": "ok",
                "chat_hostname": "SN-FAKE_",
                "event_types": body.get("event_types", []),
            }
        )

    app.router.add_post("/pa/{method}", api)
    async with server:
        yield fake


async def check_webhook(url: str) -> int | None:
    """Viber's check of a webhook URL: the HTTP status of its answer, None if none came."""
    check = {
        "event": "webhook",
        "timestamp": 1457764197627,
        "chat_hostname": "SN-FAKE_",
        "message_token": 241256543215,
    }
    body = json.dumps(check).encode()
    headers = {"Content-Type": "application/json", "X-Viber-Content-Signature": sign(body)}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.post(url, data=body, headers=headers) as response,
        ):
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return None


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


async def viber_posts(
    client: TestClient[Any, Any],
    body: bytes,
    *,
    account: str = "main",
    signature: str | None = None,
    pieces: int = 1,
) -> tuple[int, str]:
    """Post raw ``body`` to the webhook, signed unless ``signature`` is given, in ``pieces``
    chunks (chunked transfer encoding when more than one); returns the status and the answer."""
    headers = {
        "Content-Type": "application/json",
        "X-Viber-Content-Signature": signature if signature is not None else sign(body),
    }
    data: bytes | AsyncIterable[bytes] = body
    if pieces > 1:
        size = max(1, -(-len(body) // pieces))

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), size):
                yield body[start : start + size]
                await asyncio.sleep(0)

        data = chunks()
    response = await client.post(f"/channels/viber/{account}/webhook", data=data, headers=headers)
    return response.status, await response.text()
