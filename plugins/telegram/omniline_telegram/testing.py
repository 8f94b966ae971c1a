"""Testing a line on Telegram without Telegram: a local fake of the Bot API (the methods the channel
and the desk use, forum topics included), Telegram calling the webhook, and update builders.

Point the channel's (or the desk's) ``api_base_url`` at :func:`serve`'s URL; the real aiogram client
talks to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from omniline import Omniline
from omniline.model import Identity, StoredMessage
from omniline.testing import VirtualClock

TOKEN = "123456:TEST-token_abc"
DESK_TOKEN = "654321:DESK-token_xyz"
SECRET = "hook-Secret_0123"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Shop bot", "username": "shop_bot"}
GROUP_ID = -1001234567890
"""A forum supergroup's chat id, for the desk."""


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    result: Any = None


@dataclass
class FakeTelegram:
    """Records every call; answers from canned failures first, then like Telegram would.

    Serves one bot: the one with ``token`` (run one fake per bot).
    """

    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    updates: list[dict[str, Any]] = field(default_factory=list)
    offsets: list[int | None] = field(default_factory=list)
    on_get_updates: Callable[[int | None], Awaitable[None]] | None = None
    poll_wait: float = 0.05
    """Real seconds an empty long poll waits (Telegram waits ``timeout``; tests need less)."""
    topics: dict[int, str] = field(default_factory=dict)
    """Forum topics created: thread id -> name."""
    closed_topics: set[int] = field(default_factory=set)
    held: dict[str, asyncio.Event] = field(default_factory=dict)
    """Methods whose next call waits until its event is set (see :meth:`hold`)."""
    arrived: dict[str, asyncio.Event] = field(default_factory=dict)
    _next_id: int = 500
    _next_thread: int = 10
    _again: list[dict[str, Any]] = field(default_factory=list)
    _new_update: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._method)
        return app

    # --- scripting --------------------------------------------------------------------------------

    def fail_next(self, method: str, status: int, description: str, **parameters: Any) -> None:
        """Answer the next call of ``method`` with an error (``retry_after=...`` for a 429)."""
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        self.failures.setdefault(method, []).append((status, body))

    def hold(self, method: str) -> asyncio.Event:
        """Keep the next call of ``method`` waiting until the returned event is set;
        ``arrived[method]`` is set when that call has come in."""
        self.arrived[method] = asyncio.Event()
        self.held[method] = asyncio.Event()
        return self.held[method]

    def queue_update(self, update: dict[str, Any]) -> None:
        self.updates.append(update)
        self._new_update.set()

    def redeliver(self, update: dict[str, Any]) -> None:
        """Send ``update`` once more with the next ``getUpdates``, whatever its offset says (as
        Telegram may after a confirmation got lost)."""
        self._again.append(update)
        self._new_update.set()

    def message_id_of(self, params: dict[str, Any]) -> int:
        """The id of the message a ``send...`` call (its params, from :meth:`of`) created."""
        [call] = [c for c in self.calls if c.params is params]
        return int(call.result["message_id"])

    def of(self, method: str) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method == method]

    def texts(self) -> list[tuple[str, str]]:
        return [(str(p["chat_id"]), str(p["text"])) for p in self.of("sendMessage")]

    def in_topic(self, thread_id: int) -> list[dict[str, Any]]:
        """The ``sendMessage`` calls into one forum topic, in order."""
        return [
            p for p in self.of("sendMessage") if int(p.get("message_thread_id", 0)) == thread_id
        ]

    def topic_texts(self, thread_id: int) -> list[str]:
        return [str(p["text"]) for p in self.in_topic(thread_id)]

    def topic_named(self, name: str) -> int:
        """The thread id of the topic with this name."""
        [thread] = [t for t, n in self.topics.items() if n == name]
        return thread

    # --- the API ----------------------------------------------------------------------------------

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        params = _decode(dict(await request.post()))
        call = Call(method, params)
        self.calls.append(call)
        release = self.held.pop(method, None)
        if release is not None:
            self.arrived[method].set()
            await release.wait()
        canned = self.failures.get(method)
        if canned:
            status, body = canned.pop(0)
            return web.json_response(body, status=status)
        if method == "getUpdates":
            return await self._get_updates(params)
        result: Any = True
        if method == "getMe":
            result = BOT_USER
        elif method.startswith("send"):
            result = self._message(method, params)
        elif method == "createForumTopic":
            self._next_thread += 1
            self.topics[self._next_thread] = str(params["name"])
            result = {
                "message_thread_id": self._next_thread,
                "name": params["name"],
                "icon_color": 7322096,
            }
        elif method == "closeForumTopic":
            self.closed_topics.add(int(params["message_thread_id"]))
        elif method == "reopenForumTopic":
            self.closed_topics.discard(int(params["message_thread_id"]))
        elif method in ("editMessageText", "editMessageReplyMarkup") and "chat_id" in params:
            result = {
                "message_id": int(params["message_id"]),
                "date": 1767600000,
                "edit_date": 1767600001,
                "chat": _chat(int(params["chat_id"])),
                "from": BOT_USER,
                "text": params.get("text", ""),
            }
        call.result = result
        return web.json_response({"ok": True, "result": result})

    def _message(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {
            "message_id": self._next_id,
            "date": 1767600000,
            "chat": _chat(int(params["chat_id"])),
            "from": BOT_USER,
        }
        if "message_thread_id" in params:
            message["message_thread_id"] = int(params["message_thread_id"])
            message["is_topic_message"] = True
        if method == "sendMessage":
            message["text"] = params["text"]
        elif method == "sendPhoto":
            message["photo"] = [{"file_id": "p1", "file_unique_id": "u1", "width": 1, "height": 1}]
        elif method == "sendDocument":
            message["document"] = {"file_id": "d1", "file_unique_id": "u2"}
        if "caption" in params:
            message["caption"] = params["caption"]
        return message

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        offset = int(params["offset"]) if "offset" in params else None
        self.offsets.append(offset)
        if self.on_get_updates is not None:
            await self.on_get_updates(offset)
        if offset is not None:  # confirmed: Telegram forgets every update below the offset
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if not self.updates and not self._again:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), self.poll_wait)
        again, self._again = self._again, []
        return web.json_response({"ok": True, "result": [*self.updates, *again]})


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id < 0:
        return {"id": chat_id, "type": "supergroup", "title": "Support desk", "is_forum": True}
    return {"id": chat_id, "type": "private"}


