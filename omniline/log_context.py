"""What a log record is about: the dialog, line, channel and operator of the work in hand.

The few places where work for one dialog happens (the pipeline's run of one event, the outbox's
delivery of one message, the dialogs service's operations, a timer, an operator's API call) wrap
it in :func:`log_context`; ``omniline.logs`` puts the ids on every record written meanwhile, by
any logger, as ``dialog_id``, ``line_id``, ``channel`` and ``operator_id``. It lives at the bottom
of the layers so that every layer can name what it works on.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType

FIELDS = ("dialog_id", "line_id", "channel", "operator_id")
"""The ids a record may carry, in the order the human format shows them."""

LogFields = Mapping[str, object]

_NOTHING: LogFields = MappingProxyType({})
_fields: contextvars.ContextVar[LogFields] = contextvars.ContextVar(
    "omniline_log_fields", default=_NOTHING
)


@contextmanager
def log_context(
    *,
    dialog_id: int | None = None,
    line_id: str | None = None,
    channel: object = None,
    operator_id: object = None,
    fresh: bool = False,
) -> Iterator[None]:
    """Tag the records logged inside with these ids; an id left out (None) keeps the enclosing
    one. ``channel`` and ``operator_id`` are shown as ``str()`` of what is given (``telegram/shop``
    for a ``ChannelRef``). ``fresh``: drop the enclosing ids first, for a unit of work that starts
    on its own (a job of a per-dialog queue runs in the task that the queue's first job started,
    so it must not inherit that job's ids)."""
    given = {
        "dialog_id": dialog_id,
        "line_id": line_id,
        "channel": None if channel is None else str(channel),
        "operator_id": None if operator_id is None else str(operator_id),
    }
    base = _NOTHING if fresh else _fields.get()
    token = _fields.set({**base, **{k: v for k, v in given.items() if v is not None}})
    try:
        yield
    finally:
        _fields.reset(token)


def log_fields() -> LogFields:
    """The ids of the work in hand (empty outside any :func:`log_context`)."""
    return _fields.get()


__all__ = ["FIELDS", "LogFields", "log_context", "log_fields"]
