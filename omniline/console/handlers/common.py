"""What the endpoints of every resource share: the host, the accounts, the desk's queries, the
access rules, and how a dialog is read for a caller and shown."""

from __future__ import annotations

from collections.abc import Callable

from omniline.console.access import Access
from omniline.console.accounts import Accounts
from omniline.console.endpoints import ApiError, not_found
from omniline.console.host import ConsoleHost
from omniline.console.schemas import DialogView, FieldError
from omniline.console.views import dialog_view
from omniline.model import Dialog
from omniline.model.account import Account
from omniline.services.desk_plugins import author_name
from omniline.store.console import ConsoleRepository

MAX_ID = 10**18 - 1
"""Ids fit in 64 bits: a larger number is refused as invalid, never sent to the database."""


class Context:
    """The parts of one console the endpoints work with."""

    def __init__(self, host: ConsoleHost, accounts: Accounts, queries: ConsoleRepository) -> None:
        self.host = host
        self.accounts = accounts
        self.queries = queries
        self.access = Access(host.store, queries, host.lines)

    async def dialog_for(self, account: Account, dialog_id: int) -> Dialog:
        """The dialog, read once, if the account sees it: an action decides on this very read."""
        dialog = await self.host.store.dialogs.get(dialog_id)
        if dialog is None or not await self.access.sees(account, dialog):
            raise not_found(f"dialog {dialog_id}")
        return dialog

    async def view(self, dialog: Dialog) -> DialogView:
        people = await self.queries.people([dialog.id])
        return dialog_view(dialog, people)

    async def fresh_view(self, dialog_id: int) -> DialogView:
        """The dialog as an action left it."""
        dialog = await self.host.store.dialogs.get(dialog_id)
        if dialog is None:
            raise not_found(f"dialog {dialog_id}")
        return await self.view(dialog)

    def author_name(self, author: str) -> str:
        return author_name(author, self.host.operator_names)

    def message_author(self, dialog: Dialog) -> Callable[[str], str]:
        """How messages of this dialog name their authors (the client by their name)."""
        client = dialog.identity.display_name or "Client"

        def name(author: str) -> str:
            return client if author == "client" else self.author_name(author)

        return name

    async def queues(self) -> dict[str, list[str]]:
        """Each operator's lines, read one queue a line (not one query an operator)."""
        found: dict[str, list[str]] = {}
        for line_id in self.host.lines:
            for operator_id in await self.host.store.operators.queue(line_id):
                found.setdefault(operator_id, []).append(line_id)
        return found


def bad(field: str, message: str) -> ApiError:
    """A request refused for one field's value."""
    return ApiError(422, "invalid", message, fields=[FieldError(field=field, message=message)])
