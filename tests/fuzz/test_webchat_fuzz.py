"""Fuzzing the web chat's API (visitors, messages, history, profile, the WebSocket) through the
real application: whatever a browser or a script sends, the answer is never a 5xx, the log never
holds a traceback, a retried post is stored once, and a well-formed message is stored exactly once
and read back as it was written."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from aiohttp import WSCloseCode, WSMsgType
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from tests.fuzz.conftest import ACCOUNT, ORIGIN, Line, as_json
from tests.fuzz.mutations import (
    NASTY,
    Wire,
    bodies,
    fuzz_settings,
    mutated_value,
    random_bodies,
    strings,
    wire_of,
)

BASE = f"/channels/webchat/{ACCOUNT}/api"

MESSAGE = {"client_message_id": "widget-0001", "text": "Hello, my order is late"}
PRESS = {"client_message_id": "widget-0002", "button_payload": "omniline:rate:5"}
PROFILE = {"name": "Dana", "phone": "+49 30 1234567", "email": "dana@example.com"}


async def visitor(line: Line) -> dict[str, str]:
    """A new visitor's headers (their token), as the widget sends them."""
    async with line.http.post(f"{BASE}/visitors", json={}) as response:
        assert response.status == 201
        token = (await response.json())["token"]
    return {"Authorization": f"Bearer {token}", "Origin": ORIGIN}


@fuzz_settings(max_examples=120)
@given(wire=st.one_of(bodies(MESSAGE), bodies(PRESS)))
async def test_posted_messages_never_fail_the_server_nor_store_twice(
    line: Line, wire: Wire
) -> None:
    auth = await visitor(line)
    await line.delivered_twice_stored_once(f"{BASE}/messages", wire, auth)


@fuzz_settings(max_examples=60)
@given(wire=bodies(PROFILE))
async def test_new_visitors_with_any_profile_never_fail_the_server(line: Line, wire: Wire) -> None:
    before = await line.cursor()
    status, text = await line.post(f"{BASE}/visitors", wire, {"Origin": ORIGIN})
    assert status < 500, (status, text)
    assert len(await line.stored_since(before)) <= 1  # a phone counts as one shared contact
    line.no_traceback()


@fuzz_settings(max_examples=60)
@given(wire=bodies(PROFILE))
async def test_profiles_never_fail_the_server_nor_store_twice(line: Line, wire: Wire) -> None:
    auth = await visitor(line)
    await line.delivered_twice_stored_once(f"{BASE}/profile", wire, auth)


tokens = st.one_of(
    st.sampled_from(["", ".", "..", "a.b", "Bearer", "x" * 5000]),
    strings.filter(lambda s: len(s) < 2000),
)
queries = st.dictionaries(
    st.sampled_from(["after", "limit", "token", "x"]),
    st.one_of(
        st.sampled_from(["", "-1", "0", "1e3", "99999999999999999999999", "1_0", "٣", "0x10"]),
        st.integers(-(2**70), 2**70).map(str),
        st.sampled_from(NASTY),
    ),
    max_size=3,
)


@fuzz_settings(max_examples=80)
@given(
    query=queries,
    token=st.one_of(st.none(), tokens),
    valid_token=st.booleans(),
    method=st.sampled_from(["GET", "POST", "OPTIONS", "PUT"]),
)
async def test_history_with_any_query_and_token_never_fails_the_server(
    line: Line, query: dict[str, str], token: str | None, valid_token: bool, method: str
) -> None:
    line.tracebacks.take()
    headers = await visitor(line) if valid_token else {}
    if token is not None and not valid_token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        # yarl refuses some query values (lone surrogates): then there is no request to make
        url = URL(line.app.url + f"{BASE}/messages").with_query(query)
    except (UnicodeError, ValueError):
        return
    try:
        async with line.http.request(method, url, headers=_latin1(headers)) as response:
            status, text = response.status, await response.text()
    except ValueError:  # UnicodeError too: aiohttp will not send it, so no server answers it
        return
    assert status < 500, (status, text)
    line.no_traceback()


def _latin1(headers: dict[str, str]) -> dict[str, str]:
    """Headers as bytes on the wire: what is not latin-1 goes as its UTF-8 bytes (with lone
    surrogates as their invalid bytes), which the server must take as any other garbage."""
    return {k: v.encode("utf-8", "surrogatepass").decode("latin-1") for k, v in headers.items()}


@fuzz_settings(max_examples=60)
@given(
    query=queries,
    token=st.one_of(st.none(), tokens),
    origin=st.one_of(st.none(), st.sampled_from([ORIGIN, "https://evil.example", "", "null"])),
)
async def test_opening_the_socket_with_any_query_never_fails_the_server(
    line: Line, query: dict[str, str], token: str | None, origin: str | None
) -> None:
    line.tracebacks.take()
    if token is not None:
        query = {**query, "token": token}
    headers = {"Origin": origin} if origin is not None else {}
    try:
        url = URL(line.app.url + f"{BASE}/ws").with_query(query)
    except (UnicodeError, ValueError):
        return
    try:
        ws = await line.http.ws_connect(url, headers=headers)
    except aiohttp.WSServerHandshakeError as exc:
        assert exc.status < 500, exc
    except UnicodeError:
        return
    else:
        await ws.close()
    line.no_traceback()


