"""The operator desk served by omniline itself: the REST API under ``/api/v1`` (described at
``/api/v1/openapi.json``), live push over a WebSocket, the web console at ``/console/``, and the
files operators attach to replies.

:class:`WebConsole` is built by the application when ``console.enabled`` (the default); custom desks
and integrations use the API with a token.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from omniline.config.models import AccountConfig
from omniline.console.accounts import Accounts, hash_password
from omniline.console.endpoints import errors_as_json
from omniline.console.handlers import DeskApi
from omniline.console.host import ConsoleHost
from omniline.console.openapi import document
from omniline.console.presence import ConsolePresence
from omniline.console.push import Broadcast, Push
from omniline.model.account import Account, ApiToken, Role

log = logging.getLogger("omniline.console")

STATIC = Path(__file__).parent / "static"
VERSION = "1"


class WebConsole:
    """The API, the push and the console of one application."""

    def __init__(self, host: ConsoleHost) -> None:
        self.host = host
        store = host.store
        self.accounts = Accounts(
            store.accounts, host.clock, session_lifetime=host.settings.session_hours * 3600
        )
        self.queries = store.console
        self.api = DeskApi(host, self.accounts, self.queries)
        self.news = Broadcast()
        offline_after = host.settings.offline_after
        self.presence = (
            ConsolePresence(host, offline_after=offline_after)
            if offline_after is not None
            else None
        )
        self.push = Push(self.api, self.news, self.presence)
        self._openapi: dict[str, Any] | None = None

    def start(self) -> None:
        if self.presence is not None:
            self.presence.start()

    def mount(self, web_app: web.Application) -> None:
        web_app.middlewares.append(errors_as_json)
        self.api.api.mount(web_app)
        root = self.api.api.root
        web_app.router.add_get(root + "/openapi.json", self._openapi_document)
        web_app.router.add_get(root + "/push", self.push.handle)
        web_app.router.add_get("/files/{file_id}/{name}", self._file)
        web_app.router.add_get("/console", self._console_redirect)
        web_app.router.add_get("/console/", self._console_index)
        web_app.router.add_static("/console/", STATIC, append_version=False)

    async def sync_accounts(self, configured: list[AccountConfig]) -> None:
        """Write the config's accounts to the database (passwords as argon2 hashes)."""
        for ac in configured:
            operator = ac.operator
            if operator is None and ac.role == "operator":
                operator = ac.login
            if operator is None and ac.login in self.host.operator_names:
                operator = ac.login
            account = Account(
                id=ac.login,
                name=ac.name,
                role=Role(ac.role),
                operator_id=operator,
                lines=tuple(ac.lines) if ac.lines is not None else None,
            )
            await self.accounts.save(account, password_hash=ac.password_hash)
            if ac.password is not None and not await self.accounts.password_is(
                ac.login, ac.password
            ):
                await self.accounts.set_password(ac.login, ac.password)
            elif ac.password_hash is not None:
                await self.accounts.set_password_hash(ac.login, ac.password_hash)

    async def stop(self) -> None:
        await self.push.close_all()
        if self.presence is not None:
            await self.presence.stop()

    # --- pages and documents --------------------------------------------------------------------

    async def _openapi_document(self, request: web.Request) -> web.Response:
        if self._openapi is None:
            self._openapi = document(
                self.api.api, title="omniline desk API", version=VERSION, server_url=None
            )
        return web.json_response(self._openapi)

    async def _console_redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/console/")

    async def _console_index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html", headers=_PAGE_HEADERS)

    async def _file(self, request: web.Request) -> web.Response:
        found = await self.queries.file(request.match_info["file_id"])
        if found is None:
            raise web.HTTPNotFound()
        return web.Response(
            body=found.data,
            content_type=found.mime_type,
            headers={
                "Content-Disposition": f'attachment; filename="{_ascii(found.name)}"',
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "sandbox",
                "Cache-Control": "private, max-age=86400",
            },
        )


_PAGE_HEADERS = {
    # Scripts and styles only from the console's own files; images, video and audio that
    # clients and the business sent may live anywhere (a messenger's or a shop's server).
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: *; "
        "connect-src 'self' ws: wss:; media-src 'self' data: blob: *; frame-ancestors 'self'; "
        "base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


def _ascii(name: str) -> str:
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)


__all__ = [
    "Account",
    "Accounts",
    "ApiToken",
    "ConsoleHost",
    "Role",
    "WebConsole",
    "hash_password",
]
