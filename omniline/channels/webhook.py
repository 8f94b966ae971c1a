"""Channels that receive over HTTP: their routes, mounted under ``/channels/{type}/{account}/``, and
the checks every webhook request passes before anything of it is stored."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from aiohttp import web

from omniline.engine.ports import Channel
from omniline.model import ChannelRef


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


def mount(app: web.Application, channel: WebhookChannel) -> web.Application:
    """Serve the channel's routes under its mount path; returns the sub-application."""
    sub = web.Application()
    sub.add_routes(channel.routes())
    app.add_subapp(mount_path(channel.ref), sub)
    return sub
