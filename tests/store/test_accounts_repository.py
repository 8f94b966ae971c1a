"""``store.accounts``: accounts, sessions and API tokens, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from omniline.model.account import Account, Role
from omniline.store import SqlStore
from omniline.store.accounts import TOKEN_USE_PRECISION
from omniline.testing import VirtualClock

ANNA = Account(id="anna", name="Anna", role=Role.OPERATOR, operator_id="anna")
ROOT = Account(id="root", name="Admin", role=Role.ADMIN, lines=("sales", "support"))


def later(clock: VirtualClock, seconds: float) -> datetime:
    return clock.now() + timedelta(seconds=seconds)


async def test_save_creates_then_changes_an_account(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    accounts, now = sql_store.accounts, virtual_clock.now()
    assert await accounts.save(ANNA, password_hash="h1", now=now)
    assert await accounts.save(ROOT, password_hash=None, now=now)
    renamed = ANNA.model_copy(update={"name": "Anna K.", "role": Role.SUPERVISOR})
    assert not await accounts.save(renamed, password_hash="ignored", now=now)

    assert await accounts.get("anna") == renamed
    assert await accounts.with_password("anna") == (renamed, "h1")
    assert await accounts.with_password("root") == (ROOT, None)
    assert await accounts.get("nobody") is None
    assert await accounts.with_password("nobody") is None
    assert [a.id for a in await accounts.all()] == ["anna", "root"]


async def test_save_only_new_leaves_a_taken_login_alone(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    accounts, now = sql_store.accounts, virtual_clock.now()
    assert await accounts.save(ANNA, password_hash=None, now=now, only_new=True)
    other = ANNA.model_copy(update={"name": "Someone else"})
    assert not await accounts.save(other, password_hash=None, now=now, only_new=True)
    assert await accounts.get("anna") == ANNA


async def test_a_new_password_or_disabling_ends_the_sessions(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    accounts, now = sql_store.accounts, virtual_clock.now()
    await accounts.save(ANNA, password_hash="h1", now=now)
    expires = later(virtual_clock, 3600)
    await accounts.open_session("anna", id_hash="s1", csrf_token="c1", now=now, expires=expires)
    await accounts.set_password("anna", "h2", now)
    assert await accounts.session("s1", now) is None
    assert await accounts.with_password("anna") == (ANNA, "h2")

    await accounts.open_session("anna", id_hash="s2", csrf_token="c2", now=now, expires=expires)
    await accounts.save(ANNA.model_copy(update={"disabled": True}), password_hash=None, now=now)
    assert await accounts.session("s2", now) is None
    with pytest.raises(LookupError):
        await accounts.set_password("nobody", None, now)


async def test_sessions_open_expire_and_close(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    accounts, now = sql_store.accounts, virtual_clock.now()
    await accounts.save(ANNA, password_hash=None, now=now)
    expires = later(virtual_clock, 60)
    opened = await accounts.open_session(
        "anna", id_hash="s1", csrf_token="c1", now=now, expires=expires
    )
    assert opened == ANNA
    session = await accounts.session("s1", now)
    assert session is not None
    assert (session.account, session.csrf_token, session.expires_at) == (ANNA, "c1", expires)
    assert await accounts.session("s1", later(virtual_clock, 61)) is None

    await accounts.open_session("anna", id_hash="s2", csrf_token="c2", now=now, expires=expires)
    await accounts.close_session("s2")
    assert await accounts.session("s2", now) is None
    with pytest.raises(LookupError):
        await accounts.open_session(
            "nobody", id_hash="s3", csrf_token="c3", now=now, expires=expires
        )


async def test_tokens_are_made_listed_used_and_revoked(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    accounts, now = sql_store.accounts, virtual_clock.now()
    await accounts.save(ANNA, password_hash=None, now=now)
    await accounts.save(ROOT, password_hash=None, now=now)
    first = await accounts.create_token("anna", name="desk", token_hash="t1", now=now)
    second = await accounts.create_token("root", name="ci", token_hash="t2", now=now)
    assert (first.account_id, first.name, first.created_at, first.last_used_at) == (
        "anna",
        "desk",
        now,
        None,
    )
    assert await accounts.tokens() == [first, second]
    assert await accounts.tokens("root") == [second]
    assert await accounts.token(first.id) == first
    assert await accounts.token(first.id + second.id) is None

    assert await accounts.by_token("t1", now) == ANNA
    used = await accounts.token(first.id)
    assert used is not None and used.last_used_at == now
    # A use within the precision is not written again.
    await accounts.by_token("t1", later(virtual_clock, TOKEN_USE_PRECISION / 2))
    assert await accounts.token(first.id) == used
    await accounts.by_token("t1", later(virtual_clock, TOKEN_USE_PRECISION))
    used_again = await accounts.token(first.id)
    assert used_again is not None
    assert used_again.last_used_at == later(virtual_clock, TOKEN_USE_PRECISION)

    assert await accounts.revoke_token(first.id, now)
    assert not await accounts.revoke_token(first.id, now)
    revoked = await accounts.token(first.id)
    assert revoked is not None and revoked.revoked_at == now
    assert await accounts.by_token("t1", now) is None
    assert await accounts.by_token("unknown", now) is None
    with pytest.raises(LookupError):
        await accounts.create_token("nobody", name="x", token_hash="t3", now=now)


async def test_a_disabled_accounts_token_opens_nothing(
    sql_store: SqlStore, virtual_clock: VirtualClock
) -> None:
    accounts, now = sql_store.accounts, virtual_clock.now()
    await accounts.save(ANNA, password_hash=None, now=now)
    await accounts.create_token("anna", name="desk", token_hash="t1", now=now)
    await accounts.save(ANNA.model_copy(update={"disabled": True}), password_hash=None, now=now)
    assert await accounts.by_token("t1", now) is None
