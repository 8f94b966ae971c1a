"""One line serving Telegram, VK, Viber and the web chat at once: four clients write, each through
their platform's real path, operators answer each on its own channel, and nothing crosses channels.

A real application (SQLite, HTTP server on 127.0.0.1) with the plugins found through their entry
points and configured as in a user's YAML file; the messengers are the plugins' local fakes, which
record every API call the real client libraries make. The Telegram client and the VK client have
the same user id (4242), and all four accounts the same name: only the channel tells them apart.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import pytest_asyncio
from aiohttp.test_utils import TestServer
from omniline_telegram import testing as telegram_fake
from omniline_viber import testing as viber_fake
from omniline_vk import testing as vk_fake

from omniline import ChannelRef, Config, Dialog, DialogStatus, Identity, Omniline
from omniline.model import Direction, Visibility

ACCOUNT = "shop"
PUBLIC_URL = "https://support.example"
"""Where the platforms reach the application (a reverse proxy in front of it)."""
VK_SECRET = "vk-callback-secret"
VK_CONFIRMATION = "c0nf1rm"
WEBCHAT_ORIGIN = "https://shop.example"
OPERATORS = {"anna": "Anna Petrova", "boris": "Boris Ivanov"}
WELCOME = "Hello {client_name|there}! {line_name} will answer you shortly."
WELCOME_DE = "Hallo {client_name|}! {line_name} antwortet Ihnen gleich."
CLOSING = "Thanks, {client_name|}! {operator_name}"
RATE_WEBCHAT = "How did we do, {client_name}?"
RATE_MESSENGER = "How did we do, {client_name}? From 1 (bad) to 5 (excellent)"
THANKS = "Thank you for your rating, {client_name}!"
SAME_USER_ID = 4242
"""The Telegram client's user id and the VK client's peer id."""
NAMES = {"telegram": "Ann Lee", "vk": "Ivan Petrov", "viber": "Olga Orlova", "webchat": "Dana"}
"""The clients' names as the platforms give them (the fakes' Telegram user and VK profile)."""

Sent = tuple[str, str, str]
"""What a platform was asked to deliver: (channel type, chat or user id, text)."""


# --- the platforms and the application ---------------------------------------------------------


@dataclass
class Platforms:
    """The three messengers' fakes, each on its own port of 127.0.0.1."""

    telegram: telegram_fake.FakeTelegram
    telegram_url: str
    vk: vk_fake.FakeVk
    viber: viber_fake.FakeViber


@pytest_asyncio.fixture
async def platforms() -> AsyncIterator[Platforms]:
    telegram = telegram_fake.FakeTelegram()
    telegram_server = await telegram_fake.serve(telegram)
    vk = vk_fake.FakeVk()
    try:
        async with (
            TestServer(vk.application(), host="127.0.0.1") as vk_server,
            viber_fake.fake_viber() as viber,
        ):
            vk.server = vk_server
            telegram_url = str(telegram_server.make_url("/")).rstrip("/")
            yield Platforms(telegram, telegram_url, vk, viber)
    finally:
        await telegram_server.close()


def line_config(platforms: Platforms, database: Path) -> Config:
    """What a user would write in omniline.yaml: one line, four channels, two operators."""
    return Config.model_validate(
        {
            "storage": {"url": f"sqlite:///{database}"},
            "server": {"host": "127.0.0.1", "port": 0},
            "operators": [{"id": k, "name": v} for k, v in OPERATORS.items()],
            "lines": [
                {
                    "id": "support",
                    "name": "Support",
                    "queue": list(OPERATORS),
                    "distribution": "evenly",
                    "welcome": {"default": WELCOME, "translations": {"de": WELCOME_DE}},
                    "closing": CLOSING,
                    "rating": {
                        "enabled": True,
                        "webchat_text": RATE_WEBCHAT,
                        "messenger_text": RATE_MESSENGER,
                        "thanks": THANKS,
                    },
                    "channels": [
                        {
                            "type": "telegram",
                            "account": ACCOUNT,
                            "settings": {
                                "token": telegram_fake.TOKEN,
                                "api_base_url": platforms.telegram_url,
                                "webhook_secret": telegram_fake.SECRET,
                                "webhook_url": f"{PUBLIC_URL}/channels/telegram/{ACCOUNT}/webhook",
                                # Telegram's and VK's one message a second per chat is paced in
                                # real time here: a faster pace keeps the test within seconds.
                                "per_chat_rate": 50,
                            },
                        },
                        {
                            "type": "vk",
                            "account": ACCOUNT,
                            "settings": {
                                "token": vk_fake.TOKEN,
                                "api_base_url": platforms.vk.api_url,
                                "group_id": vk_fake.GROUP_ID,
                                "secret": VK_SECRET,
                                "confirmation": VK_CONFIRMATION,
                                "per_chat_rate": 50,
                            },
                        },
                        {
                            "type": "viber",
                            "account": ACCOUNT,
                            "settings": {
                                "auth_token": viber_fake.TOKEN,
                                "api_base_url": platforms.viber.url,
                                "webhook_url": f"{PUBLIC_URL}/channels/viber/{ACCOUNT}/webhook",
                                "sender_name": "Shop",
                            },
                        },
                        {
                            "type": "webchat",
                            "account": ACCOUNT,
                            "settings": {"secret": "w" * 32, "allowed_origins": [WEBCHAT_ORIGIN]},
                        },
                    ],
                }
            ],
        }
    )


