"""The console's rules of who may see and do what (``omniline.console.access``), without a database.
The API tests (``test_roles``) check that the endpoints follow them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from omniline.console import access
from omniline.console.endpoints import ApiError
from omniline.errors import DialogError
from omniline.model import ChannelRef, Dialog, DialogStatus, Identity
from omniline.model.account import Account, ApiToken, Role
from omniline.store.console import DialogPeople

NOW = datetime(2026, 1, 5, 10, tzinfo=UTC)
ANNA = Account(id="anna", name="Anna", role=Role.OPERATOR, operator_id="anna")
ANNA_ON_SUPPORT = ANNA.model_copy(update={"lines": ("support",)})
SUE = Account(id="sue", name="Sue", role=Role.SUPERVISOR, lines=("sales",))
SAM = Account(id="sam", name="Sam", role=Role.SUPERVISOR)
SAM_OPERATING = SAM.model_copy(update={"operator_id": "sam"})
ADA = Account(id="ada", name="Ada", role=Role.ADMIN)
NOBODY = Account(id="nobody", name="Nobody", role=Role.OPERATOR)
"""An operator account without its operator (made before the rule that it needs one)."""


def dialog(line_id: str = "sales", operator_id: str | None = None, dialog_id: int = 7) -> Dialog:
    return Dialog(
        id=dialog_id,
        line_id=line_id,
        client_id=1,
        identity=Identity(channel=ChannelRef(type="fake", account=line_id), external_id="zoe"),
        status=DialogStatus.ACTIVE if operator_id else DialogStatus.QUEUED,
        operator_id=operator_id,
        opened_at=NOW,
    )


# --- seeing ---------------------------------------------------------------------------------------


def test_an_operators_lines_are_their_queues_unless_their_account_names_some() -> None:
    assert access.reads_queues(ANNA)
    assert access.visible_lines(ANNA, ["sales"]) == ("sales",)
    assert not access.reads_queues(ANNA_ON_SUPPORT)
    assert access.visible_lines(ANNA_ON_SUPPORT, ["sales"]) == ("support",)


def test_a_supervisor_sees_their_lines_or_all_and_an_admin_all() -> None:
    assert access.visible_lines(SUE) == ("sales",)
    assert access.visible_lines(SAM) is None
    assert access.visible_lines(SAM_OPERATING, ["sales"]) is None
    assert access.visible_lines(ADA.model_copy(update={"lines": ("sales",)})) is None
    assert not any(access.reads_queues(a) for a in (SUE, SAM, SAM_OPERATING, ADA))


def test_an_operator_account_without_an_operator_sees_no_line() -> None:
    assert not access.reads_queues(NOBODY)
    assert access.visible_lines(NOBODY, ["sales"]) == ()


def test_an_operator_sees_another_lines_dialog_only_when_they_are_in_it() -> None:
    visible = ("sales",)
    theirs = dialog("support", dialog_id=8)
    assert access.sees(ANNA, visible, dialog("sales"), DialogPeople())
    assert not access.sees(ANNA, visible, theirs, DialogPeople())
    assert access.sees(ANNA, visible, dialog("support", operator_id="anna"), DialogPeople())
    assert access.sees(ANNA, visible, theirs, DialogPeople(offered_to={8: ["anna"]}))
    assert access.sees(ANNA, visible, theirs, DialogPeople(members={8: ["anna"]}))
    assert not access.sees(ANNA, visible, theirs, DialogPeople(members={9: ["anna"]}))


def test_a_supervisor_sees_no_dialog_of_another_line_even_one_offered_to_nobody() -> None:
    assert not access.sees(SUE, ("sales",), dialog("support"), DialogPeople())
    assert access.sees(SAM, None, dialog("support"), DialogPeople())


def test_lists_add_an_operators_own_dialogs_to_their_lines_ones() -> None:
    assert access.listed_as(ANNA, ("sales",)) == "anna"
    assert access.listed_as(SUE, ("sales",)) is None
    assert access.listed_as(SAM_OPERATING, None) is None


def test_a_line_is_seen_only_if_it_exists_and_is_one_of_the_accounts() -> None:
    lines = {"sales", "support"}
    assert access.sees_line(None, "support", lines)
    assert not access.sees_line(None, "nowhere", lines)
    assert not access.sees_line(("sales",), "support", lines)


# --- acting on dialogs ----------------------------------------------------------------------------


def test_only_an_account_with_an_operator_takes_dialogs() -> None:
    assert access.acting_operator(ANNA) == "anna"
    with pytest.raises(ApiError) as refused:
        access.acting_operator(SAM)
    assert refused.value.status == 403


def test_a_close_is_logged_as_the_operator_in_the_dialog_else_as_the_supervisor() -> None:
    held = dialog(operator_id="anna")
    assert access.closing_actor(ANNA, held, ()) == "operator:anna"
    assert access.closing_actor(ANNA, dialog(operator_id="bob"), ["anna"]) == "operator:anna"
    assert access.closing_actor(SAM_OPERATING, held, ()) == "supervisor:sam"
    assert access.closing_actor(SUE, held, ()) == "supervisor:sue"
    with pytest.raises(DialogError):
        access.closing_actor(ANNA, dialog(operator_id="bob"), ["carl"])


def test_the_holder_transfers_and_a_supervisor_moves_a_dialog_for_its_holder() -> None:
    held = dialog(operator_id="bob")
    assert access.transferring_operator(ANNA, dialog(operator_id="anna")) == "anna"
    assert access.transferring_operator(SAM, held) == "bob"
    assert access.transferring_operator(SAM_OPERATING, dialog()) == "sam"
    assert access.transferring_operator(SUE, dialog()) == "sue"
    with pytest.raises(DialogError):
        access.transferring_operator(ANNA, held)


# --- operators, accounts, tokens ------------------------------------------------------------------


def test_presence_and_shift_are_your_own_or_your_lines_operators_as_a_supervisor() -> None:
    access.may_manage(ANNA, "anna", ("sales",), ())
    access.may_manage(ADA, "bob", None, ())
    access.may_manage(SUE, "anna", ("sales",), ["sales"])
    access.may_manage(SAM, "bob", None, ["support"])
    with pytest.raises(ApiError):
        access.may_manage(ANNA, "bob", ("sales",), ["sales"])
    with pytest.raises(ApiError):
        access.may_manage(SUE, "bob", ("sales",), ["support"])
    assert access.manages_without_lines(ANNA, "bob")  # refused whatever bob's lines are
    assert not access.manages_without_lines(SUE, "bob")


def test_only_an_admin_changes_an_operators_capacity_or_name() -> None:
    access.may_change_profile(SUE, {"presence": "online"})
    access.may_change_profile(ADA, {"capacity": 3, "name": "Bob"})
    for changes in ({"capacity": 3}, {"name": "Bob"}):
        with pytest.raises(ApiError):
            access.may_change_profile(SAM, changes)


def test_nobody_disables_their_own_account() -> None:
    access.may_disable(ADA, "sue", {"disabled": True})
    access.may_disable(ADA, "ada", {"disabled": False})
    with pytest.raises(ApiError) as refused:
        access.may_disable(ADA, "ada", {"disabled": True})
    assert refused.value.status == 409


def test_tokens_are_your_own_and_an_admin_handles_everyones() -> None:
    assert access.tokens_owner(ANNA) == "anna"
    assert access.tokens_owner(ADA) is None
    access.may_make_token_for(ANNA, "anna")
    access.may_make_token_for(ADA, "anna")
    with pytest.raises(ApiError):
        access.may_make_token_for(SAM, "anna")
    token = ApiToken(id=3, account_id="anna", name="ci", created_at=NOW)
    access.may_revoke(ANNA, token, 3)
    access.may_revoke(ADA, token, 3)
    for account, found in ((SAM, token), (ANNA, None)):
        with pytest.raises(ApiError) as refused:
            access.may_revoke(account, found, 3)
        assert refused.value.status == 404  # another's token is not even named
