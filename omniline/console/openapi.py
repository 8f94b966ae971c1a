"""The OpenAPI 3.1 document, generated from the endpoints' declarations and their pydantic models
(the same models the handlers validate with, so the document cannot drift from the code)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from omniline.console.endpoints import Api, Endpoint
from omniline.console.schemas import ErrorBody

REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"{([a-z_]+)}")

ERROR_ANSWERS = {
    "400": "The request is malformed (a path or query value, or JSON that does not parse).",
    "401": "Not logged in, a wrong password, or an unknown or revoked token.",
    "403": "The role may not do this, the dialog is not yours to see, or a missing CSRF token.",
    "404": "No such thing (or not one this account may see).",
    "409": "Not possible in the dialog's state now (e.g. it is offered to someone else).",
    "422": "The body or query did not validate: ``fields`` names each value at fault.",
}


def document(
    api: Api, *, title: str, version: str, server_url: str | None = None
) -> dict[str, Any]:
    models: set[type[BaseModel]] = {ErrorBody}
    for e in api.endpoints:
        models.update(m for m in (e.body, e.answer, e.query) if m is not None)
    keyed = sorted(models, key=lambda m: m.__name__)
    refs, schemas = models_json_schema(
        [(m, "validation" if _is_body(m, api) else "serialization") for m in keyed],
        ref_template=REF,
    )
    ref_of = {m: refs[(m, "validation" if _is_body(m, api) else "serialization")] for m in keyed}
    paths: dict[str, dict[str, Any]] = {}
    for e in api.endpoints:
        path = api.root + e.path
        paths.setdefault(path, {})[e.method.lower()] = _operation(e, ref_of)
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "omniline_session"},
            },
        },
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc


def _is_body(model: type[BaseModel], api: Api) -> bool:
    return any(e.body is model for e in api.endpoints)


def _operation(e: Endpoint, ref_of: dict[type[BaseModel], dict[str, Any]]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": e.summary,
        "tags": [e.tag],
        "operationId": e.handler.__name__,
        "parameters": _path_parameters(e) + _query_parameters(e),
    }
    if e.role is None:
        op["security"] = []
    else:
        op["security"] = [{"token": []}, {"session": []}]
        op["description"] = f"Needs the **{e.role.value}** role or higher."
    if e.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref_of[e.body]}},
        }
    if e.multipart:
        op["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                }
            },
        }
    answers: dict[str, Any] = {}
    if e.answer is None:
        answers[str(e.status if e.status != 200 else 204)] = {"description": "Done."}
    else:
        answers[str(e.status)] = {
            "description": "Done.",
            "content": {"application/json": {"schema": ref_of[e.answer]}},
        }
    error = {"content": {"application/json": {"schema": ref_of[ErrorBody]}}}
    for status, text in ERROR_ANSWERS.items():
        if status == "403" and e.role is None:
            continue
        answers[status] = {"description": text, **error}
    if e.role is None:
        answers["429"] = {"description": "Too many attempts: wait Retry-After seconds.", **error}
    op["responses"] = answers
    return op


def _path_parameters(e: Endpoint) -> list[dict[str, Any]]:
    found = []
    for name in _PATH_PARAM.findall(e.path):
        kind = e.path_types.get(name, str)
        schema: dict[str, Any] = (
            {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}
            if kind is int
            else {"type": "string", "minLength": 1}
        )
        found.append({"name": name, "in": "path", "required": True, "schema": schema})
    return found


def _query_parameters(e: Endpoint) -> list[dict[str, Any]]:
    if e.query is None:
        return []
    schema = e.query.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if prop.get("type") == "array" or "array" in str(prop.get("anyOf", "")):
            param["style"], param["explode"] = "form", True
        if "description" in prop:
            param["description"] = prop["description"]
        params.append(param)
    return params
