"""Defects the fuzz tests found in the web chat, the console's REST API and the HTTP server, each
pinned by the example that showed it."""

from __future__ import annotations

import asyncio
import json

from omniline.testing import TemporaryPostgres
from tests.console.conftest import SALES, start_desk, stop_desk
from tests.fuzz.conftest import ACCOUNT, ORIGIN, Console, Line, as_json
from tests.fuzz.mutations import Wire

BASE = f"/channels/webchat/{ACCOUNT}/api"


async def test_a_binary_socket_frame_is_answered_with_an_error(line: Line) -> None:
    # It was dropped without a word: the sender never learnt that nothing was stored.
    async with line.http.post(f"{BASE}/visitors", json={}) as response:
        token = (await response.json())["token"]
    ws = await line.http.ws_connect(
        f"{BASE}/ws", params={"token": token}, headers={"Origin": ORIGIN}
    )
    try:
        await ws.send_bytes(b'{"type": "message", "client_message_id": "bin-00001", "text": "hi"}')
        answer = await ws.receive_json(timeout=30)
        assert answer == {"type": "error", "code": "bad_frame", "message": "send text frames"}
        # and the socket goes on: a text frame is still taken
        await ws.send_json({"type": "message", "client_message_id": "txt-00001", "text": "hi"})
        answer = await ws.receive_json(timeout=30)
        while answer["type"] == "message":  # the visitor's own message, pushed to their windows
            answer = await ws.receive_json(timeout=30)
        assert answer["type"] == "ack"
    finally:
        await ws.close()
    line.no_traceback()


async def test_a_request_header_over_8_kib_is_refused_without_a_traceback(line: Line) -> None:
    # aiohttp answered 400, but logged the request it could not parse with a traceback.
    reader, writer = await asyncio.open_connection(
        line.app.url.split("//")[1].split(":")[0], int(line.app.url.rsplit(":", 1)[1])
    )
    try:
        writer.write(
            b"GET " + f"{BASE}/messages".encode() + b" HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + b"\xc3\xb0" * 5000 + b"\r\n\r\n"
        )
        await writer.drain()
        status_line = await reader.readline()
    finally:
        writer.close()
    assert status_line.split()[1] == b"400", status_line
    await asyncio.sleep(0)  # the server logs after it answered
    line.no_traceback()


async def test_a_time_zone_that_is_a_folder_of_zones_is_refused_as_invalid(
    console: Console,
) -> None:
    # "Europe" is a folder of the zone database: ZoneInfo raised IsADirectoryError, a 500.
    body = {"working_hours": {"timezone": "Europe", "weekly": {"mon": "09:00-18:00"}}}
    status, text = await console.send("PATCH", f"/lines/{SALES}", as_json(body))
    assert status == 422, text
    assert "working_hours.timezone" in text
    await console.line_still_takes_messages(body)


async def test_a_time_zone_too_long_for_a_file_name_is_refused_as_invalid(
    console: Console,
) -> None:
    # ZoneInfo raised OSError (file name too long), a 500.
    body = {"working_hours": {"timezone": "a" * 300, "weekly": {"mon": "09:00-18:00"}}}
    status, text = await console.send("PATCH", f"/lines/{SALES}", as_json(body))
    assert status == 422, text
    await console.line_still_takes_messages(body)


async def test_a_nul_in_what_a_visitor_writes_is_refused_not_a_failed_store(
    postgres_line: Line,
) -> None:
    # PostgreSQL cannot keep a NUL in text: the store failed, and the visitor got a 500 (new
    # visitor, profile) or a 503 with a traceback in the log (a message).
    line = postgres_line
    status, text = await line.post(f"{BASE}/visitors", as_json({"name": "a\x00b"}))
    assert status == 422 and '"field": "name"' in text, text
    async with line.http.post(f"{BASE}/visitors", json={}) as response:
        auth = {"Authorization": f"Bearer {(await response.json())['token']}"}
    for body, field in (
        ({"client_message_id": "nul-00001", "text": "a\x00b"}, "text"),
        ({"client_message_id": "nul-00002", "button_payload": "yes\x00"}, "button_payload"),
    ):
        status, text = await line.post(f"{BASE}/messages", as_json(body), auth)
        assert status == 422 and f'"field": "{field}"' in text, text
    status, text = await line.post(f"{BASE}/profile", as_json({"name": "\x00"}), auth)
    assert status == 422, text
    line.no_traceback()


async def test_a_lone_surrogate_in_a_console_body_is_refused_not_a_500(console: Console) -> None:
    # It passed validation in a translation and failed when the settings were written: a 500.
    body = {"welcome": {"default": "Hello", "translations": {"de": "\ud800Hallo"}}}
    wire = Wire(json.dumps(body).encode())  # "\ud800" as JSON writes it: valid JSON, no Unicode
    status, text = await console.send("PATCH", f"/lines/{SALES}", wire)
    assert status == 422, text
    assert json.loads(text)["error"]["fields"] == [
        {"field": "body.welcome.translations.de", "message": "a NUL character or a lone surrogate"}
    ]
    # a key that is no Unicode is named without it: the answer itself stays valid JSON
    wire = Wire(b'{"welcome": {"default": "Hello", "translations": {"\\udfff": "x"}}}')
    status, text = await console.send("PATCH", f"/lines/{SALES}", wire)
    assert status == 422, text
    await console.line_still_takes_messages(body)


async def test_a_nul_in_a_console_body_or_query_is_refused_not_a_failed_store(
    temporary_postgres: TemporaryPostgres,
) -> None:
    # PostgreSQL cannot keep a NUL in text: a whisper (or a filter) with one was a 500.
    url = await asyncio.to_thread(temporary_postgres.create_database, "fuzz_nul_console")
    desk = await start_desk(url, "postgres")
    try:
        await desk.online("anna")
        await desk.client_writes(SALES, "cleo", "Hello", name="Cleo")
        dialog = await desk.dialog_of(SALES, "cleo")
        await desk.app.dialogs.accept(dialog.id, "anna")
        anna = await desk.with_token("anna")
        status, body = await anna.post(f"/dialogs/{dialog.id}/whisper", {"text": "a\x00b"})
        assert status == 422, body
        assert body["error"]["fields"][0]["field"] == "body.text"
        status, body = await anna.get("/dialogs", operator="a\x00b")
        assert status == 422, body
    finally:
        await stop_desk(desk)
