"""Live push for desks: ``GET /api/v1/push`` upgrades to a WebSocket that sends what happens in
the dialogs the account sees, and operators' presence.

Everything is read from the store's feed (dialog events and messages in commit-safe order, see
:meth:`Store.feed`), so a desk sees what every worker process did, and a reconnecting desk that
passes the last ``cursor`` it got receives everything after it: no gaps and nothing twice. The
connection wakes at once for what happens in this process, and polls for the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web
from pydantic import BaseModel

from omniline.desk.accounts import Account
from omniline.desk.routing import ApiError, forbidden
from omniline.desk.schemas import DialogView, EventView, MessageView, OperatorView
from omniline.desk.views import dialog_view, event_view, message_view
from omniline.engine.clock import first_of
from omniline.engine.ports import FeedCursor, FeedPage
from omniline.model import Dialog

if TYPE_CHECKING:
    from omniline.desk.handlers import DeskApi
    from omniline.desk.presence import ConsolePresence

log = logging.getLogger("omniline.desk.push")

POLL = 1.0
"""Seconds between looks at the database for what other processes did."""
PRESENCE_EVERY = 2.0
"""Seconds between looks at operators' presence and at the account itself (still allowed?)."""


class Hello(BaseModel):
    type: str = "hello"
    cursor: str
    account: Account
    reset: bool = False
    """The cursor given is ahead of everything stored (the database was replaced): the push goes
    on from now, and the desk should load its lists afresh."""


class EventFrame(BaseModel):
    type: str = "event"
    cursor: str
    dialog: DialogView
    event: EventView


class MessageFrame(BaseModel):
    type: str = "message"
    cursor: str
    message: MessageView


class PresenceFrame(BaseModel):
    type: str = "presence"
    operator: OperatorView


def format_cursor(cursor: FeedCursor) -> str:
    return f"{cursor.event_id}.{cursor.message_id}"


def parse_cursor(text: str) -> FeedCursor:
    event, _, message = text.partition(".")
    if not (event.isdigit() and message.isdigit()) or len(text) > 40:
        raise ApiError(400, "invalid", "cursor must look like '<event id>.<message id>'")
    return FeedCursor(event_id=int(event), message_id=int(message))