@pytest_asyncio.fixture
async def app(platforms: Platforms, tmp_path: Path) -> AsyncIterator[Omniline]:
    """The application with its HTTP server on a free port; both operators online and working."""
    application = Omniline(
        line_config(platforms, tmp_path / "omniline.sqlite"), migrate=True, serve_http=True
    )
    await application.start()
    try:
        for operator_id in OPERATORS:
            await application.operators.set_presence(operator_id, "online")
            await application.operators.start_day(operator_id)
        await application.idle()
        yield application
    finally:
        await application.stop()


@pytest_asyncio.fixture
async def http(app: Omniline) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client on the application's real address: the platforms' side and the browser's."""
    async with aiohttp.ClientSession(base_url=app.url) as session:
        yield session


# --- the clients, each on its platform's real path ---------------------------------------------


class Client(Protocol):
    channel: str
    identity: Identity

    async def says(self, text: str) -> None: ...

    async def presses(self, label: str) -> None:
        """Press the button ``label`` of the last message with buttons the client got."""


def identity(channel: str, external_id: str | int) -> Identity:
    return Identity(channel=ChannelRef(type=channel, account=ACCOUNT), external_id=str(external_id))


@dataclass
class TelegramClient:
    """Telegram calls the webhook with the update and the secret token in its header."""

    http: aiohttp.ClientSession
    telegram: telegram_fake.FakeTelegram
    channel: str = "telegram"
    identity: Identity = field(default_factory=lambda: identity("telegram", SAME_USER_ID))
    update_id: int = 1000

    async def says(self, text: str) -> None:
        self.update_id += 1
        await self._deliver(telegram_fake.text_update(self.update_id, text, user_id=SAME_USER_ID))

    async def presses(self, label: str) -> None:
        [markup] = [
            p["reply_markup"]
            for p in self.telegram.of("sendMessage")
            if p["chat_id"] == self.identity.external_id and "reply_markup" in p
        ][-1:]
        [data] = [
            b["callback_data"]
            for row in markup["inline_keyboard"]
            for b in row
            if b["text"] == label
        ]
        self.update_id += 1
        press = telegram_fake.callback_update(self.update_id, data, user_id=SAME_USER_ID)
        # Telegram sends the whole user with a press, as with a message (the builder a short one)
        user = telegram_fake.text_update(0, "", user_id=SAME_USER_ID)["message"]["from"]
        await self._deliver({**press, "callback_query": {**press["callback_query"], "from": user}})

    async def _deliver(self, update: dict[str, Any]) -> None:
        async with self.http.post(
            f"/channels/telegram/{ACCOUNT}/webhook",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": telegram_fake.SECRET},
        ) as response:
            assert response.status == 200