# --- the WebSocket's frames -----------------------------------------------------------------------

FRAME = {"type": "message", **MESSAGE}
frames = st.one_of(
    mutated_value(FRAME).flatmap(lambda v: wire_of(v, content_types=False)),
    mutated_value({"type": "message", **PRESS}).flatmap(lambda v: wire_of(v, content_types=False)),
    random_bodies,
)


async def socket(line: Line) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, str]]:
    auth = await visitor(line)
    token = auth["Authorization"].removeprefix("Bearer ")
    ws = await line.http.ws_connect(
        f"{BASE}/ws", params={"token": token}, headers={"Origin": ORIGIN}
    )
    return ws, auth


@fuzz_settings(max_examples=100)
@given(frame=frames, binary=st.booleans())
async def test_socket_frames_are_answered_and_never_fail_the_server(
    line: Line, frame: Wire, binary: bool
) -> None:
    ws, auth = await socket(line)
    try:
        before = await line.cursor()
        for _ in range(2):  # the same frame again, as a widget retries: stored once
            # the bytes as they are, even when they are not UTF-8 in a text frame
            await ws.send_frame(frame.body, WSMsgType.BINARY if binary else WSMsgType.TEXT)
            answer = await _answer(ws)
            if answer is None:
                break
            assert answer.get("type") in ("ack", "error"), answer
        assert len(await line.stored_since(before)) <= 1
        line.no_traceback()
    finally:
        await ws.close()
    # whatever the socket was sent, the visitor can still use the chat
    async with line.http.get(f"{BASE}/messages", headers=auth) as response:
        assert response.status == 200


async def _answer(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any] | None:
    """The server's answer to a frame (the messages it pushes are skipped), or None when it
    closed the socket for a frame over the size limit or a text frame that is not UTF-8."""
    while True:
        got = await ws.receive(timeout=30)  # a frame is always answered: this is no timing
        if got.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
            assert ws.close_code in (WSCloseCode.MESSAGE_TOO_BIG, WSCloseCode.INVALID_TEXT), (
                ws.close_code
            )
            return None
        assert got.type is WSMsgType.TEXT, got
        body = json.loads(got.data)
        if body.get("type") != "message":
            return dict(body)


# --- well-formed messages -------------------------------------------------------------------------

good_texts = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=200),
    st.sampled_from(["😀", "\u202etxet", "\ufeffhi", "é" * 4096, "line\nbreak", "\x01\x7f"]),
).filter(lambda t: bool(t.strip()))


@fuzz_settings(max_examples=80)
@given(text=good_texts, client_message_id=st.from_regex(r"\A[A-Za-z0-9_-]{8,64}\Z"))
async def test_a_well_formed_message_is_stored_once_and_read_back(
    line: Line, text: str, client_message_id: str
) -> None:
    auth = await visitor(line)
    body = as_json({"client_message_id": client_message_id, "text": text})
    before = await line.cursor()
    first = await line.post(f"{BASE}/messages", body, auth)
    again = await line.post(f"{BASE}/messages", body, auth)
    assert first[0] == again[0] == 200, (first, again)
    assert json.loads(again[1])["duplicate"] is True
    [stored] = await line.stored_since(before)
    assert stored.text == text.strip()
    async with line.http.get(f"{BASE}/messages", headers=auth) as response:
        assert response.status == 200
        history = (await response.json())["messages"]
    assert [(m["id"], m["direction"], m["text"]) for m in history if m["direction"] == "in"] == [
        (stored.id, "in", text.strip())
    ]
    line.no_traceback()


@fuzz_settings(max_examples=10)
@given(
    text=st.builds(
        lambda unit, count: unit * count,
        st.sampled_from(["a", "я", "😀", "\x00", " ", "\ud800"]),
        st.integers(4097, 40_000),
    )
)
async def test_a_huge_text_is_refused_with_a_reason(line: Line, text: str) -> None:
    auth = await visitor(line)
    status, answer = await line.post(
        f"{BASE}/messages", as_json({"client_message_id": "huge-0001", "text": text}), auth
    )
    assert status in (413, 422), (status, answer)
    line.no_traceback()


# --- on PostgreSQL --------------------------------------------------------------------------------


@fuzz_settings(max_examples=40)
@given(wire=st.one_of(bodies(MESSAGE), bodies(PROFILE)))
async def test_posts_on_postgres_never_fail_the_server_nor_store_twice(
    postgres_line: Line, wire: Wire
) -> None:
    auth = await visitor(postgres_line)
    await postgres_line.delivered_twice_stored_once(f"{BASE}/messages", wire, auth)
    await postgres_line.delivered_twice_stored_once(f"{BASE}/profile", wire, auth)
    status, text = await postgres_line.post(f"{BASE}/visitors", wire, {"Origin": ORIGIN})
    assert status < 500, f"{status} {text} for {wire!r}"
    postgres_line.no_traceback(wire)
