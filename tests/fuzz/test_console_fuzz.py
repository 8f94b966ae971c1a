"""Fuzzing the console's REST API (``/api/v1``) with mutated JSON bodies, queries and path values,
on the desk of ``tests/console`` (two lines, an account of every role, dialogs with messages).

The schema-driven test (``tests/console/test_openapi.py``) sends what the OpenAPI document
describes; these send what it does not: fields dropped, types swapped, NUL and lone surrogates,
huge strings, deep nesting, duplicated keys, truncated JSON, bytes that are not UTF-8 and other
content types. Whatever they send, the answer is never a 5xx and the log never holds a traceback;
and whatever line settings an admin managed to save, the line still takes a client's message.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.console.conftest import PASSWORD, SALES
from tests.fuzz.conftest import Console
from tests.fuzz.mutations import NASTY, Wire, bodies, fuzz_settings

# --- JSON bodies ----------------------------------------------------------------------------------

LINE_SETTINGS: dict[str, Any] = {
    "distribution": "evenly",
    "response_timeout": 60,
    "welcome": {"default": "Hello {client_name|there}!", "translations": {"de": "Hallo!"}},
    "working_hours": {
        "timezone": "Europe/Berlin",
        "weekly": {"mon-fri": "09:00-13:00, 14:00-18:00", "sat": "10:00-12:00"},
        "holidays": ["2026-12-25"],
    },
    "auto_close_after": 3600,
    "rating": {"enabled": True, "thanks": {"default": "Thanks!"}},
    "default_region": "DE",
}
REPLY = {
    "text": "Your order ships today",
    "attachments": [
        {"kind": "image", "url": "https://shop.example/p.png", "name": "p.png", "size": 10}
    ],
}
# (method, path with {dialog}/{client_id} filled in per example, a real-shaped body)
ENDPOINTS: list[tuple[str, str, Any]] = [
    (
        "POST",
        "/accounts",
        {
            "id": "newbie",
            "name": "New",
            "role": "operator",
            "operator_id": "anna",
            "password": "long enough",
        },
    ),
    (
        "PATCH",
        "/accounts/carl",
        {"name": "Carl", "role": "supervisor", "lines": [SALES], "disabled": False},
    ),
    ("POST", "/tokens", {"name": "ci", "account_id": "carl"}),
    ("PATCH", f"/lines/{SALES}", LINE_SETTINGS),
    ("PATCH", "/operators/dina", {"presence": "online", "capacity": 3, "name": "Dina"}),
    ("POST", "/operators/dina/shift", {"action": "start"}),
    ("POST", "/dialogs/{dialog}/transfer", {"operator_id": "dina"}),
    ("POST", "/dialogs/{dialog}/transfer", {"line_id": "support"}),
    ("POST", "/dialogs/{dialog}/invite", {"operator_id": "dina"}),
    ("POST", "/dialogs/{dialog}/whisper", {"text": "check the warehouse"}),
    ("POST", "/dialogs/{dialog}/reply", REPLY),
    ("POST", "/dialogs/{dialog}/close", {"reason": "solved"}),
    ("POST", "/dialogs/{dialog}/reopen", {}),
    ("POST", "/dialogs/{dialog}/pin", {}),
    ("POST", "/dialogs/{dialog}/lead", {}),
    ("POST", "/clients/{client_id}/unmerge", {"link_id": 1}),
]
calls = st.sampled_from(ENDPOINTS).flatmap(
    lambda e: st.tuples(st.just(e[0]), st.just(e[1]), bodies(e[2]))
)


@fuzz_settings(max_examples=150)
@given(call=calls, as_operator=st.booleans())
async def test_json_bodies_never_fail_the_server(
    console: Console, call: tuple[str, str, Wire], as_operator: bool
) -> None:
    method, path, wire = call
    path = path.format(**console.ids)
    status, text = await console.send(method, path, wire, as_operator=as_operator)
    assert status < 500, f"{method} {path}: {status} {text} for {wire!r}"
    await console.line_still_takes_messages((method, path, wire))


@fuzz_settings(max_examples=20)
@given(wire=bodies({"login": "ada", "password": PASSWORD}))
async def test_login_bodies_never_fail_the_server(console: Console, wire: Wire) -> None:
    # from an address of its own: the login throttle answers 429 soon, which is no failure
    console.tracebacks.take()
    http = console.desk.session()
    headers = {"Content-Type": wire.content_type} if wire.content_type else {}
    async with http.post(
        f"{console.desk.api}/session", data=wire.body, headers=headers
    ) as response:
        status, text = response.status, await response.text(errors="replace")
    assert status < 500, f"{status} {text} for {wire!r}"
    await console.line_still_takes_messages(wire)


# --- queries and path values ----------------------------------------------------------------------

values = st.one_of(
    st.sampled_from(NASTY),
    st.sampled_from(
        [
            "1",
            "0",
            "-1",
            "99999999999999999999",
            "1.5",
            "open",
            "sales",
            "1970-01-01",
            "9999-12-31T23:59:59",
            "2026-01-01T00:00:00+25:00",
        ]
    ),
    st.integers(-(2**70), 2**70).map(str),
)
queries = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "line",
                "status",
                "operator",
                "channel",
                "client",
                "cursor",
                "limit",
                "after",
                "since",
                "until",
                "x",
            ]
        ),
        values,
    ),
    max_size=4,
)
GETS = [
    "/dialogs",
    "/dialogs/{id}",
    "/dialogs/{id}/messages",
    "/dialogs/{id}/events",
    "/clients/{id}",
    "/statistics",
    "/lines/{id}",
    "/operators/{id}",
    "/tokens/{id}",
]


@fuzz_settings(max_examples=120)
@given(
    path=st.sampled_from(GETS),
    value=values,
    query=queries,
    method=st.sampled_from(["GET", "GET", "DELETE", "POST"]),
)
async def test_queries_and_path_values_never_fail_the_server(
    console: Console, path: str, value: str, query: list[tuple[str, str]], method: str
) -> None:
    url = console.desk.api + path.replace("{id}", value)
    try:
        request = console.admin.request(method, url, params=query)
        async with request as response:
            status, text = response.status, await response.text(errors="replace")
    except ValueError:  # UnicodeError too: a URL aiohttp will not send reaches no server
        return
    assert status < 500, f"{method} {url} {query}: {status} {text}"
    await console.line_still_takes_messages((method, url, query))


@fuzz_settings(max_examples=100)
@given(wire=bodies(LINE_SETTINGS))
async def test_line_settings_never_fail_the_server_nor_the_line(
    console: Console, wire: Wire
) -> None:
    status, text = await console.send("PATCH", f"/lines/{SALES}", wire)
    assert status < 500, f"{status} {text} for {wire!r}"
    await console.line_still_takes_messages(wire)
