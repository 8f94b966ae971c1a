"""Channels that receive over HTTP: their routes, mounted under ``/channels/{type}/{account}/``, and
the checks every webhook request passes before anything of it is stored."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, runtime_checkable

from aiohttp import web

from omniline.engine.ports import Channel
from omniline.errors import StoreUnavailable
from omniline.model import ChannelRef
from omniline.store.health import Watch

RETRY_AFTER = 5
"""Seconds a caller is asked to wait (``Retry-After``) while the database cannot be reached."""


@runtime_checkable
class WebhookChannel(Channel, Protocol):
    """A channel that also serves HTTP routes (paths relative to its mount point)."""

    def routes(self) -> Sequence[web.AbstractRouteDef]: ...


def mount_path(ref: ChannelRef) -> str:
    return f"/channels/{ref.type}/{ref.account}"


def secrets_match(given: str | None, expected: str) -> bool:
    """Compare a secret from a request with the configured one in constant time."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def signature_matches(
    body: bytes, key: bytes, signature_hex: str | None, *, digest: str = "sha256"
) -> bool:
    """Check a hex HMAC signature of ``body`` (Viber style) in constant time."""
    if not signature_hex:
        return False
    expected = hmac.new(key, body, getattr(hashlib, digest)).hexdigest()
    return hmac.compare_digest(expected.encode(), signature_hex.strip().lower().encode())


def store_unavailable() -> web.Response:
    """503 with a Retry-After: the request was not taken, and sending it again later works."""
    return web.json_response(
        {
            "error": {
                "code": "store_unavailable",
                "message": "the message could not be stored right now; send it again shortly",
            }
        },
        status=503,
        headers={"Retry-After": str(RETRY_AFTER)},
    )


@web.middleware
async def answer_503_while_the_store_is_down(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A webhook that could not store what it got answers 503, never 500: every platform retries
    a 503 later, and the outage is not the request's fault. Channels that catch the error and
    answer 5xx themselves are answered 503 as well."""
    with Watch() as watch:
        try:
            response = await handler(request)
        except StoreUnavailable:
            return store_unavailable()
    if response.status >= 500 and watch.unavailable:
        return store_unavailable()
    return response


def mount(app: web.Application, channel: WebhookChannel) -> web.Application:
    """Serve the channel's routes under its mount path; returns the sub-application."""
    sub = web.Application(middlewares=[answer_503_while_the_store_is_down])
    sub.add_routes(channel.routes())
    app.add_subapp(mount_path(channel.ref), sub)
    return sub
