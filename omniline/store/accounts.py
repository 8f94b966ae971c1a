"""The console's accounts, sessions and API tokens in the database, so that any worker process
serves any login.

Only hashes of secrets reach this module: making secrets and checking passwords is the desk's
(:mod:`omniline.console.accounts`).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import partial

import sqlalchemy as sa

from omniline.model.account import Account, ApiToken, Role, Session
from omniline.store.executor import Executor, Tx
from omniline.store.rows import dt, ts
from omniline.store.schema import accounts, api_tokens, sessions
from omniline.store.statements import P, PerDialect, Query, Row, compile_for, dialect_for

TOKEN_USE_PRECISION = 60.0
"""A token's ``last_used_at`` is written at most once a minute, not on every request."""


class _Queries:
    def __init__(self, dialect_name: str) -> None:
        dialect, insert = dialect_for(dialect_name)

        def c(stmt: sa.ClauseElement) -> Query:
            return compile_for(stmt, dialect)

        a, s, t = accounts.c, sessions.c, api_tokens.c
        columns = (a.id, a.name, a.role, a.operator_id, a.lines, a.disabled, a.password_hash)
        self.account = c(sa.select(*columns).where(a.id == P("id")))
        self.all = c(sa.select(*columns).order_by(a.id))
        upsert = insert(accounts).values(
            id=P("id"),
            name=P("name"),
            role=P("role"),
            operator_id=P("operator_id"),
            lines=P("lines"),
            password_hash=P("password_hash"),
            disabled=P("disabled"),
            created_at=P("now"),
            updated_at=P("now"),
        )
        self.insert = c(upsert.on_conflict_do_nothing(index_elements=["id"]))  # type: ignore[attr-defined]
        self.update = c(
            sa.update(accounts)
            .where(a.id == P("id"))
            .values(
                name=P("name"),
                role=P("role"),
                operator_id=P("operator_id"),
                lines=P("lines"),
                disabled=P("disabled"),
                updated_at=P("now"),
            )
        )
        self.set_password = c(
            sa.update(accounts)
            .where(a.id == P("id"))
            .values(password_hash=P("password_hash"), updated_at=P("now"))
        )
        self.session_insert = c(
            insert(sessions).values(
                id_hash=P("id_hash"),
                account_id=P("account_id"),
                csrf_token=P("csrf_token"),
                created_at=P("now"),
                expires_at=P("expires_at"),
            )
        )
        self.session = c(
            sa.select(s.csrf_token, s.expires_at, *columns)
            .select_from(sessions.join(accounts, a.id == s.account_id))
            .where(s.id_hash == P("id_hash"), s.expires_at > P("now"))
        )
        self.session_delete = c(sa.delete(sessions).where(s.id_hash == P("id_hash")))
        self.sessions_of_delete = c(sa.delete(sessions).where(s.account_id == P("account_id")))
        self.sessions_expired_delete = c(sa.delete(sessions).where(s.expires_at <= P("now")))
        self.token_insert = c(
            insert(api_tokens)
            .values(
                account_id=P("account_id"),
                name=P("name"),
                token_hash=P("token_hash"),
                created_at=P("now"),
            )
            .returning(t.id)
        )
        self.token = c(
            sa.select(t.id.label("token_id"), t.last_used_at, *columns)
            .select_from(api_tokens.join(accounts, a.id == t.account_id))
            .where(t.token_hash == P("token_hash"), t.revoked_at.is_(None))
        )
        self.token_used = c(
            sa.update(api_tokens).where(t.id == P("id")).values(last_used_at=P("now"))
        )
        token_columns = (t.id, t.account_id, t.name, t.created_at, t.last_used_at, t.revoked_at)
        self.tokens = c(sa.select(*token_columns).order_by(t.id))
        self.tokens_of = c(
            sa.select(*token_columns).where(t.account_id == P("account_id")).order_by(t.id)
        )
        self.token_by_id = c(sa.select(*token_columns).where(t.id == P("id")))
        self.token_revoke = c(
            sa.update(api_tokens)
            .where(t.id == P("id"), t.revoked_at.is_(None))
            .values(revoked_at=P("now"))
        )