@dataclass
class VkClient:
    """VK's Callback API posts the event with the community's secret in the body."""

    http: aiohttp.ClientSession
    vk: vk_fake.FakeVk
    channel: str = "vk"
    identity: Identity = field(default_factory=lambda: identity("vk", SAME_USER_ID))
    message_id: int = 500

    async def says(self, text: str) -> None:
        self.message_id += 1
        update = vk_fake.message_new(
            f"vk-event-{self.message_id}",
            SAME_USER_ID,
            text,
            id=self.message_id,
            conversation_message_id=self.message_id,
        )
        await self._deliver(update)

    async def presses(self, label: str) -> None:
        [keyboard] = [
            json.loads(s["keyboard"])
            for s in self.vk.sent
            if s["peer_id"] == self.identity.external_id and "keyboard" in s
        ][-1:]
        [action] = [
            b["action"] for row in keyboard["buttons"] for b in row if b["action"]["label"] == label
        ]
        assert action["type"] == "callback"  # an inline button: VK sends a message_event
        self.message_id += 1
        await self._deliver(
            {
                "type": "message_event",
                "event_id": f"vk-event-{self.message_id}",
                "v": "5.199",
                "group_id": vk_fake.GROUP_ID,
                "object": {
                    "user_id": SAME_USER_ID,
                    "peer_id": SAME_USER_ID,
                    "event_id": f"press-{self.message_id}",
                    "payload": json.loads(action["payload"]),
                    "conversation_message_id": self.message_id,
                },
            }
        )

    async def _deliver(self, update: dict[str, Any]) -> None:
        async with self.http.post(
            f"/channels/vk/{ACCOUNT}/webhook", json={**update, "secret": VK_SECRET}
        ) as response:
            assert (response.status, await response.text()) == (200, "ok")


@dataclass
class ViberClient:
    """Viber posts the callback signed with an HMAC-SHA256 of the body under the bot's token."""

    http: aiohttp.ClientSession
    viber: viber_fake.FakeViber
    channel: str = "viber"
    identity: Identity = field(default_factory=lambda: identity("viber", "V1bEr+uSer/id=="))
    message_token: int = 5_000_000

    async def says(self, text: str) -> None:
        await self._deliver({"type": "text", "text": text})

    async def presses(self, label: str) -> None:
        """A keyboard button sends its ActionBody as text, with the message's tracking data."""
        [body] = [
            b
            for b in self.viber.sent
            if b["receiver"] == self.identity.external_id and "keyboard" in b
        ][-1:]
        [action] = [b["ActionBody"] for b in body["keyboard"]["Buttons"] if b["Text"] == label]
        await self._deliver(
            {"type": "text", "text": action, "tracking_data": body["tracking_data"]}
        )

    async def _deliver(self, message: dict[str, Any]) -> None:
        self.message_token += 1
        update = viber_fake.message_update(
            self.message_token, message, user=self.identity.external_id, name=NAMES["viber"]
        )
        body = json.dumps(update).encode()
        async with self.http.post(
            f"/channels/viber/{ACCOUNT}/webhook",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-Viber-Content-Signature": viber_fake.sign(body),
            },
        ) as response:
            assert response.status == 200


