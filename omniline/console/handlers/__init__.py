"""The REST API's endpoints under ``/api/v1``, one module per resource: sessions, accounts and
tokens, lines, operators, dialogs, dialog actions, clients, files and statistics.

Every endpoint is declared here, in one list, with the least role that may call it and its body,
query and answer models (see ``routing``); who may see and do what beyond the role is decided in
``omniline.console.access``.
"""

from __future__ import annotations

from omniline.console.accounts import Accounts
from omniline.console.endpoints import Api
from omniline.console.handlers.accounts import AccountEndpoints, AccountPage, TokenPage
from omniline.console.handlers.actions import ActionEndpoints
from omniline.console.handlers.clients import ClientEndpoints
from omniline.console.handlers.common import Context
from omniline.console.handlers.dialogs import (
    DialogEndpoints,
    DialogPage,
    DialogQuery,
    EventPage,
    MessagePage,
    MessageQuery,
)
from omniline.console.handlers.files import FileEndpoints, FileView
from omniline.console.handlers.lines import LineEndpoints, LinePage, LineSettingsPatch
from omniline.console.handlers.operators import OperatorEndpoints, OperatorPage
from omniline.console.handlers.session import SessionEndpoints
from omniline.console.handlers.statistics import StatisticsEndpoints, StatisticsQuery
from omniline.console.host import ConsoleHost
from omniline.console.schemas import (
    AccountBody,
    AccountPatch,
    ClientView,
    DialogView,
    Empty,
    InviteBody,
    LeadView,
    LineView,
    LoginBody,
    NewToken,
    OperatorPatch,
    OperatorView,
    ReplyBody,
    SessionView,
    ShiftBody,
    StatisticsView,
    TokenBody,
    TransferBody,
    UnmergeBody,
    WhisperBody,
)
from omniline.model.account import Account, Role
from omniline.store.console import ConsoleRepository