_queries = PerDialect(_Queries)


def _q(tx: Tx) -> _Queries:
    return _queries.of(tx.q.dialect_name)


def _account(row: Row) -> Account:
    lines = json.loads(row["lines"]) if row["lines"] is not None else None
    return Account(
        id=row["id"],
        name=row["name"],
        role=Role(row["role"]),
        operator_id=row["operator_id"],
        lines=tuple(lines) if lines is not None else None,
        disabled=bool(row["disabled"]),
    )


def _token(row: Row) -> ApiToken:
    last_used, revoked = row["last_used_at"], row["revoked_at"]
    return ApiToken(
        id=row["id"],
        account_id=row["account_id"],
        name=row["name"],
        created_at=dt(row["created_at"]),
        last_used_at=dt(last_used) if last_used is not None else None,
        revoked_at=dt(revoked) if revoked is not None else None,
    )


class AccountRepository:
    """Accounts, sessions and API tokens: each method one transaction."""

    def __init__(self, executor: Executor) -> None:
        self._x = executor

    async def get(self, account_id: str) -> Account | None:
        found = await self._x.run(partial(_get, account_id=account_id))
        return found[0] if found is not None else None

    async def with_password(self, account_id: str) -> tuple[Account, str | None] | None:
        """The account and its password's hash (None: it has no password), read together."""
        return await self._x.run(partial(_get, account_id=account_id))

    async def all(self) -> list[Account]:
        return await self._x.run(_all)

    async def save(
        self, account: Account, *, password_hash: str | None, now: datetime, only_new: bool = False
    ) -> bool:
        """Create the account (with ``password_hash``), or, unless ``only_new``, change its name,
        role, operator and lines; a disabled account's sessions end. True if created."""
        return await self._x.run(
            partial(
                _save, account=account, password_hash=password_hash, now=ts(now), only_new=only_new
            )
        )

    async def set_password(self, account_id: str, password_hash: str | None, now: datetime) -> None:
        """Set (or remove) the password's hash and end the account's sessions; LookupError if
        there is no such account."""
        await self._x.run(
            partial(_set_password, account_id=account_id, password_hash=password_hash, now=ts(now))
        )

    async def open_session(
        self, account_id: str, *, id_hash: str, csrf_token: str, now: datetime, expires: datetime
    ) -> Account:
        """Keep a new session (dropping expired ones); LookupError if there is no such account."""
        return await self._x.run(
            partial(
                _open_session,
                account_id=account_id,
                id_hash=id_hash,
                csrf=csrf_token,
                now=ts(now),
                expires=ts(expires),
            )
        )

    async def session(self, id_hash: str, now: datetime) -> Session | None:
        """The session, unless it expired or its account is disabled."""
        return await self._x.run(partial(_session, id_hash=id_hash, now=ts(now)))

    async def close_session(self, id_hash: str) -> None:
        await self._x.run(partial(_close_session, id_hash=id_hash))

    async def create_token(
        self, account_id: str, *, name: str, token_hash: str, now: datetime
    ) -> ApiToken:
        """Keep a new token; LookupError if there is no such account."""
        return await self._x.run(
            partial(
                _create_token,
                account_id=account_id,
                name=name,
                token_hash=token_hash,
                now=ts(now),
            )
        )

    async def by_token(self, token_hash: str, now: datetime) -> Account | None:
        """The account of a token that is not revoked, unless it is disabled; notes the use."""
        return await self._x.run(partial(_by_token, token_hash=token_hash, now=ts(now)))

    async def tokens(self, account_id: str | None = None) -> list[ApiToken]:
        return await self._x.run(partial(_tokens, account_id=account_id))

    async def token(self, token_id: int) -> ApiToken | None:
        return await self._x.run(partial(_token_by_id, token_id=token_id))

    async def revoke_token(self, token_id: int, now: datetime) -> bool:
        """True if the token was in use until now."""
        return await self._x.run(partial(_revoke, token_id=token_id, now=ts(now)))


