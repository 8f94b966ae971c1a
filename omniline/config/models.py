"""The configuration file's shape, as pydantic models."""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from omniline.engine.settings import LineSettings
from omniline.engine.validation import error_at
from omniline.model.identity import NAME_PATTERN
from omniline.pipeline.middleware import BUILTIN_ORDER


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StorageConfig(_Section):
    url: str = "sqlite:///omniline-data/omniline.db"
    """``sqlite:///path/file.db`` (relative paths are taken from the config file's folder) or
    ``postgresql://user:password@host:5432/database``."""
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    """NORMAL survives a crash of the process; FULL also survives a power loss, at a cost."""
    pool_size: int = Field(default=20, ge=1, le=200)
    recovery_grace: float | None = Field(default=None, ge=0)
    """Seconds an unprocessed inbound event waits before any worker may run it again (after a
    crash): 0 on SQLite and 120 on PostgreSQL by default."""
    recovery_interval: float = Field(default=60.0, gt=0)
    """Seconds between two sweeps for unprocessed inbound events."""
    lease_ttl: float = Field(default=10.0, ge=1)
    """Seconds a worker's lease on a polling loop (Telegram getUpdates, VK Long Poll, the Telegram
    desk) lasts unless renewed: another worker takes over within about this after the holder dies."""
    takeover_after: float = Field(default=10.0, gt=0)
    """PostgreSQL: seconds an inbound event waits for an earlier event of its dialog that another
    worker is processing, without progress, before it processes that event itself."""


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str | None = None
    """How browsers and platforms reach this server (for links and webhooks), if not host:port."""
    trusted_proxies: list[str] = Field(default_factory=list)
    """Reverse proxies (addresses or networks, like ``127.0.0.1`` or ``10.0.0.0/8``) whose
    ``X-Forwarded-For``, ``-Proto`` and ``-Host`` headers say who the client is; from anyone else
    those headers are ignored. See docs/deployment.md."""
    gc_freeze: bool = True
    """Move start-up objects out of the garbage collector's reach (``gc.freeze()``): the collector's
    pauses over them set the latency tail otherwise."""
    gc_threshold: int = Field(default=20_000, ge=700)
    """Allocations between two collections of the youngest generation. Python's default (700) has
    the collector run every few messages; measured here, 20,000 handles ~30% more messages.
    Applied by ``omniline run`` and ``omniline demo``, not when omniline is embedded."""
    metrics: bool = True
    """Serve ``GET /metrics`` (Prometheus). It needs no login: keep it off the public internet."""

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (like 10.0.0.0/8)"
                ) from None
        return value


class OutboxConfig(_Section):
    max_attempts: int = Field(default=10, ge=1, le=1000)
    base_delay: float = Field(default=1.0, gt=0)
    max_delay: float = Field(default=300.0, gt=0)
    lease: float = Field(default=60.0, ge=1)
    poll_interval: float = Field(default=1.0, gt=0)


class ChannelConfig(_Section):
    type: str = Field(pattern=NAME_PATTERN)
    account: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")
    settings: dict[str, Any] = Field(default_factory=dict)
    """Validated by the channel plugin's own config model."""


class OperatorConfig(_Section):
    id: str = Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")
    name: str = Field(min_length=1)
    capacity: int | None = Field(default=None, ge=1)
    """Most open dialogs at once; by default the line's ``default_capacity``."""


class DeskConfig(_Section):
    type: str = Field(pattern=NAME_PATTERN)
    """The desk plugin (entry point name in ``omniline.desks``), e.g. ``telegram``."""
    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    """Tells two desks of one type apart (their saved state); the type by default."""
    settings: dict[str, Any] = Field(default_factory=dict)
    """Validated by the desk plugin's own config model."""


class MiddlewareConfig(_Section):
    type: str = Field(pattern=NAME_PATTERN)
    """The middleware plugin (entry point name in ``omniline.middlewares``)."""
    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    """Tells two middlewares of one type apart (their saved state); the type by default."""
    before: str | None = None
    after: str | None = None
    """Just before or just after which built-in middleware it runs; the plugin's own default
    place when neither is given."""
    settings: dict[str, Any] = Field(default_factory=dict)
    """Validated by the middleware plugin's own config model."""

    @model_validator(mode="after")
    def _place(self) -> MiddlewareConfig:
        if self.before is not None and self.after is not None:
            raise ValueError("give before or after, not both")
        anchor = self.before or self.after
        if anchor is not None and anchor not in BUILTIN_ORDER:
            raise ValueError(
                f"{anchor!r} is not a built-in middleware; one of {', '.join(BUILTIN_ORDER)}"
            )
        return self


class CrmConfig(_Section):
    type: str = Field(default="embedded", pattern=NAME_PATTERN)
    """``embedded`` (contacts and leads in omniline's database), ``none``, or a CRM plugin's
    entry point name (``bitrix24``)."""
    settings: dict[str, Any] = Field(default_factory=dict)
    """Validated by the CRM plugin's own config model."""


class LineConfig(LineSettings):
    """A line: its channels and bot, and its Open Lines settings (see ``LineSettings``)."""

    model_config = ConfigDict(extra="forbid", frozen=False)

    id: str = Field(pattern=NAME_PATTERN)
    name: str = Field(min_length=1)
    bot: str | None = None
    """Import path of the line's bot router, ``package.module:attribute``."""
    channels: list[ChannelConfig] = Field(min_length=1)
    handoff_phrases: list[str] = Field(default_factory=lambda: ["operator", "human", "оператор"])
    handoff_on_bot_error: bool = True
    handoff_when_unhandled: bool = True

    @field_validator("bot")
    @classmethod
    def _bot_path(cls, value: str | None) -> str | None:
        if value is not None and ":" not in value:
            raise ValueError("expected an import path like 'mypackage.bot:router'")
        return value


