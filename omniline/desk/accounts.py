"""Accounts of the console and the API: logins with roles, sessions, API tokens.

Passwords are kept as argon2id hashes (memory-hard), session cookies and API tokens as SHA-256
hashes of random values: a copy of the database gives no way in. Everything is a unit of work on
the store's executor, so it runs on SQLite and PostgreSQL alike and every worker process sees the
same accounts.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import Field

from omniline.engine.ports import Clock
from omniline.model._base import Frozen
from omniline.store.executor import Executor, Tx
from omniline.store.schema import accounts, api_tokens, sessions
from omniline.store.statements import P, PerDialect, Query, compile_for, dialect_for

LOGIN_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"
TOKEN_USE_PRECISION = 60.0
"""A token's ``last_used_at`` is written at most once a minute, not on every request."""


class Role(StrEnum):
    OPERATOR = "operator"
    """Sees and acts on the dialogs of the lines whose queue they are in."""
    SUPERVISOR = "supervisor"
    """Sees every dialog of their lines, the statistics, and moves dialogs between operators."""
    ADMIN = "admin"
    """Everything, including lines' settings, operators and accounts."""


RANK = {Role.OPERATOR: 0, Role.SUPERVISOR: 1, Role.ADMIN: 2}


class Account(Frozen):
    id: str = Field(pattern=LOGIN_PATTERN)
    name: str
    role: Role
    operator_id: str | None = None
    """The operator this account acts as (takes dialogs, answers clients); None for a supervisor
    or admin who does not take dialogs."""
    lines: tuple[str, ...] | None = None
    """The lines this account sees; None: an operator's queues, every line for the others."""
    disabled: bool = False

    def at_least(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]


class ApiToken(Frozen):
    id: int
    account_id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class Session(Frozen):
    account: Account
    csrf_token: str
    expires_at: datetime


_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
"""Checked against when the login is unknown, so that an unknown login takes as long to refuse as
a wrong password (no way to tell which logins exist by timing)."""


async def hash_password(password: str) -> str:
    """An argon2id hash (computed in a thread: it takes tens of milliseconds on purpose)."""
    return await asyncio.to_thread(_hasher.hash, password)