class DeskApi:
    """The endpoints of one console."""

    def __init__(self, host: ConsoleHost, accounts: Accounts, queries: ConsoleRepository) -> None:
        self.context = Context(host, accounts, queries)
        self.api = Api("/api/v1", accounts)
        self.sessions = SessionEndpoints(self.context)
        self.account_endpoints = AccountEndpoints(self.context)
        self.lines = LineEndpoints(self.context)
        self.operators = OperatorEndpoints(self.context)
        self.dialogs = DialogEndpoints(self.context)
        self.actions = ActionEndpoints(self.context)
        self.clients = ClientEndpoints(self.context)
        self.files = FileEndpoints(self.context)
        self.statistics = StatisticsEndpoints(self.context)
        self._declare()

    # --- endpoints ------------------------------------------------------------------------------

    def _declare(self) -> None:
        api = self.api
        ID = {"dialog_id": int}
        OP, SUP, ADMIN = Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN

        # sessions
        api.route(
            "POST", "/session", role=None, body=LoginBody, answer=SessionView, tag="session",
            summary="Log in to the console (sets the session cookie)",
        )(self.sessions.login)  # fmt: skip
        api.route(
            "DELETE", "/session", role=OP, tag="session", summary="Log out",
        )(self.sessions.logout)  # fmt: skip
        api.route(
            "GET", "/me", role=OP, answer=SessionView, tag="session",
            summary="Who is logged in (and the CSRF token of the session)",
        )(self.sessions.me)  # fmt: skip

        # accounts and tokens
        api.route(
            "GET", "/accounts", role=ADMIN, answer=AccountPage, tag="accounts",
            summary="All accounts",
        )(self.account_endpoints.list_accounts)  # fmt: skip
        api.route(
            "POST", "/accounts", role=ADMIN, body=AccountBody, answer=Account, status=201,
            tag="accounts", summary="Create an account",
        )(self.account_endpoints.create_account)  # fmt: skip
        api.route(
            "PATCH", "/accounts/{account_id}", role=ADMIN, body=AccountPatch, answer=Account,
            tag="accounts", summary="Change an account (a new password ends its sessions)",
        )(self.account_endpoints.update_account)  # fmt: skip
        api.route(
            "GET", "/tokens", role=OP, answer=TokenPage, tag="accounts",
            summary="API tokens (yours; an admin's: everyone's)",
        )(self.account_endpoints.list_tokens)  # fmt: skip
        api.route(
            "POST", "/tokens", role=OP, body=TokenBody, answer=NewToken, status=201,
            tag="accounts", summary="Create an API token (its secret is shown once)",
        )(self.account_endpoints.create_token)  # fmt: skip
        api.route(
            "DELETE", "/tokens/{token_id}", role=OP, tag="accounts",
            path_types={"token_id": int}, summary="Revoke an API token",
        )(self.account_endpoints.revoke_token)  # fmt: skip

        # lines and operators
        api.route(
            "GET", "/lines", role=OP, answer=LinePage, tag="lines",
            summary="The lines this account sees, with their settings",
        )(self.lines.list_lines)  # fmt: skip
        api.route(
            "GET", "/lines/{line_id}", role=OP, answer=LineView, tag="lines",
            summary="One line and its settings",
        )(self.lines.get_line)  # fmt: skip
        api.route(
            "PATCH", "/lines/{line_id}", role=ADMIN, body=LineSettingsPatch, answer=LineView,
            tag="lines", summary="Change a line's settings (validated as a whole)",
        )(self.lines.update_line)  # fmt: skip
        api.route(
            "GET", "/operators", role=OP, answer=OperatorPage, tag="operators",
            summary="Operators with presence, shift, capacity and load",
        )(self.operators.list_operators)  # fmt: skip
        api.route(
            "GET", "/operators/{operator_id}", role=OP, answer=OperatorView, tag="operators",
            summary="One operator",
        )(self.operators.get_operator)  # fmt: skip
        api.route(
            "PATCH", "/operators/{operator_id}", role=OP, body=OperatorPatch, answer=OperatorView,
            tag="operators",
            summary="Presence (yourself; a supervisor: their lines' operators), capacity, name (admin)",
        )(self.operators.update_operator)  # fmt: skip
        api.route(
            "POST", "/operators/{operator_id}/shift", role=OP, body=ShiftBody,
            answer=OperatorView, tag="operators",
            summary="Start the day, take a break, resume, finish (yourself; a supervisor: their lines')",
        )(self.operators.shift)  # fmt: skip

        # dialogs
        api.route(
            "GET", "/dialogs", role=OP, query=DialogQuery, answer=DialogPage, tag="dialogs",
            summary="Dialogs, newest first, filtered",
        )(self.dialogs.list_dialogs)  # fmt: skip
        api.route(
            "GET", "/dialogs/{dialog_id}", role=OP, answer=DialogView, tag="dialogs",
            path_types=ID, summary="One dialog",
        )(self.dialogs.get_dialog)  # fmt: skip
        api.route(
            "GET", "/dialogs/{dialog_id}/messages", role=OP, query=MessageQuery,
            answer=MessagePage, tag="dialogs", path_types=ID,
            summary="The dialog's messages in order, whispers included",
        )(self.dialogs.messages)  # fmt: skip
        api.route(
            "GET", "/dialogs/{dialog_id}/events", role=OP, answer=EventPage, tag="dialogs",
            path_types=ID, summary="The dialog's log",
        )(self.dialogs.events)  # fmt: skip
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
            )(getattr(self.actions, name))  # fmt: skip
        api.route(
            "POST", "/dialogs/{dialog_id}/transfer", role=OP, body=TransferBody,
            answer=DialogView, tag="dialog actions", path_types=ID,
            summary="Hand the dialog to an operator or to another line",
        )(self.actions.transfer)  # fmt: skip
        api.route(
            "POST", "/dialogs/{dialog_id}/invite", role=OP, body=InviteBody, answer=DialogView,
            tag="dialog actions", path_types=ID, summary="Invite a colleague into the dialog",
        )(self.actions.invite)  # fmt: skip
        api.route(
            "POST", "/dialogs/{dialog_id}/whisper", role=OP, body=WhisperBody,
            answer=DialogView, tag="dialog actions", path_types=ID,
            summary="A note only operators see (never sent to the client)",
        )(self.actions.whisper)  # fmt: skip
        api.route(
            "POST", "/dialogs/{dialog_id}/reply", role=OP, body=ReplyBody, answer=DialogView,
            tag="dialog actions", path_types=ID, summary="Answer the client",
        )(self.actions.reply)  # fmt: skip
        api.route(
            "POST", "/dialogs/{dialog_id}/lead", role=OP, body=Empty, answer=LeadView,
            tag="dialog actions", path_types=ID, summary="Make a CRM lead of the dialog's client",
        )(self.actions.lead)  # fmt: skip

        # clients, files, statistics
        api.route(
            "GET", "/clients/{client_id}", role=OP, answer=ClientView, tag="clients",
            path_types={"client_id": int},
            summary="A client: identities, contacts, CRM record, links, dialogs",
        )(self.clients.client)  # fmt: skip
        api.route(
            "POST", "/clients/{client_id}/unmerge", role=OP, body=UnmergeBody,
            answer=ClientView, tag="clients", path_types={"client_id": int},
            summary="Undo a wrong link of two clients",
        )(self.clients.unmerge)  # fmt: skip
        api.route(
            "POST", "/files", role=OP, answer=FileView, status=201, tag="files",
            multipart=True, summary="Upload a file to attach to a reply (10 MB at most)",
        )(self.files.upload)  # fmt: skip
        api.route(
            "GET", "/statistics", role=SUP, query=StatisticsQuery, answer=StatisticsView,
            tag="statistics", summary="The engine's figures over a time range",
        )(self.statistics.statistics)  # fmt: skip


__all__ = ["DeskApi"]
