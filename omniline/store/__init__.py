"""Durable storage: inbox, outbox, dialogs, messages, identities, the dialog log and timers."""

from omniline.store.database import (
    check_schema,
    current_revision,
    head_revision,
    open_store,
    parse_url,
    upgrade,
)
from omniline.store.sql_store import SqlStore

__all__ = [
    "SqlStore",
    "check_schema",
    "current_revision",
    "head_revision",
    "open_store",
    "parse_url",
    "upgrade",
]
