"""A local fake of a Bitrix24 portal's REST API, for testing against Bitrix24 without a portal.

It answers an incoming webhook (``/rest/<user>/<code>/<method>.json``, JSON or form bodies) the
way a portal does: ``{"result": ..., "time": {...}}`` envelopes, lists with ``total``/``next``,
both error styles (``{"error": "NO_AUTH_FOUND", ...}`` and ``{"error": "", "error_description":
"Not found"}``), PHP's artefacts (string ids in read results, ``[]`` for an empty object),
``batch`` with PHP query-string commands, and a leaky bucket per portal that answers ``503
QUERY_LIMIT_EXCEEDED``. Leads and contacts live in memory.

Tests script trouble with :meth:`FakeBitrix24.fail` (the next calls of a method fail with a given
error) and :meth:`FakeBitrix24.lose_answer` (the call is done, then the answer is lost), and read
what happened in :attr:`FakeBitrix24.calls`::

    async with fake_bitrix24() as portal:
        crm = Bitrix24Crm(portal.settings(), CrmTestHost())
        portal.lose_answer("crm.lead.add")
        ...
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from omniline.plugins import Clock
from omniline_bitrix24 import phpquery
from omniline_bitrix24.settings import Bitrix24Settings

CODE = "k3y0mn1l1n3c0d3x"
"""The fake webhook's code (the password part of the URL)."""
USER = 1
"""The webhook's user: leads made without ``ASSIGNED_BY_ID`` are assigned to it."""
OPERATORS = {"anna": 5, "boris": 7}
"""omniline operators of the conformance suite and their users on the fake portal."""

MULTI_FIELDS = ("PHONE", "EMAIL", "WEB", "IM")
PAGE = 50
_FIELDS = {
    "lead": (
        "TITLE",
        "NAME",
        "SECOND_NAME",
        "LAST_NAME",
        "STATUS_ID",
        "SOURCE_ID",
        "SOURCE_DESCRIPTION",
        "ASSIGNED_BY_ID",
        "CREATED_BY_ID",
        "ORIGINATOR_ID",
        "ORIGIN_ID",
        "DATE_CREATE",
        "COMMENTS",
    ),
    "contact": (
        "NAME",
        "SECOND_NAME",
        "LAST_NAME",
        "SOURCE_ID",
        "SOURCE_DESCRIPTION",
        "ASSIGNED_BY_ID",
        "CREATED_BY_ID",
        "ORIGINATOR_ID",
        "ORIGIN_ID",
        "DATE_CREATE",
        "COMMENTS",
    ),
}


