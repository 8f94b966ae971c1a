"""The VK channel end to end: the real vk-api against a local fake VK, inside a real Omniline app."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from omniline_vk import plugin
from omniline_vk.testing import GROUP_ID, SECRET, FakeVk, message_new

from omniline import Button, MessageContext, Omniline, OutboundMessage, Router
from omniline.model import Attachment, AttachmentKind, Identity, InboundEvent
from omniline.testing import VirtualClock

URL = "/channels/vk/main/webhook"
PEER = 4242


async def call_in(
    client: TestClient[Any, Any], update: dict[str, Any], secret: str | None = SECRET
) -> tuple[int, str]:
    """VK's Callback API calling our server."""
    body = {**update, "secret": secret} if secret is not None else update
    response = await client.post(URL, json=body)
    return response.status, await response.text()


async def next_slot(app: Omniline, clock: VirtualClock) -> None:
    """Let the per-chat pace (1 message a second) release the next message to the same chat."""
    for _ in range(4):
        await app.idle(paced=False)
        await clock.advance(1.0)
        await app.outbox.run_due()
    await app.idle(paced=False)


def identity(app: Omniline, peer: int = PEER) -> Identity:
    return Identity(channel=next(iter(app.channels)), external_id=str(peer))


async def test_confirmation_answers_the_configured_string(client: TestClient[Any, Any]) -> None:
    status, text = await call_in(client, {"type": "confirmation", "group_id": GROUP_ID}, None)
    assert (status, text) == (200, "c0nf1rm")
    status, _ = await call_in(client, {"type": "confirmation", "group_id": 1}, None)
    assert status == 403


async def test_a_client_message_is_stored_answered_and_the_reply_sent(
    app: Omniline, client: TestClient[Any, Any], vk: FakeVk
) -> None:
    status, text = await call_in(client, message_new("ev-1", PEER, "hi"))
    assert (status, text) == (200, "ok")
    stored = await app.store.dialogs.identity_history(identity(app))
    assert [m.text for m in stored][:1] == ["hi"]
    await app.idle(paced=False)
    assert [(s["peer_id"], s["message"]) for s in vk.sent] == [(str(PEER), "echo: hi")]
    assert vk.sent[0]["v"] == "5.199"
    dialog = await app.store.dialogs.open_of(identity(app), "support")
    assert dialog is not None and dialog.identity.display_name == "Ivan Petrov"


async def test_a_redelivered_update_is_answered_once(
    app: Omniline, client: TestClient[Any, Any], vk: FakeVk
) -> None:
    update = message_new("ev-same", PEER, "hello")
    assert await call_in(client, update) == (200, "ok")
    assert await call_in(client, update) == (200, "ok")  # VK retried: X-Retry-Counter
    await app.idle(paced=False)
    assert [s["message"] for s in vk.sent] == ["echo: hello"]


async def test_a_forged_or_unsigned_update_is_refused_and_not_stored(
    app: Omniline, client: TestClient[Any, Any], vk: FakeVk
) -> None:
    assert (await call_in(client, message_new("ev-f1", PEER, "x"), secret="wrong"))[0] == 403
    assert (await call_in(client, message_new("ev-f2", PEER, "x"), secret=None))[0] == 403
    forged_group = {**message_new("ev-f3", PEER, "x"), "group_id": 1}
    assert (await call_in(client, forged_group))[0] == 403
    await app.idle(paced=False)
    assert await app.store.dialogs.identity_history(identity(app)) == []
    assert vk.sent == []


async def test_an_operator_reply_goes_out_through_vk(
    app: Omniline, client: TestClient[Any, Any], vk: FakeVk, clock: VirtualClock
) -> None:
    await call_in(client, message_new("ev-op", PEER, "a human please"))
    await app.idle(paced=False)
    dialog = await app.store.dialogs.open_of(identity(app), "support")
    assert dialog is not None
    await app.dialogs.handoff(dialog.id)
    await app.dialogs.accept(dialog.id, "anna")
    await app.dialogs.reply(dialog.id, "anna", "Anna here, how can I help?")
    await next_slot(app, clock)
    assert vk.sent[-1]["message"] == "Anna here, how can I help?"
    assert vk.sent[-1]["peer_id"] == str(PEER)


