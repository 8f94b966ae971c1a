"""Who may call what in the desk API: every endpoint with every role, then the ways in and out
(logging in, CSRF, rate limits, disabled accounts, changed passwords, revoked tokens, the push).

The table below has a row for every endpoint the API declares (a new endpoint without a row fails
``test_every_endpoint_has_a_row``). Each row is tried with each role against one application
(per backend) holding two lines: ``sales`` (operators anna, carl, dina; supervisor sue) and
``support`` (operator boris; supervisor stan); sam supervises all lines, ada is the admin.

"Allowed" means the role got past authentication and permission: a 2xx, or a 409/422 that is about
the dialog's state or the input. A dialog of a line the role does not see is a 404 (its existence
is not revealed); an endpoint above the role is a 403.
"""

from __future__ import annotations

import enum
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from omniline.console.endpoints import CSRF_HEADER
from tests.console.conftest import (
    PASSWORD,
    SALES,
    SUPPORT,
    Caller,
    Desk,
    start_desk,
    stop_desk,
    storage_url,
)

module_loop = pytest.mark.asyncio(loop_scope="module")
"""For the tests that share the module's application (``world``)."""


class Expect(enum.Enum):
    OK = "allowed"
    UNAUTHENTICATED = 401
    FORBIDDEN = 403
    HIDDEN = 404


OK, E401, E403, E404 = Expect.OK, Expect.UNAUTHENTICATED, Expect.FORBIDDEN, Expect.HIDDEN

ROLES = [
    "nobody",
    "operator",
    "operator_of_other_line",
    "supervisor",
    "supervisor_of_other_line",
    "supervisor_of_all",
    "admin",
    "operator_token",
    "admin_token",
    "revoked_token",
]
LOGIN_OF = {
    "operator": "anna",
    "operator_of_other_line": "boris",
    "supervisor": "sue",
    "supervisor_of_other_line": "stan",
    "supervisor_of_all": "sam",
    "admin": "ada",
}


@dataclass
class Seeded:
    """What the role table acts on: a ``sales`` dialog held by anna, and its client."""

    dialog: int
    client: int
    support_dialog: int


@dataclass
class World:
    desk: Desk
    seeded: Seeded
    callers: dict[str, Caller]


Prepare = Callable[[World, str], Awaitable[dict[str, Any]]]


async def _nothing(world: World, role: str) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Row:
    """One request and what each role gets. ``expect`` names the six account roles; nobody and
    a revoked token always get 401, tokens get what their account gets."""

    method: str
    path: str
    expect: dict[str, Expect]
    body: Any = None
    query: dict[str, str] = field(default_factory=dict)
    prepare: Prepare = _nothing
    """Makes the path values (and ``body``) the request needs, per call."""
    multipart: bool = False
    own_session: bool = False
    """Call with a session of its own (logging out must not end the table's sessions)."""
    missing_ok: str | None = None
    """A 404 naming this (e.g. ``link``) counts as allowed: the caller saw the parent."""
    anyone: Expect | None = None
    """A public endpoint: what every caller gets, logged in or not."""
    id: str = ""

    def expected(self, role: str) -> Expect:
        if self.anyone is not None:
            return self.anyone
        if role in ("nobody", "revoked_token"):
            return E401
        if role == "operator_token":
            return self.expect["operator"]
        if role == "admin_token":
            return self.expect["admin"]
        return self.expect[role]


def everyone(e: Expect) -> dict[str, Expect]:
    return dict.fromkeys(LOGIN_OF, e)


def only(*roles: str, others: Expect = E403) -> dict[str, Expect]:
    return {role: OK if role in roles else others for role in LOGIN_OF}


def sees_sales(holder_only: Expect | None = None) -> dict[str, Expect]:
    """Who sees the ``sales`` dialog; ``holder_only``: what those who see it but are no operator
    get (actions only an operator may take)."""
    seer = holder_only or OK
    return {
        "operator": OK,
        "operator_of_other_line": E404,
        "supervisor": seer,
        "supervisor_of_other_line": E404,
        "supervisor_of_all": seer,
        "admin": seer,
    }


async def new_token_of_anna(world: World, role: str) -> dict[str, Any]:
    token_id, _ = await world.desk.token_for("anna", name=f"to revoke by {role}")
    return {"token_id": token_id}