class WallClock:
    """Real time, for a fake that is not on a test's virtual clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


@dataclass
class CrmTestHost:
    """A ``CrmHost`` for tests: just a clock."""

    clock: Clock = field(default_factory=WallClock)


@dataclass
class Call:
    """One method call the portal received (a batch's commands are calls too)."""

    method: str
    params: dict[str, Any]
    at: float
    """The portal's Unix time when it came."""
    status: int
    error: str | None = None
    lost: bool = False
    """Done, but the answer never reached the caller."""
    in_batch: bool = False


@dataclass
class Entity:
    id: int
    fields: dict[str, str | None]
    multi: dict[str, list[dict[str, str]]]


@dataclass
class _Failure:
    error: str
    description: str
    status: int
    reset_after: float


class _Refusal(Exception):
    def __init__(self, error: str, description: str, status: int = 400, **extra: Any) -> None:
        super().__init__(description)
        self.error, self.description, self.status, self.extra = error, description, status, extra


@dataclass
class _Listing:
    items: list[dict[str, Any]]
    total: int | None
    next: int | None


_ERRORS = {
    "QUERY_LIMIT_EXCEEDED": ("Too many requests", 503),
    "OPERATION_TIME_LIMIT": ("Method is blocked due to operation time limit.", 429),
    "NO_AUTH_FOUND": ("Wrong authorization data", 401),
    "expired_token": ("The access token provided has expired.", 401),
    "insufficient_scope": (
        "The request requires higher privileges than provided by the webhook token",
        401,
    ),
    "ACCESS_DENIED": ("Access denied!", 403),
    "INTERNAL_SERVER_ERROR": ("Internal server error", 500),
    "": ("Access denied.", 400),
}


class FakeBitrix24:
    """One portal. Start it with :func:`fake_bitrix24`."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        burst: int = 50,
        rate: float = 2.0,
        user: int = USER,
        code: str = CODE,
    ) -> None:
        self.clock: Clock = clock or WallClock()
        self.burst = burst
        self.rate = rate
        self.user = user
        self.code = code
        self.scopes: set[str] = {"crm"}
        """The webhook's permissions; without ``crm`` every ``crm.*`` call is refused."""
        self.leads: dict[int, Entity] = {}
        self.contacts: dict[int, Entity] = {}
        self.comments: list[dict[str, str]] = []
        self.calls: list[Call] = []
        self.server: TestServer | None = None
        self._ids = {"lead": itertools.count(1), "contact": itertools.count(1)}
        self._entry_ids = itertools.count(1)
        self._comment_ids = itertools.count(1)
        self._level = 0.0
        self._level_at: float | None = None
        self._failures: dict[str, list[_Failure]] = {}
        self._lost: dict[str, list[bool]] = {}
        self._blocked: dict[str, float] = {}
        self._methods: dict[str, Callable[[dict[str, Any]], Any]] = {
            "crm.duplicate.findbycomm": self._findbycomm,
            "crm.lead.add": lambda p: self._add("lead", p),
            "crm.lead.get": lambda p: self._get("lead", p),
            "crm.lead.update": lambda p: self._update("lead", p),
            "crm.lead.list": lambda p: self._list("lead", p),
            "crm.contact.add": lambda p: self._add("contact", p),
            "crm.contact.get": lambda p: self._get("contact", p),
            "crm.contact.update": lambda p: self._update("contact", p),
            "crm.contact.list": lambda p: self._list("contact", p),
            "crm.timeline.comment.add": self._comment_add,
            "crm.timeline.comment.list": self._comment_list,
        }

    # --- for tests ---------------------------------------------------------------------------

    @property
    def webhook_url(self) -> str:
        assert self.server is not None, "start the fake with fake_bitrix24()"
        return str(self.server.make_url(f"/rest/{self.user}/{self.code}/"))

    def settings(self, **overrides: Any) -> Bitrix24Settings:
        """Settings of a CRM on this portal: the operators of :data:`OPERATORS`, quick back-off."""
        values: dict[str, Any] = {
            "webhook_url": self.webhook_url,
            "operators": OPERATORS,
            "rate": self.rate,
            "burst": self.burst,
            "base_delay": 0.01,
            "max_delay": 0.2,
        }
        values.update(overrides)
        return Bitrix24Settings.model_validate(values)

    def fail(
        self,
        method: str,
        error: str = "QUERY_LIMIT_EXCEEDED",
        *,
        times: int = 1,
        description: str | None = None,
        status: int | None = None,
        reset_after: float = 60.0,
    ) -> None:
        """The next ``times`` calls of ``method`` (also inside a batch) fail with ``error``.

        ``OPERATION_TIME_LIMIT`` then blocks the method for ``reset_after`` seconds, as a portal
        does: calls before ``time.operating_reset_at`` are refused too. ``error=""`` is the old
        style, with the meaning in ``description`` (default ``"Access denied."``).
        """
        default_description, default_status = _ERRORS.get(error, ("Error", 400))
        failure = _Failure(
            error,
            default_description if description is None else description,
            default_status if status is None else status,
            reset_after,
        )
        self._failures.setdefault(method, []).extend([failure] * times)

    def lose_answer(self, method: str, *, times: int = 1, drop: bool = True) -> None:
        """The next ``times`` calls of ``method`` are done, then their answer is lost: the
        connection is closed (``drop``) or a proxy's ``502`` page comes instead."""
        self._lost.setdefault(method, []).extend([drop] * times)

    def add_contact(
        self,
        name: str = "Client",
        *,
        phones: Iterable[str] = (),
        emails: Iterable[str] = (),
        ims: Iterable[tuple[str, str]] = (),
        assigned: int | None = None,
    ) -> int:
        """A contact made by a manager (``ims``: (VALUE_TYPE, VALUE) pairs)."""
        return self._store("contact", self._seed(name, phones, emails, ims, assigned))

    def add_lead(
        self,
        title: str,
        *,
        name: str | None = None,
        phones: Iterable[str] = (),
        emails: Iterable[str] = (),
        ims: Iterable[tuple[str, str]] = (),
        assigned: int | None = None,
    ) -> int:
        fields = self._seed(name, phones, emails, ims, assigned)
        return self._store("lead", {**fields, "TITLE": title})

    def executed(self, method: str) -> int:
        """How many calls of ``method`` were done (lost answers included)."""
        return sum(1 for c in self.calls if c.method == method and c.error is None)

    def refused(self, method: str | None = None, error: str = "QUERY_LIMIT_EXCEEDED") -> int:
        return sum(1 for c in self.calls if c.error == error and method in (None, c.method))

    # --- HTTP --------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"].removesuffix(".json").lower()
        params = await _params(request)
        started = self._now()
        position = len(self.calls)
        if request.match_info["code"] != self.code or request.match_info["user"] != str(self.user):
            return self._refuse(method, params, _refusal("NO_AUTH_FOUND"))
        if not self._take_from_bucket():
            return self._refuse(method, params, _refusal("QUERY_LIMIT_EXCEEDED"))
        try:
            if method == "batch":
                self._check(method)
                result: Any = self._batch(params)
            else:
                result = self._run(method, params)
        except _Refusal as refusal:
            return self._refuse(method, params, refusal)
        call = Call(method, params, started, 200)
        self.calls.insert(position, call)  # a batch before its commands
        lost = self._lost.get(method)
        if lost:
            call.lost = True
            if lost.pop(0):
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=200)
            html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
            return web.Response(status=502, text=html, content_type="text/html")
        body: dict[str, Any] = {"result": result, "time": self._time(started)}
        if isinstance(result, _Listing):
            body["result"] = result.items
            if result.total is not None:
                body["total"] = result.total
            if result.next is not None:
                body["next"] = result.next
        return web.json_response(body)

    def _refuse(self, method: str, params: dict[str, Any], refusal: _Refusal) -> web.Response:
        started = self._now()
        self.calls.append(Call(method, params, started, refusal.status, error=refusal.error))
        body = {"error": refusal.error, "error_description": refusal.description, **refusal.extra}
        if "time" not in body:
            body["time"] = self._time(started)
        return web.json_response(body, status=refusal.status)

    def _run(self, method: str, params: dict[str, Any]) -> Any:
        self._check(method)
        handler = self._methods.get(method)
        if handler is None:
            raise _Refusal("ERROR_METHOD_NOT_FOUND", "Method not found!", 404)
        return handler(params)

    def _check(self, method: str) -> None:
        """Refusals that come before a method runs: scope, an operating-time pause, scripts."""
        if method.startswith("crm.") and "crm" not in self.scopes:
            raise _refusal("insufficient_scope")
        now = self._now()
        blocked = self._blocked.get(method)
        if blocked is not None and blocked > now:
            raise _refusal("OPERATION_TIME_LIMIT", time=self._time(now, blocked))
        failures = self._failures.get(method)
        if failures:
            failure = failures.pop(0)
            extra: dict[str, Any] = {}
            if failure.error == "OPERATION_TIME_LIMIT":
                self._blocked[method] = now + failure.reset_after
                extra["time"] = self._time(now, self._blocked[method])
            raise _Refusal(failure.error, failure.description, failure.status, **extra)

    def _take_from_bucket(self) -> bool:
        now = self._now()
        if self._level_at is not None:
            self._level = max(0.0, self._level - (now - self._level_at) * self.rate)
        self._level_at = now
        # Timestamps near 1.7e9 carry about 1e-7 s of float error: allow a hair of slack.
        if self._level + 1 > self.burst + 1e-3:
            return False
        self._level += 1
        return True

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def _time(self, started: float, reset_at: float | None = None) -> dict[str, Any]:
        now = self._now()
        return {
            "start": started,
            "finish": now,
            "duration": now - started,
            "processing": now - started,
            "date_start": datetime.fromtimestamp(started, UTC).isoformat(),
            "date_finish": datetime.fromtimestamp(now, UTC).isoformat(),
            "operating_reset_at": reset_at if reset_at is not None else now + 600,
            "operating": 0,
        }

    # --- batch -------------------------------------------------------------------------------

    def _batch(self, params: dict[str, Any]) -> dict[str, Any]:
        commands = params.get("cmd")
        if isinstance(commands, list):
            commands = {str(i): c for i, c in enumerate(commands)}
        if not isinstance(commands, dict) or not commands:
            raise _Refusal("", "Parameter 'cmd' is required", 400)
        if len(commands) > 50:
            raise _Refusal("", "Max batch length exceeded", 400)
        halt = str(params.get("halt", "0")) not in ("0", "", "False", "false")
        results: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        totals: dict[str, Any] = {}
        nexts: dict[str, Any] = {}
        times: dict[str, Any] = {}
        for key, text in commands.items():
            method, _, query = str(text).partition("?")
            method = method.strip().lower()
            args = phpquery.parse(query)
            started = self._now()
            try:
                if method == "batch":
                    raise _Refusal("", "Batch call is not allowed in batch", 400)
                result = self._run(method, args)
            except _Refusal as refusal:
                self.calls.append(
                    Call(method, args, started, refusal.status, refusal.error, in_batch=True)
                )
                errors[key] = {"error": refusal.error, "error_description": refusal.description}
                extra_time = refusal.extra.get("time")
                times[key] = extra_time if extra_time is not None else self._time(started)
                if halt:
                    break
                continue
            self.calls.append(Call(method, args, started, 200, in_batch=True))
            times[key] = self._time(started)
            if isinstance(result, _Listing):
                results[key] = result.items
                if result.total is not None:
                    totals[key] = result.total
                if result.next is not None:
                    nexts[key] = result.next
            else:
                results[key] = result
        # PHP: an empty array is "[]" even where an object is meant.
        return {
            "result": results or [],
            "result_error": errors or [],
            "result_total": totals or [],
            "result_next": nexts or [],
            "result_time": times or [],
        }

    # --- CRM methods -------------------------------------------------------------------------

    def _table(self, kind: str) -> dict[int, Entity]:
        return self.leads if kind == "lead" else self.contacts

    def _entity(self, kind: str, params: Mapping[str, Any]) -> Entity:
        number = _int(params.get("id", params.get("ID")))
        entity = self._table(kind).get(number) if number is not None else None
        if entity is None:
            raise _Refusal("", "Not found", 400)
        return entity

    def _seed(
        self,
        name: str | None,
        phones: Iterable[str],
        emails: Iterable[str],
        ims: Iterable[tuple[str, str]],
        assigned: int | None,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "NAME": name,
            "PHONE": [{"VALUE": p, "VALUE_TYPE": "WORK"} for p in phones],
            "EMAIL": [{"VALUE": e, "VALUE_TYPE": "WORK"} for e in emails],
            "IM": [{"VALUE": v, "VALUE_TYPE": t} for t, v in ims],
        }
        if assigned is not None:
            fields["ASSIGNED_BY_ID"] = assigned
        return fields

    def _store(self, kind: str, fields: Mapping[str, Any]) -> int:
        number = next(self._ids[kind])
        entity = Entity(number, {}, {name: [] for name in MULTI_FIELDS})
        entity.fields.update(
            {
                "ASSIGNED_BY_ID": str(self.user),
                "CREATED_BY_ID": str(self.user),
                "DATE_CREATE": datetime.fromtimestamp(self._now(), UTC).isoformat(),
            }
        )
        if kind == "lead":
            entity.fields["STATUS_ID"] = "NEW"
        self._apply(entity, fields)
        self._table(kind)[number] = entity
        return number

    def _apply(self, entity: Entity, fields: Mapping[str, Any]) -> None:
        for name, value in fields.items():
            name = name.upper()
            if name in MULTI_FIELDS:
                self._apply_multi(entity.multi[name], name, value)
            elif name != "ID":
                entity.fields[name] = None if value is None else str(value)

    def _apply_multi(self, entries: list[dict[str, str]], name: str, value: Any) -> None:
        # An entry without ID is appended; with an ID it changes that entry (or deletes it when
        # its VALUE is empty).
        items = list(value.values()) if isinstance(value, dict) else value
        if not isinstance(items, list):
            raise _Refusal("", f"Invalid value of field {name}", 400)
        for item in items:
            if not isinstance(item, dict):
                raise _Refusal("", f"Invalid value of field {name}", 400)
            value_text = str(item.get("VALUE") or "").strip()
            kind = str(item.get("VALUE_TYPE") or "WORK")
            entry_id = item.get("ID")
            if entry_id is None:
                if value_text:
                    entries.append(
                        {
                            "ID": str(next(self._entry_ids)),
                            "VALUE_TYPE": kind,
                            "VALUE": value_text,
                            "TYPE_ID": name,
                        }
                    )
                continue
            for i, entry in enumerate(entries):
                if entry["ID"] == str(entry_id):
                    if value_text:
                        entries[i] = {**entry, "VALUE": value_text, "VALUE_TYPE": kind}
                    else:
                        del entries[i]
                    break

    def _read(self, kind: str, entity: Entity, select: list[str] | None = None) -> dict[str, Any]:
        """A record as ``*.get`` (``select`` None) or ``*.list`` gives it: ids as strings, empty
        fields as null, multi-fields only when they have entries (and, in lists, are selected)."""
        chosen = {s.upper() for s in select} if select is not None else {"*", *MULTI_FIELDS}
        out: dict[str, Any] = {"ID": str(entity.id)}
        for name in _FIELDS[kind]:
            if "*" in chosen or name in chosen:
                out[name] = entity.fields.get(name)
        for name in MULTI_FIELDS:
            if name in chosen and entity.multi[name]:
                out[name] = [dict(e) for e in entity.multi[name]]
        if select is None:
            out["HAS_PHONE"] = "Y" if entity.multi["PHONE"] else "N"
            out["HAS_EMAIL"] = "Y" if entity.multi["EMAIL"] else "N"
            out["HAS_IMOL"] = "N"
        return out

    def _add(self, kind: str, params: dict[str, Any]) -> int:
        fields = params.get("fields")
        if not isinstance(fields, dict):
            raise _Refusal("", "Parameter 'fields' must be array.", 400)
        return self._store(kind, fields)

    def _get(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        return self._read(kind, self._entity(kind, params))

    def _update(self, kind: str, params: dict[str, Any]) -> bool:
        entity = self._entity(kind, params)
        fields = params.get("fields")
        if not isinstance(fields, dict):
            raise _Refusal("", "Parameter 'fields' must be array.", 400)
        self._apply(entity, fields)
        return True

    def _list(self, kind: str, params: dict[str, Any]) -> _Listing:
        conditions = params.get("filter") or {}
        if not isinstance(conditions, dict):
            raise _Refusal("", "Parameter 'filter' must be array.", 400)
        found = [e for e in self._table(kind).values() if self._matches(e, conditions)]
        order = params.get("order") or {}
        descending = isinstance(order, dict) and str(order.get("ID", "ASC")).upper() == "DESC"
        found.sort(key=lambda e: e.id, reverse=descending)
        select = params.get("select")
        select = [str(s) for s in select] if isinstance(select, list) else None
        return _page([self._read(kind, e, select or ["*"]) for e in found], params)

    def _matches(self, entity: Entity, conditions: Mapping[str, Any]) -> bool:
        for key, want in conditions.items():
            name = key.removeprefix("=").upper()
            if not name.replace("_", "").isalnum():
                raise _Refusal("", f"Unsupported filter {key}", 400)
            wanted = {str(w) for w in want} if isinstance(want, list) else {str(want)}
            if name in MULTI_FIELDS:
                have = {e["VALUE"] for e in entity.multi[name]}
            elif name == "ID":
                have = {str(entity.id)}
            else:
                have = {entity.fields.get(name) or ""}
            if not wanted & have:
                return False
        return True

    def _findbycomm(self, params: dict[str, Any]) -> Any:
        kind = str(params.get("type") or "").upper()
        if kind not in ("PHONE", "EMAIL"):
            raise _Refusal("", "Parameter 'type' is not defined or invalid", 400)
        values = params.get("values")
        values = list(values.values()) if isinstance(values, dict) else values
        if not isinstance(values, list) or not values:
            raise _Refusal("", "Parameter 'values' must be array.", 400)
        if len(values) > 20:
            raise _Refusal("", "Too many values (20 at most)", 400)
        wanted = {str(v) for v in values}
        entity_type = str(params.get("entity_type") or "").upper()
        found: dict[str, list[int]] = {}
        for name, table in (("LEAD", self.leads), ("CONTACT", self.contacts)):
            if entity_type and entity_type != name:
                continue
            ids = [e.id for e in table.values() if wanted & {x["VALUE"] for x in e.multi[kind]}]
            if ids:
                found[name] = ids
        return found or []

    def _comment_add(self, params: dict[str, Any]) -> int:
        fields = params.get("fields")
        if not isinstance(fields, dict):
            raise _Refusal("", "Parameter 'fields' must be array.", 400)
        kind = str(fields.get("ENTITY_TYPE") or "").lower()
        if kind not in ("lead", "contact"):
            raise _Refusal("", "Invalid ENTITY_TYPE", 400)
        entity = self._entity(kind, {"id": fields.get("ENTITY_ID")})
        text = str(fields.get("COMMENT") or "")
        if not text.strip():
            raise _Refusal("", "Empty comment", 400)
        number = next(self._comment_ids)
        self.comments.append(
            {
                "ID": str(number),
                "ENTITY_ID": str(entity.id),
                "ENTITY_TYPE": kind,
                "COMMENT": text,
                "AUTHOR_ID": str(self.user),
                "CREATED": datetime.fromtimestamp(self._now(), UTC).isoformat(),
            }
        )
        return number

    def _comment_list(self, params: dict[str, Any]) -> _Listing:
        conditions = params.get("filter")
        if not isinstance(conditions, dict) or "ENTITY_ID" not in conditions:
            raise _Refusal("", "ENTITY_ID and ENTITY_TYPE are required in filter", 400)
        entity_id = str(conditions.get("ENTITY_ID"))
        kind = str(conditions.get("ENTITY_TYPE") or "").lower()
        found = [
            dict(c)
            for c in self.comments
            if c["ENTITY_ID"] == entity_id and c["ENTITY_TYPE"] == kind
        ]
        order = params.get("order") or {}
        if isinstance(order, dict) and str(order.get("ID", "ASC")).upper() == "DESC":
            found.reverse()
        return _page(found, params)


def _refusal(error: str, **extra: Any) -> _Refusal:
    description, status = _ERRORS[error]
    return _Refusal(error, description, status, **extra)


def _page(items: list[dict[str, Any]], params: Mapping[str, Any]) -> _Listing:
    start = _int(params.get("start")) or 0
    if start == -1:
        return _Listing(items[:PAGE], None, None)
    page = items[start : start + PAGE]
    more = start + PAGE < len(items)
    return _Listing(page, len(items), start + PAGE if more else None)


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


async def _params(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    params: dict[str, Any] = phpquery.parse(request.query_string)
    if request.content_type == "application/json" and raw:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if isinstance(body, dict):
            params.update(body)
    elif raw:
        params.update(phpquery.parse(raw.decode("utf-8", "replace")))
    return params


@asynccontextmanager
async def fake_bitrix24(
    *,
    clock: Clock | None = None,
    burst: int = 50,
    rate: float = 2.0,
    user: int = USER,
    code: str = CODE,
) -> AsyncIterator[FakeBitrix24]:
    """A fake portal on 127.0.0.1 for the duration of the block."""
    portal = FakeBitrix24(clock=clock, burst=burst, rate=rate, user=user, code=code)
    app = web.Application()
    app.router.add_route("*", "/rest/{user}/{code}/{method}", portal.handle)
    portal.server = TestServer(app, host="127.0.0.1")
    async with portal.server:
        yield portal


__all__ = [
    "CODE",
    "OPERATORS",
    "USER",
    "Call",
    "CrmTestHost",
    "Entity",
    "FakeBitrix24",
    "WallClock",
    "fake_bitrix24",
]