async def test_too_many_requests_is_retried_after_the_pause(
    app: Omniline, client: TestClient[Any, Any], vk: FakeVk, clock: VirtualClock
) -> None:
    vk.failures.append(FakeVk.error(6, "Too many requests per second"))
    await call_in(client, message_new("ev-rl", PEER, "hi"))
    await app.idle(paced=False)
    assert vk.sent == []
    dialog = await app.store.dialogs.open_of(identity(app), "support")
    assert dialog is not None
    out = [m for m in await app.store.dialogs.messages(dialog.id) if m.direction == "out"]
    sends = [c for c in vk.calls if c[0] == "messages.send"]
    assert len(sends) == 1
    await clock.advance(0.5)  # earlier than the 1 s pause: not yet
    await app.outbox.run_due()
    await app.idle(paced=False)
    assert vk.sent == []
    await clock.advance(1.0)
    await app.outbox.run_due()
    await app.idle(paced=False)
    assert [s["message"] for s in vk.sent] == ["echo: hi"]
    retried = [c for c in vk.calls if c[0] == "messages.send"]
    assert retried[0][1]["random_id"] == retried[1][1]["random_id"]  # same idempotency key
    assert out


async def test_http_429_honours_retry_after(
    app: Omniline, client: TestClient[Any, Any], vk: FakeVk, clock: VirtualClock
) -> None:
    vk.failures.append(web.Response(status=429, headers={"Retry-After": "30"}))
    await call_in(client, message_new("ev-429", PEER, "hi"))
    await app.idle(paced=False)
    await clock.advance(20)
    await app.outbox.run_due()
    await app.idle(paced=False)
    assert vk.sent == []
    await clock.advance(11)
    await app.outbox.run_due()
    await app.idle(paced=False)
    assert [s["message"] for s in vk.sent] == ["echo: hi"]


async def test_a_blocked_user_fails_the_delivery_with_vks_reason(
    app: Omniline, client: TestClient[Any, Any], vk: FakeVk, clock: VirtualClock
) -> None:
    vk.failures.append(FakeVk.error(901, "Can't send messages for users without permission"))
    await call_in(client, message_new("ev-901", PEER, "hi"))
    await app.idle(paced=False)
    dialog = await app.store.dialogs.open_of(identity(app), "support")
    assert dialog is not None
    status = await app.store.outbox.status(1)
    assert status is not None and status.outcome == "failed"
    assert "901" in (status.error or "") and "without permission" in (status.error or "")
    await clock.advance(3600)
    await app.outbox.run_due()
    await app.idle(paced=False)
    assert vk.sent == []  # never retried


async def test_buttons_become_a_vk_keyboard_and_a_press_comes_back(
    make_app: Callable[..., Omniline], vk: FakeVk, clock: VirtualClock
) -> None:
    router = Router()

    @router.message()
    async def menu(ctx: MessageContext) -> None:
        if ctx.event.message.button_payload:
            ctx.reply(f"pressed {ctx.event.message.button_payload}")
        else:
            ctx.reply(
                OutboundMessage(
                    text="Choose",
                    buttons=((Button(text="Yes", payload="y"), Button(text="No", payload="n")),),
                )
            )

    app = make_app(router)
    await app.start()
    try:
        async with TestClient(TestServer(app.web)) as client:
            await call_in(client, message_new("ev-b1", PEER, "menu"))
            await app.idle(paced=False)
            board = json.loads(vk.sent[0]["keyboard"])
            assert board["inline"] is True
            first = board["buttons"][0][0]["action"]
            assert first["type"] == "callback" and first["label"] == "Yes"
            press = {
                "type": "message_event",
                "event_id": "ev-b2",
                "v": "5.199",
                "group_id": GROUP_ID,
                "object": {
                    "user_id": PEER,
                    "peer_id": PEER,
                    "event_id": "cb-1",
                    "payload": json.loads(first["payload"]),
                    "conversation_message_id": 2,
                },
            }
            assert await call_in(client, press) == (200, "ok")
            await next_slot(app, clock)
            assert vk.sent[-1]["message"] == "pressed y"
            assert "messages.sendMessageEventAnswer" in [c[0] for c in vk.calls]
    finally:
        await app.stop()


