"""Accounts of the console and the API: logins with roles, sessions, API tokens.

Passwords are kept as argon2id hashes (memory-hard), session cookies and API tokens as SHA-256
hashes of random values: a copy of the database gives no way in. The accounts are kept by the
store's :class:`~omniline.store.accounts.AccountRepository`, so every worker process sees the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from omniline.engine.ports import Clock
from omniline.model.account import Account, ApiToken, Session
from omniline.store.accounts import AccountRepository

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


class Accounts:
    """The accounts, sessions and API tokens, in the store's database."""

    def __init__(self, stored: AccountRepository, clock: Clock, *, session_lifetime: float) -> None:
        self._stored = stored
        self._clock = clock
        self.session_lifetime = session_lifetime
        self.generation = 0
        """Bumped by every change made here that may end a session or a token (open pushes look
        at it to check their caller again at once)."""

    # --- accounts -------------------------------------------------------------------------------

    async def get(self, account_id: str) -> Account | None:
        return await self._stored.get(account_id)

    async def all(self) -> list[Account]:
        return await self._stored.all()

    async def save(self, account: Account, *, password_hash: str | None = None) -> bool:
        """Create the account, or change its name, role, operator and lines. ``password_hash``
        sets the password of a new account only (see :meth:`set_password`). True if created."""
        self.generation += 1
        return await self._stored.save(account, password_hash=password_hash, now=self._clock.now())

    async def create(self, account: Account) -> bool:
        """Create the account; False (and nothing changed) if the login is taken."""
        return await self._stored.save(
            account, password_hash=None, now=self._clock.now(), only_new=True
        )

    async def set_password(self, account_id: str, password: str | None) -> None:
        """Set (or, with None, remove) the password. The account's console sessions end."""
        hashed = await hash_password(password) if password is not None else None
        self.generation += 1
        await self._stored.set_password(account_id, hashed, self._clock.now())

    async def set_password_hash(self, account_id: str, password_hash: str) -> None:
        """Set an argon2 hash made elsewhere; the account's sessions end if it changed."""
        found = await self._stored.with_password(account_id)
        if found is None or found[1] == password_hash:
            return
        self.generation += 1
        await self._stored.set_password(account_id, password_hash, self._clock.now())

    async def verify(self, account_id: str, password: str) -> Account | None:
        """The account, if ``password`` is its password and it is not disabled."""
        found = await self._stored.with_password(account_id)
        account, stored = found if found is not None else (None, None)
        matches = await password_matches(stored, password)
        if account is None or account.disabled or not matches:
            return None
        return account

    async def password_is(self, account_id: str, password: str) -> bool:
        found = await self._stored.with_password(account_id)
        return found is not None and await password_matches(found[1], password)

    # --- console sessions -----------------------------------------------------------------------

    async def open_session(self, account_id: str) -> tuple[str, Session]:
        """A new session: the cookie's value (shown once, kept only as a hash) and the session."""
        secret = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self._clock.now()
        expires = now + timedelta(seconds=self.session_lifetime)
        account = await self._stored.open_session(
            account_id, id_hash=_digest(secret), csrf_token=csrf, now=now, expires=expires
        )
        return secret, Session(account=account, csrf_token=csrf, expires_at=expires)

    async def session(self, secret: str) -> Session | None:
        return await self._stored.session(_digest(secret), self._clock.now())

    async def close_session(self, secret: str) -> None:
        self.generation += 1
        await self._stored.close_session(_digest(secret))

    # --- API tokens -----------------------------------------------------------------------------

    async def create_token(self, account_id: str, name: str) -> tuple[str, ApiToken]:
        """A new token for the account: its value (shown once, kept only as a hash) and record."""
        secret = "oml_" + secrets.token_urlsafe(32)
        token = await self._stored.create_token(
            account_id, name=name, token_hash=_digest(secret), now=self._clock.now()
        )
        return secret, token

    async def by_token(self, secret: str) -> Account | None:
        return await self._stored.by_token(_digest(secret), self._clock.now())

    async def tokens(self, account_id: str | None = None) -> list[ApiToken]:
        return await self._stored.tokens(account_id)

    async def token(self, token_id: int) -> ApiToken | None:
        return await self._stored.token(token_id)

    async def revoke_token(self, token_id: int) -> bool:
        self.generation += 1
        return await self._stored.revoke_token(token_id, self._clock.now())