class AccountConfig(_Section):
    """A login to the console and the API."""

    login: str = Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")
    name: str = Field(min_length=1)
    role: Literal["operator", "supervisor", "admin"] = "operator"
    operator: str | None = None
    """The operator this account acts as. An operator account whose login is an operator's id
    acts as that operator when this is not given."""
    lines: list[str] | None = None
    """The lines the account sees; by default an operator's queues, every line for the others."""
    password: str | None = Field(default=None, min_length=8, repr=False)
    """Give it from the environment (``${ANNA_PASSWORD}``); it is stored only as an argon2 hash."""
    password_hash: str | None = Field(default=None, repr=False)
    """An argon2 hash instead of the password (``omniline accounts hash``)."""

    @model_validator(mode="after")
    def _one_password(self) -> AccountConfig:
        if self.password is not None and self.password_hash is not None:
            raise ValueError("give password or password_hash, not both")
        if self.password_hash is not None and not self.password_hash.startswith("$argon2"):
            raise ValueError("password_hash must be an argon2 hash ($argon2id$...)")
        return self


class ConsoleConfig(_Section):
    enabled: bool = True
    """Serve the REST API (``/api/v1``), live push and the web console (``/console/``)."""
    session_hours: float = Field(default=12.0, gt=0, le=24 * 90)
    """How long a console login lasts."""
    offline_after: float | None = Field(default=60.0, ge=0)
    """Seconds after an operator's last console closed (or lost its connection) before they go
    offline, so they get no more offers; a console that opens sets them online. None: presence is
    only what operators and the API set."""


class Config(_Section):
    storage: StorageConfig = Field(default_factory=StorageConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    operators: list[OperatorConfig] = Field(default_factory=list)
    lines: list[LineConfig] = Field(min_length=1)
    crm: CrmConfig = Field(default_factory=CrmConfig)
    desks: list[DeskConfig] = Field(default_factory=list)
    """Desks from plugins, run by this process (run a polling desk in one process only)."""
    middlewares: list[MiddlewareConfig] = Field(default_factory=list)
    """Middlewares from plugins, placed in the chain in this order at start."""
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
    accounts: list[AccountConfig] = Field(default_factory=list)
    """Logins to the console and the API, written to the database at start (more can be made
    through the API)."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["human", "json"] = "human"
    """``human``: one line per record; ``json``: one JSON object per line, for collectors (see
    docs/reliability.md, Logs)."""

    @model_validator(mode="after")
    def _unique(self) -> Config:
        """Ids unique, and every name one part gives another part defined: each error at the key
        that is wrong (the second of two, the name not found)."""
        first_line: dict[str, int] = {}
        first_channel: dict[tuple[str, str], int] = {}
        for li, line in enumerate(self.lines):
            if line.id in first_line:
                raise error_at(
                    f"{line.id!r} is the id of lines[{first_line[line.id]}] already; "
                    "give each line an id of its own",
                    "lines",
                    li,
                    "id",
                )
            first_line[line.id] = li
            for ci, ch in enumerate(line.channels):
                key = (ch.type, ch.account)
                if key in first_channel:
                    raise error_at(
                        f"channel {ch.type}/{ch.account} is attached to lines[{first_channel[key]}] "
                        "already; a channel account belongs to one line",
                        "lines",
                        li,
                        "channels",
                        ci,
                    )
                first_channel[key] = li
        ops: dict[str, int] = {}
        for oi, operator in enumerate(self.operators):
            if operator.id in ops:
                raise error_at(
                    f"{operator.id!r} is the id of operators[{ops[operator.id]}] already; "
                    "give each operator an id of its own",
                    "operators",
                    oi,
                    "id",
                )
            ops[operator.id] = oi
        logins: dict[str, int] = {}
        for ai, account in enumerate(self.accounts):
            if account.login in logins:
                raise error_at(
                    f"{account.login!r} is the login of accounts[{logins[account.login]}] already",
                    "accounts",
                    ai,
                    "login",
                )
            logins[account.login] = ai
        defined = ", ".join(ops) or "none"
        for ai, account in enumerate(self.accounts):
            if account.operator is not None and account.operator not in ops:
                raise error_at(
                    f"no operator {account.operator!r} in 'operators' (defined: {defined})",
                    "accounts",
                    ai,
                    "operator",
                )
            if account.role == "operator" and account.operator is None and account.login not in ops:
                raise error_at(
                    f"account {account.login!r} has the role operator: give the operator it acts "
                    "as here (or make its login an operator's id)",
                    "accounts",
                    ai,
                    "operator",
                )
            for ki, line_id in enumerate(account.lines or ()):
                if line_id not in first_line:
                    raise error_at(
                        f"no line {line_id!r} (the lines: {', '.join(first_line)})",
                        "accounts",
                        ai,
                        "lines",
                        ki,
                    )
        for li, line in enumerate(self.lines):
            for qi, operator_id in enumerate(line.queue):
                if operator_id not in ops:
                    raise error_at(
                        f"no operator {operator_id!r} in 'operators' (defined: {defined}); "
                        "a queue names operators defined there",
                        "lines",
                        li,
                        "queue",
                        qi,
                    )
        return self
