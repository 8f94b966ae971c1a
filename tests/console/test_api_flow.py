"""The desk's REST API and live push, end to end over HTTP against a real application (SQLite,
real clock) with a fake messenger channel: what a custom desk or integration sees and does."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from omniline.app import Omniline
from omniline.config.models import Config
from omniline.model import ChannelRef
from omniline.testing.fake_channel import FakeChannel, fake_channel_plugin

REF = ChannelRef(type="fake", account="test")
PASSWORDS = {
    "ann": "ann-secret-1",
    "bob": "bob-secret-1",
    "sue": "sue-secret-1",
    "root": "root-secret",
}


def config(database: Path) -> Config:
    return Config.model_validate(
        {
            "storage": {"url": f"sqlite:///{database}"},
            "server": {"port": 0},
            "operators": [{"id": "ann", "name": "Ann Lee"}, {"id": "bob", "name": "Bob Stone"}],
            "lines": [
                {
                    "id": "support",
                    "name": "Support",
                    "queue": ["ann", "bob"],
                    "rating": {"enabled": True},
                    "channels": [{"type": "fake", "account": "test"}],
                },
                {
                    "id": "sales",
                    "name": "Sales",
                    "queue": ["bob"],
                    "channels": [{"type": "fake", "account": "sales"}],
                },
            ],
            "accounts": [
                {"login": "ann", "name": "Ann Lee", "password": PASSWORDS["ann"]},
                {"login": "bob", "name": "Bob Stone", "password": PASSWORDS["bob"]},
                {
                    "login": "sue",
                    "name": "Sue Visor",
                    "role": "supervisor",
                    "lines": ["support"],
                    "password": PASSWORDS["sue"],
                },
                {"login": "root", "name": "Admin", "role": "admin", "password": PASSWORDS["root"]},
            ],
        }
    )


@pytest_asyncio.fixture
async def app(tmp_path: Path) -> AsyncIterator[Omniline]:
    channels = {
        "fake": FakeChannel(REF),
    }
    sales = FakeChannel(ChannelRef(type="fake", account="sales"))

    def plugin_for(ref: ChannelRef, settings: Any, host: Any) -> FakeChannel:
        found = channels["fake"] if ref.account == "test" else sales
        found.bind(host.clock, host)
        return found

    plugin = fake_channel_plugin(channels["fake"])
    plugin = dataclasses.replace(plugin, factory=plugin_for)
    application = Omniline(
        config(tmp_path / "db.sqlite"), channel_plugins={"fake": plugin}, migrate=True
    )
    await application.start()
    try:
        yield application
    finally:
        await application.stop()


class Desk:
    """One logged-in browser-like session (cookie + CSRF token)."""

    def __init__(self, app: Omniline, session: aiohttp.ClientSession, csrf: str) -> None:
        self.app = app
        self.http = session
        self.csrf = csrf

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(
            method,
            self.app.url + "/api/v1" + path,
            json=body,
            headers={"X-CSRF-Token": self.csrf},
        ) as answer:
            text = await answer.text()
            return answer.status, json.loads(text) if text else None

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, found = await self.call(method, path, body)
        assert 200 <= status < 300, (method, path, status, found)
        return found


@pytest_asyncio.fixture
async def login(app: Omniline) -> AsyncIterator[Callable[[str], Any]]:
    sessions: list[aiohttp.ClientSession] = []

    async def log_in(who: str) -> Desk:
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sessions.append(session)
        async with session.post(
            app.url + "/api/v1/session", json={"login": who, "password": PASSWORDS[who]}
        ) as answer:
            assert answer.status == 200, await answer.text()
            found = await answer.json()
        assert "HttpOnly" in answer.headers["Set-Cookie"]
        assert "SameSite=Strict" in answer.headers["Set-Cookie"]
        return Desk(app, session, found["csrf_token"])

    yield log_in
    for session in sessions:
        await session.close()


async def frames_until(
    ws: aiohttp.ClientWebSocketResponse, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        while not done(seen):
            seen.append(await ws.receive_json())
    return seen


def channel(app: Omniline) -> FakeChannel:
    found = app.channels[REF]
    assert isinstance(found, FakeChannel)
    return found


async def test_an_operator_takes_answers_whispers_and_transfers_through_the_api(
    app: Omniline, login: Callable[[str], Any]
) -> None:
    ann: Desk = await login("ann")
    bob: Desk = await login("bob")
    await ann.ok("POST", "/operators/ann/shift", {"action": "start"})
    ws = await ann.http.ws_connect(app.url + "/api/v1/push")
    hello = await ws.receive_json()
    assert hello["type"] == "hello" and hello["account"]["id"] == "ann"

    receipt = await channel(app).receive(
        "zoe", "<b>help</b><script>x()</script>", display_name="Zoe"
    )
    dialog_id = receipt.dialog_id

    # The offer arrives live, with the client's message (as it was written: the console escapes).
    frames = await frames_until(
        ws,
        lambda seen: (
            any(f["type"] == "event" and f["event"]["type"] == "offered" for f in seen)
            and any(f["type"] == "message" for f in seen)
        ),
    )
    offered = next(f for f in frames if f["type"] == "event" and f["event"]["type"] == "offered")
    assert offered["dialog"]["id"] == dialog_id
    assert offered["dialog"]["offered_to"] == ["ann"]
    message = next(f for f in frames if f["type"] == "message")["message"]
    assert message["text"] == "<b>help</b><script>x()</script>"
    assert message["author_name"] == "Zoe"

    listed = await ann.ok("GET", "/dialogs?status=offered")
    assert [d["id"] for d in listed["items"]] == [dialog_id]

    taken = await ann.ok("POST", f"/dialogs/{dialog_id}/accept", {})
    assert taken["status"] == "active" and taken["operator_id"] == "ann"
    await ann.ok("POST", f"/dialogs/{dialog_id}/reply", {"text": "Hello Zoe, Ann here."})
    await ann.ok("POST", f"/dialogs/{dialog_id}/whisper", {"text": "VIP, be nice"})
    await app.idle()
    assert channel(app).texts_to("zoe")[-1] == "Hello Zoe, Ann here."
    assert "VIP, be nice" not in channel(app).texts_to("zoe")

    # Bob is not in the dialog: he may not answer it.
    status, error = await bob.call("POST", f"/dialogs/{dialog_id}/reply", {"text": "me too"})
    assert status == 409 and error["error"]["code"] == "conflict"

    await bob.ok("POST", "/operators/bob/shift", {"action": "start"})
    moved = await ann.ok("POST", f"/dialogs/{dialog_id}/transfer", {"operator_id": "bob"})
    assert moved["status"] == "offered" and moved["offered_to"] == ["bob"]
    await bob.ok("POST", f"/dialogs/{dialog_id}/accept", {})
    history = await bob.ok("GET", f"/dialogs/{dialog_id}/messages")
    shown = [(m["author"], m["visibility"], m["text"]) for m in history["items"]]
    assert ("client", "client", "<b>help</b><script>x()</script>") in shown
    assert ("operator:ann", "client", "Hello Zoe, Ann here.") in shown
    assert ("operator:ann", "operators", "VIP, be nice") in shown
    closed = await bob.ok("POST", f"/dialogs/{dialog_id}/close", {})
    assert closed["status"] == "closed"

    # The client rates, and the supervisor sees it all in the statistics.
    await app.idle()
    await channel(app).receive("zoe", "5")
    await app.idle()
    sue: Desk = await login("sue")
    stats = await sue.ok("GET", "/statistics")
    assert stats["overall"]["dialogs"] == 1
    assert stats["overall"]["ratings"]["by_score"]["5"] == 1
    assert stats["by_operator"]["bob"]["dialogs"] == 1
    assert sum(day["dialogs"] for day in stats["by_day"]) == 1
    log = await sue.ok("GET", f"/dialogs/{dialog_id}/events")
    kinds = [e["type"] for e in log["items"]]
    assert kinds.index("accepted") < kinds.index("transferred") < kinds.index("closed")
    await ws.close()


async def test_a_reconnecting_desk_gets_everything_it_missed_once(
    app: Omniline, login: Callable[[str], Any]
) -> None:
    ann: Desk = await login("ann")
    await ann.ok("POST", "/operators/ann/shift", {"action": "start"})
    ws = await ann.http.ws_connect(app.url + "/api/v1/push")
    await ws.receive_json()
    first = await channel(app).receive("u1", "first")
    frames = await frames_until(ws, lambda seen: any(f["type"] == "message" for f in seen))
    cursor = [f for f in frames if "cursor" in f][-1]["cursor"]
    await ws.close()

    # While the desk is away: more dialogs, messages and actions (some not through the API).
    await app.dialogs.accept(first.dialog_id, "ann")
    await app.dialogs.reply(first.dialog_id, "ann", "one")
    for i in range(5):
        await channel(app).receive(f"v{i}", f"away {i}")
    await app.idle()

    again = await ann.http.ws_connect(app.url + f"/api/v1/push?cursor={cursor}")
    assert (await again.receive_json())["cursor"] == cursor
    expected_texts = {"one", *(f"away {i}" for i in range(5))}
    caught = await frames_until(
        again,
        lambda seen: (
            expected_texts <= {f["message"]["text"] for f in seen if f["type"] == "message"}
        ),
    )
    # Settle, then nothing else arrives: no message or event twice, none from before the cursor.
    await asyncio.sleep(1.5)
    while True:
        try:
            caught.append(await again.receive_json(timeout=0.2))
        except TimeoutError:
            break
    message_ids = [f["message"]["id"] for f in caught if f["type"] == "message"]
    event_ids = [f["event"]["id"] for f in caught if f["type"] == "event"]
    assert len(message_ids) == len(set(message_ids)) == 6
    assert len(event_ids) == len(set(event_ids))
    before_events, before_messages = (int(x) for x in cursor.split("."))
    assert min(message_ids) > before_messages and min(event_ids) > before_events
    assert "first" not in {f["message"]["text"] for f in caught if f["type"] == "message"}
    assert any(
        f["type"] == "event"
        and f["event"]["type"] == "accepted"
        and f["dialog"]["id"] == first.dialog_id
        for f in caught
    )
    await again.close()


async def test_an_operator_sees_only_the_dialogs_of_their_lines(
    app: Omniline, login: Callable[[str], Any]
) -> None:
    sales = app.channels[ChannelRef(type="fake", account="sales")]
    assert isinstance(sales, FakeChannel)
    ann: Desk = await login("ann")
    ws = await ann.http.ws_connect(app.url + "/api/v1/push")
    await ws.receive_json()
    hidden = await sales.receive("s1", "sales question")
    shown = await channel(app).receive("c1", "support question")
    frames = await frames_until(ws, lambda seen: any(f["type"] == "message" for f in seen))
    await asyncio.sleep(1.2)
    dialogs_pushed = {f["dialog"]["id"] for f in frames if f["type"] == "event"}
    dialogs_pushed |= {f["message"]["dialog_id"] for f in frames if f["type"] == "message"}
    assert hidden.dialog_id not in dialogs_pushed

    listed = await ann.ok("GET", "/dialogs")
    assert [d["id"] for d in listed["items"]] == [shown.dialog_id]
    status, _ = await ann.call("GET", f"/dialogs/{hidden.dialog_id}")
    assert status == 404
    status, _ = await ann.call("GET", f"/dialogs/{hidden.dialog_id}/messages")
    assert status == 404
    bob: Desk = await login("bob")
    both = await bob.ok("GET", "/dialogs")
    assert {d["id"] for d in both["items"]} == {hidden.dialog_id, shown.dialog_id}
    await ws.close()


async def test_dialog_lists_are_paginated_and_filtered(
    app: Omniline, login: Callable[[str], Any]
) -> None:
    for i in range(7):
        await channel(app).receive(f"p{i}", "hi")
    await app.idle()
    root: Desk = await login("root")
    seen: list[int] = []
    path = "/dialogs?limit=3"
    while True:
        page = await root.ok("GET", path)
        seen += [d["id"] for d in page["items"]]
        if page["next"] is None:
            break
        path = f"/dialogs?limit=3&cursor={page['next']}"
    assert seen == sorted(seen, reverse=True) and len(seen) == 7
    assert (await root.ok("GET", "/dialogs?channel=telegram"))["items"] == []
    assert (
        len((await root.ok("GET", "/dialogs?line=support&status=queued&status=offered"))["items"])
        == 7
    )
    status, error = await root.call("GET", "/dialogs?status=lost")
    assert status == 422 and error["error"]["fields"][0]["field"].startswith("query.status")


async def test_attachments_are_uploaded_served_and_sent(
    app: Omniline, login: Callable[[str], Any]
) -> None:
    ann: Desk = await login("ann")
    await ann.ok("POST", "/operators/ann/shift", {"action": "start"})
    receipt = await channel(app).receive("f1", "send me the invoice")
    await app.idle()
    await ann.ok("POST", f"/dialogs/{receipt.dialog_id}/accept", {})
    form = aiohttp.FormData()
    form.add_field(
        "file", b"%PDF-1.4 invoice", filename="invoice.pdf", content_type="application/pdf"
    )
    async with ann.http.post(
        app.url + "/api/v1/files", data=form, headers={"X-CSRF-Token": ann.csrf}
    ) as answer:
        assert answer.status == 201, await answer.text()
        uploaded = await answer.json()
    assert uploaded["kind"] == "document" and uploaded["size"] == 16
    async with aiohttp.ClientSession() as anyone, anyone.get(uploaded["url"]) as served:
        assert served.status == 200
        assert await served.read() == b"%PDF-1.4 invoice"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert served.headers["Content-Disposition"].startswith("attachment")
    attachment = {k: uploaded[k] for k in ("kind", "url", "name", "size", "mime_type")}
    await ann.ok(
        "POST",
        f"/dialogs/{receipt.dialog_id}/reply",
        {"text": "Here it is", "attachments": [attachment]},
    )
    await app.idle()
    sent = [d.message for d in channel(app).sent if d.recipient.external_id == "f1"]
    assert any(m.attachments and m.attachments[0].url == uploaded["url"] for m in sent)
    status, error = await ann.call("POST", f"/dialogs/{receipt.dialog_id}/reply", {})
    assert status == 422 and error["error"]["code"] == "invalid"


async def test_admin_changes_line_settings_as_a_whole_or_not_at_all(
    app: Omniline, login: Callable[[str], Any]
) -> None:
    root: Desk = await login("root")
    changed = await root.ok("PATCH", "/lines/support", {"distribution": "evenly"})
    assert changed["settings"]["distribution"] == "evenly"
    assert app.lines["support"].settings.distribution == "evenly"
    status, error = await root.call(
        "PATCH", "/lines/support", {"distribution": "random", "response_timeout": 5}
    )
    assert status == 422
    assert any(f["field"].startswith("body.distribution") for f in error["error"]["fields"])
    assert app.lines["support"].settings.distribution == "evenly"
    status, error = await root.call("PATCH", "/lines/support", {"queue": ["ann"]})
    assert status == 422


async def test_a_lead_is_made_and_shown_on_the_client_card(
    app: Omniline, login: Callable[[str], Any]
) -> None:
    ann: Desk = await login("ann")
    await ann.ok("POST", "/operators/ann/shift", {"action": "start"})
    receipt = await channel(app).receive("L1", "my email is zoe@example.com", display_name="Zoe")
    await app.idle()
    await ann.ok("POST", f"/dialogs/{receipt.dialog_id}/accept", {})
    made = await ann.ok("POST", f"/dialogs/{receipt.dialog_id}/lead", {})
    assert made["record_id"] and made["record_id"].startswith("lead:")
    card = await ann.ok("GET", f"/clients/{made['dialog']['client_id']}")
    assert card["crm_record"] == made["record_id"]
    assert card["crm"]["id"] == made["record_id"] and card["crm"]["emails"] == ["zoe@example.com"]
    assert card["contacts"]["email"] == ["zoe@example.com"]
    assert [i["external_id"] for i in card["identities"]] == ["L1"]
    assert [d["id"] for d in card["dialogs"]] == [receipt.dialog_id]


@pytest.mark.parametrize("path", ["/me", "/dialogs", "/operators", "/lines"])
async def test_without_a_login_the_api_answers_401_in_json(app: Omniline, path: str) -> None:
    async with aiohttp.ClientSession() as anyone, anyone.get(app.url + "/api/v1" + path) as answer:
        assert answer.status == 401
        body = await answer.json()
    assert body["error"]["code"] == "unauthenticated"


async def test_a_cursor_from_another_database_starts_afresh(
    app: Omniline, login: Callable[[str], Any]
) -> None:
    ann: Desk = await login("ann")
    await channel(app).receive("r1", "hello")
    await app.idle()
    ws = await ann.http.ws_connect(app.url + "/api/v1/push?cursor=900000.900000")
    hello = await ws.receive_json()
    assert hello["reset"] is True
    event_id, message_id = (int(x) for x in hello["cursor"].split("."))
    assert 0 < event_id < 900000 and 0 < message_id < 900000
    await channel(app).receive("r1", "and again")
    frames = await frames_until(ws, lambda seen: any(f["type"] == "message" for f in seen))
    assert [f["message"]["text"] for f in frames if f["type"] == "message"] == ["and again"]
    await ws.close()
    status, _ = await ann.call("GET", "/dialogs?cursor=x")
    assert status == 422


async def test_the_push_takes_the_console_page_behind_a_tls_proxy(
    app: Omniline, login: Callable[[str], Any]
) -> None:
    ann: Desk = await login("ann")
    host = app.url.removeprefix("http://")
    behind_proxy = {"Origin": "https://desk.example.com", "X-Forwarded-Proto": "https"}
    ws = await ann.http.ws_connect(
        app.url + "/api/v1/push", headers={**behind_proxy, "X-Forwarded-Host": "desk.example.com"}
    )
    assert (await ws.receive_json())["type"] == "hello"
    await ws.close()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await ann.http.ws_connect(app.url + "/api/v1/push", headers=behind_proxy)
    assert refused.value.status == 403
    same_host_tls = {"Origin": f"https://{host}", "X-Forwarded-Proto": "https"}
    ws = await ann.http.ws_connect(app.url + "/api/v1/push", headers=same_host_tls)
    assert (await ws.receive_json())["type"] == "hello"
    await ws.close()


async def test_many_open_desks_share_one_read_of_the_feed(
    app: Omniline, login: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    root: Desk = await login("root")
    sockets = []
    for _ in range(12):
        ws = await root.http.ws_connect(app.url + "/api/v1/push")
        await ws.receive_json()
        sockets.append(ws)
    await asyncio.sleep(0.5)  # every push is now waiting for news
    reads = 0
    feed = app.store.feed.read

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        return await feed(*args, **kwargs)

    monkeypatch.setattr(app.store.feed, "read", counted)
    await channel(app).receive("m1", "one message for twelve desks")
    for ws in sockets:
        frames = await frames_until(
            ws,
            lambda seen: any(
                f["type"] == "message" and f["message"]["text"] == "one message for twelve desks"
                for f in seen
            ),
        )
        assert len([f for f in frames if f["type"] == "message"]) == 1
    await app.idle()
    # A handful of wake-ups (the message stored, the dialog routed...), each read once for all
    # twelve desks, not once per desk.
    assert reads < 12, reads
    for ws in sockets:
        await ws.close()


async def test_an_admin_makes_an_account_that_can_log_in_once(
    app: Omniline, login: Callable[[str], Any]
) -> None:
    root: Desk = await login("root")
    body = {"id": "kim", "name": "Kim", "role": "supervisor", "password": "kim-secret-1"}
    made = await root.ok("POST", "/accounts", body)
    assert made["id"] == "kim" and made["role"] == "supervisor"
    status, error = await root.call("POST", "/accounts", {**body, "name": "Someone else"})
    assert status == 409 and error["error"]["code"] == "conflict"
    accounts = await root.ok("GET", "/accounts")
    assert [a["name"] for a in accounts["items"] if a["id"] == "kim"] == ["Kim"]
    async with (
        aiohttp.ClientSession() as anyone,
        anyone.post(
            app.url + "/api/v1/session", json={"login": "kim", "password": "kim-secret-1"}
        ) as answer,
    ):
        assert answer.status == 200


async def test_desks_see_colleagues_start_and_break(
    app: Omniline, login: Callable[[str], Any]
) -> None:
    ann: Desk = await login("ann")
    bob: Desk = await login("bob")
    ws = await bob.http.ws_connect(app.url + "/api/v1/push")
    await ws.receive_json()
    await ann.ok("POST", "/operators/ann/shift", {"action": "start"})
    await ann.ok("POST", "/operators/ann/shift", {"action": "break"})

    def ann_on_break(seen: list[dict[str, Any]]) -> bool:
        return any(
            f["type"] == "presence"
            and f["operator"]["id"] == "ann"
            and f["operator"]["shift"] == "break"
            for f in seen
        )

    frames = await frames_until(ws, ann_on_break)
    shown = next(f for f in frames if ann_on_break([f]))["operator"]
    assert shown["presence"] == "online" and shown["lines"] == ["support"]
    await ws.close()
