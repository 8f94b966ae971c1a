"""How omniline writes its log: one line per record to standard error, in a human format (the
default) or as one JSON object per line (``--log-format json``).

Every record carries the ids of the work in hand (``omniline.log_context``): ``dialog_id``,
``line_id``, ``channel`` and ``operator_id``, where known. And no record carries a secret: the code
never logs one, and as a safety net every secret of the config (:func:`config_secrets`, handed to
:func:`hide_secrets`) is masked as ``***`` in each record's message and exception text.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, SecretBytes, SecretStr
from pythonjsonlogger.json import JsonFormatter

from omniline.config.discovery import channel_plugin, crm_plugin, desk_plugin, middleware_plugin
from omniline.config.models import Config
from omniline.engine.plugin import Plugin, PluginKind
from omniline.log_context import FIELDS, log_fields
from omniline.store.health import OutageFilter

LogFormat = Literal["human", "json"]

HUMAN = "%(asctime)s %(levelname)s %(name)s%(about)s: %(message)s"
MASK = "***"
SHORTEST_SECRET = 4
"""Shorter values are not masked: a secret of one to three characters is no secret, and masking
every "abc" would garble the log."""

SECRET_KEYS = re.compile(
    r"(token|secret|password|passwd|confirmation|api_key|apikey|private_key|credentials?)$",
    re.IGNORECASE,
)
"""Keys of a plugin's settings whose values are secret even when the plugin's model does not type
them ``SecretStr`` (or the plugin cannot be loaded to tell)."""

_SHORT_NAMES = {"dialog_id": "dialog", "line_id": "line", "channel": "", "operator_id": "operator"}


# --- the ids of the work in hand ------------------------------------------------------------------


class ContextFilter(logging.Filter):
    """Puts the ids of :func:`omniline.log_context.log_context` on every record that has none of
    its own (``extra={"dialog_id": ...}`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in log_fields().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class HumanFormatter(logging.Formatter):
    """``time LEVEL logger [dialog 12 line support telegram/shop operator anna]: message``."""

    def __init__(self) -> None:
        super().__init__(HUMAN)

    def formatMessage(self, record: logging.LogRecord) -> str:
        tags = [
            f"{_SHORT_NAMES[key]} {value}".strip()
            for key in FIELDS
            if (value := getattr(record, key, None)) is not None
        ]
        record.about = f" [{' '.join(tags)}]" if tags else ""
        return super().formatMessage(record)


class _Json(JsonFormatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def json_formatter() -> logging.Formatter:
    """One JSON object per line: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, the
    ids where known, and for a record with an exception ``exception`` (its text on one line) and
    ``traceback``."""
    return _Json(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={
            "asctime": "time",
            "levelname": "level",
            "name": "logger",
            "exc_info": "traceback",
        },
    )


# --- no secret in the log -------------------------------------------------------------------------


class SecretFilter(logging.Filter):
    """Masks every secret handed to :func:`hide_secrets` in a record's message, its exception text
    and its stack: the record leaves with its message rendered (``msg``, no ``args``) and its
    exception as text (``exc_text``, and ``exception``: the last line of it), so no formatter
    renders the raw values again."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = mask(message), None
        if record.exc_info:
            exc = record.exc_info[1]
            if exc is not None:
                record.exception = mask(_one_line(exc))
            record.exc_text = mask("".join(traceback.format_exception(*record.exc_info)).rstrip())
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


def _one_line(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return " ".join(text.split())


_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def hide_secrets(values: Iterable[str]) -> None:
    """Mask these values (and their URL-encoded forms) in every record from now on; values shorter
    than ``SHORTEST_SECRET`` are left alone."""
    global _pattern
    before = len(_secrets)
    for value in values:
        if len(value) >= SHORTEST_SECRET:
            _secrets.add(value)
            _secrets.add(quote(value, safe=""))
    if len(_secrets) != before:
        # The longest first: a secret that holds another is masked whole.
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def mask(text: str) -> str:
    """``text`` with every hidden secret replaced by ``***``."""
    return text if _pattern is None else _pattern.sub(MASK, text)


PluginFinder = Callable[[PluginKind, str], Plugin[Any, Any]]


def installed_plugin(kind: PluginKind, name: str) -> Plugin[Any, Any]:
    """The installed plugin of ``kind`` named ``name`` (raises ``PluginError``)."""
    finders: dict[PluginKind, Callable[[str], Plugin[Any, Any]]] = {
        PluginKind.CHANNEL: channel_plugin,
        PluginKind.CRM: crm_plugin,
        PluginKind.DESK: desk_plugin,
        PluginKind.MIDDLEWARE: middleware_plugin,
    }
    return finders[kind](name)


def config_secrets(config: Config, find: PluginFinder = installed_plugin) -> set[str]:
    """Every secret value in ``config``: the password in ``storage.url``, the accounts' passwords
    (and hashes), and in each plugin's settings every value its settings model
    types ``SecretStr``, and every value under a key that names a secret (``SECRET_KEYS``). A
    secret that is a URL (a Bitrix24 webhook) also gives its password and its longer path
    segments (the webhook's code). ``find`` looks plugins up (the installed ones by default)."""
    found: set[str] = set()
    url = urlsplit(config.storage.url)
    if url.password:
        found.add(url.password)
    for account in config.accounts:
        found.update(v for v in (account.password, account.password_hash) if v)
    settings: list[tuple[PluginKind, str, Mapping[str, Any]]] = [
        (PluginKind.CHANNEL, cc.type, cc.settings) for lc in config.lines for cc in lc.channels
    ]
    if config.crm.type not in ("embedded", "none"):
        settings.append((PluginKind.CRM, config.crm.type, config.crm.settings))
    settings += [(PluginKind.DESK, dc.type, dc.settings) for dc in config.desks]
    settings += [(PluginKind.MIDDLEWARE, mc.type, mc.settings) for mc in config.middlewares]
    for kind, name, raw in settings:
        _named_secrets(raw, found)
        try:
            model = find(kind, name).settings(raw)
        except Exception:  # not loadable or not valid: start-up says so, not this
            continue
        _typed_secrets(model, found)
    for value in list(found):
        found.update(_url_parts(value))
    return found


def _named_secrets(value: object, found: set[str], key: str = "") -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _named_secrets(v, found, str(k))
    elif isinstance(value, list | tuple):
        for item in value:
            _named_secrets(item, found, key)
    elif isinstance(value, str) and SECRET_KEYS.search(key):
        found.add(value)


def _typed_secrets(value: object, found: set[str]) -> None:
    if isinstance(value, SecretStr):
        found.add(value.get_secret_value())
    elif isinstance(value, SecretBytes):
        found.add(value.get_secret_value().decode(errors="replace"))
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _typed_secrets(getattr(value, name), found)
    elif isinstance(value, Mapping):
        for item in value.values():
            _typed_secrets(item, found)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _typed_secrets(item, found)


def _url_parts(value: str) -> list[str]:
    if "://" not in value:
        return []
    try:
        parts = urlsplit(value)
    except ValueError:
        return []
    segments = [s for s in parts.path.split("/") if len(s) >= 8]
    return [*segments, *([parts.password] if parts.password else [])]


# --- set-up ---------------------------------------------------------------------------------------


def configure_logging(level: str, log_format: LogFormat = "human") -> None:
    """Send omniline's log (and its libraries') to standard error at ``level``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter() if log_format == "json" else HumanFormatter())
    handler.addFilter(OutageFilter())  # a database outage is logged once, not per use
    handler.addFilter(ContextFilter())
    handler.addFilter(SecretFilter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # urllib3 (under VK's client) logs every request's URL with its query at DEBUG: the long
    # poll's key and signed upload addresses would be in the log.
    logging.getLogger("urllib3").setLevel(max(logging.INFO, root.level))