async def sales_dialog(world: World, role: str) -> dict[str, Any]:
    return {"dialog_id": world.seeded.dialog}


async def sales_line(world: World, role: str) -> dict[str, Any]:
    return {"line": SALES}


async def sales_client(world: World, role: str) -> dict[str, Any]:
    return {"client_id": world.seeded.client}


MANAGE_ANNA = {
    "operator": OK,
    "operator_of_other_line": E403,
    "supervisor": OK,
    # A supervisor of support only manages support's operators (see the report: today they may
    # take anyone offline).
    "supervisor_of_other_line": E403,
    "supervisor_of_all": OK,
    "admin": OK,
}

ROWS: list[Row] = [
    # sessions
    Row(
        "POST",
        "/session",
        everyone(E401),
        body={"login": "{role}-nobody", "password": "not the password"},
        anyone=E401,
        id="wrong login is 401 for anyone",
    ),
    Row("DELETE", "/session", everyone(OK), own_session=True),
    Row("GET", "/me", everyone(OK)),
    # accounts and tokens
    Row("GET", "/accounts", only("admin")),
    Row(
        "POST",
        "/accounts",
        only("admin"),
        body={"id": "made-by-{role}", "name": "Made", "role": "supervisor", "lines": [SALES]},
    ),
    Row("PATCH", "/accounts/sam", only("admin"), body={"name": "Sam (supervisor of all lines)"}),
    Row("GET", "/tokens", everyone(OK)),
    Row("POST", "/tokens", everyone(OK), body={"name": "made by {role}"}),
    Row(
        "POST",
        "/tokens",
        only("admin"),
        body={"name": "for carl by {role}", "account_id": "carl"},
        id="a token for another account",
    ),
    Row(
        "DELETE",
        "/tokens/{token_id}",
        only("operator", "admin", others=E404),
        prepare=new_token_of_anna,
    ),
    # lines
    Row("GET", "/lines", everyone(OK)),
    Row("GET", "/lines/{line}", sees_sales(), prepare=sales_line),
    Row(
        "PATCH",
        "/lines/{line}",
        only("admin"),
        body={"default_capacity": 10},
        prepare=sales_line,
    ),
    # operators
    Row("GET", "/operators", everyone(OK)),
    Row("GET", "/operators/anna", everyone(OK)),
    Row("PATCH", "/operators/anna", MANAGE_ANNA, body={"presence": "online"}),
    Row("PATCH", "/operators/anna", only("admin"), body={"capacity": 10}, id="capacity"),
    Row("POST", "/operators/anna/shift", MANAGE_ANNA, body={"action": "start"}),
    # dialogs
    Row("GET", "/dialogs", everyone(OK)),
    Row("GET", "/dialogs/{dialog_id}", sees_sales(), prepare=sales_dialog),
    Row("GET", "/dialogs/{dialog_id}/messages", sees_sales(), prepare=sales_dialog),
    Row("GET", "/dialogs/{dialog_id}/events", sees_sales(), prepare=sales_dialog),
    *(
        Row("POST", f"/dialogs/{{dialog_id}}/{action}", sees_sales(E403), prepare=sales_dialog)
        for action in ("accept", "skip", "pin", "unpin", "reopen")
    ),
    Row("POST", "/dialogs/{dialog_id}/close", sees_sales(), body={}, prepare=sales_dialog),
    Row(
        "POST",
        "/dialogs/{dialog_id}/transfer",
        sees_sales(),
        body={"operator_id": "nobody-such"},
        prepare=sales_dialog,
    ),
    Row(
        "POST",
        "/dialogs/{dialog_id}/invite",
        sees_sales(E403),
        body={"operator_id": "nobody-such"},
        prepare=sales_dialog,
    ),
    Row(
        "POST",
        "/dialogs/{dialog_id}/whisper",
        sees_sales(E403),
        body={"text": "a note by {role}"},
        prepare=sales_dialog,
    ),
    Row(
        "POST",
        "/dialogs/{dialog_id}/reply",
        sees_sales(E403),
        body={"text": "an answer by {role}"},
        prepare=sales_dialog,
    ),
    Row("POST", "/dialogs/{dialog_id}/lead", sees_sales(), body={}, prepare=sales_dialog),
    # clients, files, statistics
    Row("GET", "/clients/{client_id}", sees_sales(), prepare=sales_client),
    Row(
        "POST",
        "/clients/{client_id}/unmerge",
        sees_sales(),
        body={"link_id": 999_999},
        prepare=sales_client,
        missing_ok="link",
    ),
    Row("POST", "/files", everyone(OK), multipart=True),
    Row(
        "GET",
        "/statistics",
        only("supervisor", "supervisor_of_other_line", "supervisor_of_all", "admin"),
    ),
    Row(
        "GET",
        "/statistics",
        {
            "operator": E403,
            "operator_of_other_line": E403,
            "supervisor": OK,
            "supervisor_of_other_line": E404,
            "supervisor_of_all": OK,
            "admin": OK,
        },
        query={"line": SALES},
        id="statistics of one line",
    ),
]


