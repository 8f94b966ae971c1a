"""Whether the database can be reached, told once when it goes and once when it comes back.

When PostgreSQL stops (a restart, a failover, the network), every unit of work fails for a while.
The executor turns the driver's many ways of saying so into one :class:`StoreUnavailable
<omniline.errors.StoreUnavailable>` and reports here; this module logs the outage once, and its end
once, instead of a traceback for every request and every poll. The HTTP edges answer 503 meanwhile
(platforms and the web chat send again), and the application's loops simply try again.
"""

from __future__ import annotations

import contextvars
import logging
import math
import time
from collections.abc import Iterator

import asyncpg

from omniline.errors import StoreUnavailable

log = logging.getLogger("omniline.store")

_CONNECTION_STATES = ("08", "57P")
"""SQLSTATE classes of a lost connection: connection exceptions, and the server shutting down,
crashed or not accepting connections yet."""


_DEAD_CONNECTION = ("connection is closed", "another operation is in progress")
"""What asyncpg says of a connection the server dropped (its other interface errors are bugs, such
as a wrong number of arguments, and must not pass for an outage)."""


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what caused it, outermost first (the driver's error under SQLAlchemy's)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the database could not be reached or dropped the
    connection, rather than refusing the statement."""
    for current in causes(exc):
        if isinstance(current, StoreUnavailable | OSError):  # refused, reset, timed out
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_CONNECTION_STATES):
            return True
        if isinstance(current, asyncpg.InternalClientError) or (
            isinstance(current, asyncpg.InterfaceError)
            and any(words in str(current) for words in _DEAD_CONNECTION)
        ):
            return True  # closed by the server, or left mid-operation when it went away
    return False


class _Seen:
    __slots__ = ("unavailable",)

    def __init__(self) -> None:
        self.unavailable = False


_request: contextvars.ContextVar[_Seen | None] = contextvars.ContextVar(
    "omniline_store_unavailable_seen", default=None
)


class Watch:
    """Notes whether the store was found unreachable while serving one request, even if the
    code in between caught the error (a channel answering 500 itself)::

        with Watch() as watch:
            response = await handler(request)
        if watch.unavailable: ...
    """

    def __init__(self) -> None:
        self._seen = _Seen()
        self._token: contextvars.Token[_Seen | None] | None = None

    @property
    def unavailable(self) -> bool:
        return self._seen.unavailable

    def __enter__(self) -> Watch:
        self._token = _request.set(self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _request.reset(self._token)


class Reachability:
    """The database's state as the executor last found it; logs each change once.

    Units report when they started: a unit that began before the outage and committed just as it
    began does not end it, and one that began during the outage and failed just after it ended
    does not start another (each would log an outage of a few milliseconds)."""

    def __init__(self) -> None:
        self._down_since: float | None = None
        self._up_since = -math.inf

    @property
    def available(self) -> bool:
        return self._down_since is None

    def lost(self, exc: BaseException, started: float = math.inf) -> StoreUnavailable:
        """A unit that started at ``started`` (``time.monotonic()``) failed for the connection:
        the error to raise in its place."""
        seen = _request.get()
        if seen is not None:
            seen.unavailable = True
        if self._down_since is None and started >= self._up_since:
            self._down_since = time.monotonic()
            log.error(
                "the database is unreachable (%s): requests that need it are answered 503 "
                "and work is retried until it is back",
                _reason(exc),
            )
        return StoreUnavailable("the database cannot be reached right now; try again shortly")

    def reached(self, started: float = math.inf) -> None:
        """A unit that started at ``started`` got an answer from the database."""
        if self._down_since is not None and started >= self._down_since:
            now = time.monotonic()
            down_for = now - self._down_since
            self._down_since = None
            self._up_since = now
            log.warning("the database is reachable again, after %.1f s", down_for)


def _reason(exc: BaseException) -> str:
    root: BaseException = exc
    while root.__cause__ is not None:
        root = root.__cause__
    text = str(root).splitlines()[0] if str(root) else ""
    return f"{type(root).__name__}: {text}" if text else type(root).__name__


class OutageFilter(logging.Filter):
    """Drops log records that carry a :class:`StoreUnavailable`: the outage is logged once, when
    it starts, and once when it ends, not with a traceback for every request or poll it failed.

    Install it on the log handlers (``omniline run`` does)."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = record.exc_info[1] if record.exc_info else None
        seen: set[int] = set()
        while current is not None and id(current) not in seen:
            if isinstance(current, StoreUnavailable):
                return False
            seen.add(id(current))
            current = current.__cause__ or current.__context__
        return True