async def password_matches(stored_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _ts(moment: datetime) -> float:
    return moment.timestamp()


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


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


def _account(row: Sequence[object]) -> tuple[Account, str | None]:
    lines = json.loads(str(row[4])) if row[4] is not None else None
    account = Account(
        id=str(row[0]),
        name=str(row[1]),
        role=Role(str(row[2])),
        operator_id=row[3] if isinstance(row[3], str) else None,
        lines=tuple(lines) if lines is not None else None,
        disabled=bool(row[5]),
    )
    return account, row[6] if isinstance(row[6], str) else None


def _token(row: Sequence[object]) -> ApiToken:
    return ApiToken(
        id=int(str(row[0])),
        account_id=str(row[1]),
        name=str(row[2]),
        created_at=_dt(float(str(row[3]))) or datetime.now(UTC),
        last_used_at=_dt(float(str(row[4]))) if row[4] is not None else None,
        revoked_at=_dt(float(str(row[5]))) if row[5] is not None else None,
    )


class Accounts:
    """The accounts, sessions and API tokens, in the store's database."""

    def __init__(self, executor: Executor, clock: Clock, *, session_lifetime: float) -> None:
        self._x = executor
        self._clock = clock
        self.session_lifetime = session_lifetime
        self.generation = 0
        """Bumped by every change made here that may end a session or a token (open pushes look
        at it to check their caller again at once)."""

    def _now(self) -> float:
        return _ts(self._clock.now())

    # --- accounts -------------------------------------------------------------------------------

    async def get(self, account_id: str) -> Account | None:
        found = await self._x.run(partial(_get, account_id=account_id))
        return found[0] if found is not None else None

    async def all(self) -> list[Account]:
        return await self._x.run(_all)

    async def save(self, account: Account, *, password_hash: str | None = None) -> bool:
        """Create the account, or change its name, role, operator and lines. ``password_hash``
        sets the password of a new account only (see :meth:`set_password`). True if created."""
        self.generation += 1
        return await self._x.run(
            partial(_save, account=account, password_hash=password_hash, now=self._now())
        )

    async def create(self, account: Account) -> bool:
        """Create the account; False (and nothing changed) if the login is taken."""
        return await self._x.run(
            partial(_save, account=account, password_hash=None, now=self._now(), only_new=True)
        )

    async def set_password(self, account_id: str, password: str | None) -> None:
        """Set (or, with None, remove) the password. The account's console sessions end."""
        hashed = await hash_password(password) if password is not None else None
        self.generation += 1
        await self._x.run(
            partial(_set_password, account_id=account_id, password_hash=hashed, now=self._now())
        )

    async def set_password_hash(self, account_id: str, password_hash: str) -> None:
        """Set an argon2 hash made elsewhere; the account's sessions end if it changed."""
        found = await self._x.run(partial(_get, account_id=account_id))
        if found is None or found[1] == password_hash:
            return
        self.generation += 1
        await self._x.run(
            partial(
                _set_password, account_id=account_id, password_hash=password_hash, now=self._now()
            )
        )

    async def verify(self, account_id: str, password: str) -> Account | None:
        """The account, if ``password`` is its password and it is not disabled."""
        found = await self._x.run(partial(_get, account_id=account_id))
        account, stored = found if found is not None else (None, None)
        matches = await password_matches(stored, password)
        if account is None or account.disabled or not matches:
            return None
        return account

    async def password_is(self, account_id: str, password: str) -> bool:
        found = await self._x.run(partial(_get, account_id=account_id))
        return found is not None and await password_matches(found[1], password)

    # --- console sessions -----------------------------------------------------------------------

    async def open_session(self, account_id: str) -> tuple[str, Session]:
        """A new session: the cookie's value (shown once, kept only as a hash) and the session."""
        secret = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self._clock.now()
        expires = now + timedelta(seconds=self.session_lifetime)
        account = await self._x.run(
            partial(
                _open_session,
                account_id=account_id,
                id_hash=_digest(secret),
                csrf=csrf,
                now=_ts(now),
                expires=_ts(expires),
            )
        )
        return secret, Session(account=account, csrf_token=csrf, expires_at=expires)

    async def session(self, secret: str) -> Session | None:
        return await self._x.run(partial(_session, id_hash=_digest(secret), now=self._now()))

    async def close_session(self, secret: str) -> None:
        self.generation += 1
        await self._x.run(partial(_close_session, id_hash=_digest(secret), now=self._now()))

    # --- API tokens -----------------------------------------------------------------------------

    async def create_token(self, account_id: str, name: str) -> tuple[str, ApiToken]:
        """A new token for the account: its value (shown once, kept only as a hash) and record."""
        secret = "oml_" + secrets.token_urlsafe(32)
        token = await self._x.run(
            partial(
                _create_token,
                account_id=account_id,
                name=name,
                token_hash=_digest(secret),
                now=self._now(),
            )
        )
        return secret, token

    async def by_token(self, secret: str) -> Account | None:
        return await self._x.run(partial(_by_token, token_hash=_digest(secret), now=self._now()))

    async def tokens(self, account_id: str | None = None) -> list[ApiToken]:
        return await self._x.run(partial(_tokens, account_id=account_id))

    async def token(self, token_id: int) -> ApiToken | None:
        return await self._x.run(partial(_token_by_id, token_id=token_id))

    async def revoke_token(self, token_id: int) -> bool:
        self.generation += 1
        return await self._x.run(partial(_revoke, token_id=token_id, now=self._now()))


# --- units of work --------------------------------------------------------------------------------


def _get(tx: Tx, account_id: str) -> tuple[Account, str | None] | None:
    row = tx.first(_q(tx).account, {"id": account_id})
    return _account(row) if row is not None else None


def _all(tx: Tx) -> list[Account]:
    return [_account(row)[0] for row in tx.rows(_q(tx).all, {})]


def _save(
    tx: Tx, account: Account, password_hash: str | None, now: float, only_new: bool = False
) -> bool:
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
    account, _ = _account(row[2:])
    if account.disabled:
        return None
    expires = _dt(float(row[1]))
    assert expires is not None
    return Session(account=account, csrf_token=str(row[0]), expires_at=expires)


def _close_session(tx: Tx, id_hash: str, now: float) -> None:
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
    found = _token_by_id(tx, int(row[0]))
    assert found is not None
    return found


def _by_token(tx: Tx, token_hash: str, now: float) -> Account | None:
    q = _q(tx)
    row = tx.first(q.token, {"token_hash": token_hash})
    if row is None:
        return None
    account, _ = _account(row[2:])
    if account.disabled:
        return None
    if row[1] is None or now - float(row[1]) >= TOKEN_USE_PRECISION:
        tx.run(q.token_used, {"id": row[0], "now": now})
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