# --- units of work --------------------------------------------------------------------------------


def _get(tx: Tx, account_id: str) -> tuple[Account, str | None] | None:
    row = tx.first(_q(tx).account, {"id": account_id})
    return (_account(row), row["password_hash"]) if row is not None else None


def _all(tx: Tx) -> list[Account]:
    return [_account(row) for row in tx.rows(_q(tx).all, {})]


def _save(tx: Tx, account: Account, password_hash: str | None, now: float, only_new: bool) -> bool:
    q = _q(tx)
    values = {
        "id": account.id,
        "name": account.name,
        "role": account.role.value,
        "operator_id": account.operator_id,
        "lines": json.dumps(list(account.lines)) if account.lines is not None else None,
        "disabled": account.disabled,
        "now": now,
    }
    if tx.run(q.insert, {**values, "password_hash": password_hash}):
        return True
    if only_new:
        return False
    tx.run(q.update, values)
    if account.disabled:
        tx.run(q.sessions_of_delete, {"account_id": account.id})
    return False


def _set_password(tx: Tx, account_id: str, password_hash: str | None, now: float) -> None:
    q = _q(tx)
    if not tx.run(q.set_password, {"id": account_id, "password_hash": password_hash, "now": now}):
        raise LookupError(f"no account {account_id!r}")
    tx.run(q.sessions_of_delete, {"account_id": account_id})


def _open_session(
    tx: Tx, account_id: str, id_hash: str, csrf: str, now: float, expires: float
) -> Account:
    q = _q(tx)
    found = _get(tx, account_id)
    if found is None:
        raise LookupError(f"no account {account_id!r}")
    tx.run(q.sessions_expired_delete, {"now": now})
    tx.run(
        q.session_insert,
        {
            "id_hash": id_hash,
            "account_id": account_id,
            "csrf_token": csrf,
            "now": now,
            "expires_at": expires,
        },
    )
    return found[0]


def _session(tx: Tx, id_hash: str, now: float) -> Session | None:
    row = tx.first(_q(tx).session, {"id_hash": id_hash, "now": now})
    if row is None:
        return None
    account = _account(row)
    if account.disabled:
        return None
    return Session(account=account, csrf_token=row["csrf_token"], expires_at=dt(row["expires_at"]))


def _close_session(tx: Tx, id_hash: str) -> None:
    tx.run(_q(tx).session_delete, {"id_hash": id_hash})


def _create_token(tx: Tx, account_id: str, name: str, token_hash: str, now: float) -> ApiToken:
    q = _q(tx)
    if _get(tx, account_id) is None:
        raise LookupError(f"no account {account_id!r}")
    row = tx.first(
        q.token_insert,
        {"account_id": account_id, "name": name, "token_hash": token_hash, "now": now},
    )
    assert row is not None
    found = _token_by_id(tx, row["id"])
    assert found is not None
    return found


def _by_token(tx: Tx, token_hash: str, now: float) -> Account | None:
    q = _q(tx)
    row = tx.first(q.token, {"token_hash": token_hash})
    if row is None:
        return None
    account = _account(row)
    if account.disabled:
        return None
    last_used = row["last_used_at"]
    if last_used is None or now - last_used >= TOKEN_USE_PRECISION:
        tx.run(q.token_used, {"id": row["token_id"], "now": now})
    return account


def _tokens(tx: Tx, account_id: str | None) -> list[ApiToken]:
    q = _q(tx)
    if account_id is None:
        return [_token(r) for r in tx.rows(q.tokens, {})]
    return [_token(r) for r in tx.rows(q.tokens_of, {"account_id": account_id})]


def _token_by_id(tx: Tx, token_id: int) -> ApiToken | None:
    row = tx.first(_q(tx).token_by_id, {"id": token_id})
    return _token(row) if row is not None else None


def _revoke(tx: Tx, token_id: int, now: float) -> bool:
    return tx.run(_q(tx).token_revoke, {"id": token_id, "now": now}) > 0
