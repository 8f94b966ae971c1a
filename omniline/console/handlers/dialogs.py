"""Dialogs as the account sees them: lists, one dialog, its messages and its log."""

from __future__ import annotations

from pydantic import BaseModel, Field

from omniline.console import access
from omniline.console.endpoints import Call
from omniline.console.handlers.common import MAX_ID, Context
from omniline.console.schemas import DialogView, EventView, MessageView, Page
from omniline.console.views import dialog_view, event_view, message_view
from omniline.model import DialogStatus
from omniline.store.console import DialogFilter


class DialogQuery(BaseModel):
    line: list[str] = Field(default_factory=list)
    status: list[DialogStatus] = Field(default_factory=list)
    operator: str | None = None
    channel: str | None = None
    client: int | None = Field(default=None, ge=1, le=MAX_ID)
    cursor: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="the `next` of the page before"
    )
    limit: int = Field(default=50, ge=1, le=200)


class MessageQuery(BaseModel):
    after: int = Field(default=0, ge=0, le=MAX_ID, description="the last message id you have")
    limit: int = Field(default=200, ge=1, le=500)


class DialogPage(Page[DialogView]):
    pass


class MessagePage(Page[MessageView]):
    pass


class EventPage(Page[EventView]):
    pass


class DialogEndpoints:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def list_dialogs(self, call: Call) -> DialogPage:
        q = call.query_as(DialogQuery)
        account = call.account
        queries = self.ctx.queries
        visible = await self.ctx.access.visible_lines(account)
        found = await queries.dialogs(
            DialogFilter(
                lines=tuple(q.line),
                statuses=tuple(q.status),
                operator_id=q.operator,
                channel_type=q.channel,
                client_id=q.client,
                visible_lines=visible,
                operator_self=access.listed_as(account, visible),
            ),
            before=q.cursor,
            limit=q.limit + 1,
        )
        page, more = found[: q.limit], len(found) > q.limit
        people = await queries.people([d.id for d in page])
        return DialogPage(
            items=[dialog_view(d, people) for d in page],
            next=str(page[-1].id) if more else None,
        )

    async def get_dialog(self, call: Call) -> DialogView:
        ctx = self.ctx
        return await ctx.view(await ctx.dialog_for(call.account, call.path_int("dialog_id")))

    async def messages(self, call: Call) -> MessagePage:
        dialog = await self.ctx.dialog_for(call.account, call.path_int("dialog_id"))
        q = call.query_as(MessageQuery)
        found = await self.ctx.host.store.dialogs.messages(
            dialog.id, after_id=q.after, limit=q.limit + 1, with_internal=True
        )
        page, more = found[: q.limit], len(found) > q.limit
        author = self.ctx.message_author(dialog)
        return MessagePage(
            items=[message_view(m, author) for m in page],
            next=str(page[-1].id) if more else None,
        )

    async def events(self, call: Call) -> EventPage:
        dialog = await self.ctx.dialog_for(call.account, call.path_int("dialog_id"))
        log = await self.ctx.host.store.dialogs.events(dialog.id)
        return EventPage(items=[event_view(e, dialog_id=dialog.id, event_id=None) for e in log])
