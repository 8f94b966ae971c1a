"""Who may see and do what in the console: the one place for the console's rules, shared by the
REST API and the push.

- An **operator** sees the dialogs of the lines whose queue they are in (or the lines their account
  names) and any dialog they hold, are offered or were invited into; they act as their operator.
- A **supervisor** sees every dialog of their lines (every line when their account names none),
  closes any dialog they see, moves dialogs for their holders, sees the statistics, and manages the
  presence and shift of their lines' operators.
- An **admin** sees and manages everything: accounts, lines' settings, operators' names and
  capacity, everyone's tokens.

The least role of each endpoint is in its declaration (``routing``); the rules that depend on the
account, the dialog or the operator are here. The rules are plain functions of what they decide
on, so they are tested without a database; :class:`Access` reads what they need.

What an operator may do *within* a dialog (accept only an offer made to them, write only in a
dialog they are in) is the dialogs service's, since every desk follows it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from omniline.console.endpoints import ApiError, forbidden, not_found
from omniline.errors import DialogError
from omniline.model import Dialog
from omniline.model.account import Account, ApiToken, Role
from omniline.store.console import ConsoleRepository, DialogPeople
from omniline.store.sql_store import SqlStore

Visible = tuple[str, ...] | None
"""The lines whose dialogs an account sees; None: every line."""


# --- seeing ---------------------------------------------------------------------------------------


def reads_queues(account: Account) -> bool:
    """Whether the account's lines are its operator's queues (read from the database)."""
    return (
        account.role is Role.OPERATOR and account.lines is None and account.operator_id is not None
    )


def visible_lines(account: Account, queues: Collection[str] = ()) -> Visible:
    """The lines whose dialogs the account sees. ``queues``: the lines whose queue its operator is
    in, which count only when :func:`reads_queues`."""
    if account.role is Role.ADMIN:
        return None
    if account.lines is not None:
        return account.lines
    if account.role is Role.SUPERVISOR:
        return None
    if account.operator_id is None:
        return ()
    return tuple(queues)


def sees(account: Account, visible: Visible, dialog: Dialog, people: DialogPeople) -> bool:
    """Whether the account sees the dialog: one of its ``visible`` lines, or, for an operator, a
    dialog they hold, are offered or were invited into."""
    if sees_by_line(visible, dialog):
        return True
    me = account.operator_id
    return me is not None and (
        dialog.operator_id == me
        or me in people.offered_to.get(dialog.id, ())
        or me in people.members.get(dialog.id, ())
    )


def sees_by_line(visible: Visible, dialog: Dialog) -> bool:
    """Seen for its line alone (then who is around the dialog need not be read)."""
    return visible is None or dialog.line_id in visible


def listed_as(account: Account, visible: Visible) -> str | None:
    """In lists (dialogs, a client's dialogs), besides its lines' dialogs an account sees those
    its operator holds (the lists are filtered in SQL, on the dialog's own row). None: nothing
    besides, the account sees every line."""
    return account.operator_id if visible is not None else None


def sees_line(visible: Visible, line_id: str, lines: Collection[str]) -> bool:
    return line_id in lines and (visible is None or line_id in visible)


# --- acting on dialogs ----------------------------------------------------------------------------


def acting_operator(account: Account) -> str:
    """The operator an account takes dialogs and answers clients as."""
    if account.operator_id is None:
        raise forbidden("this account is not an operator, so it cannot take dialogs")
    return account.operator_id


def holds(account: Account, dialog: Dialog) -> bool:
    return account.operator_id is not None and dialog.operator_id == account.operator_id


def closing_actor(account: Account, dialog: Dialog, members: Collection[str]) -> str:
    """Who a close is logged as: an operator in the dialog (holder or invited) as themselves; a
    supervisor, who may close any dialog they see, as ``supervisor:<login>``."""
    me = account.operator_id
    if me is not None and (dialog.operator_id == me or me in members):
        return f"operator:{me}"
    if account.at_least(Role.SUPERVISOR):
        return f"supervisor:{account.id}"
    raise DialogError(f"you are not in dialog {dialog.id}")


def transferring_operator(account: Account, dialog: Dialog) -> str:
    """Who a transfer acts as: the holder hands the dialog on; a supervisor moves any dialog they
    see, for its holder (or assigns one nobody holds, as themselves)."""
    if holds(account, dialog):
        assert account.operator_id is not None
        return account.operator_id
    if account.at_least(Role.SUPERVISOR):
        return dialog.operator_id or account.operator_id or account.id
    raise DialogError(f"only the operator holding dialog {dialog.id} transfers it")


# --- operators ------------------------------------------------------------------------------------


def may_manage(
    account: Account, operator_id: str, visible: Visible, operator_lines: Collection[str]
) -> None:
    """Presence and shift: your own; a supervisor's: the operators of their lines; an admin's:
    anyone's."""
    if account.operator_id == operator_id or account.role is Role.ADMIN:
        return
    if not account.at_least(Role.SUPERVISOR):
        raise forbidden("an operator changes only their own presence and shift")
    if visible is not None and not set(visible) & set(operator_lines):
        raise forbidden("a supervisor manages the operators of their own lines")


def manages_without_lines(account: Account, operator_id: str) -> bool:
    """Whether :func:`may_manage` decides without the operator's lines (no read needed)."""
    return (
        account.operator_id == operator_id
        or account.role is Role.ADMIN
        or not account.at_least(Role.SUPERVISOR)
    )


def may_change_profile(account: Account, changes: Mapping[str, object]) -> None:
    """An operator's capacity and name are the admin's to change."""
    if ("capacity" in changes or "name" in changes) and account.role is not Role.ADMIN:
        raise forbidden("only an admin changes an operator's capacity or name")


# --- accounts and tokens --------------------------------------------------------------------------


def may_disable(account: Account, account_id: str, changes: Mapping[str, object]) -> None:
    """Nobody locks themselves out."""
    if changes.get("disabled") and account_id == account.id:
        raise ApiError(409, "conflict", "you cannot disable your own account")


def tokens_owner(account: Account) -> str | None:
    """Whose tokens the account lists: its own; an admin's: everyone's (None)."""
    return None if account.role is Role.ADMIN else account.id


def may_make_token_for(account: Account, owner: str) -> None:
    if owner != account.id and account.role is not Role.ADMIN:
        raise forbidden("only an admin makes tokens for other accounts")


def may_revoke(account: Account, token: ApiToken | None, token_id: int) -> None:
    """Your own tokens; an admin: anyone's. Another's token is not found, not forbidden, so its
    id tells nothing."""
    mine = token is not None and token.account_id == account.id
    if token is None or not (mine or account.role is Role.ADMIN):
        raise not_found(f"token {token_id}")


# --- what the rules need read ---------------------------------------------------------------------


class Access:
    """Reads what the rules decide on, as little as they need."""

    def __init__(
        self, store: SqlStore, queries: ConsoleRepository, lines: Mapping[str, object]
    ) -> None:
        self._store = store
        self._queries = queries
        self._lines = lines

    async def visible_lines(self, account: Account) -> Visible:
        """The lines whose dialogs the account sees (None: all)."""
        if not reads_queues(account):
            return visible_lines(account)
        assert account.operator_id is not None
        return visible_lines(account, await self._store.operators.lines_of(account.operator_id))

    async def sees(self, account: Account, dialog: Dialog) -> bool:
        if holds(account, dialog):  # seen whatever the lines: no need to read them
            return True
        visible = await self.visible_lines(account)
        if sees_by_line(visible, dialog):
            return True
        return sees(account, visible, dialog, await self._queries.people([dialog.id]))

    async def line(self, account: Account, line_id: str) -> str:
        """The line, if the account sees it (else not found: other lines are not named)."""
        if not sees_line(await self.visible_lines(account), line_id, self._lines):
            raise not_found(f"line {line_id!r}")
        return line_id

    async def closing_actor(self, account: Account, dialog: Dialog) -> str:
        me = account.operator_id
        needs_members = me is not None and dialog.operator_id != me
        members = await self._store.operators.members(dialog.id) if needs_members else ()
        return closing_actor(account, dialog, members)

    async def may_manage(self, account: Account, operator_id: str) -> None:
        if manages_without_lines(account, operator_id):
            may_manage(account, operator_id, None, ())
            return
        visible = await self.visible_lines(account)
        lines = await self._store.operators.lines_of(operator_id) if visible is not None else ()
        may_manage(account, operator_id, visible, lines)
