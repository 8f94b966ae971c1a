"""The ``omniline`` command line."""

from __future__ import annotations

import asyncio
import gc
import importlib.metadata
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from aiohttp import web

from omniline.app import Omniline
from omniline.channels.webhook import WebhookChannel, mount_path
from omniline.config import Config, load_config
from omniline.config.loader import SECRET_KEY
from omniline.engine.stats import NO_OPERATOR, Durations, Figures, Statistics
from omniline.errors import OmnilineError
from omniline.logs import configure_logging
from omniline.model import ChannelRef
from omniline.plugins import installed, load
from omniline.store import parse_url
from omniline.store.sql_store import SqlStore
from omniline.workers import SupervisorLink, inherited_sockets, options_given, supervise

T = TypeVar("T")


HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}
# rich_markup_mode=None everywhere: typer's rich help writes every flag as if it took a value
# (``--help <bool>``); click's plain help writes flags as flags (``--x / --no-x``), and reads the
# same in a pipe.

cli = typer.Typer(
    name="omniline",
    help="Customer contact center over messengers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings=HELP_OPTIONS,
    rich_markup_mode=None,
)


def _group(help: str) -> typer.Typer:
    return typer.Typer(
        help=help, no_args_is_help=True, context_settings=HELP_OPTIONS, rich_markup_mode=None
    )


db = _group("The database: its schema, and backups.")
cli.add_typer(db, name="db")
accounts = _group("Console and API accounts.")
cli.add_typer(accounts, name="accounts")
lines_cli = _group("Lines.")
cli.add_typer(lines_cli, name="lines")

CONFIG_ENV = "OMNILINE_CONFIG"
CONFIG_FILE = "omniline.yaml"

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        metavar="FILE",
        help=f"The YAML configuration file. Without it: the file ${CONFIG_ENV} names, else "
        f"./{CONFIG_FILE}.",
        show_default=False,
    ),
]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogLevelOption = Annotated[
    LogLevel | None,
    typer.Option(
        "--log-level",
        metavar="LEVEL",
        case_sensitive=False,
        help="DEBUG, INFO, WARNING or ERROR; overrides log_level (default INFO).",
        show_default=False,
    ),
]
LogFormatOption = Annotated[
    Literal["human", "json"] | None,
    typer.Option(
        "--log-format",
        metavar="FORMAT",
        help="human (a line per record) or json (an object per line); overrides log_format "
        "(default human).",
        show_default=False,
    ),
]


def _version() -> str:
    try:
        return importlib.metadata.version("omniline")
    except importlib.metadata.PackageNotFoundError:  # run from a folder, not installed
        return "unknown (not installed)"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"omniline {_version()}")
        raise typer.Exit()


@cli.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print omniline's version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    pass


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def _config_path(given: Path | None) -> Path:
    """The configuration file: ``-c``, else the one ``OMNILINE_CONFIG`` names, else
    ``./omniline.yaml``. Only a file that is there is taken from the last two."""
    if given is not None:
        return given
    named = os.environ.get(CONFIG_ENV, "")
    if named:
        path = Path(named)
        if not path.is_file():
            raise _fail(
                f"{CONFIG_ENV} names {path}, which is not a file: set {CONFIG_ENV} to a "
                "configuration file, or give one with -c FILE"
            )
        return path
    here = Path(CONFIG_FILE)
    if here.is_file():
        return here
    raise _fail(
        f"no configuration file: none given with -c/--config, {CONFIG_ENV} is not set, and "
        f"there is no {CONFIG_FILE} in {Path.cwd()}; give one with -c FILE or "
        f"{CONFIG_ENV}=FILE (omniline demo runs without one)"
    )


def _load(path: Path) -> Config:
    # Bots are named by import path; like other servers, look for them in the current folder too.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        config = load_config(path)
    except OmnilineError as exc:
        raise _fail(str(exc)) from None
    try:
        parse_url(config.storage.url)
    except OmnilineError as exc:
        raise _fail(f"{path}: {exc}") from None
    return config


