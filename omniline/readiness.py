"""``GET /readyz``: whether this process should be sent traffic, and if not, why.

Ready means three things: the database answers (within ``timeout`` seconds), its schema is at the
revision this omniline's migrations end with, and the channels have started. ``/healthz`` is the
other question, whether the process is alive, and stays 200 while it serves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web

from omniline.store.database import head_revision, known_revision
from omniline.store.sql_store import SqlStore

log = logging.getLogger("omniline.app")

TIMEOUT = 2.0
"""Seconds the database has to answer before the process is said not ready."""


class Readiness:
    """The checks behind ``/readyz``. ``store`` gives the running store (None before it opens
    and after it closes); ``channels_started`` whether every channel's ``start`` has returned.

    Probes that arrive while the database is being asked share that one question, so a load
    balancer's probes cost one round trip however many there are at once.
    """

    def __init__(
        self,
        store: Callable[[], SqlStore | None],
        channels_started: Callable[[], bool],
        *,
        timeout: float = TIMEOUT,
    ) -> None:
        self._store = store
        self._channels_started = channels_started
        self._timeout = timeout
        self._head = head_revision()
        self._asking: asyncio.Task[str | None] | None = None

    async def reasons(self) -> list[str]:
        """Why this process is not ready; empty when it is."""
        found: list[str] = []
        store = self._store()
        if store is None:
            found.append("the database is not open")
        else:
            schema = await self._schema(store)
            if schema is not None:
                found.append(schema)
        if not self._channels_started():
            found.append("channels starting")
        return found

    async def _schema(self, store: SqlStore) -> str | None:
        """What is wrong with the database, or None."""
        if self._asking is None or self._asking.done():
            self._asking = asyncio.ensure_future(store.schema_revision())
            self._asking.add_done_callback(_retrieved)
        try:
            # Shielded: a probe that stops waiting leaves the question to finish on its own
            # rather than cancel a statement half-way on a pooled connection.
            revision = await asyncio.wait_for(asyncio.shield(self._asking), self._timeout)
        except TimeoutError:
            return f"the database does not answer within {self._timeout:g} s"
        except Exception as exc:
            return f"the database does not answer: {_said(exc)}"
        if revision == self._head:
            return None
        if revision is None:
            return f"the database schema is empty; this omniline needs revision {self._head}"
        if known_revision(revision):
            return (
                f"the database schema is at revision {revision}, behind this omniline's "
                f"{self._head}: run `omniline db upgrade`"
            )
        return (
            f"the database schema is at revision {revision}, which this omniline does not know "
            f"(its newest is {self._head}): a newer omniline migrated it"
        )

    async def handle(self, request: web.Request) -> web.Response:
        try:
            reasons = await self.reasons()
        except Exception as exc:  # a probe never gets a traceback; the log keeps it
            log.exception("the readiness check failed")
            reasons = [f"the readiness check failed: {_said(exc)}"]
        if reasons:
            return web.json_response({"status": "not ready", "reasons": reasons}, status=503)
        return web.json_response({"status": "ready"})


def _said(exc: BaseException) -> str:
    """The error in one line, without a driver's multi-line detail (nor a password: the store's
    errors never carry the URL's)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _retrieved(task: asyncio.Task[str | None]) -> None:
    """Take the outcome of a question every probe stopped waiting for, so that asyncio does not
    report it as never retrieved."""
    if not task.cancelled():
        task.exception()