async def test_attachments_in_and_out(
    app: Omniline, client: TestClient[Any, Any], vk: FakeVk, clock: VirtualClock
) -> None:
    photo = {
        "type": "photo",
        "photo": {
            "id": 1,
            "owner_id": PEER,
            "access_key": "k",
            "sizes": [
                {"url": "https://sun.example/s.jpg", "width": 10, "height": 10},
                {"url": "https://sun.example/l.jpg", "width": 100, "height": 100},
            ],
        },
    }
    voice = {
        "type": "audio_message",
        "audio_message": {"id": 2, "owner_id": PEER, "link_ogg": "https://vk.example/v.ogg"},
    }
    doc = {
        "type": "doc",
        "doc": {
            "id": 3,
            "owner_id": PEER,
            "title": "cv.pdf",
            "size": 7,
            "url": "https://vk.example/doc",
        },
    }
    sticker = {"type": "sticker", "sticker": {"sticker_id": 9, "images": [{"url": "https://s"}]}}
    update = message_new("ev-att", PEER, "", attachments=[photo, voice, doc, sticker])
    assert await call_in(client, update) == (200, "ok")
    stored = (await app.store.dialogs.identity_history(identity(app)))[0]
    assert [(a.kind, a.file_id, a.url) for a in stored.attachments] == [
        (AttachmentKind.IMAGE, f"photo{PEER}_1_k", "https://sun.example/l.jpg"),
        (AttachmentKind.VOICE, f"audio_message{PEER}_2", "https://vk.example/v.ogg"),
        (AttachmentKind.DOCUMENT, f"doc{PEER}_3", "https://vk.example/doc"),
        (AttachmentKind.STICKER, "9", "https://s"),
    ]
    await app.idle(paced=False)
    dialog = await app.store.dialogs.open_of(identity(app), "support")
    assert dialog is not None
    await app.dialogs.handoff(dialog.id)
    await app.dialogs.accept(dialog.id, "anna")
    assert vk.server is not None
    image_url = str(vk.server.make_url("/files/pic.png"))
    await app.dialogs.reply(
        dialog.id,
        "anna",
        OutboundMessage(
            text="files",
            attachments=(
                Attachment(kind=AttachmentKind.DOCUMENT, file_id="doc-77_5"),
                Attachment(kind=AttachmentKind.IMAGE, url=image_url),
            ),
        ),
    )
    await next_slot(app, clock)
    assert sorted((s["message"], s.get("attachment") or "") for s in vk.sent[-2:]) == [
        ("", f"doc-77_5,photo-{GROUP_ID}_9"),
        ("files", ""),
    ]


async def test_polling_stores_an_update_before_moving_the_offset(
    make_app: Callable[..., Omniline], vk: FakeVk, clock: VirtualClock
) -> None:
    app = make_app(mode="polling", long_poll_wait=1)
    stored_when_polled: dict[int, list[str | None]] = {}

    async def on_poll(ts: int) -> None:
        history = await app.store.dialogs.identity_history(identity(app))
        stored_when_polled.setdefault(ts, [m.text for m in history if m.direction == "in"])

    vk.on_poll = on_poll
    vk.updates[1] = [message_new("lp-1", PEER, "via long poll")]
    await app.start()
    try:
        for _ in range(100):
            if len(vk.sent) == 1:
                break
            await app.idle(paced=False)
            await __import__("asyncio").sleep(0.05)
        assert [s["message"] for s in vk.sent] == ["echo: via long poll"]
        assert vk.polled[0] == 1 and 2 in vk.polled
        assert stored_when_polled[1] == []
        assert stored_when_polled[2] == ["via long poll"]  # ts moved only once stored
    finally:
        await app.stop()