@dataclass
class WebchatVisitor:
    """A browser on the shop's site: the widget's JSON API, and its socket for live messages."""

    http: aiohttp.ClientSession
    identity: Identity
    token: str
    socket: aiohttp.ClientWebSocketResponse
    channel: str = "webchat"
    posted: int = 0
    frames: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Messages pushed over the socket, by id (a message may come twice; it is shown once)."""

    @classmethod
    async def arrives(cls, http: aiohttp.ClientSession, name: str) -> WebchatVisitor:
        base = f"/channels/webchat/{ACCOUNT}"
        async with http.post(f"{base}/api/visitors", json={"name": name}) as response:
            assert response.status == 201
            body = await response.json()
        socket = await http.ws_connect(
            f"{base}/api/ws?token={body['token']}", headers={"Origin": WEBCHAT_ORIGIN}
        )
        return cls(http, identity("webchat", body["visitor_id"]), body["token"], socket)

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Origin": WEBCHAT_ORIGIN}

    async def says(self, text: str) -> None:
        await self._post({"text": text})

    async def presses(self, label: str) -> None:
        async with self.http.get(
            f"/channels/webchat/{ACCOUNT}/api/messages", headers=self._auth
        ) as response:
            messages = (await response.json())["messages"]
        [buttons] = [m["buttons"] for m in messages if m["buttons"]][-1:]
        [payload] = [b["payload"] for row in buttons for b in row if b["text"] == label]
        await self._post({"button_payload": payload})

    async def _post(self, content: dict[str, str]) -> None:
        self.posted += 1
        async with self.http.post(
            f"/channels/webchat/{ACCOUNT}/api/messages",
            json={"client_message_id": f"widget-{self.posted:04d}", **content},
            headers=self._auth,
        ) as response:
            assert response.status == 200
            assert (await response.json())["duplicate"] is False

    async def history(self) -> list[tuple[str, str, str]]:
        """What the widget shows after a reload: (direction, author, text)."""
        async with self.http.get(
            f"/channels/webchat/{ACCOUNT}/api/messages", headers=self._auth
        ) as response:
            assert response.status == 200
            messages = (await response.json())["messages"]
        return [(m["direction"], m["author"], m["text"]) for m in messages]

    async def pushed(self, count: int) -> list[tuple[str, str]]:
        """The first ``count`` distinct messages pushed live, in order: (direction, text)."""
        while len(self.frames) < count:
            frame = await self.socket.receive_json(timeout=5)
            if frame.get("type") == "message":
                self.frames[frame["message"]["id"]] = frame["message"]
        return [(m["direction"], m["text"]) for _, m in sorted(self.frames.items())]

    async def nothing_more_pushed(self) -> None:
        try:
            frame = await self.socket.receive_json(timeout=0.3)
        except TimeoutError:
            return
        if frame.get("type") == "message" and frame["message"]["id"] in self.frames:
            return await self.nothing_more_pushed()  # a caught-up duplicate
        raise AssertionError(f"the visitor was pushed {frame}")


# --- what the platforms recorded ---------------------------------------------------------------


async def delivered(platforms: Platforms, visitor: WebchatVisitor) -> list[Sent]:
    """Every message any platform was asked to deliver, each platform's in the order it was asked,
    and every message from omniline's side that the web chat shows the visitor."""
    sent: list[Sent] = []
    sent += [("telegram", chat, text) for chat, text in platforms.telegram.texts()]
    sent += [("vk", s["peer_id"], s["message"]) for s in platforms.vk.sent]
    sent += [("viber", b["receiver"], b["text"]) for b in platforms.viber.sent]
    sent += [
        ("webchat", visitor.identity.external_id, text)
        for direction, _, text in await visitor.history()
        if direction == "out"
    ]
    return sent


async def assert_delivered(
    platforms: Platforms, visitor: WebchatVisitor, expected: list[Sent]
) -> None:
    """Exactly the expected messages went out, each to its platform and chat, in order per chat."""
    got = await delivered(platforms, visitor)
    assert sorted(got) == sorted(expected)
    for chat in {(channel, chat_id) for channel, chat_id, _ in expected}:
        assert [s for s in got if s[:2] == chat] == [s for s in expected if s[:2] == chat]


def methods(platforms: Platforms) -> dict[str, set[str]]:
    return {
        "telegram": {c.method for c in platforms.telegram.calls},
        "vk": {name for name, _ in platforms.vk.calls},
        "viber": {method for method, _, _ in platforms.viber.calls},
    }


# --- the scenario ------------------------------------------------------------------------------


async def four_clients(
    http: aiohttp.ClientSession, platforms: Platforms
) -> tuple[list[Client], WebchatVisitor]:
    visitor = await WebchatVisitor.arrives(http, name=NAMES["webchat"])
    clients: list[Client] = [
        TelegramClient(http, platforms.telegram),
        VkClient(http, platforms.vk),
        ViberClient(http, platforms.viber),
        visitor,
    ]
    assert clients[0].identity.external_id == clients[1].identity.external_id
    return clients, visitor


def sent_to(client: Client, text: str) -> Sent:
    return (client.channel, client.identity.external_id, text)


def welcome_for(client: Client) -> Sent:
    name = NAMES[client.channel]
    if client.channel == "viber":  # the fake's Viber user speaks German
        return sent_to(client, f"Hallo {name}! Support antwortet Ihnen gleich.")
    return sent_to(client, f"Hello {name}! Support will answer you shortly.")


async def open_dialog(app: Omniline, client: Client) -> Dialog:
    dialog = await app.store.dialogs.open_of(client.identity, "support")
    assert dialog is not None, f"{client.channel}: no open dialog"
    assert dialog.identity.channel == client.identity.channel
    assert dialog.identity.display_name == NAMES[client.channel]
    return dialog


