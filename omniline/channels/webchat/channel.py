"""The built-in web chat: an embeddable widget, a JSON API and a WebSocket for the visitor.

A visitor is an identity of channel type ``webchat``. The browser keeps the visitor's id and a token
(an HMAC of the id under the channel's secret) in localStorage, so the same visitor comes back across
page loads and reads their history. Every message the widget posts carries a client-made id: it is
the inbox key, so a retried post is stored once.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import math
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

from omniline.channels.body import BodyRefused, parse_json, read_body
from omniline.channels.webchat.protocol import PostMessage, Profile, WireMessage
from omniline.engine.ports import Capabilities, ChannelHost, Delivery, InboundSink
from omniline.engine.ratelimit import Throttle
from omniline.engine.validation import error_location, error_message
from omniline.errors import StoreUnavailable
from omniline.model import ChannelRef, ContactShare, Identity, InboundEvent, InboundMessage

log = logging.getLogger("omniline.channel.webchat")

STATIC = Path(__file__).parent / "static"
MAX_BODY = 64 * 1024
HISTORY_PAGE = 100
RETRY_AFTER = 5
"""Seconds the widget is asked to wait before sending again while the database is down."""


class WebchatSettings(BaseModel):
    """Settings of one web-chat account."""

    model_config = {"extra": "forbid"}

    secret: SecretStr
    """Signs visitor tokens. Keep it stable: changing it makes every visitor a new one."""
    allowed_origins: list[str] = Field(default_factory=lambda: ["*"])
    """Sites that may embed the widget (``https://example.com``), or ``*`` for any."""
    messages_per_minute: float = Field(default=30, gt=0)
    """How many messages one visitor may send a minute (bursts of ``message_burst``); more are
    refused with 429 and a Retry-After, which the widget obeys."""
    message_burst: int = Field(default=10, ge=1)

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("the secret must be at least 16 characters long")
        return value


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class _ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.retry_after = retry_after

    def response(self) -> web.Response:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        response = web.json_response({"error": body}, status=self.status)
        if self.retry_after is not None:
            response.headers["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return response


def _store_unavailable() -> _ApiError:
    return _ApiError(
        503,
        "store_unavailable",
        "the chat cannot take messages for a moment; send it again in a few seconds",
        retry_after=RETRY_AFTER,
    )


def _validation_error(exc: ValidationError) -> _ApiError:
    first = exc.errors(include_url=False)[0]
    field = ".".join(str(p) for p in error_location(first)) or None
    return _ApiError(422, "invalid", error_message(first), field)


class WebchatChannel:
    """The web chat of one account, served under ``/channels/webchat/{account}/``."""

    def __init__(self, ref: ChannelRef, settings: WebchatSettings, host: ChannelHost) -> None:
        self._ref = ref
        self._settings = settings
        self._host = host
        self._key = settings.secret.get_secret_value().encode()
        self._sink: InboundSink | None = None
        self._sockets: dict[str, set[web.WebSocketResponse]] = {}
        self._sends: set[asyncio.Future[Any]] = set()
        self.relay: Callable[[str], None] | None = None
        """Set by the application when several worker processes share the database: tells this
        account in the others that a visitor has a new message (``relayed`` there), since the
        visitor's live socket may be on any of them."""
        self._throttle = Throttle(
            host.clock, settings.messages_per_minute / 60, settings.message_burst
        )
        # The widget shows a shared web page as a link with its title.
        self._capabilities = Capabilities(
            max_text_length=100_000,
            buttons=True,
            inline_buttons=True,
            attachments=True,
            link_attachments=True,
        )

    # --- Channel ----------------------------------------------------------------------------------

    @property
    def ref(self) -> ChannelRef:
        return self._ref

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    async def start(self, sink: InboundSink) -> None:
        self._sink = sink

    async def stop(self) -> None:
        self._sink = None
        sockets = [ws for group in self._sockets.values() for ws in group]
        await asyncio.gather(
            *(ws.close(code=1001, message=b"server shutdown") for ws in sockets),
            return_exceptions=True,
        )

    async def send(self, delivery: Delivery) -> str:
        """The history is the web chat's mailbox: the message is readable from now on, and pushed
        at once to the visitor's open windows.

        What is pushed is the stored message, whole, where the history has it: a message with
        text and files goes out in two parts under one id, and the widget shows an id once (the
        first part alone lost the text until a reload)."""
        visitor_id = delivery.recipient.external_id
        if visitor_id in self._sockets and not await self._push_stored(
            visitor_id, delivery.message_id
        ):
            self._push_delivery(delivery)
        self._tell_others(visitor_id, delivery.message_id)
        return str(delivery.message_id)

    def _tell_others(self, visitor_id: str, message_id: int) -> None:
        if self.relay is not None:
            self.relay(f"{visitor_id} {message_id}")

    def relayed(self, data: str) -> None:
        """Another process stored a message for a visitor: push it to their windows here."""
        visitor_id, _, message_id = data.partition(" ")
        if visitor_id in self._sockets and message_id.isdigit():
            task = asyncio.ensure_future(self._push_stored(visitor_id, int(message_id)))
            self._sends.add(task)
            task.add_done_callback(self._sent)

    async def _push_stored(self, visitor_id: str, message_id: int) -> bool:
        """Push the stored message to the visitor's windows here; False when their history does
        not hold it."""
        # Read back through the visitor's own history: only what this visitor may read.
        found = await self._host.history(
            self._identity(visitor_id), after_id=message_id - 1, limit=1
        )
        if not found or found[0].id != message_id:
            return False
        self._push(visitor_id, WireMessage.of(found[0], self._host.author_name(found[0].author)))
        return True

    def _push_delivery(self, delivery: Delivery) -> None:
        message = delivery.message
        wire = WireMessage.build(
            id=delivery.message_id,
            direction="out",
            author=delivery.author,
            author_name=self._host.author_name(delivery.author),
            text=message.text,
            buttons=message.buttons,
            attachments=message.attachments,
            created_at=self._host.clock.now(),
        )
        self._push(delivery.recipient.external_id, wire)

    # --- tokens -----------------------------------------------------------------------------------

    def _sign(self, visitor_id: str) -> str:
        mac = hmac.new(self._key, f"{self._ref.account}:{visitor_id}".encode(), hashlib.sha256)
        return f"{visitor_id}.{_b64(mac.digest())}"

    def visitor_of(self, token: str | None) -> str:
        """The visitor a token names, checked in constant time."""
        if not token or token.count(".") != 1:
            raise _ApiError(401, "unauthorized", "missing or malformed visitor token")
        visitor_id = token.split(".", 1)[0]
        if not hmac.compare_digest(self._sign(visitor_id).encode(), token.encode()):
            raise _ApiError(401, "unauthorized", "invalid visitor token")
        return visitor_id

    def _identity(self, visitor_id: str, profile: Profile | None = None) -> Identity:
        fields: dict[str, str] = {}
        if profile is not None:
            if profile.name:
                fields["name"] = profile.name
            if profile.phone:
                fields["phone"] = profile.phone
            if profile.email:
                fields["email"] = str(profile.email)
        return Identity(
            channel=self._ref,
            external_id=visitor_id,
            display_name=profile.name if profile is not None and profile.name else None,
            profile=fields,
        )

    # --- HTTP -------------------------------------------------------------------------------------

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return [
            web.get("/widget.js", self._widget),
            web.get("/demo", self._demo),
            web.route("OPTIONS", "/api/{tail:.*}", self._preflight),
            web.post("/api/visitors", self._api(self._new_visitor)),
            web.post("/api/messages", self._api(self._post_message)),
            web.get("/api/messages", self._api(self._history)),
            web.post("/api/profile", self._api(self._profile)),
            web.get("/api/ws", self._websocket),
        ]

    def _origin_allowed(self, origin: str | None) -> bool:
        allowed = self._settings.allowed_origins
        return origin is not None and ("*" in allowed or origin in allowed)

    def _cors(self, request: web.Request, response: web.StreamResponse) -> None:
        origin = request.headers.get("Origin")
        if self._origin_allowed(origin):
            assert origin is not None
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response.headers["Access-Control-Max-Age"] = "600"

    async def _preflight(self, request: web.Request) -> web.Response:
        response = web.Response(status=204)
        self._cors(request, response)
        return response

    def _api(self, handler: Any) -> Any:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                response: web.StreamResponse = await handler(request)
            except _ApiError as exc:
                response = exc.response()
            except ValidationError as exc:
                response = _validation_error(exc).response()
            except StoreUnavailable:
                response = _store_unavailable().response()
            self._cors(request, response)
            return response

        return wrapped

    async def _body(self, request: web.Request) -> Any:
        try:
            raw = await read_body(request, MAX_BODY)
            return parse_json(raw, scrub=False) if raw.strip() else {}
        except BodyRefused as exc:
            code = "too_large" if exc.status == 413 else "bad_json"
            raise _ApiError(exc.status, code, exc.reason) from None

    def _visitor(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        return self.visitor_of(token)

    async def _new_visitor(self, request: web.Request) -> web.Response:
        profile = Profile.model_validate(await self._body(request))
        visitor_id = _b64(secrets.token_bytes(16))
        await self._remember(visitor_id, profile)
        return web.json_response(
            {"visitor_id": visitor_id, "token": self._sign(visitor_id)}, status=201
        )

    async def _post_message(self, request: web.Request) -> web.Response:
        visitor_id = self._visitor(request)
        body = await self._body(request)  # kept as it came: the event's raw payload
        post = PostMessage.model_validate(body)
        message_id, duplicate = await self._accept(visitor_id, post, body)
        return web.json_response({"message_id": message_id, "duplicate": duplicate})

    async def _accept(self, visitor_id: str, post: PostMessage, raw: Any) -> tuple[int, bool]:
        sink = self._sink
        if sink is None:
            raise _ApiError(503, "unavailable", "the chat is not running; try again shortly")
        wait = self._throttle.check(visitor_id)
        if wait > 0:
            raise _ApiError(
                429, "too_many_messages", "too many messages; wait a moment", retry_after=wait
            )
        event = InboundEvent(
            event_id=f"{visitor_id}:{post.client_message_id}",
            identity=self._identity(visitor_id),
            message=InboundMessage(text=post.text or None, button_payload=post.button_payload),
            received_at=self._host.clock.now(),
            raw=raw,
        )
        try:
            receipt = await sink(event)
        except StoreUnavailable:
            raise _store_unavailable() from None
        except Exception:
            log.exception("could not store a web-chat message")
            raise _ApiError(503, "unavailable", "the message could not be stored; retry") from None
        if not receipt.duplicate:
            self._tell_others(visitor_id, receipt.message_id)
        if not receipt.duplicate and visitor_id in self._sockets:
            wire = WireMessage.build(
                id=receipt.message_id,
                direction="in",
                author="client",
                author_name=None,
                text=event.message.text,
                buttons=(),
                attachments=(),
                created_at=event.received_at,
                button_payload=event.message.button_payload,
            )
            self._push(visitor_id, wire)
        return receipt.message_id, receipt.duplicate

    async def _history(self, request: web.Request) -> web.Response:
        visitor_id = self._visitor(request)
        try:
            after = int(request.query.get("after", "0"))
            limit = min(HISTORY_PAGE, max(1, int(request.query.get("limit", str(HISTORY_PAGE)))))
        except ValueError:
            raise _ApiError(400, "bad_query", "after and limit must be whole numbers") from None
        messages = await self._wire_history(visitor_id, after, limit)
        return web.json_response({"messages": [m.model_dump(mode="json") for m in messages]})

    async def _wire_history(self, visitor_id: str, after: int, limit: int) -> list[WireMessage]:
        stored = await self._host.history(self._identity(visitor_id), after_id=after, limit=limit)
        return [WireMessage.of(m, self._host.author_name(m.author)) for m in stored]

    async def _profile(self, request: web.Request) -> web.Response:
        visitor_id = self._visitor(request)
        profile = Profile.model_validate(await self._body(request))
        await self._remember(visitor_id, profile)
        return web.json_response({"ok": True})

    async def _remember(self, visitor_id: str, profile: Profile) -> None:
        """Keep what the visitor told about themselves; a phone counts as a shared contact."""
        if not (profile.name or profile.phone or profile.email):
            return
        identity = self._identity(visitor_id, profile)
        await self._host.update_profile(identity)
        if profile.phone and self._sink is not None:
            # A phone given in the form counts as a shared contact, like Telegram's contact button.
            event = InboundEvent(
                event_id=f"{visitor_id}:profile:{_b64(hashlib.sha256(profile.phone.encode()).digest()[:9])}",
                identity=identity,
                message=InboundMessage(
                    contact=ContactShare(phone=profile.phone, name=profile.name)
                ),
                received_at=self._host.clock.now(),
                raw=profile.model_dump(mode="json"),
            )
            receipt = await self._sink(event)
            if not receipt.duplicate:
                # The visitor's open windows show the shared contact like any message they sent.
                self._tell_others(visitor_id, receipt.message_id)
                wire = WireMessage.build(
                    id=receipt.message_id,
                    direction="in",
                    author="client",
                    author_name=None,
                    text=None,
                    buttons=(),
                    attachments=(),
                    created_at=event.received_at,
                    contact=event.message.contact,
                )
                self._push(visitor_id, wire)

    # --- WebSocket --------------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and not self._origin_allowed(origin):
            # Browsers do not apply CORS to WebSockets: the server must check the origin itself.
            return _ApiError(403, "forbidden_origin", "this site may not open the chat").response()
        try:
            visitor_id = self.visitor_of(request.query.get("token"))
            after = int(request.query.get("after", "0"))
        except _ApiError as exc:
            return exc.response()
        except ValueError:
            return _ApiError(400, "bad_query", "after must be a whole number").response()
        ws = web.WebSocketResponse(heartbeat=25.0, max_msg_size=MAX_BODY)
        await ws.prepare(request)
        # Register first, then catch up: a message sent meanwhile comes twice, never not at all
        # (the widget shows each id once).
        self._sockets.setdefault(visitor_id, set()).add(ws)
        try:
            try:
                while True:
                    page = await self._wire_history(visitor_id, after, HISTORY_PAGE)
                    for wire in page:
                        await ws.send_str(self._frame(wire))
                        after = wire.id
                    if len(page) < HISTORY_PAGE:
                        break
            except StoreUnavailable:
                # 1013: try again later; the widget reconnects and catches up from `after`
                await ws.close(code=1013, message=b"store unavailable")
                return ws
            async for frame in ws:
                if frame.type is WSMsgType.TEXT:
                    await self._on_frame(ws, visitor_id, frame.data)
                elif frame.type is WSMsgType.BINARY:
                    # answered like any frame that is not a message: the sender learns why
                    await ws.send_json(
                        {"type": "error", "code": "bad_frame", "message": "send text frames"}
                    )
        finally:
            group = self._sockets.get(visitor_id)
            if group is not None:
                group.discard(ws)
                if not group:
                    del self._sockets[visitor_id]
        return ws

    async def _on_frame(self, ws: web.WebSocketResponse, visitor_id: str, data: str) -> None:
        try:
            try:
                body = parse_json(data, scrub=False)
            except BodyRefused as exc:
                raise _ApiError(400, "bad_json", exc.reason) from None
            if not isinstance(body, dict) or body.get("type") != "message":
                raise _ApiError(400, "bad_frame", 'expected {"type": "message", ...}')
            body = {k: v for k, v in body.items() if k != "type"}
            post = PostMessage.model_validate(body)
            message_id, _ = await self._accept(visitor_id, post, body)
        except ValueError as exc:
            error = (
                _validation_error(exc)
                if isinstance(exc, ValidationError)
                else _ApiError(400, "bad_json", "the frame is not valid JSON")
            )
            await ws.send_json({"type": "error", "code": error.code, "message": error.message})
            return
        except _ApiError as exc:
            await ws.send_json({"type": "error", "code": exc.code, "message": exc.message})
            return
        await ws.send_json(
            {"type": "ack", "client_message_id": post.client_message_id, "message_id": message_id}
        )

    @staticmethod
    def _frame(wire: WireMessage) -> str:
        return json.dumps({"type": "message", "message": wire.model_dump(mode="json")})

    def _push(self, visitor_id: str, wire: WireMessage) -> None:
        """Queue a frame to every open window of the visitor. Not awaited: a slow socket never
        holds up the sender, and a lost frame is caught up from history on reconnect."""
        sockets = self._sockets.get(visitor_id)
        if not sockets:
            return
        frame = self._frame(wire)
        for ws in list(sockets):
            if ws.closed:
                sockets.discard(ws)
                continue
            task = asyncio.ensure_future(ws.send_str(frame))
            self._sends.add(task)
            task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Future[Any]) -> None:
        self._sends.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("a web-chat frame was not delivered: %r", task.exception())

    # --- pages ------------------------------------------------------------------------------------

    async def _widget(self, request: web.Request) -> web.StreamResponse:
        response = web.FileResponse(
            STATIC / "widget.js", headers={"Content-Type": "application/javascript"}
        )
        response.headers["Cache-Control"] = "no-cache"
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    async def _demo(self, request: web.Request) -> web.Response:
        html = (STATIC / "demo.html").read_text(encoding="utf-8")
        src = f"/channels/{self._ref.type}/{self._ref.account}/widget.js"
        html = html.replace("{{WIDGET_SRC}}", src).replace("{{ACCOUNT}}", self._ref.account)
        return web.Response(text=html, content_type="text/html")
