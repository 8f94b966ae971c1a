"""Testing a line on VK without VK: a local fake of the VK API (methods, Bots Long Poll, uploads)
on 127.0.0.1, and Callback API update builders.

Serve :meth:`FakeVk.application` (e.g. with ``aiohttp.test_utils.TestServer``), set
:attr:`FakeVk.server`, and point the channel's ``api_base_url`` at :attr:`FakeVk.api_url`; the real
vk-api client talks to it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import BaseTestServer

GROUP_ID = 77
TOKEN = "vk1.a.group-token"
SECRET = "callback-secret"
"""The Callback API secret key the plugin's tests configure."""
CONFIRMATION = "c0nf1rm"
"""The Callback API confirmation string the plugin's tests configure."""


class FakeVk:
    """Records every API call and every message sent; answers like VK, or from ``failures``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.sent: list[dict[str, str]] = []
        self.failures: list[web.Response] = []
        """Answers given to the next ``messages.send`` calls instead of sending."""
        self.updates: dict[int, list[dict[str, Any]]] = {}
        """Long poll: the updates an ``a_check`` with this ``ts`` returns."""
        self.long_poll_ts = "1"
        """The ``ts`` a fresh Long Poll server starts from."""
        self.polled: list[int] = []
        self.on_poll: Callable[[int], Awaitable[None]] | None = None
        self.server: BaseTestServer | None = None
        self._next_id = 100
        self._seen_random_ids: dict[str, int] = {}

    @property
    def api_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/method/"))

    def settings(self, **extra: Any) -> dict[str, Any]:
        """A ``type: vk`` channel's settings pointed at this fake (webhook mode unless ``extra``
        says otherwise)."""
        return {
            "api_base_url": self.api_url,
            "token": TOKEN,
            "group_id": GROUP_ID,
            "confirmation": CONFIRMATION,
            "secret": SECRET,
            **extra,
        }

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/method/{name}", self._method)
        app.router.add_get("/lp", self._long_poll)
        app.router.add_get("/files/{name}", self._file)
        app.router.add_post("/upload", self._upload)
        return app

    @staticmethod
    def error(code: int, message: str) -> web.Response:
        return web.json_response({"error": {"error_code": code, "error_msg": message}})

    async def _method(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        values = {k: str(v) for k, v in (await request.post()).items()}
        self.calls.append((name, values))
        if values.get("access_token") != TOKEN:
            return self.error(5, "User authorization failed: invalid access_token")
        if values.get("v") != "5.199":
            return self.error(8, "Invalid request: wrong API version")
        if name == "users.get":
            return web.json_response(
                {
                    "response": [
                        {"id": int(values["user_ids"]), "first_name": "Ivan", "last_name": "Petrov"}
                    ]
                }
            )
        if name == "groups.getLongPollServer":
            assert self.server is not None
            return web.json_response(
                {
                    "response": {
                        "key": "lp-key",
                        "server": str(self.server.make_url("/lp")),
                        "ts": self.long_poll_ts,
                    }
                }
            )
        if name == "messages.sendMessageEventAnswer":
            return web.json_response({"response": 1})
        if name == "photos.getMessagesUploadServer" or name == "docs.getMessagesUploadServer":
            assert self.server is not None
            return web.json_response(
                {"response": {"upload_url": str(self.server.make_url("/upload"))}}
            )
        if name == "photos.saveMessagesPhoto":
            return web.json_response({"response": [{"id": 9, "owner_id": -GROUP_ID}]})
        if name == "docs.save":
            return web.json_response(
                {"response": {"type": "doc", "doc": {"id": 8, "owner_id": -GROUP_ID}}}
            )
        if name == "messages.send":
            if self.failures:
                return self.failures.pop(0)
            random_id = values["random_id"]
            if random_id in self._seen_random_ids:  # VK's dedup: the same message again
                return web.json_response({"response": self._seen_random_ids[random_id]})
            self._next_id += 1
            self._seen_random_ids[random_id] = self._next_id
            self.sent.append(values)
            return web.json_response({"response": self._next_id})
        return self.error(3, "Unknown method passed")

    async def _long_poll(self, request: web.Request) -> web.Response:
        q = request.query
        assert q["act"] == "a_check" and q["key"] == "lp-key"
        ts = int(q["ts"])
        self.polled.append(ts)
        if self.on_poll is not None:
            await self.on_poll(ts)
        updates = self.updates.get(ts)
        if not updates:
            await asyncio.sleep(min(float(q["wait"]), 0.2))
            return web.json_response({"ts": str(ts), "updates": []})
        return web.json_response({"ts": str(ts + 1), "updates": updates})

    async def _file(self, request: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG fake image", content_type="image/png")

    async def _upload(self, request: web.Request) -> web.Response:
        data = await request.post()
        assert "photo" in data or "file" in data
        return web.json_response(
            {"server": 1, "photo": json.dumps([{"x": 1}]), "hash": "h", "file": "uploaded-file"}
        )


def message_new(event_id: str, peer: int, text: str, **message: Any) -> dict[str, Any]:
    return {
        "type": "message_new",
        "event_id": event_id,
        "v": "5.199",
        "group_id": GROUP_ID,
        "object": {
            "message": {
                "id": 500,
                "date": 1,
                "peer_id": peer,
                "from_id": peer,
                "text": text,
                "attachments": [],
                "conversation_message_id": 1,
                **message,
            },
            "client_info": {"keyboard": True, "inline_keyboard": True},
        },
    }