def _with_store(cfg: Config, work: Callable[[SqlStore], Awaitable[T]]) -> T:
    """Run ``work`` on the config's database (at this omniline's schema), then close it."""
    from omniline.engine.clock import SystemClock
    from omniline.store import open_store

    async def run() -> T:
        store = await open_store(cfg.storage.url, SystemClock())
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except OmnilineError as exc:
        raise _fail(str(exc)) from None


async def _serve(
    app: Omniline,
    on_started: str | Callable[[Omniline], str] | None = None,
    supervisor: SupervisorLink | None = None,
) -> None:
    """Run until SIGINT or SIGTERM (or, as a worker, until its supervisor is gone), then stop
    gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await app.start()
    server = app.config.server
    if server.gc_freeze:
        gc.collect()
        gc.freeze()
    gc.set_threshold(server.gc_threshold, 20, 100)
    if callable(on_started):
        typer.echo(on_started(app))
    elif on_started:
        typer.echo(on_started.replace("{url}", app.url))
    if supervisor is not None:
        supervisor.ready(stop)
    else:
        _note(app, "Press Ctrl+C to stop.")
    await stop.wait()
    _note(app, "Stopping: finishing work in flight...")
    await app.stop()


def _note(app: Omniline, text: str) -> None:
    """A word to whoever watches the terminal, on standard error. With JSON logs it is a log
    record, so that standard error stays one JSON object per line."""
    if app.config.log_format == "json":
        logging.getLogger("omniline.cli").info(text)
    else:
        typer.echo(text, err=True)


def _run(
    app: Omniline,
    on_started: str | Callable[[Omniline], str] | None = None,
    supervisor: SupervisorLink | None = None,
) -> None:
    try:
        asyncio.run(_serve(app, on_started, supervisor))
    except OmnilineError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot start: {exc}") from None


@cli.command()
def demo(
    data: Annotated[
        Path, typer.Option(metavar="DIR", help="Folder for the demo's database.")
    ] = Path("omniline-demo"),
    host: Annotated[str, typer.Option(metavar="HOST", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(metavar="PORT", help="Port to listen on.", min=0, max=65535)
    ] = 8080,
    log_level: LogLevelOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Run a demo: web chat and console, no tokens needed.

    A demo line with a bot, two operators and a supervisor, on embedded defaults."""
    from omniline.demo import DEMO_OPERATORS, DEMO_SUPERVISOR, demo_config, demo_credentials

    try:
        config = demo_config(data, host=host, port=port)
        passwords = demo_credentials(data)
    except OSError as exc:
        reason = (
            "a part of that path is a file, not a folder"
            if isinstance(exc, FileExistsError | NotADirectoryError)
            else exc.strerror or str(exc)
        )
        raise _fail(
            f"cannot keep the demo's data in {data}: {reason}; give another folder with --data"
        ) from None
    config = _overridden(config, host=None, port=None, log_level=log_level, log_format=log_format)
    configure_logging(config.log_level, config.log_format)
    app = Omniline(config, migrate=True)

    async def home(request: web.Request) -> web.Response:
        raise web.HTTPFound("/channels/webchat/site/demo")

    app.web.router.add_get("/", home)
    names = {**DEMO_OPERATORS, DEMO_SUPERVISOR[0]: DEMO_SUPERVISOR[1]}
    logins = "".join(
        f"    {login:<8} {passwords[login]:<16} {name}"
        + (" (supervisor)" if login == DEMO_SUPERVISOR[0] else " (operator)")
        + "\n"
        for login, name in names.items()
    )
    _run(
        app,
        "\nomniline demo is running.\n"
        "  Demo site with the chat widget:  {url}/\n"
        "  Operator console:                {url}/console/\n"
        "  Widget and console side by side: {url}/console/demo.html\n"
        "  Widget tag for any page:         "
        '<script src="{url}/channels/webchat/site/widget.js" async></script>\n'
        "  Console logins (login, password, who):\n"
        f"{logins}"
        f"  Data folder:                     {data.resolve()}\n",
    )