def _row_id(row: Row) -> str:
    return row.id or f"{row.method} {row.path}"


# --- the world the table runs in --------------------------------------------------------------------


@pytest_asyncio.fixture(
    scope="module", loop_scope="module", params=["sqlite", "postgres"], ids=lambda b: str(b)
)
async def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    backend = str(request.param)
    tmp = tmp_path_factory.mktemp(f"roles-{backend}")
    desk = await start_desk(await storage_url(request, Path(tmp), backend), backend)
    try:
        await desk.online("anna", "boris")
        await desk.client_writes(SALES, "cleo", "I need help with my order", name="Cleo")
        await desk.client_writes(SUPPORT, "pete", "the app crashes", name="Pete")
        dialog = await desk.dialog_of(SALES, "cleo")
        support = await desk.dialog_of(SUPPORT, "pete")
        await desk.app.dialogs.accept(dialog.id, "anna")
        await desk.app.dialogs.accept(support.id, "boris")
        await desk.app.idle(paced=False)
        callers = {role: await desk.login(login) for role, login in LOGIN_OF.items()}
        callers["nobody"] = desk.anonymous()
        callers["operator_token"] = await desk.with_token("anna")
        callers["admin_token"] = await desk.with_token("ada")
        token_id, secret = await desk.token_for("ada", "revoked")
        console = desk.app.console
        assert console is not None
        await console.accounts.revoke_token(token_id)
        callers["revoked_token"] = Caller(
            desk, desk.session(headers={"Authorization": f"Bearer {secret}"}), None, "revoked"
        )
        seeded = Seeded(dialog=dialog.id, client=dialog.client_id, support_dialog=support.id)
        yield World(desk=desk, seeded=seeded, callers=callers)
    finally:
        await stop_desk(desk)


def _fill(value: Any, role: str) -> Any:
    return json.loads(json.dumps(value).replace("{role}", role))


async def _request(world: World, row: Row, role: str, *, csrf: bool = True) -> tuple[int, Any]:
    values = await row.prepare(world, role)
    path = row.path.format(**values)
    caller = world.callers[role]
    if row.own_session and role in LOGIN_OF:
        caller = await world.desk.fresh_session(LOGIN_OF[role])
    if row.multipart:
        form = aiohttp.FormData()
        form.add_field("file", b"hello", filename="note.txt", content_type="text/plain")
        return await caller.call(row.method, path, data=form, csrf=csrf)
    body = _fill(row.body, role) if row.body is not None else None
    if body is None and row.method in ("POST", "PATCH"):
        body = {}
    return await caller.call(row.method, path, json=body, params=row.query or None, csrf=csrf)


def _verdict(row: Row, status: int, body: Any) -> Expect | str:
    message = body["error"]["message"] if isinstance(body, dict) and "error" in body else ""
    if 200 <= status < 300 or status in (409, 422):
        return OK
    if status == 404 and row.missing_ok and message.startswith(row.missing_ok):
        return OK
    if status in (401, 403, 404):
        return Expect(status)
    return f"{status} {message}"


CASES = [pytest.param(row, role, id=f"{_row_id(row)} as {role}") for row in ROWS for role in ROLES]


@pytest.mark.parametrize(("row", "role"), CASES)
@module_loop
async def test_role_table(world: World, row: Row, role: str) -> None:
    status, body = await _request(world, row, role)
    assert _verdict(row, status, body) == row.expected(role), (status, body)
    if row.expected(role) is E401:
        assert body["error"]["code"] == "unauthenticated"