class _Host:
    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock

    async def history(
        self, identity: Identity, *, after_id: int = 0, limit: int = 100
    ) -> list[Any]:
        return []

    async def update_profile(self, identity: Identity) -> None:
        return None

    def author_name(self, author: str) -> str | None:
        return None

    async def load_state(self, key: str) -> str | None:
        return None

    async def save_state(self, key: str, value: str) -> None:
        return None

    async def exclusive(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        await work()


async def test_polling_resumes_from_the_saved_offset_after_a_restart(
    make_app: Callable[..., Omniline], vk: FakeVk, clock: VirtualClock
) -> None:
    vk.updates[1] = [message_new("lp-1", PEER, "before the restart")]
    app = make_app(mode="polling", long_poll_wait=1)
    await app.start()
    try:
        await until_sent(app, vk, 1)
    finally:
        await app.stop()
    # While omniline was down the client wrote again, and VK's fresh long-poll server now starts
    # after that message: only the saved offset finds it.
    vk.updates[2] = [message_new("lp-2", PEER, "while down")]
    vk.long_poll_ts = "9"
    app = make_app(mode="polling", long_poll_wait=1)
    await app.start()
    try:
        await until_sent(app, vk, 2)
        assert [s["message"] for s in vk.sent] == ["echo: before the restart", "echo: while down"]
    finally:
        await app.stop()


async def until_sent(app: Omniline, vk: FakeVk, count: int) -> None:
    import asyncio

    for _ in range(200):
        if len(vk.sent) >= count:
            return
        await app.idle(paced=False)
        await asyncio.sleep(0.02)
    raise AssertionError(f"sent {len(vk.sent)} messages, not {count}")


async def test_polling_keeps_the_offset_when_the_store_fails(vk: FakeVk) -> None:
    import asyncio

    from omniline import Receipt
    from omniline.model import ChannelRef

    clock = VirtualClock()
    settings_ = plugin.config_model.model_validate(
        vk.settings(mode="polling", long_poll_wait=1, poll_retry_pause=5)
    )
    channel = plugin.factory(ChannelRef(type="vk", account="main"), settings_, _Host(clock))
    seen: list[InboundEvent] = []

    async def sink(event: InboundEvent) -> Receipt:
        seen.append(event)
        if len(seen) == 1:
            raise RuntimeError("database down")
        return Receipt(duplicate=False, inbox_id=1, dialog_id=1, message_id=1)

    vk.updates[1] = [message_new("lp-x", PEER, "keep me")]
    await channel.start(sink)
    try:
        for _ in range(100):
            if clock.sleepers:
                break
            await asyncio.sleep(0.02)
        assert len(seen) == 1 and vk.polled == [1]  # failed: waiting, offset not moved
        await clock.advance(5)
        for _ in range(100):
            if 2 in vk.polled:
                break
            await asyncio.sleep(0.02)
        assert vk.polled[:3] == [1, 1, 2]
        assert [e.event_id for e in seen] == ["lp-x", "lp-x"]
    finally:
        await channel.stop()


def test_webhook_mode_needs_its_secrets() -> None:
    with pytest.raises(ValueError, match="secret"):
        plugin.config_model.model_validate({"token": "t", "group_id": 1})
    with pytest.raises(ValueError, match="extra"):
        plugin.config_model.model_validate(
            {"token": "t", "group_id": 1, "mode": "polling", "tokn": "x"}
        )


async def test_a_store_failure_answers_500_so_vk_retries(vk: FakeVk) -> None:
    from omniline import Receipt
    from omniline.model import ChannelRef

    settings_ = plugin.config_model.model_validate(vk.settings())
    channel = plugin.factory(
        ChannelRef(type="vk", account="main"), settings_, _Host(VirtualClock())
    )
    calls: list[str] = []

    async def sink(event: InboundEvent) -> Receipt:
        calls.append(event.event_id)
        if len(calls) == 1:
            raise RuntimeError("database down")
        return Receipt(duplicate=False, inbox_id=1, dialog_id=1, message_id=1)

    web_app = web.Application()
    web_app.add_routes(channel.routes())  # type: ignore[attr-defined]
    async with TestClient(TestServer(web_app)) as client:
        update = {**message_new("ev-500", PEER, "hi"), "secret": SECRET}
        assert (await client.post("/webhook", json=update)).status == 503  # not started yet
        await channel.start(sink)
        try:
            assert (await client.post("/webhook", json=update)).status == 500
            again = await client.post("/webhook", json=update)
            assert (again.status, await again.text()) == (200, "ok")
            typing = {
                "type": "message_typing_state",
                "event_id": "ev-t",
                "group_id": GROUP_ID,
                "object": {"from_id": PEER},
                "secret": SECRET,
            }
            assert (await client.post("/webhook", json=typing)).status == 200
        finally:
            await channel.stop()
    assert calls == ["ev-500", "ev-500"]


def test_a_reply_keyboard_is_one_time_with_labels_cut_to_40() -> None:
    from omniline_vk.channel import keyboard

    board = json.loads(
        keyboard(
            OutboundMessage(
                text="?", inline=False, buttons=((Button(text="A" * 50, payload="a"),),)
            )
        )
    )
    assert board["one_time"] is True and board.get("inline") is False
    action = board["buttons"][0][0]["action"]
    assert action["type"] == "text" and len(action["label"]) == 40
    assert json.loads(action["payload"]) == {"p": "a"}


async def test_a_long_poll_update_too_deep_to_keep_is_stored_without_its_raw(vk: FakeVk) -> None:
    import asyncio

    from omniline.model import ChannelRef
    from omniline.testing.conformance import RecordingHost, RecordingSink

    settings_ = plugin.config_model.model_validate(vk.settings(mode="polling", long_poll_wait=1))
    channel = plugin.factory(
        ChannelRef(type="vk", account="main"), settings_, RecordingHost(VirtualClock())
    )
    deep: Any = "bottom"
    for _ in range(300):  # Long Poll answers are not depth-limited like webhook bodies
        deep = [deep]
    vk.updates[1] = [message_new("lp-deep", PEER, "deep", extra=deep)]
    sink = RecordingSink()
    await channel.start(sink)
    try:
        for _ in range(100):
            if 2 in vk.polled:
                break
            await asyncio.sleep(0.02)
        assert [(e.event_id, e.message.text, e.raw) for e in sink.events] == [
            ("lp-deep", "deep", None)
        ]
    finally:
        await channel.stop()