def _check(path: Path, cfg: Config) -> int:
    """Import the config's bots and load its plugins with their settings, as ``check-config``
    does; errors name the file and the key. Returns how many plugins were checked."""
    from omniline.app import check_plugins, import_bot
    from omniline.config.loader import key_path

    try:
        for i, line in enumerate(cfg.lines):
            if line.bot:
                import_bot(line.bot, f"{path}: {key_path(['lines', i, 'bot'])}")
        return check_plugins(cfg, str(path))
    except OmnilineError as exc:
        raise _fail(str(exc)) from None


def _overridden(
    cfg: Config,
    *,
    host: str | None,
    port: int | None,
    log_level: str | None,
    log_format: str | None,
) -> Config:
    """The config with what the command line gives instead (typer has checked the values)."""
    server = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    top = {k: v for k, v in (("log_level", log_level), ("log_format", log_format)) if v}
    return cfg.model_copy(update={"server": cfg.server.model_copy(update=server), **top})


def _started(app: Omniline) -> str:
    """What ``run`` prints once it listens: where the console is, each web chat's widget tag,
    and the webhook endpoints of the channels that have them."""
    url = app.url
    said = [f"omniline is running at {url}", *_places(app.config, url)]
    for line in app.config.lines:
        for cc in line.channels:
            ref = ChannelRef(type=cc.type, account=cc.account)
            channel = app.channels.get(ref)
            if cc.type != "webchat" and isinstance(channel, WebhookChannel):
                said.extend(
                    f"  Webhook ({ref}):  {method} {url}{mount_path(ref)}{path}"
                    for method, path in _webhook_paths(channel, cc.settings)
                )
    return "\n".join(said)


def _places(cfg: Config, url: str) -> list[str]:
    """Where the console is and each web chat's widget tag, at ``url``."""
    said = []
    if cfg.console.enabled:
        said.append(f"  Operator console:  {url}/console/")
    for line in cfg.lines:
        for cc in line.channels:
            if cc.type == "webchat":
                ref = ChannelRef(type=cc.type, account=cc.account)
                script = f'<script src="{url}{mount_path(ref)}/widget.js" async></script>'
                said.append(f"  Widget tag ({ref}):  {script}")
    return said


def _webhook_paths(channel: WebhookChannel, settings: dict[str, Any]) -> list[tuple[str, str]]:
    """The channel's POST routes with a fixed path, but none whose path holds a value that may be
    a secret (under a key like ``token`` or ``secret``, or long enough to be one): a plugin may
    put a secret in a webhook's path, and what ``run`` prints ends up in logs."""
    values = [v for v in _leaves(settings, secret=False) if len(v) >= 4]
    found = []
    for route in channel.routes():
        if not isinstance(route, web.RouteDef) or route.method != "POST":
            continue
        if "{" in route.path or any(v in route.path for v in values):
            continue
        found.append((route.method, route.path))
    return found


def _leaves(value: object, *, secret: bool) -> list[str]:
    """The values in settings that may be secrets."""
    if isinstance(value, dict):
        return [
            leaf
            for k, v in value.items()
            for leaf in _leaves(v, secret=secret or bool(SECRET_KEY.search(str(k))))
        ]
    if isinstance(value, list | tuple):
        return [leaf for v in value for leaf in _leaves(v, secret=secret)]
    text = str(value)
    return [text] if secret or len(text) >= 16 else []