def _decode(form: dict[str, Any]) -> dict[str, Any]:
    """aiogram sends form fields; nested objects (keyboards...) as JSON text."""
    out: dict[str, Any] = {}
    for key, value in form.items():
        if isinstance(value, str) and value[:1] in "[{":
            try:
                out[key] = json.loads(value)
                continue
            except ValueError:
                pass
        out[key] = value
    return out


async def serve(fake: FakeTelegram) -> TestServer:
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    return server


async def call_webhook(
    client: TestClient[Any, Any],
    update: dict[str, Any],
    *,
    secret: str | None = SECRET,
    account: str = "main",
) -> int:
    """Telegram calling the webhook: the update as JSON, the secret in its header."""
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    response = await client.post(
        f"/channels/telegram/{account}/webhook", json=update, headers=headers
    )
    return response.status


def text_update(update_id: int, text: str, *, user_id: int = 4242) -> dict[str, Any]:
    return message_update(update_id, {"text": text}, user_id=user_id)


def client_user(user_id: int = 4242) -> dict[str, Any]:
    """The private-chat client the update builders speak for, as Telegram sends a user."""
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": "Ann",
        "last_name": "Lee",
        "username": "ann_lee",
        "language_code": "en",
    }


def message_update(
    update_id: int, content: dict[str, Any], *, user_id: int = 4242
) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id * 10,
            "date": 1767600000,
            "chat": {"id": user_id, "type": "private", "first_name": "Ann"},
            "from": client_user(user_id),
            **content,
        },
    }


def callback_update(update_id: int, data: str, *, user_id: int = 4242) -> dict[str, Any]:
    # The whole user, as with a message: a press must not shorten the client's stored name.
    user = client_user(user_id)
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cb-{update_id}",
            "from": user,
            "chat_instance": "ci-1",
            "data": data,
            "message": {
                "message_id": 77,
                "date": 1767600000,
                "chat": {"id": user_id, "type": "private"},
                "from": BOT_USER,
                "text": "pick one",
            },
        },
    }


def _person(user_id: int, first_name: str) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": first_name}


def topic_message_update(
    update_id: int,
    thread_id: int,
    text: str,
    *,
    user_id: int,
    first_name: str = "Ann",
    chat_id: int = GROUP_ID,
    **content: Any,
) -> dict[str, Any]:
    """Someone writes ``text`` in a forum topic of the desk's group."""
    message: dict[str, Any] = {
        "message_id": update_id * 10,
        "message_thread_id": thread_id,
        "is_topic_message": True,
        "date": 1767600000,
        "chat": _chat(chat_id),
        "from": _person(user_id, first_name),
        **content,
    }
    if text:
        message["text"] = text
    return {"update_id": update_id, "message": message}


def group_callback_update(
    update_id: int,
    data: str,
    *,
    user_id: int,
    message_id: int,
    thread_id: int | None = None,
    first_name: str = "Ann",
    chat_id: int = GROUP_ID,
) -> dict[str, Any]:
    """Someone presses an inline button of a message the desk bot posted in its group."""
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": 1767600000,
        "chat": _chat(chat_id),
        "from": BOT_USER,
        "text": "announcement",
    }
    if thread_id is not None:
        message["message_thread_id"] = thread_id
        message["is_topic_message"] = True
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cb-{update_id}",
            "from": _person(user_id, first_name),
            "chat_instance": "ci-group",
            "data": data,
            "message": message,
        },
    }


class RunningApp:
    """The app, the virtual clock and an HTTP client on the app (Telegram calling the webhook)."""

    def __init__(self, app: Omniline, clock: VirtualClock, client: TestClient[Any, Any]) -> None:
        self.app, self.clock, self.client = app, clock, client

    async def settle(self, seconds: int = 3) -> None:
        """Everything handled and sent: the virtual clock moves ``seconds`` one by one, so that
        messages paced at Telegram's one a second per chat go out."""
        await self.app.idle(paced=False)
        for _ in range(seconds):
            await self.clock.advance(1.0)
            await self.app.idle(paced=False)

    async def advance(self, seconds: float) -> None:
        await self.clock.advance(seconds)
        await self.app.outbox.run_due()
        await self.app.idle(paced=False)


class StandaloneHost:
    """A ``ChannelHost`` for a channel tested without an app: no history, no operators."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock

    @property
    def clock(self) -> VirtualClock:
        return self._clock

    async def history(
        self, identity: Identity, *, after_id: int = 0, limit: int = 100
    ) -> list[StoredMessage]:
        return []

    async def update_profile(self, identity: Identity) -> None:
        return None

    def author_name(self, author: str) -> str | None:
        return None

    async def exclusive(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        """One process, no one to share with: the work just runs."""
        await work()
