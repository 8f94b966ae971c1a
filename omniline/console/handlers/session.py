"""Logging in and out of the console, and who is logged in."""

from __future__ import annotations

from omniline.console.endpoints import COOKIE_KEY, SESSION_COOKIE, ApiError, Call
from omniline.console.handlers.common import Context
from omniline.console.schemas import LoginBody, SessionView
from omniline.console.throttle import SharedThrottle


class SessionEndpoints:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.login_throttle = SharedThrottle(
            ctx.host.store.throttle, ctx.host.clock, rate=5 / 60, burst=5
        )
        """Per login (every try) and per address (failed tries): 5 at once, then one every 12 s,
        counted across every worker process."""

    async def login(self, call: Call) -> SessionView:
        body = call.body_as(LoginBody)
        accounts = self.ctx.accounts
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
        account = await accounts.verify(body.login, body.password)
        if account is None:
            await self.login_throttle.check(address_key)
            raise ApiError(401, "unauthenticated", "wrong login or password")
        secret, session = await accounts.open_session(account.id)
        call.request[COOKIE_KEY] = (secret, session.expires_at)
        return SessionView(account=account, csrf_token=session.csrf_token)

    async def logout(self, call: Call) -> None:
        secret = call.request.cookies.get(SESSION_COOKIE)
        if secret:
            await self.ctx.accounts.close_session(secret)
        call.request[COOKIE_KEY] = ("", None)

    async def me(self, call: Call) -> SessionView:
        account = call.account
        lines = await self.ctx.access.visible_lines(account)
        shown = account.model_copy(update={"lines": lines if lines is not None else None})
        csrf = call.session.csrf_token if call.session is not None else None
        return SessionView(account=shown, csrf_token=csrf)