@module_loop
async def test_every_endpoint_has_a_row(world: World) -> None:
    console = world.desk.app.console
    assert console is not None
    declared = {(e.method, e.path) for e in console.api.api.endpoints}
    rows = {(row.method, row.path.replace("{line}", "{line_id}")) for row in ROWS}
    rows = {(m, p.replace("/accounts/sam", "/accounts/{account_id}")) for m, p in rows}
    rows = {(m, p.replace("/operators/anna", "/operators/{operator_id}")) for m, p in rows}
    assert declared - rows == set(), "endpoints without a row in the role table"


UNSAFE = [row for row in ROWS if row.method not in ("GET", "HEAD") and row.anyone is None]


@pytest.mark.parametrize("row", UNSAFE, ids=_row_id)
@module_loop
async def test_a_change_with_the_session_cookie_needs_the_csrf_token(
    world: World, row: Row
) -> None:
    status, body = await _request(world, row, "admin", csrf=False)
    assert (status, body["error"]["code"]) == (403, "csrf")


@module_loop
async def test_a_wrong_csrf_token_is_refused(world: World) -> None:
    caller = world.callers["admin"]
    async with caller.http.post(
        f"{world.desk.api}/tokens", json={"name": "x"}, headers={CSRF_HEADER: "forged"}
    ) as response:
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "csrf"


@module_loop
async def test_a_token_needs_no_csrf_token(world: World) -> None:
    status, _ = await world.callers["operator_token"].post("/tokens", {"name": "no csrf"})
    assert status == 201


@module_loop
async def test_an_operator_lists_only_the_dialogs_of_their_lines(world: World) -> None:
    seeded = world.seeded
    listed = {}
    for role in LOGIN_OF:
        status, page = await world.callers[role].get("/dialogs")
        assert status == 200
        listed[role] = {d["id"] for d in page["items"]}
    both = {seeded.dialog, seeded.support_dialog}
    assert listed["operator"] & both == {seeded.dialog}
    assert listed["operator_of_other_line"] & both == {seeded.support_dialog}
    assert listed["supervisor"] & both == {seeded.dialog}
    assert listed["supervisor_of_other_line"] & both == {seeded.support_dialog}
    assert listed["supervisor_of_all"] & both == both
    assert listed["admin"] & both == both


@module_loop
async def test_statistics_of_a_line_a_supervisor_does_not_see_are_hidden(world: World) -> None:
    status, body = await world.callers["supervisor"].get("/statistics", line=SUPPORT)
    assert status == 404, body


@module_loop
async def test_the_api_prefix_answers_json_for_an_unknown_path(world: World) -> None:
    status, body = await world.callers["admin"].get("/no-such-thing")
    assert (status, body["error"]["code"]) == (404, "not_found")


# --- numbers out of the database's range (found by the schema-driven run) -------------------------


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/dialogs", {"client": str(10**20)}),
        ("/dialogs", {"cursor": str(10**20)}),
        ("/dialogs/{dialog_id}/messages", {"after": str(10**20)}),
    ],
    ids=["dialogs?client", "dialogs?cursor", "messages?after"],
)
@module_loop
async def test_a_huge_integer_in_the_query_is_a_422_not_a_500(
    world: World, path: str, query: dict[str, str]
) -> None:
    status, body = await world.callers["admin"].get(
        path.format(dialog_id=world.seeded.dialog), **query
    )
    assert status == 422, body


@module_loop
async def test_a_malformed_upload_form_is_a_400_not_a_500(world: World) -> None:
    """A part header aiohttp cannot parse (a control character in the field name)."""
    boundary = "b0undary"
    form = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="\x17"\r\n\r\n'
        f"hello\r\n--{boundary}--\r\n"
    ).encode()
    caller = world.callers["admin_token"]
    async with caller.http.post(
        f"{world.desk.api}/files",
        data=form,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    ) as response:
        body = await response.json()
        assert response.status == 400, body


@module_loop
async def test_a_huge_link_id_is_a_4xx_not_a_500(world: World) -> None:
    status, body = await world.callers["admin"].post(
        f"/clients/{world.seeded.client}/unmerge", {"link_id": 10**20}
    )
    assert status in (404, 422), body