async def test_four_clients_on_four_channels_are_answered_each_on_its_own(
    app: Omniline, platforms: Platforms, http: aiohttp.ClientSession
) -> None:
    # The platforms were told where the application's webhooks are, with their secrets.
    [hook] = platforms.telegram.of("setWebhook")
    assert hook["url"] == f"{PUBLIC_URL}/channels/telegram/{ACCOUNT}/webhook"
    assert hook["secret_token"] == telegram_fake.SECRET
    [(_, viber_hook, viber_token)] = platforms.viber.calls
    assert viber_hook["url"] == f"{PUBLIC_URL}/channels/viber/{ACCOUNT}/webhook"
    assert viber_token == viber_fake.TOKEN
    # VK confirms the server address before it sends events.
    confirmation = {"type": "confirmation", "group_id": vk_fake.GROUP_ID}
    async with http.post(f"/channels/vk/{ACCOUNT}/webhook", json=confirmation) as response:
        assert (response.status, await response.text()) == (200, VK_CONFIRMATION)

    clients, visitor = await four_clients(http, platforms)
    expected: list[Sent] = []

    # 1. Each client writes, one after the other: each gets the welcome, in their language and
    #    with their name, on their own platform; the dialogs are offered evenly.
    for client in clients:
        await client.says(f"hello from {client.channel}")
        await app.idle()
        expected.append(welcome_for(client))
        await assert_delivered(platforms, visitor, expected)
    dialogs = {c.channel: await open_dialog(app, c) for c in clients}
    assert len({d.id for d in dialogs.values()}) == 4
    assert len({d.client_id for d in dialogs.values()}) == 4  # user 4242 twice: two clients
    assert {c: (d.status, d.operator_id) for c, d in dialogs.items()} == {
        # evenly: to whoever received fewest, ties to the fewest open, then by queue order
        "telegram": (DialogStatus.OFFERED, "anna"),
        "vk": (DialogStatus.OFFERED, "boris"),
        "viber": (DialogStatus.OFFERED, "anna"),
        "webchat": (DialogStatus.OFFERED, "boris"),
    }
    operator_of = {c: d.operator_id or "" for c, d in dialogs.items()}

    # 2. The operators accept, whisper a note and answer: each answer reaches only its client.
    for channel, dialog in dialogs.items():
        await app.dialogs.accept(dialog.id, operator_of[channel])
    await app.idle()
    for channel, dialog in dialogs.items():
        assert (await app.dialogs.get(dialog.id)).status is DialogStatus.ACTIVE
        await app.dialogs.whisper(dialog.id, operator_of[channel], f"note on {channel}")
    await app.idle()
    await assert_delivered(platforms, visitor, expected)  # whispers reach no platform
    for client in clients:
        dialog = dialogs[client.channel]
        await app.dialogs.reply(
            dialog.id, operator_of[client.channel], f"answer for {client.channel}"
        )
        expected.append(sent_to(client, f"answer for {client.channel}"))
    await app.idle()
    await assert_delivered(platforms, visitor, expected)

    # 3. Each client writes again: the message joins their open dialog, and nobody is sent a
    #    thing (no second welcome, no echo on another channel).
    for client in clients:
        await client.says(f"second from {client.channel}")
    await app.idle()
    await assert_delivered(platforms, visitor, expected)
    for client in clients:
        again = await open_dialog(app, client)
        assert again.id == dialogs[client.channel].id
        assert (again.status, again.operator_id) == (
            DialogStatus.ACTIVE,
            operator_of[client.channel],
        )

    # 4. The operators close: each client is thanked by name, from their own operator, and asked
    #    for a rating in their channel's words.
    for client in clients:
        operator_id = operator_of[client.channel]
        await app.dialogs.close(dialogs[client.channel].id, actor=f"operator:{operator_id}")
        name = NAMES[client.channel]
        expected.append(sent_to(client, f"Thanks, {name}! {OPERATORS[operator_id]}"))
        question = RATE_WEBCHAT if client.channel == "webchat" else RATE_MESSENGER
        expected.append(sent_to(client, question.format(client_name=name)))
    await app.idle()
    await assert_delivered(platforms, visitor, expected)

    # 5. Each client rates by pressing a button on their own platform; each score lands on their
    #    own dialog, and the thanks goes back the same way.
    scores = {"telegram": 5, "vk": 4, "viber": 3, "webchat": 2}
    for client in clients:
        await client.presses("★" * scores[client.channel])
        await app.idle()
        expected.append(sent_to(client, THANKS.format(client_name=NAMES[client.channel])))
    await assert_delivered(platforms, visitor, expected)
    assert {c: (await app.dialogs.get(d.id)).rating for c, d in dialogs.items()} == scores
    telegram = clients[0]
    assert isinstance(telegram, TelegramClient)
    [pressed] = platforms.telegram.of("answerCallbackQuery")  # the button's spinner stopped
    assert pressed["callback_query_id"] == f"cb-{telegram.update_id}"

    # Every dialog holds its own client's messages and nobody else's, whispers included.
    for client in clients:
        dialog = dialogs[client.channel]
        assert (await app.dialogs.get(dialog.id)).status is DialogStatus.CLOSED
        history = [
            (m.direction, m.visibility, m.button_payload or m.text)
            for m in await app.store.dialogs.messages(dialog.id, with_internal=True)
        ]
        welcome, answer, closing, question, thanks = [
            text for c, _, text in expected if c == client.channel
        ]
        assert history == [
            (Direction.IN, Visibility.CLIENT, f"hello from {client.channel}"),
            (Direction.OUT, Visibility.CLIENT, welcome),
            (Direction.OUT, Visibility.OPERATORS, f"note on {client.channel}"),
            (Direction.OUT, Visibility.CLIENT, answer),
            (Direction.IN, Visibility.CLIENT, f"second from {client.channel}"),
            (Direction.OUT, Visibility.CLIENT, closing),
            (Direction.OUT, Visibility.CLIENT, question),
            (Direction.IN, Visibility.CLIENT, f"omniline:rate:{scores[client.channel]}"),
            (Direction.OUT, Visibility.CLIENT, thanks),
        ]

    # The platforms were asked for nothing else: no other method, no other chat. (VK's answer to
    # a pressed callback button is sent in the background, so it may not be there yet.)
    called = methods(platforms)
    called["vk"].discard("messages.sendMessageEventAnswer")
    assert called == {
        "telegram": {"setWebhook", "sendMessage", "answerCallbackQuery"},
        "vk": {"users.get", "messages.send"},
        "viber": {"set_webhook", "send_message"},
    }

    # The web chat: what the visitor reads back, and what was pushed live to their open window.
    welcome, answer, closing, question, thanks = [
        text for channel, _, text in expected if channel == "webchat"
    ]
    assert await visitor.history() == [
        ("in", "client", "hello from webchat"),
        ("out", "system", welcome),
        ("out", "operator", answer),
        ("in", "client", "second from webchat"),
        ("out", "system", closing),
        ("out", "system", question),
        ("in", "client", None),  # the pressed button
        ("out", "system", thanks),
    ]
    assert await visitor.pushed(8) == [
        ("in", "hello from webchat"),
        ("out", welcome),
        ("out", answer),
        ("in", "second from webchat"),
        ("out", closing),
        ("out", question),
        ("in", None),
        ("out", thanks),
    ]
    await visitor.nothing_more_pushed()  # the whisper never was
    await visitor.socket.close()


async def test_four_clients_writing_at_once_are_shared_evenly_and_answered_each_on_its_own(
    app: Omniline, platforms: Platforms, http: aiohttp.ClientSession
) -> None:
    clients, visitor = await four_clients(http, platforms)
    await asyncio.gather(*(c.says(f"hello from {c.channel}") for c in clients))
    await app.idle()
    expected = [welcome_for(c) for c in clients]
    await assert_delivered(platforms, visitor, expected)
    dialogs = {c.channel: await open_dialog(app, c) for c in clients}
    assert {d.status for d in dialogs.values()} == {DialogStatus.OFFERED}
    assert Counter(d.operator_id for d in dialogs.values()) == {"anna": 2, "boris": 2}

    async def answer(client: Client) -> None:
        dialog = dialogs[client.channel]
        assert dialog.operator_id is not None
        await app.dialogs.accept(dialog.id, dialog.operator_id)
        await app.dialogs.reply(dialog.id, dialog.operator_id, f"answer for {client.channel}")

    await asyncio.gather(*(answer(c) for c in clients))
    await app.idle()
    expected += [sent_to(c, f"answer for {c.channel}") for c in clients]
    await assert_delivered(platforms, visitor, expected)
    await visitor.socket.close()
