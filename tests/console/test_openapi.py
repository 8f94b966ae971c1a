"""The OpenAPI document of the desk API: valid, complete, and true to the live server.

The schema-driven part lets schemathesis make requests from the document itself and sends them to
a running application (seeded with dialogs, messages and tokens, so small ids hit real things),
as an admin and as an operator, each with an API token. No answer may be a 5xx, and every answer
must be one the document describes (status code, content type, JSON body).
"""

from __future__ import annotations

import asyncio
import copy
import re
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from openapi_spec_validator import validate
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from omniline.model import Attachment, AttachmentKind, ContactShare, Location, Unsupported
from tests.console.conftest import API, SALES, SUPPORT, Desk

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = {"admin": 25, "operator": 15}
LAST = [
    # These can end the caller's own way in (its token, the admin's accounts): they go last.
    ("PATCH", "/accounts/{account_id}"),
    ("DELETE", "/tokens/{token_id}"),
]


async def _document(desk: Desk) -> dict[str, Any]:
    client = desk.session()
    async with client.get(f"{desk.api}/openapi.json") as response:
        assert response.status == 200
        found: dict[str, Any] = await response.json()
        return found


async def test_the_document_is_valid_openapi(desk: Desk) -> None:
    doc = await _document(desk)
    validate(doc)
    assert doc["openapi"].startswith("3.1")


async def test_every_endpoint_is_in_the_document(desk: Desk) -> None:
    doc = await _document(desk)
    console = desk.app.console
    assert console is not None
    declared = {(e.method.lower(), API + e.path) for e in console.api.api.endpoints}
    documented = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert declared == documented
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["responses"], f"{method} {path} documents no answer"
            names = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert names == set(re.findall(r"{(\w+)}", path)), f"{method} {path}"


async def test_the_document_names_the_error_answers(desk: Desk) -> None:
    doc = await _document(desk)
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if op["security"]:
                assert {"401", "403"} <= set(op["responses"]), f"{method} {path}"


async def test_the_login_documents_its_401(desk: Desk) -> None:
    """A wrong password answers 401, which the document leaves out for public endpoints."""
    doc = await _document(desk)
    assert "401" in doc["paths"][f"{API}/session"]["post"]["responses"]


async def test_a_message_documents_every_kind_of_content(desk: Desk) -> None:
    """A location, a shared contact, a button press and an unsupported part are typed fields of
    a message (before, the document had no place for a location or a contact)."""
    doc = await _document(desk)
    schemas = doc["components"]["schemas"]
    message = schemas["MessageView"]
    typed = {"contact": "ContactShare", "location": "Location", "unsupported": "Unsupported"}
    for field, model in typed.items():
        assert field in message["required"], field
        refs = [option.get("$ref") for option in message["properties"][field]["anyOf"]]
        assert refs == [f"#/components/schemas/{model}", None], field
    assert set(schemas["Location"]["required"]) == {"latitude", "longitude"}
    assert set(schemas["ContactShare"]["properties"]) == {"phone", "name"}
    assert schemas["Unsupported"]["required"] == ["kind"]
    payload = message["properties"]["button_payload"]["anyOf"]
    assert {"type": "string"} in payload and {"type": "null"} in payload
    assert "link" in schemas["AttachmentKind"]["enum"]


# --- schemathesis against the live server ---------------------------------------------------------


async def _seed(desk: Desk) -> dict[str, Any]:
    """Dialogs with messages on both lines, and the ids the examples point at."""
    await desk.online("anna", "boris")
    await desk.client_writes(SALES, "cleo", "Hello, my order is late", name="Cleo")
    await desk.client_writes(SUPPORT, "pete", "The app crashes", name="Pete")
    sales = await desk.dialog_of(SALES, "cleo")
    support = await desk.dialog_of(SUPPORT, "pete")
    app = desk.app
    await app.dialogs.accept(sales.id, "anna")
    await app.dialogs.reply(sales.id, "anna", "Let me look")
    await app.dialogs.whisper(sales.id, "anna", "check the warehouse")
    await app.dialogs.accept(support.id, "boris")
    await app.idle(paced=False)
    await desk.client_writes(SALES, "cleo", "thanks, my number is +49 30 1234567")
    # Every kind of content, so the answers checked against the document carry each of them.
    cleo = desk.channels[SALES]
    await cleo.receive("cleo", location=Location(latitude=52.52, longitude=13.405))
    await cleo.receive("cleo", contact=ContactShare(phone="+49301234567", name="Cleo"))
    await cleo.receive("cleo", "Yes", button_payload="yes")
    await cleo.receive("cleo", unsupported=Unsupported(kind="poll"))
    link = Attachment(kind=AttachmentKind.LINK, url="https://shop.example/", name="Shop")
    sticker = Attachment(kind=AttachmentKind.STICKER, file_id="sticker-1")
    await cleo.receive("cleo", attachments=[link, sticker])
    await app.idle(paced=False)
    return {
        "dialog_id": sales.id,
        "client_id": sales.client_id,
        "line_id": SALES,
        "operator_id": "anna",
        "account_id": "carl",
    }


def _with_examples(doc: dict[str, Any], examples: dict[str, Any]) -> dict[str, Any]:
    """The document with an example for each path value, so explicit cases hit real things."""
    doc = copy.deepcopy(doc)
    for ops in doc["paths"].values():
        for op in ops.values():
            for param in op["parameters"]:
                if param["in"] == "path" and param["name"] in examples:
                    param["example"] = examples[param["name"]]
    return doc


def _ordered(schema: Any) -> list[Any]:
    operations = [result.ok() for result in schema.get_all_operations()]
    return sorted(operations, key=lambda op: (op.method.upper(), op.path) in LAST)


def _run(doc: dict[str, Any], base_url: str, token: str, max_examples: int) -> list[str]:
    """Every operation with up to ``max_examples`` cases; the failures, one line each."""
    schema = schemathesis.openapi.from_dict(doc)
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    for operation in _ordered(schema):

        @settings(
            max_examples=max_examples,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            case.validate_response(response, checks=CHECKS)

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # one line per operation, then the next
            first = str(exc).strip().splitlines()
            failures.append(f"{operation.method.upper()} {operation.path}: {' | '.join(first[:6])}")
    return failures


async def test_the_live_server_answers_as_documented(desk: Desk) -> None:
    examples = await _seed(desk)
    _, admin = await desk.token_for("ada", "schemathesis")
    _, operator = await desk.token_for("anna", "schemathesis")
    doc = _with_examples(await _document(desk), examples)
    failures: list[str] = []
    for token, role in ((operator, "operator"), (admin, "admin")):
        found = await asyncio.to_thread(_run, doc, desk.url, token, EXAMPLES[role])
        failures += [f"as {role}: {f}" for f in found]
    assert not failures, "\n".join(failures)