@pytest.mark.parametrize(
    "query",
    [
        {"until": "0001-01-01T00:00:00Z"},
        {"since": "9999-12-31T00:00:00Z", "until": "9999-12-31T23:59:59Z"},
    ],
    ids=["until at year 1", "at year 9999"],
)
@module_loop
async def test_statistics_at_the_ends_of_time_are_a_422_not_a_500(
    world: World, query: dict[str, str]
) -> None:
    status, body = await world.callers["admin"].get("/statistics", **query)
    assert status in (200, 422), body


@pytest.mark.parametrize("action", ["break", "resume"])
async def test_a_shift_step_out_of_turn_is_a_409_not_a_500(desk: Desk, action: str) -> None:
    """dina has not started her day: no break to take, none to resume from."""
    dina = await desk.login("dina")
    status, body = await dina.post("/operators/dina/shift", {"action": action})
    assert (status, body["error"]["code"]) == (409, "conflict"), body


# --- logging in and out ---------------------------------------------------------------------------------


async def test_a_wrong_password_is_401(desk: Desk) -> None:
    client = desk.anonymous()
    status, body = await client.post("/session", {"login": "anna", "password": "wrong one"})
    assert (status, body["error"]["code"]) == (401, "unauthenticated")
    status, body = await client.post("/session", {"login": "nobody", "password": PASSWORD})
    assert (status, body["error"]["code"]) == (401, "unauthenticated")
    status, _ = await client.get("/me")
    assert status == 401


async def test_repeated_wrong_passwords_are_rate_limited(desk: Desk) -> None:
    client = desk.anonymous()
    statuses = []
    for _ in range(6):
        status, body = await client.post("/session", {"login": "anna", "password": "guess"})
        statuses.append(status)
    assert statuses == [401] * 5 + [429]
    assert body["error"]["code"] == "rate_limited"
    async with client.http.post(
        f"{desk.api}/session", json={"login": "anna", "password": PASSWORD}
    ) as response:
        assert response.status == 429  # the right password waits too
        assert int(response.headers["Retry-After"]) >= 1
    # The limit is the login's, from any address.
    other = desk.anonymous()
    status, _ = await other.post("/session", {"login": "anna", "password": PASSWORD})
    assert status == 429
    # Other logins are not held up.
    await desk.login("boris")


async def test_colleagues_behind_one_address_can_all_log_in(desk: Desk) -> None:
    """A contact center's operators usually share one public address (NAT): the start of a shift
    has more than five of them log in within a minute, with their right passwords."""
    address = "127.0.0.250"
    for login in ("anna", "boris", "carl", "dina", "sue", "stan", "sam"):
        await desk.login(login, address=address)


async def test_logging_out_ends_the_session(desk: Desk) -> None:
    anna = await desk.login("anna")
    assert (await anna.get("/me"))[0] == 200
    status, _ = await anna.call("DELETE", "/session")
    assert status == 204
    assert (await anna.get("/me"))[0] == 401


async def test_a_disabled_account_cannot_log_in_and_its_sessions_and_tokens_end(
    desk: Desk,
) -> None:
    carl = await desk.login("carl")
    carl_token = await desk.with_token("carl")
    admin = await desk.login("ada")
    status, body = await admin.call("PATCH", "/accounts/carl", json={"disabled": True})
    assert (status, body["disabled"]) == (200, True)
    assert (await carl.get("/me"))[0] == 401
    assert (await carl_token.get("/me"))[0] == 401
    status, _ = await desk.anonymous().post("/session", {"login": "carl", "password": PASSWORD})
    assert status == 401
    status, _ = await admin.call("PATCH", "/accounts/carl", json={"disabled": False})
    assert status == 200
    await desk.login("carl")


async def test_an_admin_cannot_disable_themselves(desk: Desk) -> None:
    admin = await desk.login("ada")
    status, body = await admin.call("PATCH", "/accounts/ada", json={"disabled": True})
    assert (status, body["error"]["code"]) == (409, "conflict")


