"""The REST API's plumbing: endpoints declared with their role, body and answer models; who is
calling (session cookie or API token); CSRF; JSON errors with stable codes.

An endpoint is declared once, and the same declaration validates the request, checks the role and
describes the endpoint in the OpenAPI document::

    @api.route("POST", "/dialogs/{dialog_id}/whisper", role=Role.OPERATOR, body=WhisperBody,
               answer=DialogView, summary="Write a note only operators see")
    async def whisper(call: Call) -> DialogView: ...
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, get_origin

from aiohttp import web
from pydantic import BaseModel, ValidationError

from omniline.channels.body import BodyRefused, parse_json
from omniline.console.accounts import Accounts
from omniline.console.schemas import ErrorBody, ErrorDetail, FieldError
from omniline.engine.validation import error_location, error_message
from omniline.errors import DialogError, StoreUnavailable
from omniline.log_context import log_context
from omniline.model.account import Account, Role, Session

log = logging.getLogger("omniline.console")

SESSION_COOKIE = "omniline_session"
COOKIE_KEY = web.RequestKey("omniline.cookie", tuple)
"""Where a handler leaves the session cookie to set (value, expiry) or clear ("", None)."""
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    """An answer other than success, with a stable code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: list[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        body = ErrorBody(
            error=ErrorDetail(code=self.code, message=self.message, fields=self.fields)
        )
        return web.json_response(
            text=body.model_dump_json(), status=self.status, headers=self.headers
        )


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def forbidden(message: str = "your role may not do this") -> ApiError:
    return ApiError(403, "forbidden", message)


def invalid(exc: ValidationError, where: str) -> ApiError:
    fields = [
        FieldError(
            field=".".join([where, *(str(p) for p in error_location(e))]).rstrip("."),
            message=error_message(e),
        )
        for e in exc.errors(include_url=False, include_input=False)
    ]
    return ApiError(422, "invalid", "the request is not valid: see fields", fields=fields)


@dataclass
class Call:
    """One request to an endpoint, after authentication and validation."""

    request: web.Request
    caller: Account | None
    """None on a public endpoint (logging in)."""
    session: Session | None
    body: BaseModel | None
    query: BaseModel | None

    @property
    def account(self) -> Account:
        assert self.caller is not None, "a public endpoint has no account"
        return self.caller

    def body_as(self, model: type[M]) -> M:
        assert isinstance(self.body, model)
        return self.body

    def query_as(self, model: type[M]) -> M:
        assert isinstance(self.query, model)
        return self.query

    def path(self, name: str) -> str:
        return self.request.match_info[name]

    def path_int(self, name: str) -> int:
        value = self.request.match_info[name]
        if not value.isdigit() or len(value) > 18:
            raise ApiError(
                400,
                "invalid",
                f"{name} must be a positive integer",
                fields=[FieldError(field=f"path.{name}", message="not a positive integer")],
            )
        return int(value)


Handler = Callable[[Call], Awaitable[BaseModel | None]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    """Relative to the API's root, aiohttp style: ``/dialogs/{dialog_id}``."""
    handler: Handler
    role: Role | None
    """The least role that may call it; None: anyone (logging in)."""
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    answer: type[BaseModel] | None = None
    status: int = 200
    path_types: Mapping[str, type] = field(default_factory=dict)
    multipart: bool = False


class Api:
    """The endpoints of one API root, and how a request reaches them."""

    def __init__(self, root: str, accounts: Accounts) -> None:
        self.root = root
        self.accounts = accounts
        self.endpoints: list[Endpoint] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        role: Role | None,
        summary: str,
        tag: str,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        answer: type[BaseModel] | None = None,
        status: int = 200,
        path_types: Mapping[str, type] | None = None,
        multipart: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(
                    method=method,
                    path=path,
                    handler=handler,
                    role=role,
                    summary=summary,
                    tag=tag,
                    body=body,
                    query=query,
                    answer=answer,
                    status=status,
                    path_types=dict(path_types or {}),
                    multipart=multipart,
                )
            )
            return handler

        return register

    def mount(self, app: web.Application) -> None:
        for endpoint in self.endpoints:
            app.router.add_route(endpoint.method, self.root + endpoint.path, self._wrap(endpoint))

    # --- who is calling -------------------------------------------------------------------------

    async def caller(self, request: web.Request) -> tuple[Account, Session | None]:
        """The account behind the request: an API token (``Authorization: Bearer``) or the
        console's session cookie. Raises 401 otherwise."""
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, secret = header.partition(" ")
            if scheme.lower() != "bearer" or not secret.strip():
                raise ApiError(401, "unauthenticated", "use 'Authorization: Bearer <token>'")
            account = await self.accounts.by_token(secret.strip())
            if account is None:
                raise ApiError(401, "unauthenticated", "the token is unknown or revoked")
            return account, None
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            session = await self.accounts.session(cookie)
            if session is not None:
                return session.account, session
        raise ApiError(401, "unauthenticated", "log in, or send an API token")

    @staticmethod
    def check_csrf(request: web.Request, session: Session | None) -> None:
        """A change made with the session cookie must carry the session's CSRF token in a header
        (a page on another site can make the browser send the cookie, but cannot read the token)."""
        if session is None or request.method in SAFE_METHODS:
            return
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise ApiError(403, "csrf", f"missing or wrong {CSRF_HEADER} header")

    # --- one request ----------------------------------------------------------------------------

    def _wrap(self, endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            account: Account | None = None
            session: Session | None = None
            if endpoint.role is not None:
                account, session = await self.caller(request)
                self.check_csrf(request, session)
                if not account.at_least(endpoint.role):
                    raise forbidden(f"this needs the {endpoint.role.value} role")
            operator = account.operator_id if account is not None else None
            with log_context(fresh=True, operator_id=operator):  # what it does, in its name
                query = _parse_query(endpoint.query, request) if endpoint.query else None
                body = await _parse_body(endpoint.body, request) if endpoint.body else None
                call = Call(
                    request=request, caller=account, session=session, body=body, query=query
                )
                answer = await endpoint.handler(call)
                if answer is None:
                    response = web.Response(status=204)
                else:
                    response = web.json_response(
                        text=answer.model_dump_json(), status=endpoint.status
                    )
                _session_cookie(request, response)
                return response

        return handle


def _session_cookie(request: web.Request, response: web.Response) -> None:
    """Set (after logging in) or clear (after logging out) the session cookie. HttpOnly: scripts
    never read it; SameSite=Strict: other sites' pages never send it."""
    cookie = request.get(COOKIE_KEY)
    if cookie is None:
        return
    secret, expires = cookie
    if not secret:
        response.del_cookie(SESSION_COOKIE, path="/")
        return
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        max_age=max(0, int((expires - datetime.now(UTC)).total_seconds())),
    )


def _parse_query(model: type[BaseModel], request: web.Request) -> BaseModel:
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        found = request.query.getall(name, [])
        if not found:
            continue
        is_list = get_origin(info.annotation) in (list, tuple)
        values[name] = found if is_list else found[-1]
    unknown = set(request.query) - set(model.model_fields)
    if unknown:
        raise ApiError(
            400,
            "invalid",
            "unknown query parameters: " + ", ".join(sorted(unknown)),
            fields=[FieldError(field=f"query.{n}", message="unknown") for n in sorted(unknown)],
        )
    bad = _unstorable(values)
    if bad is not None:
        raise ApiError(
            422,
            "invalid",
            "the request is not valid: see fields",
            fields=[
                FieldError(field="query" + bad[4:], message="a NUL character or a lone surrogate")
            ],
        )
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise invalid(exc, "query") from None


async def _parse_body(model: type[BaseModel], request: web.Request) -> BaseModel:
    if request.content_type != "application/json":
        if not request.can_read_body:
            raw: object = {}
        else:
            raise ApiError(415, "invalid", "send the body as application/json")
    else:
        try:
            raw = parse_json(await request.read() or b"{}", scrub=False)
        except BodyRefused as exc:
            raise ApiError(400, "invalid", exc.reason) from None
    bad = _unstorable(raw)
    if bad is not None:
        raise ApiError(
            422,
            "invalid",
            "the request is not valid: see fields",
            fields=[FieldError(field=bad, message="a NUL character or a lone surrogate")],
        )
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise invalid(exc, "body") from None


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(value: object) -> str | None:
    """Where the body holds a string no database keeps (a NUL: PostgreSQL refuses it; a lone
    surrogate: not Unicode, so not UTF-8), as ``body.a.0.b``; None if nowhere."""
    stack: list[tuple[object, str]] = [(value, "body")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return where
        elif isinstance(item, dict):
            for key, child in item.items():
                stack.append((key, where))
                # the key as shown in the answer, which must be valid JSON itself
                stack.append((child, f"{where}.{_UNSTORABLE.sub('?', key)}"))
        elif isinstance(item, list):
            stack.extend((child, f"{where}.{i}") for i, child in enumerate(item))
    return None


@web.middleware
async def errors_as_json(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Under the API root every failure is a JSON error with a stable code."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except DialogError as exc:
        return ApiError(409, "conflict", str(exc)).response()
    except StoreUnavailable:
        return ApiError(
            503,
            "store_unavailable",
            "the database cannot be reached right now; try again in a few seconds",
            headers={"Retry-After": "5"},
        ).response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status, "invalid"
        )
        return ApiError(exc.status, code, exc.reason, headers=_allow(exc)).response()
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return ApiError(500, "internal", "something went wrong on the server").response()


def _allow(exc: web.HTTPException) -> dict[str, str]:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else {}
