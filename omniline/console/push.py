"""Live push for desks: ``GET /api/v1/push`` upgrades to a WebSocket that sends what happens in
the dialogs the account sees, and operators' presence.

Everything is read from the store's feed (dialog events and messages in commit-safe order, see
:meth:`FeedRepository.read <omniline.store.feed.FeedRepository.read>`), so a desk sees what every worker
process did, and a reconnecting desk that passes the last ``cursor`` it got receives everything
after it: no gaps and nothing twice. The connection wakes at once for what happens in this
process, and polls for the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web
from pydantic import BaseModel

from omniline.console.access import sees
from omniline.console.endpoints import ApiError, forbidden
from omniline.console.schemas import DialogView, EventView, MessageView, OperatorView
from omniline.console.views import dialog_view, event_view, message_view
from omniline.engine.clock import first_of
from omniline.engine.ports import FeedCursor
from omniline.model import Dialog, Operator
from omniline.model.account import Account
from omniline.store.console import DialogPeople

if TYPE_CHECKING:
    from omniline.console.handlers import DeskApi
    from omniline.console.handlers.common import Context
    from omniline.console.presence import ConsolePresence

log = logging.getLogger("omniline.console.push")

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


@dataclass(frozen=True)
class BuiltFrame:
    """One event or message of the feed, made into a frame once for every desk that sees it."""

    dialog: Dialog
    event_id: int
    message_id: int
    """Its place in the feed: the cursor after it."""
    body: str
    """The frame's JSON after its ``cursor`` member, which each desk's own cursor fills in."""
    kind: str


@dataclass(frozen=True)
class BuiltPage:
    frames: tuple[BuiltFrame, ...]
    people: DialogPeople
    cursor: FeedCursor
    empty: bool


class SharedPages:
    """What comes after a cursor, read and made into frames once for all the desks in this
    process that stand at that cursor (live desks all stand at the same one): N desks cost one
    set of queries per change, not N. A read in flight is shared; an empty answer is not kept,
    since more may come."""

    KEEP = 16
    """Cursors kept: live desks stand at one, catching-up ones walk through a few."""

    def __init__(self, desk: Context) -> None:
        self.desk = desk
        self._pages: OrderedDict[FeedCursor, asyncio.Task[BuiltPage]] = OrderedDict()

    async def after(self, cursor: FeedCursor) -> BuiltPage:
        task = self._pages.get(cursor)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = asyncio.create_task(self._build(cursor))
            task.add_done_callback(partial(self._settled, cursor))
            self._pages[cursor] = task
            while len(self._pages) > self.KEEP:
                self._pages.popitem(last=False)
        self._pages.move_to_end(cursor)
        # A desk that leaves while the read is in flight must not cancel it for the others.
        return await asyncio.shield(task)

    def _settled(self, cursor: FeedCursor, task: asyncio.Task[BuiltPage]) -> None:
        failed = task.cancelled() or task.exception() is not None
        if (failed or task.result().empty) and self._pages.get(cursor) is task:
            del self._pages[cursor]

    async def _build(self, cursor: FeedCursor) -> BuiltPage:
        desk = self.desk
        page = await desk.host.store.feed.read(cursor, limit=200)
        ids = {e.dialog_id for e in page.events} | {m.dialog_id for m in page.messages}
        dialogs = await desk.queries.by_ids(sorted(ids))
        people = await desk.queries.people(sorted(dialogs))
        frames: list[BuiltFrame] = []
        event_id, message_id = cursor.event_id, cursor.message_id
        for item in page.events:
            event_id = item.id
            dialog = dialogs.get(item.dialog_id)
            if dialog is not None:
                body = _body(
                    EventFrame(
                        cursor="",
                        dialog=dialog_view(dialog, people),
                        event=event_view(item.event, dialog_id=item.dialog_id, event_id=item.id),
                    )
                )
                frames.append(BuiltFrame(dialog, event_id, message_id, body, "event"))
        for message in page.messages:
            message_id = message.id
            dialog = dialogs.get(message.dialog_id)
            if dialog is not None:
                view = message_view(message, desk.message_author(dialog))
                body = _body(MessageFrame(cursor="", message=view))
                frames.append(BuiltFrame(dialog, event_id, message_id, body, "message"))
        empty = not page.events and not page.messages
        return BuiltPage(tuple(frames), people, page.cursor, empty)


def _body(frame: EventFrame | MessageFrame) -> str:
    text = frame.model_dump_json()
    prefix = f'{{"type":"{frame.type}","cursor":"",'
    assert text.startswith(prefix)
    return text[len(prefix) :]


def _with_cursor(frame: BuiltFrame, cursor: FeedCursor) -> str:
    """The frame with the desk's cursor after it: the feed's place, but never behind what the
    desk had already (a desk that comes from another process may be ahead on one count)."""
    after = f"{max(frame.event_id, cursor.event_id)}.{max(frame.message_id, cursor.message_id)}"
    return f'{{"type":"{frame.kind}","cursor":"{after}",{frame.body}'


def _after(cursor: FeedCursor, page_cursor: FeedCursor) -> FeedCursor:
    return FeedCursor(
        event_id=max(cursor.event_id, page_cursor.event_id),
        message_id=max(cursor.message_id, page_cursor.message_id),
    )


class Push:
    def __init__(self, desk: DeskApi, news: Broadcast, presence: ConsolePresence | None) -> None:
        self.desk = desk
        self.context = desk.context
        self.news = news
        self.presence = presence
        self.pages = SharedPages(desk.context)
        self.sockets: set[web.WebSocketResponse] = set()
        self._roster: asyncio.Task[list[Operator]] | None = None
        self._roster_at = 0.0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        host = self.context.host
        request = _with_query_token(request)
        account, session = await self.desk.api.caller(request)
        if session is not None:
            _same_origin(request, host.public_url)
        cursor_text = request.query.get("cursor")
        end = await host.store.feed.end()
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
        ctx = self.context
        clock = ctx.host.clock
        hello = Hello(cursor=format_cursor(cursor), account=account, reset=reset)
        await ws.send_str(hello.model_dump_json())
        presence: dict[str, str] = {}
        visible = await ctx.access.visible_lines(account)
        checked_at, generation = clock.now().timestamp(), ctx.accounts.generation
        try:
            while not ws.closed:
                woken = self.news.waiter()
                page = await self.pages.after(cursor)
                now = clock.now().timestamp()
                due = now >= checked_at + PRESENCE_EVERY
                if due or (page.frames and generation != ctx.accounts.generation):
                    # A session that ended, a revoked token, a disabled account or a new role
                    # takes effect on an open push too: at once when it changed in this
                    # process, within seconds when in another.
                    try:
                        account, _ = await self.desk.api.caller(request)
                    except ApiError as exc:
                        await ws.close(code=1008, message=exc.message.encode()[:120])
                        return
                    visible = await ctx.access.visible_lines(account)
                    checked_at, generation = now, ctx.accounts.generation
                for frame in page.frames:
                    if sees(account, visible, frame.dialog, page.people):
                        await ws.send_str(_with_cursor(frame, cursor))
                cursor = _after(cursor, page.cursor)
                if due:
                    await self._presence(ws, presence)
                if page.empty:
                    await first_of(woken.wait(), clock.sleep(POLL))
        except (ConnectionResetError, RuntimeError):
            return  # the desk went away mid-send
        except Exception:
            log.exception("live push to %s failed", account.id)
            await ws.close(code=1011, message=b"push failed; reconnect with your cursor")

    async def _operators(self) -> list[Operator]:
        """The operators as they are, read at most once a second for all the desks here."""
        now = self.context.host.clock.now().timestamp()
        task = self._roster
        if task is None or now - self._roster_at >= 1.0 or (task.done() and task.exception()):
            task = self._roster = asyncio.create_task(self.context.host.store.operators.all())
            self._roster_at = now
        return await asyncio.shield(task)

    async def _presence(self, ws: web.WebSocketResponse, seen: dict[str, str]) -> None:
        changed = []
        for operator in await self._operators():
            state = operator.model_dump_json()
            if seen.get(operator.id) != state:
                seen[operator.id] = state
                changed.append(operator)
        if not changed:
            return
        lines = await self.context.queues()
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
