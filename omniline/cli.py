"""The ``omniline`` command line."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from aiohttp import web

from omniline.app import Omniline
from omniline.config import Config, load_config
from omniline.errors import OmnilineError
from omniline.plugins import installed, load
from omniline.store import parse_url

cli = typer.Typer(
    name="omniline",
    help="Customer contact center over messengers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db = typer.Typer(help="Database schema.", no_args_is_help=True)
cli.add_typer(db, name="db")

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The YAML configuration file.", show_default=False)
]


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def _load(path: Path) -> Config:
    # Bots are named by import path; like other servers, look for them in the current folder too.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        config = load_config(path)
        parse_url(config.storage.url)
    except OmnilineError as exc:
        raise _fail(str(exc)) from None
    return config


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


async def _serve(app: Omniline, on_started: str | None = None) -> None:
    """Run until SIGINT or SIGTERM, then stop gracefully."""
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
    if on_started:
        typer.echo(on_started.replace("{url}", app.url))
    typer.echo("Press Ctrl+C to stop.", err=True)
    await stop.wait()
    typer.echo("Stopping: finishing work in flight...", err=True)
    await app.stop()


def _run(app: Omniline, on_started: str | None = None) -> None:
    try:
        asyncio.run(_serve(app, on_started))
    except OmnilineError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(
            f"cannot listen on {app.config.server.host}:{app.config.server.port}: {exc}"
        ) from None


@cli.command()
def demo(
    data: Annotated[Path, typer.Option(help="Folder for the demo's database.")] = Path(
        "omniline-demo"
    ),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """Run a demo line with the web chat on embedded defaults (no tokens needed)."""
    from omniline.demo import DEMO_OPERATORS, demo_config

    config = demo_config(data, host=host, port=port)
    _logging(config.log_level)
    app = Omniline(config, migrate=True)

    async def home(request: web.Request) -> web.Response:
        raise web.HTTPFound("/channels/webchat/site/demo")

    app.web.router.add_get("/", home)
    operators = ", ".join(f"{name} ({oid})" for oid, name in DEMO_OPERATORS.items())
    _run(
        app,
        "\nomniline demo is running.\n"
        "  Demo site with the chat widget:  {url}/\n"
        "  Widget tag for any page:         "
        '<script src="{url}/channels/webchat/site/widget.js" async></script>\n'
        f"  Demo operators:                  {operators}\n"
        f"  Data folder:                     {data.resolve()}\n",
    )


@cli.command()
def run(config: ConfigOption) -> None:
    """Run omniline with a configuration file."""
    cfg = _load(config)
    _logging(cfg.log_level)
    _run(Omniline(cfg), "omniline is running at {url}")


@cli.command("check-config")
def check_config(config: ConfigOption) -> None:
    """Validate a configuration file (and the plugins it names) without starting."""
    cfg = _load(config)
    from omniline.app import import_bot
    from omniline.config.loader import key_path

    try:
        for i, line in enumerate(cfg.lines):
            if line.bot:
                import_bot(line.bot, f"{config}: {key_path(['lines', i, 'bot'])}")
    except OmnilineError as exc:
        raise _fail(str(exc)) from None
    channels = sum(len(line.channels) for line in cfg.lines)
    typer.echo(f"{config}: OK ({len(cfg.lines)} line(s), {channels} channel(s))")


@db.command("upgrade")
def db_upgrade(config: ConfigOption) -> None:
    """Migrate the database to this omniline's schema."""
    from omniline.store import current_revision, head_revision, upgrade

    cfg = _load(config)
    try:
        before = asyncio.run(current_revision(cfg.storage.url))
        asyncio.run(upgrade(cfg.storage.url))
    except OmnilineError as exc:
        raise _fail(str(exc)) from None
    head = head_revision()
    if before == head:
        typer.echo(f"the database is up to date (revision {head})")
    else:
        typer.echo(f"migrated the database from {before or 'empty'} to revision {head}")


@db.command("current")
def db_current(config: ConfigOption) -> None:
    """Show the database's schema revision."""
    from omniline.store import current_revision, head_revision

    cfg = _load(config)
    try:
        current = asyncio.run(current_revision(cfg.storage.url))
    except OmnilineError as exc:
        raise _fail(str(exc)) from None
    head = head_revision()
    state = "up to date" if current == head else f"needs `omniline db upgrade` (to {head})"
    typer.echo(f"{current or 'empty'}: {state}")


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


def main() -> None:
    cli()