class Broadcast:
    """Wakes every waiter when something happens in this process."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def waiter(self) -> asyncio.Event:
        return self._event


class Push:
    def __init__(self, desk: DeskApi, news: Broadcast, presence: ConsolePresence | None) -> None:
        self.desk = desk
        self.news = news
        self.presence = presence
        self.sockets: set[web.WebSocketResponse] = set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        desk = self.desk
        request = _with_query_token(request)
        account, session = await desk.api.caller(request)
        if session is not None:
            _same_origin(request, desk.app.config.server.public_url)
        cursor_text = request.query.get("cursor")
        end = await desk.app.store.feed_end()
        cursor = parse_cursor(cursor_text) if cursor_text else end
        reset = cursor.event_id > end.event_id or cursor.message_id > end.message_id
        if reset:
            cursor = end
        ws = web.WebSocketResponse(heartbeat=30.0)
        await ws.prepare(request)
        self.sockets.add(ws)
        operator_id = account.operator_id if self.presence is not None else None
        if operator_id is not None and self.presence is not None:
            await self.presence.connected(operator_id)
        sender = asyncio.create_task(self._send(ws, request, account, cursor, reset))
        try:
            async for message in ws:  # the desk sends nothing we need; this notices a close
                if message.type is WSMsgType.ERROR:
                    break
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            self.sockets.discard(ws)
            if operator_id is not None and self.presence is not None:
                await self.presence.disconnected(operator_id)
        return ws

    async def close_all(self) -> None:
        for ws in list(self.sockets):
            await ws.close(code=1001, message=b"server shutting down")

    async def _send(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        account: Account,
        cursor: FeedCursor,
        reset: bool,
    ) -> None:
        desk = self.desk
        clock = desk.app.clock
        hello = Hello(cursor=format_cursor(cursor), account=account, reset=reset)
        await ws.send_str(hello.model_dump_json())
        presence: dict[str, str] = {}
        next_presence = 0.0
        try:
            while not ws.closed:
                woken = self.news.waiter()
                page = await desk.app.store.feed(cursor, limit=200)
                now = clock.now().timestamp()
                presence_due = now >= next_presence
                if page.events or page.messages or presence_due:
                    # A session that ended, a revoked token, a disabled account or a new role
                    # takes effect on an open push too, before anything more is sent.
                    try:
                        account, _ = await desk.api.caller(request)
                    except ApiError as exc:
                        await ws.close(code=1008, message=exc.message.encode()[:120])
                        return
                cursor = await self._page(ws, account, cursor, page)
                if presence_due:
                    await self._presence(ws, presence)
                    next_presence = now + PRESENCE_EVERY
                if not page.events and not page.messages:
                    await first_of(woken.wait(), clock.sleep(POLL))
        except (ConnectionResetError, RuntimeError):
            return  # the desk went away mid-send
        except Exception:
            log.exception("live push to %s failed", account.id)
            await ws.close(code=1011, message=b"push failed; reconnect with your cursor")

    async def _page(
        self, ws: web.WebSocketResponse, account: Account, cursor: FeedCursor, page: FeedPage
    ) -> FeedCursor:
        desk = self.desk
        ids = {e.dialog_id for e in page.events} | {m.dialog_id for m in page.messages}
        dialogs = await desk.queries.by_ids(sorted(ids))
        people = await desk.queries.people(sorted(dialogs))
        visible = await desk.visible_lines(account)

        def sees(dialog: Dialog | None) -> bool:
            if dialog is None:
                return False
            if visible is None or dialog.line_id in visible:
                return True
            me = account.operator_id
            return me is not None and (
                dialog.operator_id == me
                or me in people.offered_to.get(dialog.id, ())
                or me in people.members.get(dialog.id, ())
            )

        event_id, message_id = cursor.event_id, cursor.message_id
        for item in page.events:
            event_id = item.id
            dialog = dialogs.get(item.dialog_id)
            if dialog is None or not sees(dialog):
                continue
            frame = EventFrame(
                cursor=f"{event_id}.{message_id}",
                dialog=dialog_view(dialog, people),
                event=event_view(item.event, dialog_id=item.dialog_id, event_id=item.id),
            )
            await ws.send_str(frame.model_dump_json())
        for message in page.messages:
            message_id = message.id
            dialog = dialogs.get(message.dialog_id)
            if dialog is None or not sees(dialog):
                continue
            frame2 = MessageFrame(
                cursor=f"{event_id}.{message_id}",
                message=message_view(message, desk.message_author(dialog)),
            )
            await ws.send_str(frame2.model_dump_json())
        return page.cursor

    async def _presence(self, ws: web.WebSocketResponse, seen: dict[str, str]) -> None:
        changed = []
        for operator in await self.desk.app.store.operators():
            state = operator.model_dump_json()
            if seen.get(operator.id) != state:
                seen[operator.id] = state
                changed.append(operator)
        if not changed:
            return
        lines = await self.desk.queues()
        for operator in changed:
            view = OperatorView(**operator.model_dump(), lines=lines.get(operator.id, []))
            await ws.send_str(PresenceFrame(operator=view).model_dump_json())


def _with_query_token(request: web.Request) -> web.Request:
    """Browsers cannot set headers on a WebSocket: a token may come as ``?token=``."""
    token = request.query.get("token")
    if token and "Authorization" not in request.headers:
        return request.clone(headers={**request.headers, "Authorization": f"Bearer {token}"})
    return request


def _same_origin(request: web.Request, public_url: str | None) -> None:
    """A WebSocket opened with the session cookie must come from a page of this server (a
    browser sends the cookie with any page's WebSocket; the Origin tells whose page it is).
    Behind a proxy the page's origin is the public one: ``server.public_url``, or what the proxy
    says in ``X-Forwarded-Proto`` / ``X-Forwarded-Host``."""
    origin = request.headers.get("Origin")
    if origin is None:
        return  # not a browser
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme)
    host = request.headers.get("X-Forwarded-Host", request.host)
    expected = {f"{request.scheme}://{request.host}", f"{scheme}://{host}"}
    if public_url:
        parts = urlsplit(public_url)
        expected.add(f"{parts.scheme}://{parts.netloc}")
    if origin.rstrip("/") not in expected:
        raise forbidden("a WebSocket with the session cookie must come from this server's pages")