async def test_a_new_password_ends_the_sessions(desk: Desk) -> None:
    dina = await desk.login("dina")
    admin = await desk.login("ada")
    status, _ = await admin.call("PATCH", "/accounts/dina", json={"password": "a new password"})
    assert status == 200
    assert (await dina.get("/me"))[0] == 401
    assert (await admin.get("/me"))[0] == 200  # only dina's sessions end
    status, _ = await desk.anonymous().post("/session", {"login": "dina", "password": PASSWORD})
    assert status == 401
    await desk.login("dina", "a new password")


async def test_a_revoked_token_is_401(desk: Desk) -> None:
    anna = await desk.login("anna")
    status, made = await anna.post("/tokens", {"name": "script"})
    assert status == 201
    script = Caller(
        desk,
        desk.session(headers={"Authorization": f"Bearer {made['token']}"}),
        csrf=None,
        label="script",
    )
    assert (await script.get("/me"))[0] == 200
    status, _ = await anna.call("DELETE", f"/tokens/{made['record']['id']}")
    assert status == 204
    status, body = await script.get("/me")
    assert (status, body["error"]["code"]) == (401, "unauthenticated")


async def test_a_malformed_authorization_header_is_401(desk: Desk) -> None:
    for header in ("Basic YWRhOng=", "Bearer ", "Bearer oml_unknown"):
        client = Caller(desk, desk.session(headers={"Authorization": header}), None, header)
        status, body = await client.get("/me")
        assert (status, body["error"]["code"]) == (401, "unauthenticated"), header


async def test_an_operator_sees_only_their_tokens_and_an_admin_all(desk: Desk) -> None:
    await desk.token_for("anna", "annas")
    await desk.token_for("boris", "boris'")
    boris = await desk.login("boris")
    admin = await desk.login("ada")
    status, page = await boris.get("/tokens")
    assert status == 200
    assert {t["account_id"] for t in page["items"]} == {"boris"}
    status, page = await admin.get("/tokens")
    assert {t["account_id"] for t in page["items"]} >= {"anna", "boris"}


# --- dialogs that come to an operator of another line ---------------------------------------------------


async def test_an_operator_sees_a_dialog_transferred_or_offered_to_them(desk: Desk) -> None:
    await desk.online("anna", "boris")
    await desk.client_writes(SALES, "cleo", "hello")
    dialog = await desk.dialog_of(SALES, "cleo")
    anna = await desk.login("anna")
    boris = await desk.login("boris")
    assert (await boris.get(f"/dialogs/{dialog.id}"))[0] == 404
    assert (await anna.post(f"/dialogs/{dialog.id}/accept"))[0] == 200
    status, view = await anna.post(f"/dialogs/{dialog.id}/transfer", {"operator_id": "boris"})
    assert status == 200, view
    status, view = await boris.get(f"/dialogs/{dialog.id}")
    assert status == 200, view
    assert "boris" in view["offered_to"] or view["operator_id"] == "boris"
    status, page = await boris.get("/dialogs")
    assert dialog.id in {d["id"] for d in page["items"]}
    status, view = await boris.post(f"/dialogs/{dialog.id}/accept")
    assert (status, view["operator_id"]) == (200, "boris")
    assert (await boris.post(f"/dialogs/{dialog.id}/reply", {"text": "Boris here"}))[0] == 200
    assert (await boris.get(f"/clients/{dialog.client_id}"))[0] == 200
    # anna handed it on, but it stays on her line: she still sees it, and cannot answer in it
    assert (await anna.get(f"/dialogs/{dialog.id}"))[0] == 200
    assert (await anna.post(f"/dialogs/{dialog.id}/reply", {"text": "me too"}))[0] == 409


async def test_an_invited_operator_of_another_line_sees_the_dialog(desk: Desk) -> None:
    await desk.online("anna", "boris")
    await desk.client_writes(SALES, "cleo", "hello")
    dialog = await desk.dialog_of(SALES, "cleo")
    anna = await desk.login("anna")
    boris = await desk.login("boris")
    assert (await anna.post(f"/dialogs/{dialog.id}/accept"))[0] == 200
    status, view = await anna.post(f"/dialogs/{dialog.id}/invite", {"operator_id": "boris"})
    assert status == 200, view
    status, view = await boris.get(f"/dialogs/{dialog.id}")
    assert status == 200, view
    assert (await boris.get(f"/dialogs/{dialog.id}/messages"))[0] == 200