@cli.command()
def run(
    ctx: typer.Context,
    config: ConfigOption = None,
    host: Annotated[
        str | None,
        typer.Option(metavar="HOST", help="Address to listen on; overrides server.host."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            metavar="PORT", min=0, max=65535, help="Port to listen on; overrides server.port."
        ),
    ] = None,
    log_level: LogLevelOption = None,
    log_format: LogFormatOption = None,
    workers: Annotated[
        int,
        typer.Option(
            metavar="N",
            min=1,
            help="Worker processes serving the one port, kept running by this one (PostgreSQL "
            "only; see docs/workers.md). 1: serve in this process.",
        ),
    ] = 1,
    listen_fd: Annotated[list[int] | None, typer.Option(hidden=True)] = None,
    supervisor_fd: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Run omniline with a configuration file."""
    config = _config_path(config)
    cfg = _load(config)
    _check(config, cfg)
    cfg = _overridden(cfg, host=host, port=port, log_level=log_level, log_format=log_format)
    configure_logging(cfg.log_level, cfg.log_format)
    if workers > 1 and supervisor_fd is None:
        try:
            supervise(
                config,
                cfg,
                workers,
                worker_args=options_given(ctx, {"config", "workers", "listen_fd", "supervisor_fd"}),
                announce=typer.echo,
                places=lambda url: _places(cfg, url),
            )
        except OmnilineError as exc:
            raise _fail(str(exc)) from None
        return
    # A worker of `--workers` (the hidden options): it serves its supervisor's sockets.
    link = SupervisorLink(supervisor_fd) if supervisor_fd is not None else None
    try:
        app = Omniline(cfg, listen_sockets=inherited_sockets(listen_fd or []))
    except OmnilineError as exc:
        raise _fail(f"{config}: {exc}") from None
    _run(app, None if link else _started, link)


@cli.command("check-config")
def check_config(config: ConfigOption = None) -> None:
    """Check a configuration file without starting.

    Validates the file, imports the lines' bots and loads the plugins it names with their
    settings; does not connect to the database."""
    config = _config_path(config)
    cfg = _load(config)
    plugins = _check(config, cfg)
    channels = sum(len(line.channels) for line in cfg.lines)
    typer.echo(
        f"{config}: OK ({len(cfg.lines)} line(s), {channels} channel(s), {plugins} plugin(s))"
    )


@db.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Migrate the database to this omniline's schema."""
    from omniline.store import head_revision, upgrade

    config = _config_path(config)
    cfg = _load(config)
    try:
        before = asyncio.run(upgrade(cfg.storage.url))
    except OmnilineError as exc:
        raise _fail(str(exc)) from None
    head = head_revision()
    if before == head:
        typer.echo(f"the database is up to date (revision {head})")
    else:
        typer.echo(f"migrated the database from {before or 'empty'} to revision {head}")


@db.command("current")
def db_current(config: ConfigOption = None) -> None:
    """Show the database's schema revision."""
    from omniline.store import current_revision, head_revision
    from omniline.store.database import known_revision

    config = _config_path(config)
    cfg = _load(config)
    try:
        current = asyncio.run(current_revision(cfg.storage.url))
    except OmnilineError as exc:
        raise _fail(str(exc)) from None
    head = head_revision()
    if current is not None and not known_revision(current):
        raise _fail(
            f"{current}: a revision this omniline does not know (its newest is {head}): a newer "
            "omniline migrated the database; run that one, or upgrade omniline"
        )
    state = "up to date" if current == head else f"needs `omniline db upgrade` (to {head})"
    typer.echo(f"{current or 'empty'}: {state}")


@db.command("backup")
def db_backup(
    config: ConfigOption = None,
    to: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            help="The backup file, or a folder to write it in. Default: next to the database, "
            "named after it and the time (omniline-20260131T180000Z.db).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Back up a SQLite database, safe while omniline runs.

    Uses SQLite's online backup, and prints where it wrote. For PostgreSQL, use pg_dump."""
    from omniline.store.backup import backup_sqlite

    config = _config_path(config)
    cfg = _load(config)
    try:
        done = backup_sqlite(cfg.storage.url, to)
    except OmnilineError as exc:
        raise _fail(str(exc)) from None
    revision = f" (schema revision {done.revision})" if done.revision else ""
    typer.echo(f"backed up the database to {done.path}{revision}")


@accounts.command("hash-password")
def accounts_hash_password() -> None:
    """Print an argon2 hash of a password, for password_hash in the config.

    The password is asked for twice and not echoed."""
    from omniline.console.accounts import hash_password

    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise _fail("a password needs at least 8 characters")
    typer.echo(asyncio.run(hash_password(password)))


@accounts.command("token")
def accounts_token(
    account: Annotated[
        str, typer.Option(metavar="LOGIN", help="The account's login.", show_default=False)
    ],
    name: Annotated[
        str, typer.Option(metavar="TEXT", help="What the token is for.", show_default=False)
    ],
    config: ConfigOption = None,
) -> None:
    """Create an API token for an account (printed once; revoke it through the API)."""
    config = _config_path(config)
    from omniline.console.accounts import Accounts
    from omniline.engine.clock import SystemClock

    async def create(store: SqlStore) -> str:
        found = Accounts(store.accounts, SystemClock(), session_lifetime=0)
        if await found.get(account) is None:
            raise _fail(f"no account {account!r} (accounts are written at the first start)")
        secret, _ = await found.create_token(account, name)
        return secret

    typer.echo(_with_store(_load(config), create))


@lines_cli.command("reset")
def lines_reset(
    line: Annotated[str, typer.Argument(metavar="LINE", help="The line's id.", show_default=False)],
    config: ConfigOption = None,
) -> None:
    """Drop a line's settings changed at run time.

    Changes made in the console or through the API are dropped: the line runs on the config
    file's settings again, in running processes too within seconds."""
    config = _config_path(config)
    from omniline.engine.clock import SystemClock
    from omniline.services.line_changes import LineChanges

    cfg = _load(config)
    if line not in {lc.id for lc in cfg.lines}:
        raise _fail(f"{config}: no line {line!r}")

    async def reset(store: SqlStore) -> dict[str, object]:
        return await LineChanges(store.line_settings, {}, SystemClock()).reset(line)

    dropped = _with_store(cfg, reset)
    if dropped:
        typer.echo(f"line {line}: dropped the run-time changes of {', '.join(sorted(dropped))}")
    else:
        typer.echo(f"line {line}: no settings changed at run time")


@cli.command()
def plugins() -> None:
    """List installed plugins, and whether each loads."""
    found = installed()
    if not found:
        typer.echo("no plugins installed")
        return
    failed = False
    for item in found:
        try:
            plugin = load(item)
            note = getattr(plugin, "description", "") or "ok"
        except OmnilineError as exc:
            note = f"BROKEN: {exc}"
            failed = True
        typer.echo(f"{item.group:22} {item.name:12} {item.distribution} {item.version}  {note}")
    if failed:
        raise typer.Exit(code=1)


# --- statistics -----------------------------------------------------------------------------------


def _moment(value: str, option: str, *, end_of_day: bool = False) -> datetime:
    """An ISO date or date and time given on the command line, UTC unless it has an offset. A bare
    date is its midnight, or with ``end_of_day`` the next midnight, so that ``--until`` takes in
    the day it names."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(
            f"{option} {value!r} is not a date or a date and time: write it like 2026-01-31 or "
            "2026-01-31T18:00 (UTC), or 2026-01-31T18:00+02:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        date.fromisoformat(value)
    except ValueError:
        return moment
    try:
        return moment + timedelta(days=1) if end_of_day else moment
    except OverflowError:
        raise _fail(f"{option} {value!r} is the last day there is: leave {option} out") from None


def _duration(seconds: float | None) -> str:
    """``42s``, ``1m 05s``, ``2h 03m``, ``3d 04h``; ``-`` for none."""
    if seconds is None:
        return "-"
    total = round(seconds)
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1) -> str:
    """Columns aligned with spaces: the first ``left`` (names) to the left, the others (figures)
    to the right."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = []
    for row in (header, *rows):
        cells = [
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _durations_row(name: str, d: Durations) -> list[str]:
    return [name, str(d.count), _duration(d.average), _duration(d.median), _duration(d.p90)]


BREAKDOWN = (
    "dialogs",
    "in hours",
    "out of hours",
    "first response",
    "time to accept",
    "handle time",
    "messages",
    "rating",
)
"""The columns of the per-line and per-operator tables (durations and messages: averages)."""


def _breakdown_row(figures: Figures) -> list[str]:
    return [
        str(figures.dialogs),
        str(figures.in_hours),
        str(figures.out_of_hours),
        _duration(figures.first_response.average),
        _duration(figures.time_to_accept.average),
        _duration(figures.handle_time.average),
        _number(figures.messages.average),
        _number(figures.ratings.average, 2),
    ]


def _operator_name(operator_id: str, names: dict[str, str]) -> str:
    if operator_id in names:
        return names[operator_id]
    return "no operator" if operator_id == NO_OPERATOR else ""


def _report(
    result: Statistics, since: datetime, until: datetime, line_id: str | None, names: dict[str, str]
) -> str:
    def moment(at: datetime) -> str:
        return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")

    overall = result.overall
    scope = f"line {line_id}" if line_id else "all lines"
    parts = [f"Dialogs opened from {moment(since)} to {moment(until)}, {scope}"]
    if overall.dialogs:
        messages = overall.messages
        ratings = overall.ratings
        parts.append(
            _table(
                ["Overall", ""],
                [
                    ["dialogs", str(overall.dialogs)],
                    ["in working hours", str(overall.in_hours)],
                    ["out of working hours", str(overall.out_of_hours)],
                    *([f"status {status}", str(n)] for status, n in overall.by_status.items()),
                    *([f"channel {channel}", str(n)] for channel, n in overall.by_channel.items()),
                    ["messages per dialog, average", _number(messages.average)],
                    ["messages per dialog, max", str(messages.max)],
                ],
            )
        )
        parts.append(
            _table(
                ["Durations", "count", "average", "median", "p90"],
                [
                    _durations_row("first response", overall.first_response),
                    _durations_row("time to accept", overall.time_to_accept),
                    _durations_row("handle time", overall.handle_time),
                ],
            )
        )
        parts.append("Per line and per operator: averages of durations, messages and ratings.")
        parts.append(
            _table(
                ["Line", *BREAKDOWN],
                [[key, *_breakdown_row(f)] for key, f in result.by_line.items()],
            )
        )
        parts.append(
            _table(
                ["Operator", "name", *BREAKDOWN],
                [
                    [key, _operator_name(key, names), *_breakdown_row(f)]
                    for key, f in result.by_operator.items()
                ],
                left=2,
            )
        )
        parts.append(
            _table(
                ["Rating", "dialogs"],
                [
                    *([str(score), str(n)] for score, n in ratings.by_score.items()),
                    ["rated", str(ratings.count)],
                    ["average", _number(ratings.average, 2)],
                ],
            )
        )
    else:
        parts.append("No dialogs were opened in this range.")
    open_now = result.open_by_operator
    parts.append(
        _table(
            ["Active dialogs now", "name", "dialogs"],
            [[key, _operator_name(key, names), str(n)] for key, n in open_now.items()],
            left=2,
        )
        if open_now
        else "No dialogs are active now."
    )
    return "\n\n".join(parts)


@cli.command()
def stats(
    config: ConfigOption = None,
    since: Annotated[
        str | None,
        typer.Option(
            metavar="WHEN",
            help="Start of the range: a date or date and time (ISO, UTC unless it has an offset). "
            "Default: 7 days before --until.",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            metavar="WHEN",
            help="End of the range, not included; a date alone takes in that whole day. "
            "Default: now.",
            show_default=False,
        ),
    ] = None,
    line: Annotated[
        str | None,
        typer.Option(metavar="LINE", help="Only this line's dialogs.", show_default=False),
    ] = None,
) -> None:
    """Statistics of dialogs, by line and by operator.

    Of the dialogs opened in a time range, and the operators' active dialogs now."""
    config = _config_path(config)
    from omniline.store.stats import read_statistics

    cfg = _load(config)
    end = _moment(until, "--until", end_of_day=True) if until else datetime.now(UTC)
    try:
        start = _moment(since, "--since") if since else end - timedelta(days=7)
    except OverflowError:
        raise _fail(f"there are no 7 days before --until {until}: give --since too") from None
    if start >= end:
        raise _fail(
            f"the range from {start.isoformat()} to {end.isoformat()} is empty: "
            "--since must come before --until"
        )
    if line is not None and line not in {lc.id for lc in cfg.lines}:
        known = ", ".join(lc.id for lc in cfg.lines)
        raise _fail(f"{config} has no line {line!r} (its lines: {known})")
    hours = {lc.id: lc.working_hours for lc in cfg.lines}
    try:
        result = asyncio.run(
            read_statistics(cfg.storage.url, since=start, until=end, line_id=line, hours=hours)
        )
    except OmnilineError as exc:
        raise _fail(str(exc)) from None
    typer.echo(_report(result, start, end, line, {o.id: o.name for o in cfg.operators}))


def main() -> None:
    cli()
