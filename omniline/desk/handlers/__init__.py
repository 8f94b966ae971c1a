"""The REST API's endpoints under ``/api/v1``: sessions, accounts and tokens, lines, operators,
dialogs and their actions, clients, files and statistics.

Who sees what: an operator sees the dialogs of the lines whose queue they are in (or the lines
their account names) and any dialog they hold, are offered or were invited into; a supervisor
sees every dialog of their lines (all lines when their account names none); an admin sees all.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Optional

from aiohttp import BodyPartReader
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from omniline.crm import CrmError, CrmRecord
from omniline.desk.accounts import Account, Accounts, ApiToken, Role
from omniline.desk.queries import DeskQueries, DialogFilter
from omniline.desk.routing import (
    COOKIE_KEY,
    SESSION_COOKIE,
    Api,
    ApiError,
    Call,
    forbidden,
    invalid,
    not_found,
)
from omniline.desk.schemas import (
    AccountBody,
    AccountPatch,
    ClientView,
    DayCount,
    DialogView,
    Empty,
    EventView,
    InviteBody,
    LeadView,
    LineView,
    LoginBody,
    MessageView,
    NewToken,
    OperatorPatch,
    OperatorView,
    Page,
    ReplyBody,
    SessionView,
    ShiftBody,
    StatisticsView,
    TokenBody,
    TransferBody,
    UnmergeBody,
    WhisperBody,
)
from omniline.desk.throttle import SharedThrottle
from omniline.desk.views import dialog_view, event_view, message_view, sees
from omniline.desks import author_name
from omniline.engine.settings import LineSettings
from omniline.errors import DialogError, OmnilineError
from omniline.model import (
    AttachmentKind,
    Dialog,
    DialogStatus,
    OutboundMessage,
    Presence,
    Shift,
)
from omniline.store.executor import Executor

if TYPE_CHECKING:
    from omniline.app import Omniline

MAX_FILE = 10 * 1024 * 1024
MAX_ID = 10**18 - 1
"""Ids fit in 64 bits: a larger number is refused as invalid, never sent to the database."""
EARLIEST, LATEST = datetime(1971, 1, 1, tzinfo=UTC), datetime(9998, 1, 1, tzinfo=UTC)
CRM_WAIT = 3.0
log = logging.getLogger("omniline.desk")


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


class StatisticsQuery(BaseModel):
    since: datetime | None = Field(default=None, description="default: 7 days before `until`")
    until: datetime | None = Field(default=None, description="default: now")
    line: str | None = None


class DialogPage(Page[DialogView]):
    pass


class MessagePage(Page[MessageView]):
    pass


class EventPage(Page[EventView]):
    pass


class LinePage(Page[LineView]):
    pass


class OperatorPage(Page[OperatorView]):
    pass


class AccountPage(Page[Account]):
    pass


class TokenPage(Page[ApiToken]):
    pass


class FileView(BaseModel):
    kind: AttachmentKind
    url: str
    name: str
    size: int
    mime_type: str


_optional_settings: dict[str, Any] = {
    name: (Optional[field.annotation], None)  # noqa: UP045 - a type made at run time
    for name, field in LineSettings.model_fields.items()
    if name != "queue"
}
LineSettingsPatch: type[BaseModel] = create_model(
    "LineSettingsPatch",
    __config__=ConfigDict(extra="forbid"),
    __doc__="Any of a line's settings (see the configuration reference). The result is validated "
    "as a whole before it takes effect. The queue is in the database: not changed here.",
    **_optional_settings,
)


class DeskApi:
    """The endpoints, bound to one application."""

    def __init__(
        self, app: Omniline, accounts: Accounts, queries: DeskQueries, executor: Executor
    ) -> None:
        self.app = app
        self.accounts = accounts
        self.queries = queries
        self.api = Api("/api/v1", accounts)
        self.login_throttle = SharedThrottle(executor, app.clock, rate=5 / 60, burst=5)
        """Per login (every try) and per address (failed tries): 5 at once, then one every 12 s,
        counted across every worker process."""
        self._declare()

    # --- who sees what --------------------------------------------------------------------------

    async def visible_lines(self, account: Account) -> tuple[str, ...] | None:
        """The lines whose dialogs the account sees (None: all)."""
        if account.role is Role.ADMIN:
            return None
        if account.lines is not None:
            return account.lines
        if account.role is Role.SUPERVISOR:
            return None
        if account.operator_id is None:
            return ()
        return tuple(await self.app.store.lines_of(account.operator_id))

    async def dialog_for(self, account: Account, dialog_id: int) -> Dialog:
        dialog = await self.app.store.dialog(dialog_id)
        if dialog is None or not await self._sees(account, dialog):
            raise not_found(f"dialog {dialog_id}")
        return dialog

    async def _sees(self, account: Account, dialog: Dialog) -> bool:
        visible = await self.visible_lines(account)
        if visible is None or dialog.line_id in visible:
            return True
        return sees(account, visible, dialog, await self.queries.people([dialog.id]))

    @staticmethod
    def operator_of(account: Account) -> str:
        if account.operator_id is None:
            raise forbidden("this account is not an operator, so it cannot take dialogs")
        return account.operator_id

    async def view(self, dialog: Dialog) -> DialogView:
        people = await self.queries.people([dialog.id])
        return dialog_view(dialog, people)

    async def fresh_view(self, dialog_id: int) -> DialogView:
        dialog = await self.app.store.dialog(dialog_id)
        if dialog is None:
            raise not_found(f"dialog {dialog_id}")
        return await self.view(dialog)

    def author_name(self, author: str) -> str:
        return author_name(author, self.app.operator_names)

    # --- endpoints ------------------------------------------------------------------------------

    def _declare(self) -> None:
        api = self.api
        ID = {"dialog_id": int}
        OP, SUP, ADMIN = Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN

        # sessions
        api.route(
            "POST", "/session", role=None, body=LoginBody, answer=SessionView, tag="session",
            summary="Log in to the console (sets the session cookie)",
        )(self.login)  # fmt: skip
        api.route(
            "DELETE", "/session", role=OP, tag="session", summary="Log out",
        )(self.logout)  # fmt: skip
        api.route(
            "GET", "/me", role=OP, answer=SessionView, tag="session",
            summary="Who is logged in (and the CSRF token of the session)",
        )(self.me)  # fmt: skip

        # accounts and tokens
        api.route(
            "GET", "/accounts", role=ADMIN, answer=AccountPage, tag="accounts",
            summary="All accounts",
        )(self.list_accounts)  # fmt: skip
        api.route(
            "POST", "/accounts", role=ADMIN, body=AccountBody, answer=Account, status=201,
            tag="accounts", summary="Create an account",
        )(self.create_account)  # fmt: skip
        api.route(
            "PATCH", "/accounts/{account_id}", role=ADMIN, body=AccountPatch, answer=Account,
            tag="accounts", summary="Change an account (a new password ends its sessions)",
        )(self.update_account)  # fmt: skip
        api.route(
            "GET", "/tokens", role=OP, answer=TokenPage, tag="accounts",
            summary="API tokens (yours; an admin's: everyone's)",
        )(self.list_tokens)  # fmt: skip
        api.route(
            "POST", "/tokens", role=OP, body=TokenBody, answer=NewToken, status=201,
            tag="accounts", summary="Create an API token (its secret is shown once)",
        )(self.create_token)  # fmt: skip
        api.route(
            "DELETE", "/tokens/{token_id}", role=OP, tag="accounts",
            path_types={"token_id": int}, summary="Revoke an API token",
        )(self.revoke_token)  # fmt: skip

        # lines and operators
        api.route(
            "GET", "/lines", role=OP, answer=LinePage, tag="lines",
            summary="The lines this account sees, with their settings",
        )(self.list_lines)  # fmt: skip
        api.route(
            "GET", "/lines/{line_id}", role=OP, answer=LineView, tag="lines",
            summary="One line and its settings",
        )(self.get_line)  # fmt: skip
        api.route(
            "PATCH", "/lines/{line_id}", role=ADMIN, body=LineSettingsPatch, answer=LineView,
            tag="lines", summary="Change a line's settings (validated as a whole)",
        )(self.update_line)  # fmt: skip
        api.route(
            "GET", "/operators", role=OP, answer=OperatorPage, tag="operators",
            summary="Operators with presence, shift, capacity and load",
        )(self.list_operators)  # fmt: skip
        api.route(
            "GET", "/operators/{operator_id}", role=OP, answer=OperatorView, tag="operators",
            summary="One operator",
        )(self.get_operator)  # fmt: skip
        api.route(
            "PATCH", "/operators/{operator_id}", role=OP, body=OperatorPatch, answer=OperatorView,
            tag="operators",
            summary="Presence (yourself; a supervisor: their lines' operators), capacity, name (admin)",
        )(self.update_operator)  # fmt: skip
        api.route(
            "POST", "/operators/{operator_id}/shift", role=OP, body=ShiftBody,
            answer=OperatorView, tag="operators",
            summary="Start the day, take a break, resume, finish (yourself; a supervisor: their lines')",
        )(self.shift)  # fmt: skip

        # dialogs
        api.route(
            "GET", "/dialogs", role=OP, query=DialogQuery, answer=DialogPage, tag="dialogs",
            summary="Dialogs, newest first, filtered",
        )(self.list_dialogs)  # fmt: skip
        api.route(
            "GET", "/dialogs/{dialog_id}", role=OP, answer=DialogView, tag="dialogs",
            path_types=ID, summary="One dialog",
        )(self.get_dialog)  # fmt: skip
        api.route(
            "GET", "/dialogs/{dialog_id}/messages", role=OP, query=MessageQuery,
            answer=MessagePage, tag="dialogs", path_types=ID,
            summary="The dialog's messages in order, whispers included",
        )(self.messages)  # fmt: skip
        api.route(
            "GET", "/dialogs/{dialog_id}/events", role=OP, answer=EventPage, tag="dialogs",
            path_types=ID, summary="The dialog's log",
        )(self.events)  # fmt: skip
        for name, summary in (
            ("accept", "Take the dialog"),
            ("skip", "Pass on a dialog offered to you"),
            ("pin", "Pin (never auto-closed)"),
            ("unpin", "Unpin"),
            ("close", "Close the dialog"),
            ("reopen", "Reopen a closed dialog"),
        ):
            api.route(
                "POST", f"/dialogs/{{dialog_id}}/{name}", role=OP, body=Empty, answer=DialogView,
                tag="dialog actions", path_types=ID, summary=summary,
            )(getattr(self, name))  # fmt: skip
        api.route(
            "POST", "/dialogs/{dialog_id}/transfer", role=OP, body=TransferBody,
            answer=DialogView, tag="dialog actions", path_types=ID,
            summary="Hand the dialog to an operator or to another line",
        )(self.transfer)  # fmt: skip
        api.route(
            "POST", "/dialogs/{dialog_id}/invite", role=OP, body=InviteBody, answer=DialogView,
            tag="dialog actions", path_types=ID, summary="Invite a colleague into the dialog",
        )(self.invite)  # fmt: skip
        api.route(
            "POST", "/dialogs/{dialog_id}/whisper", role=OP, body=WhisperBody,
            answer=DialogView, tag="dialog actions", path_types=ID,
            summary="A note only operators see (never sent to the client)",
        )(self.whisper)  # fmt: skip
        api.route(
            "POST", "/dialogs/{dialog_id}/reply", role=OP, body=ReplyBody, answer=DialogView,
            tag="dialog actions", path_types=ID, summary="Answer the client",
        )(self.reply)  # fmt: skip
        api.route(
            "POST", "/dialogs/{dialog_id}/lead", role=OP, body=Empty, answer=LeadView,
            tag="dialog actions", path_types=ID, summary="Make a CRM lead of the dialog's client",
        )(self.lead)  # fmt: skip

        # clients, files, statistics
        api.route(
            "GET", "/clients/{client_id}", role=OP, answer=ClientView, tag="clients",
            path_types={"client_id": int},
            summary="A client: identities, contacts, CRM record, links, dialogs",
        )(self.client)  # fmt: skip
        api.route(
            "POST", "/clients/{client_id}/unmerge", role=OP, body=UnmergeBody,
            answer=ClientView, tag="clients", path_types={"client_id": int},
            summary="Undo a wrong link of two clients",
        )(self.unmerge)  # fmt: skip
        api.route(
            "POST", "/files", role=OP, answer=FileView, status=201, tag="files",
            multipart=True, summary="Upload a file to attach to a reply (10 MB at most)",
        )(self.upload)  # fmt: skip
        api.route(
            "GET", "/statistics", role=SUP, query=StatisticsQuery, answer=StatisticsView,
            tag="statistics", summary="The engine's figures over a time range",
        )(self.statistics)  # fmt: skip

    # --- sessions -------------------------------------------------------------------------------

    async def login(self, call: Call) -> SessionView:
        body = call.body_as(LoginBody)
        # Every try counts against the login; only failed ones against the address, so that a
        # team behind one address can all log in at the start of a shift.
        address_key = f"address:{call.request.remote or 'unknown'}"
        wait = max(
            await self.login_throttle.peek(address_key),
            await self.login_throttle.check(f"login:{body.login.casefold()}"),
        )
        if wait > 0:
            raise ApiError(
                429,
                "rate_limited",
                "too many login attempts; try again later",
                headers={"Retry-After": str(int(wait) + 1)},
            )
        account = await self.accounts.verify(body.login, body.password)
        if account is None:
            await self.login_throttle.check(address_key)
            raise ApiError(401, "unauthenticated", "wrong login or password")
        secret, session = await self.accounts.open_session(account.id)
        call.request[COOKIE_KEY] = (secret, session.expires_at)
        return SessionView(account=account, csrf_token=session.csrf_token)

    async def logout(self, call: Call) -> None:
        secret = call.request.cookies.get(SESSION_COOKIE)
        if secret:
            await self.accounts.close_session(secret)
        call.request[COOKIE_KEY] = ("", None)

    async def me(self, call: Call) -> SessionView:
        account = call.account
        lines = await self.visible_lines(account)
        shown = account.model_copy(update={"lines": lines if lines is not None else None})
        csrf = call.session.csrf_token if call.session is not None else None
        return SessionView(account=shown, csrf_token=csrf)

    # --- accounts and tokens --------------------------------------------------------------------

    async def list_accounts(self, call: Call) -> AccountPage:
        return AccountPage(items=await self.accounts.all())

    async def create_account(self, call: Call) -> Account:
        body = call.body_as(AccountBody)
        account = self._checked_account(
            Account(
                id=body.id,
                name=body.name,
                role=body.role,
                operator_id=body.operator_id,
                lines=tuple(body.lines) if body.lines is not None else None,
            )
        )
        if not await self.accounts.create(account):
            raise ApiError(409, "conflict", f"account {body.id!r} exists already")
        if body.password is not None:
            await self.accounts.set_password(account.id, body.password)
        return account

    async def update_account(self, call: Call) -> Account:
        body = call.body_as(AccountPatch)
        account_id = call.path("account_id")
        account = await self.accounts.get(account_id)
        if account is None:
            raise not_found(f"account {account_id!r}")
        changes = body.model_dump(exclude_unset=True, exclude={"password"})
        if "lines" in changes and changes["lines"] is not None:
            changes["lines"] = tuple(changes["lines"])
        if changes.get("disabled") and account_id == call.account.id:
            raise ApiError(409, "conflict", "you cannot disable your own account")
        changed = self._checked_account(account.model_copy(update=changes))
        await self.accounts.save(changed)
        if body.password is not None:
            await self.accounts.set_password(account_id, body.password)
        return changed

    def _checked_account(self, account: Account) -> Account:
        try:
            account = Account.model_validate(account.model_dump())
        except ValidationError as exc:
            raise invalid(exc, "body") from None
        if account.operator_id is not None and account.operator_id not in self.app.operator_names:
            raise _bad("body.operator_id", f"no operator {account.operator_id!r}")
        if account.role is Role.OPERATOR and account.operator_id is None:
            raise _bad("body.operator_id", "an operator account needs the operator it acts as")
        unknown = [line for line in account.lines or () if line not in self.app.lines]
        if unknown:
            raise _bad("body.lines", "no such lines: " + ", ".join(unknown))
        return account

    async def list_tokens(self, call: Call) -> TokenPage:
        account = call.account
        owner = None if account.role is Role.ADMIN else account.id
        return TokenPage(items=await self.accounts.tokens(owner))

    async def create_token(self, call: Call) -> NewToken:
        body = call.body_as(TokenBody)
        owner = body.account_id or call.account.id
        if owner != call.account.id and call.account.role is not Role.ADMIN:
            raise forbidden("only an admin makes tokens for other accounts")
        if await self.accounts.get(owner) is None:
            raise _bad("body.account_id", f"no account {owner!r}")
        secret, record = await self.accounts.create_token(owner, body.name)
        return NewToken(token=secret, record=record)

    async def revoke_token(self, call: Call) -> None:
        token_id = call.path_int("token_id")
        token = await self.accounts.token(token_id)
        mine = token is not None and token.account_id == call.account.id
        if token is None or not (mine or call.account.role is Role.ADMIN):
            raise not_found(f"token {token_id}")
        await self.accounts.revoke_token(token_id)

    # --- lines and operators --------------------------------------------------------------------

    def _line_view(self, line_id: str) -> LineView:
        line = self.app.lines[line_id]
        return LineView(id=line.id, name=line.name, settings=line.settings.model_dump(mode="json"))

    async def _visible_line(self, account: Account, line_id: str) -> str:
        lines = await self.visible_lines(account)
        if line_id not in self.app.lines or (lines is not None and line_id not in lines):
            raise not_found(f"line {line_id!r}")
        return line_id

    async def list_lines(self, call: Call) -> LinePage:
        lines = await self.visible_lines(call.account)
        shown = [i for i in self.app.lines if lines is None or i in lines]
        return LinePage(items=[self._line_view(i) for i in shown])

    async def get_line(self, call: Call) -> LineView:
        return self._line_view(await self._visible_line(call.account, call.path("line_id")))

    async def update_line(self, call: Call) -> LineView:
        line_id = await self._visible_line(call.account, call.path("line_id"))
        changes = call.body_as(LineSettingsPatch).model_dump(mode="json", exclude_unset=True)
        line_changes = self.app.line_changes
        assert line_changes is not None  # the console runs on the SQL store
        try:
            await line_changes.change(line_id, changes, by=call.account.id)
        except ValidationError as exc:
            raise invalid(exc, "body") from None
        return self._line_view(line_id)

    async def _operator_view(self, operator_id: str) -> OperatorView:
        operator = await self.app.store.operator(operator_id)
        if operator is None:
            raise not_found(f"operator {operator_id!r}")
        lines = await self.app.store.lines_of(operator_id)
        return OperatorView(**operator.model_dump(), lines=lines)

    async def queues(self) -> dict[str, list[str]]:
        """Each operator's lines, read one queue a line (not one query an operator)."""
        found: dict[str, list[str]] = {}
        for line_id in self.app.lines:
            for operator_id in await self.app.store.queue(line_id):
                found.setdefault(operator_id, []).append(line_id)
        return found

    async def list_operators(self, call: Call) -> OperatorPage:
        lines = await self.queues()
        return OperatorPage(
            items=[
                OperatorView(**operator.model_dump(), lines=lines.get(operator.id, []))
                for operator in await self.app.store.operators()
            ]
        )

    async def get_operator(self, call: Call) -> OperatorView:
        return await self._operator_view(call.path("operator_id"))

    async def _may_manage(self, account: Account, operator_id: str) -> None:
        """Yourself; a supervisor: the operators of their lines; an admin: anyone."""
        if account.operator_id == operator_id or account.role is Role.ADMIN:
            return
        if not account.at_least(Role.SUPERVISOR):
            raise forbidden("an operator changes only their own presence and shift")
        lines = await self.visible_lines(account)
        if lines is not None and not set(lines) & set(await self.app.store.lines_of(operator_id)):
            raise forbidden("a supervisor manages the operators of their own lines")

    async def update_operator(self, call: Call) -> OperatorView:
        operator_id = call.path("operator_id")
        await self._operator_view(operator_id)
        body = call.body_as(OperatorPatch)
        await self._may_manage(call.account, operator_id)
        changes = body.model_dump(exclude_unset=True)
        if ("capacity" in changes or "name" in changes) and call.account.role is not Role.ADMIN:
            raise forbidden("only an admin changes an operator's capacity or name")
        operators = self.app.operators
        if "capacity" in changes:
            await operators.set_capacity(operator_id, body.capacity)
        if body.name is not None:
            await self.app.store.save_operator(operator_id, body.name)
            self.app.operator_names[operator_id] = body.name
        if body.presence is not None:
            await operators.set_presence(operator_id, body.presence)
        return await self._operator_view(operator_id)

    async def shift(self, call: Call) -> OperatorView:
        operator_id = call.path("operator_id")
        await self._operator_view(operator_id)
        await self._may_manage(call.account, operator_id)
        operators = self.app.operators
        action = call.body_as(ShiftBody).action
        current = await operators.get(operator_id)
        if action == "start":
            await operators.set_presence(operator_id, Presence.ONLINE)
            if current.shift is not Shift.WORKING:
                await operators.start_day(operator_id)
        elif action == "break":
            await _in_turn(operators.take_break(operator_id))
        elif action == "resume":
            await _in_turn(operators.resume(operator_id))
        else:
            await operators.finish_day(operator_id)
            await operators.set_presence(operator_id, Presence.OFFLINE)
        return await self._operator_view(operator_id)

    # --- dialogs --------------------------------------------------------------------------------

    async def list_dialogs(self, call: Call) -> DialogPage:
        q = call.query_as(DialogQuery)
        account = call.account
        visible = await self.visible_lines(account)
        found = await self.queries.dialogs(
            DialogFilter(
                lines=tuple(q.line),
                statuses=tuple(q.status),
                operator_id=q.operator,
                channel_type=q.channel,
                client_id=q.client,
                visible_lines=visible,
                operator_self=account.operator_id if visible is not None else None,
            ),
            before=q.cursor,
            limit=q.limit + 1,
        )
        page, more = found[: q.limit], len(found) > q.limit
        people = await self.queries.people([d.id for d in page])
        return DialogPage(
            items=[dialog_view(d, people) for d in page],
            next=str(page[-1].id) if more else None,
        )

    async def get_dialog(self, call: Call) -> DialogView:
        return await self.view(await self.dialog_for(call.account, call.path_int("dialog_id")))

    async def messages(self, call: Call) -> MessagePage:
        dialog = await self.dialog_for(call.account, call.path_int("dialog_id"))
        q = call.query_as(MessageQuery)
        found = await self.app.store.messages(
            dialog.id, after_id=q.after, limit=q.limit + 1, with_internal=True
        )
        page, more = found[: q.limit], len(found) > q.limit
        return MessagePage(
            items=[message_view(m, self.message_author(dialog)) for m in page],
            next=str(page[-1].id) if more else None,
        )

    def message_author(self, dialog: Dialog) -> Callable[[str], str]:
        """How messages of this dialog name their authors (the client by their name)."""
        client = dialog.identity.display_name or "Client"

        def name(author: str) -> str:
            return client if author == "client" else self.author_name(author)

        return name

    async def events(self, call: Call) -> EventPage:
        dialog = await self.dialog_for(call.account, call.path_int("dialog_id"))
        log = await self.app.store.dialog_events(dialog.id)
        return EventPage(items=[event_view(e, dialog_id=dialog.id, event_id=None) for e in log])

    async def _acting(self, call: Call) -> tuple[Dialog, str]:
        dialog = await self.dialog_for(call.account, call.path_int("dialog_id"))
        return dialog, self.operator_of(call.account)

    async def accept(self, call: Call) -> DialogView:
        dialog, me = await self._acting(call)
        await self.app.dialogs.accept(dialog.id, me)
        return await self.fresh_view(dialog.id)

    async def skip(self, call: Call) -> DialogView:
        dialog, me = await self._acting(call)
        await self.app.dialogs.skip(dialog.id, me)
        return await self.fresh_view(dialog.id)

    async def pin(self, call: Call) -> DialogView:
        dialog, me = await self._acting(call)
        await self.app.dialogs.pin(dialog.id, me)
        return await self.fresh_view(dialog.id)

    async def unpin(self, call: Call) -> DialogView:
        dialog, me = await self._acting(call)
        await self.app.dialogs.unpin(dialog.id, me)
        return await self.fresh_view(dialog.id)

    async def close(self, call: Call) -> DialogView:
        """An operator in the dialog closes it; a supervisor may close any dialog they see."""
        dialog = await self.dialog_for(call.account, call.path_int("dialog_id"))
        account = call.account
        reason = call.body_as(Empty).reason
        in_dialog = account.operator_id is not None and await self._in_dialog(account, dialog)
        if in_dialog:
            actor = f"operator:{account.operator_id}"
        elif account.at_least(Role.SUPERVISOR):
            actor = f"supervisor:{account.id}"
        else:
            raise DialogError(f"you are not in dialog {dialog.id}")
        await self.app.dialogs.close(dialog.id, actor=actor, reason=reason)
        return await self.fresh_view(dialog.id)

    async def _in_dialog(self, account: Account, dialog: Dialog) -> bool:
        me = account.operator_id
        if me is None:
            return False
        return dialog.operator_id == me or me in await self.app.store.members(dialog.id)

    async def reopen(self, call: Call) -> DialogView:
        dialog, me = await self._acting(call)
        await self.app.dialogs.reopen(dialog.id, me)
        return await self.fresh_view(dialog.id)

    async def transfer(self, call: Call) -> DialogView:
        """The holder hands the dialog on; a supervisor may move any dialog they see."""
        dialog = await self.dialog_for(call.account, call.path_int("dialog_id"))
        body = call.body_as(TransferBody)
        account = call.account
        holder = dialog.operator_id
        if account.operator_id is not None and account.operator_id == holder:
            acting = account.operator_id
        elif account.at_least(Role.SUPERVISOR):  # moves it for the holder, or assigns it
            acting = holder or account.operator_id or account.id
        else:
            raise DialogError(f"only the operator holding dialog {dialog.id} transfers it")
        if body.line_id is not None and body.line_id not in self.app.lines:
            raise _bad("body.line_id", f"no line {body.line_id!r}")
        if body.operator_id is not None and body.operator_id not in self.app.operator_names:
            raise _bad("body.operator_id", f"no operator {body.operator_id!r}")
        await self.app.dialogs.transfer(
            dialog.id, acting, to_operator=body.operator_id, to_line=body.line_id
        )
        return await self.fresh_view(dialog.id)

    async def invite(self, call: Call) -> DialogView:
        dialog, me = await self._acting(call)
        colleague = call.body_as(InviteBody).operator_id
        if colleague not in self.app.operator_names:
            raise _bad("body.operator_id", f"no operator {colleague!r}")
        await self.app.dialogs.invite(dialog.id, me, colleague)
        return await self.fresh_view(dialog.id)

    async def whisper(self, call: Call) -> DialogView:
        dialog, me = await self._acting(call)
        await self.app.dialogs.whisper(dialog.id, me, call.body_as(WhisperBody).text)
        return await self.fresh_view(dialog.id)

    async def reply(self, call: Call) -> DialogView:
        dialog, me = await self._acting(call)
        body = call.body_as(ReplyBody)
        message = OutboundMessage(
            text=body.text if body.text and body.text.strip() else None,
            attachments=tuple(body.attachments),
        )
        await self.app.dialogs.reply(dialog.id, me, message)
        return await self.fresh_view(dialog.id)

    async def lead(self, call: Call) -> LeadView:
        dialog = await self.dialog_for(call.account, call.path_int("dialog_id"))
        crm = self.app.crm
        if crm is None:
            raise ApiError(409, "conflict", "no CRM is connected (crm: {type: none})")
        try:
            record = await crm.create_lead(dialog.id)
        except CrmError as exc:
            raise ApiError(502, "crm_failed", f"the CRM refused the lead: {exc}") from None
        except OmnilineError as exc:  # nobody to reach: no phone or email given yet
            raise ApiError(409, "conflict", str(exc)) from None
        return LeadView(dialog=await self.fresh_view(dialog.id), record_id=record.id)

    # --- clients --------------------------------------------------------------------------------

    async def _client_view(self, account: Account, client_id: int) -> ClientView:
        visible = await self.visible_lines(account)
        dialogs = await self.queries.dialogs(
            DialogFilter(
                client_id=client_id,
                visible_lines=visible,
                operator_self=account.operator_id if visible is not None else None,
            ),
            before=None,
            limit=100,
        )
        if not dialogs:
            raise not_found(f"client {client_id}")
        store = self.app.store
        people = await self.queries.people([d.id for d in dialogs])
        record_id = await store.client_record(client_id)
        return ClientView(
            id=client_id,
            identities=await self.queries.identities(client_id),
            contacts=await store.contact_values(client_id),
            crm_record=record_id,
            crm=await self._crm_record(record_id),
            links=await store.client_links(client_id),
            dialogs=[dialog_view(d, people) for d in dialogs],
        )

    async def _crm_record(self, record_id: str | None) -> CrmRecord | None:
        """The record from the CRM, if it answers in time: a CRM that is down leaves the card
        without it, never fails it."""
        crm = self.app.crm
        if record_id is None or crm is None:
            return None
        try:
            async with asyncio.timeout(CRM_WAIT):
                return await crm.crm.get(record_id)
        except (TimeoutError, CrmError) as exc:
            log.warning("the CRM did not give record %s: %s", record_id, exc)
            return None

    async def client(self, call: Call) -> ClientView:
        return await self._client_view(call.account, call.path_int("client_id"))

    async def unmerge(self, call: Call) -> ClientView:
        client_id = call.path_int("client_id")
        await self._client_view(call.account, client_id)
        link_id = call.body_as(UnmergeBody).link_id
        links = await self.app.store.client_links(client_id)
        if not any(link.id == link_id for link in links):
            raise not_found(f"link {link_id} of client {client_id}")
        await self.app.store.unmerge(link_id)
        return await self._client_view(call.account, client_id)

    # --- files ----------------------------------------------------------------------------------

    async def upload(self, call: Call) -> FileView:
        request = call.request
        if not request.content_type.startswith("multipart/"):
            raise ApiError(415, "invalid", "send the file as multipart/form-data, field 'file'")
        try:
            reader = await request.multipart()
            part = await reader.next()
            while part is not None and getattr(part, "name", None) != "file":
                part = await reader.next()
            if part is None or not isinstance(part, BodyPartReader):
                raise _bad("body.file", "no file field in the form")
            data = bytearray()
            while chunk := await part.read_chunk(64 * 1024):
                data.extend(chunk)
                if len(data) > MAX_FILE:
                    raise ApiError(
                        413, "too_large", f"a file may be {MAX_FILE // 2**20} MB at most"
                    )
        except (HttpProcessingError, ValueError, AssertionError) as exc:
            raise ApiError(400, "invalid", f"the form is malformed: {exc}") from None
        name = (part.filename or "file").replace("/", "_").replace("\\", "_")[:200] or "file"
        mime = part.headers.get("Content-Type") or mimetypes.guess_type(name)[0]
        mime = mime or "application/octet-stream"
        file_id = secrets.token_urlsafe(24)
        await self.queries.save_file(
            file_id,
            account_id=call.account.id,
            name=name,
            mime_type=mime,
            data=bytes(data),
            now=self.app.clock.now().timestamp(),
        )
        return FileView(
            kind=_kind(mime),
            url=f"{self.app.url}/files/{file_id}/{name}",
            name=name,
            size=len(data),
            mime_type=mime,
        )

    # --- statistics -----------------------------------------------------------------------------

    async def statistics(self, call: Call) -> StatisticsView:
        q = call.query_as(StatisticsQuery)
        for name, given in (("since", q.since), ("until", q.until)):
            if given is not None and not EARLIEST <= _aware(given) <= LATEST:
                raise _bad(f"query.{name}", "must be between 1971 and 9998")
        until = _aware(q.until) if q.until else self.app.clock.now()
        since = _aware(q.since) if q.since else until - timedelta(days=7)
        if since >= until:
            raise _bad("query.since", "must come before until")
        line_id = q.line
        visible = await self.visible_lines(call.account)
        if line_id is not None:
            await self._visible_line(call.account, line_id)
        elif visible is not None and len(visible) == 1:
            line_id = visible[0]
        elif visible is not None:
            raise _bad("query.line", "give one of your lines: " + ", ".join(visible))
        hours = {i: line.settings.working_hours for i, line in self.app.lines.items()}
        stats = await self.app.store.statistics(
            since=since, until=until, line_id=line_id, hours=hours
        )
        by_day = await self.queries.opened_by_day(
            since=since.timestamp(), until=until.timestamp(), line_id=line_id
        )
        return StatisticsView(
            since=since,
            until=until,
            overall=stats.overall,
            by_line=stats.by_line,
            by_operator=stats.by_operator,
            open_by_operator=stats.open_by_operator,
            by_day=[DayCount(day=day, dialogs=count) for day, count in by_day],
        )


def _bad(field: str, message: str) -> ApiError:
    from omniline.desk.schemas import FieldError

    return ApiError(422, "invalid", message, fields=[FieldError(field=field, message=message)])


async def _in_turn(step: Awaitable[object]) -> None:
    """A shift step out of turn (a break when not working) is a conflict with the state."""
    try:
        await step
    except OmnilineError as exc:
        raise ApiError(409, "conflict", str(exc)) from None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _kind(mime: str) -> AttachmentKind:
    major = mime.partition("/")[0]
    return {
        "image": AttachmentKind.IMAGE,
        "video": AttachmentKind.VIDEO,
        "audio": AttachmentKind.AUDIO,
    }.get(major, AttachmentKind.DOCUMENT)