async def test_a_supervisor_moves_a_dialog_of_their_line_only(desk: Desk) -> None:
    await desk.online("anna", "boris")
    await desk.client_writes(SALES, "cleo", "hello")
    await desk.client_writes(SUPPORT, "pete", "hello")
    sales = await desk.dialog_of(SALES, "cleo")
    support = await desk.dialog_of(SUPPORT, "pete")
    await desk.app.dialogs.accept(sales.id, "anna")
    await desk.app.dialogs.accept(support.id, "boris")
    sue = await desk.login("sue")
    status, view = await sue.post(f"/dialogs/{sales.id}/transfer", {"operator_id": "carl"})
    assert status == 200, view
    status, _ = await sue.post(f"/dialogs/{support.id}/transfer", {"operator_id": "carl"})
    assert status == 404
    status, _ = await sue.post(f"/dialogs/{support.id}/close")
    assert status == 404
    status, view = await sue.post(f"/dialogs/{sales.id}/close")
    assert (status, view["status"]) == (200, "closed")


# --- the live push -----------------------------------------------------------------------------------


async def test_the_push_with_the_cookie_from_a_foreign_page_is_403(desk: Desk) -> None:
    anna = await desk.login("anna")
    ws_url = desk.api.replace("http", "ws", 1) + "/push"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await anna.http.ws_connect(ws_url, headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403
    async with anna.http.ws_connect(ws_url, headers={"Origin": desk.url}) as ws:
        hello = await ws.receive_json(timeout=10)
        assert (hello["type"], hello["account"]["id"]) == ("hello", "anna")


async def test_the_push_with_a_token_works_from_any_page(desk: Desk) -> None:
    _, secret = await desk.token_for("anna")
    client = desk.session()
    ws_url = desk.api.replace("http", "ws", 1) + f"/push?token={secret}"
    async with client.ws_connect(ws_url, headers={"Origin": "https://desk.example"}) as ws:
        hello = await ws.receive_json(timeout=10)
        assert hello["account"]["id"] == "anna"


async def test_the_push_without_a_login_is_401(desk: Desk) -> None:
    ws_url = desk.api.replace("http", "ws", 1) + "/push"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await desk.session().ws_connect(ws_url)
    assert refused.value.status == 401


async def test_the_push_sends_nothing_of_lines_the_operator_does_not_see(desk: Desk) -> None:
    await desk.online("anna", "boris")
    boris = await desk.login("boris")
    ws_url = desk.api.replace("http", "ws", 1) + "/push"
    async with boris.http.ws_connect(ws_url, headers={"Origin": desk.url}) as ws:
        await ws.receive_json(timeout=10)
        await desk.client_writes(SALES, "cleo", "secret sales talk")
        await desk.client_writes(SUPPORT, "pete", "support talk")
        texts = await _pushed_texts(ws, until="support talk")
    assert "secret sales talk" not in texts


async def test_the_push_of_a_disabled_account_stops(desk: Desk) -> None:
    """Disabling an account ends its sessions; a WebSocket it opened before must end too, or a
    dismissed operator keeps reading every client's messages."""
    await desk.online("anna")
    carl = await desk.login("carl")
    admin = await desk.login("ada")
    ws_url = desk.api.replace("http", "ws", 1) + "/push"
    async with carl.http.ws_connect(ws_url, headers={"Origin": desk.url}) as ws:
        await ws.receive_json(timeout=10)
        status, _ = await admin.call("PATCH", "/accounts/carl", json={"disabled": True})
        assert status == 200
        await desk.client_writes(SALES, "cleo", "my card number is 4111")
        texts = await _pushed_texts(ws, until="my card number is 4111", quiet=4)
    assert "my card number is 4111" not in texts


async def _pushed_texts(
    ws: aiohttp.ClientWebSocketResponse, *, until: str, quiet: float = 10
) -> list[str]:
    """Message texts pushed until one reads ``until`` (or the socket closes or goes quiet)."""
    texts: list[str] = []
    while True:
        try:
            frame = await ws.receive(timeout=quiet)
        except TimeoutError:
            return texts
        if frame.type is not aiohttp.WSMsgType.TEXT:
            return texts
        data = json.loads(frame.data)
        if data["type"] == "message":
            texts.append(data["message"]["text"])
            if data["message"]["text"] == until:
                return texts
