"""Wiring: an omniline application from a validated config."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import ValidationError

from omniline.channels.webchat.channel import WebchatChannel
from omniline.config.loader import format_validation_error, key_path
from omniline.config.models import Config, MiddlewareConfig
from omniline.console import WebConsole
from omniline.console.host import ConsoleHost
from omniline.console.push import Broadcast
from omniline.crm import CRM
from omniline.crm.embedded import EmbeddedCrm
from omniline.crm.service import CrmService
from omniline.engine.clock import SystemClock
from omniline.engine.crm_jobs import CRM_TIMER, sync_job
from omniline.engine.distribution import AUTO_CLOSE_TIMER, OFFER_TIMER, ROUTE_TIMER
from omniline.engine.ports import (
    Capabilities,
    Channel,
    Clock,
    Delivery,
    Desk,
    InboundSink,
    Receipt,
    Timer,
)
from omniline.engine.settings import LineSettings
from omniline.errors import ConfigError, DialogError, OmnilineError
from omniline.exporter import Exporter
from omniline.forwarded import forwarded_middleware, networks
from omniline.logs import config_secrets, hide_secrets
from omniline.model import ChannelRef, Identity, InboundEvent, StoredMessage
from omniline.pipeline.builtins import BUILTINS
from omniline.pipeline.line import Line
from omniline.pipeline.middleware import Middleware, MiddlewareChain
from omniline.pipeline.plugin import MiddlewareHost
from omniline.pipeline.router import Router
from omniline.pipeline.runner import Pipeline
from omniline.pipeline.serializer import KeyedSerializer
from omniline.plugins import (
    Plugin,
    PluginKind,
    channel_plugin,
    crm_plugin,
    desk_plugin,
    middleware_plugin,
)
from omniline.readiness import Readiness
from omniline.services.desk_plugins import DeskHost
from omniline.services.dialogs import Dialogs
from omniline.services.leases import Leases
from omniline.services.line_changes import LineChanges
from omniline.services.operators import Operators
from omniline.services.outbox import Outbox
from omniline.services.scheduler import Scheduler
from omniline.store import open_store, upgrade
from omniline.store.database import parse_url
from omniline.store.sql_store import SqlStore
from omniline.store.state import PluginState
from omniline.store.wakeup import FeedWakeup

log = logging.getLogger("omniline.app")


def import_bot(path: str, where: str) -> Router:
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
        obj = getattr(module, attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{where}: cannot import bot {path!r}: {exc}") from exc
    if not isinstance(obj, Router):
        raise ConfigError(f"{where}: {path!r} is a {type(obj).__name__}, not an omniline Router")
    return obj


@contextlib.contextmanager
def plugin_errors(loc: list[str | int], source: str = "config", named: str = "") -> Iterator[None]:
    """A plugin that fails to load or rejects its settings, as a ``ConfigError`` naming the
    config's key path ``loc`` (the settings under ``loc.settings``); ``named`` goes before it."""
    try:
        yield
    except OmnilineError as exc:
        raise ConfigError(f"{named}{key_path(loc)}: {exc}") from exc
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc, [*loc, "settings"])) from None


def check_plugins(config: Config, source: str = "config") -> int:
    """Load every plugin the config names and check its settings with the plugin's own model,
    without starting anything. Returns how many plugins were checked. Errors name ``source`` (the
    file) and the key path."""
    checked = 0

    def check(find: Callable[[str], Any], name: str, settings: Any, loc: list[str | int]) -> Any:
        nonlocal checked
        with plugin_errors(loc, source, named=f"{source}: "):
            plugin = find(name)
            plugin.config_model.model_validate(settings)
        checked += 1
        return plugin

    for li, lc in enumerate(config.lines):
        for ci, cc in enumerate(lc.channels):
            check(channel_plugin, cc.type, cc.settings, ["lines", li, "channels", ci])
    if config.crm.type not in ("embedded", "none"):
        check(crm_plugin, config.crm.type, config.crm.settings, ["crm"])
    for i, dc in enumerate(config.desks):
        check(desk_plugin, dc.type, dc.settings, ["desks", i])
    for i, mc in enumerate(config.middlewares):
        plugin = check(middleware_plugin, mc.type, mc.settings, ["middlewares", i])
        middleware_place(mc, plugin, f"{source}: {key_path(['middlewares', i])}")
    return checked


def middleware_place(
    mc: MiddlewareConfig, plugin: Plugin[Any, Middleware], where: str
) -> tuple[str | None, str | None]:
    """(before, after) for a configured middleware: the config's place, else the plugin's."""
    if mc.before is not None or mc.after is not None:
        return mc.before, mc.after
    if plugin.before is not None or plugin.after is not None:
        return plugin.before, plugin.after
    raise ConfigError(
        f"{where}: say where the {mc.type!r} middleware runs (before: or after: a built-in "
        "middleware); its plugin has no place of its own"
    )


class _Host:
    """What channels get from the application (see ``ChannelHost``)."""

    def __init__(self, app: Omniline, ref: ChannelRef) -> None:
        self._app = app
        self._owner = f"channel:{ref}"

    @property
    def clock(self) -> Clock:
        return self._app.clock

    async def history(
        self, identity: Identity, *, after_id: int = 0, limit: int = 100
    ) -> list[StoredMessage]:
        return await self._app.store.dialogs.identity_history(
            identity, after_id=after_id, limit=limit
        )

    async def update_profile(self, identity: Identity) -> None:
        app = self._app
        await app.store.dialogs.update_profile(identity)
        line_id = app._line_of.get(identity.channel)
        if app.crm is None or line_id is None or not app.lines[line_id].settings.crm_check:
            return
        dialog = await app.store.dialogs.open_of(identity, line_id)
        if dialog is not None:  # the CRM learns what the client just gave (a durable job)
            job = sync_job(dialog.client_id, dialog.line_id, dialog.id, app.clock.now())
            assert job.due_at is not None
            await app.store.timers.schedule(
                job.kind, job.key, job.due_at, dialog_id=dialog.id, data=job.data
            )

    def author_name(self, author: str) -> str | None:
        kind, _, ident = author.partition(":")
        return self._app.operator_names.get(ident, ident) if kind == "operator" else None

    async def load_state(self, key: str) -> str | None:
        return await self._app.store.state.load(self._owner, key)

    async def save_state(self, key: str, value: str) -> None:
        await self._app.store.state.save(self._owner, key, value)

    async def exclusive(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        await self._app.leases.exclusive(f"{self._owner}:{name}", work)


class _CrmHost:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock


class Omniline:
    """One omniline process: store, channels, pipeline, outbox, timers and the HTTP server.

    ::

        app = Omniline(load_config("omniline.yaml"))
        await app.start()
        ...
        await app.stop()
    """

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        bots: Mapping[str, Router] | None = None,
        channel_plugins: Mapping[str, Plugin[Any, Channel]] | None = None,
        desk_plugins: Mapping[str, Plugin[Any, Desk]] | None = None,
        crm_plugins: Mapping[str, Plugin[Any, CRM]] | None = None,
        middleware_plugins: Mapping[str, Plugin[Any, Middleware]] | None = None,
        migrate: bool = False,
        serve_http: bool = True,
        recovery_grace: float | None = None,
        listen_sockets: Sequence[socket.socket] = (),
    ) -> None:
        self.config = config
        self._listen_sockets = list(listen_sockets)
        """Serve on these (bound by a supervisor, ``omniline.workers``), not on the config's port."""
        self.clock: Clock = clock or SystemClock()
        self.migrate = migrate
        self.serve_http = serve_http
        self._recovery_grace = (
            recovery_grace if recovery_grace is not None else config.storage.recovery_grace
        )
        self.recovery_interval = config.storage.recovery_interval
        """Seconds between sweeps for stored events whose processing failed."""
        self._plugin_overrides = dict(channel_plugins or {})
        self._desk_overrides = dict(desk_plugins or {})
        self._crm_overrides = dict(crm_plugins or {})
        self._middleware_overrides = dict(middleware_plugins or {})
        self._config_middlewares_placed = False
        hide_secrets(config_secrets(config, self._plugin))  # never in the log, whatever logs it
        self.crm: CrmService | None = None
        """The line's CRM work (None when the config says ``crm: {type: none}``)."""
        self.desks: dict[str, Desk] = {}
        self.console: WebConsole | None = None
        """The REST API, live push and web console (None when ``console.enabled`` is off)."""
        self.line_changes: LineChanges | None = None
        """Line settings changed at run time, shared through the database (the SQL store)."""
        self._news: list[asyncio.Event | Broadcast] = []
        """One per desk: set whenever something happens in this process."""
        self._wakeup: FeedWakeup | None = None
        """PostgreSQL: wakes desks in the other worker processes (LISTEN/NOTIFY)."""
        self.operator_names = {o.id: o.name for o in config.operators}
        self.lines: dict[str, Line] = {}
        for i, lc in enumerate(config.lines):
            bot = (bots or {}).get(lc.id)
            if bot is None and lc.bot is not None:
                bot = import_bot(lc.bot, f"{key_path(['lines', i, 'bot'])}")
            self.lines[lc.id] = Line(
                id=lc.id,
                name=lc.name,
                bot=bot,
                handoff_phrases=frozenset(p.casefold() for p in lc.handoff_phrases),
                handoff_on_bot_error=lc.handoff_on_bot_error,
                handoff_when_unhandled=lc.handoff_when_unhandled,
                settings=LineSettings.model_validate(
                    lc.model_dump(include=set(LineSettings.model_fields))
                ),
            )
        self.channels: dict[ChannelRef, Channel] = {}
        self._line_of: dict[ChannelRef, str] = {}
        self._serializer = KeyedSerializer()
        self.middlewares = MiddlewareChain(dict(BUILTINS))
        """The pipeline's middlewares: add yours before ``start`` (``add(mw, before="bot")``)."""
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._store: SqlStore | None = None
        self._started = False
        self._channels_started = False
        self.web = web.Application(
            middlewares=[forwarded_middleware(networks(config.server.trusted_proxies))]
        )
        self.pipeline: Pipeline
        self.outbox: Outbox
        self.dialogs: Dialogs
        self.scheduler: Scheduler
        self.operators: Operators
        self.leases: Leases
        """The polling loops that one worker process at a time runs (``ChannelHost.exclusive``)."""

    # --- accessors --------------------------------------------------------------------------------

    @property
    def store(self) -> SqlStore:
        if self._store is None:
            raise OmnilineError("the application is not started")
        return self._store

    def channel_plugin(self, channel_type: str) -> Plugin[Any, Channel]:
        return self._plugin_overrides.get(channel_type) or channel_plugin(channel_type)

    def desk_plugin(self, desk_type: str) -> Plugin[Any, Desk]:
        found = self._desk_overrides.get(desk_type)
        return found if found is not None else desk_plugin(desk_type)

    def middleware_plugin(self, middleware_type: str) -> Plugin[Any, Middleware]:
        found = self._middleware_overrides.get(middleware_type)
        return found if found is not None else middleware_plugin(middleware_type)

    def _plugin(self, kind: PluginKind, name: str) -> Plugin[Any, Any]:
        if kind is PluginKind.CHANNEL:
            return self.channel_plugin(name)
        if kind is PluginKind.DESK:
            return self.desk_plugin(name)
        if kind is PluginKind.MIDDLEWARE:
            return self.middleware_plugin(name)
        return self._crm_overrides.get(name) or crm_plugin(name)

    def _notify(self) -> None:
        self._wake_local()
        if self._wakeup is not None:
            self._wakeup.poke()

    def _wake_local(self) -> None:
        for news in self._news:
            news.set()

    def _deliver(self, deliveries: list[Delivery]) -> None:
        self._notify()  # something happened: desks in this process look at once
        self.outbox.push(deliveries)

    def capabilities(self, ref: ChannelRef) -> Capabilities:
        channel = self.channels.get(ref)
        return channel.capabilities if channel is not None else Capabilities()

    @property
    def url(self) -> str:
        """Where the HTTP server listens (after ``start``)."""
        if self.config.server.public_url:
            return self.config.server.public_url.rstrip("/")
        host, port = self.config.server.host, self.bound_port
        return f"http://{host}:{port}"

    @property
    def bound_port(self) -> int:
        if self._runner is not None and self._runner.addresses:
            return int(self._runner.addresses[0][1])
        return self.config.server.port

    # --- life cycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            raise OmnilineError("the application is started already")
        storage = self.config.storage
        if self.migrate:
            await upgrade(storage.url)
        self._store = await open_store(
            storage.url,
            self.clock,
            sqlite_synchronous=storage.sqlite_synchronous,
            pool_size=storage.pool_size,
            outbox_lease=self.config.outbox.lease,
        )
        try:
            await self._start_parts()
        except BaseException:
            if self._runner is not None:  # it listens before the channels start
                await self._runner.cleanup()
                self._runner = None
            if self._wakeup is not None:
                await self._wakeup.stop()
                self._wakeup = None
            if self.line_changes is not None:
                await self.line_changes.stop()
            leases: Leases | None = getattr(self, "leases", None)  # made part-way through
            if leases is not None:
                await leases.stop()
            await self._store.close()
            self._store = None
            raise
        self._started = True

    async def _start_parts(self) -> None:
        store = self.store
        self._build_channels()
        self._place_middlewares()
        oc = self.config.outbox
        self.outbox = Outbox(
            store,
            self.channels,
            clock=self.clock,
            max_attempts=oc.max_attempts,
            base_delay=oc.base_delay,
            max_delay=oc.max_delay,
            lease=oc.lease,
            poll_interval=oc.poll_interval,
        )
        self.pipeline = Pipeline(
            store,
            self.lines,
            clock=self.clock,
            capabilities=self.capabilities,
            deliver=self._deliver,
            serializer=self._serializer,
            middlewares=self.middlewares,
            takeover_after=self.config.storage.takeover_after,
        )
        self.dialogs = Dialogs(
            store,
            clock=self.clock,
            serializer=self._serializer,
            capabilities=self.capabilities,
            deliver=self._deliver,
            lines=self.lines,
            operator_names=self.operator_names,
        )
        self.operators = Operators(store, self.dialogs)
        # Real time even under a virtual clock: a lease keeps real processes apart, and a test
        # that moves its clock by an hour must not make this process lose it.
        self.leases = Leases(store.leases, SystemClock(), ttl=self.config.storage.lease_ttl)
        await self._sync_operators()
        self.line_changes = LineChanges(store.line_settings, self.lines, self.clock)
        await self.line_changes.load()
        self.line_changes.start()
        self.scheduler = Scheduler(store, self.clock, poll_interval=oc.poll_interval)
        self._register_timers()
        self._connect_crm()
        recovered = await self.recover()
        if recovered:
            log.info("recovered %d inbound events left unprocessed by the last run", recovered)
        self._build_desks()
        parsed = parse_url(self.config.storage.url)
        if parsed.get_backend_name() == "postgresql":
            self._wakeup = FeedWakeup(
                parsed.render_as_string(hide_password=False), self._wake_local
            )
            await self._wakeup.start()
            for ref, channel in self.channels.items():
                if isinstance(channel, WebchatChannel):  # its visitors' sockets are per process
                    channel.relay = partial(self._wakeup.relay, str(ref))
                    self._wakeup.subscribe(str(ref), channel.relayed)
        if self.config.console.enabled:
            self.console = WebConsole(self._console_host())
            await self.console.sync_accounts(self.config.accounts)
            self.console.mount(self.web)
            self.console.start()
            self._news.append(self.console.news)
        if self.config.server.metrics:
            Exporter(store, self.clock, lines=self.lines, channels=self.channels).mount(self.web)
        if self.serve_http:
            # Listen before the channels start: a platform may call a webhook back while the
            # channel registers it (Viber's set_webhook does), and is refused if nobody answers.
            # Until its channel has started, a webhook answers 503 and the platform retries.
            await self._serve()
        for ref, channel in self.channels.items():
            await channel.start(self._sink_for(self._line_of[ref]))
        self._channels_started = True
        for desk in self.desks.values():
            await desk.start()
        self._tasks.append(asyncio.create_task(self.outbox.run(), name="omniline-outbox"))
        self._tasks.append(asyncio.create_task(self.scheduler.run(), name="omniline-scheduler"))
        self._tasks.append(asyncio.create_task(self._recovery_loop(), name="omniline-recovery"))

    def _connect_crm(self) -> None:
        cc = self.config.crm
        if cc.type == "none":
            return
        crm: CRM
        if cc.type == "embedded":
            crm = EmbeddedCrm(self.store.crm, self.clock)
        else:
            with plugin_errors(["crm"]):
                plugin = self._crm_overrides.get(cc.type) or crm_plugin(cc.type)
                crm = plugin.create(cc.settings, _CrmHost(self.clock))
        self.crm = CrmService(crm, self.store, self.lines, self.clock)
        self.dialogs.crm = True
        for line in self.lines.values():
            line.crm = True
            if line.responsible_manager is None:
                line.responsible_manager = self.crm.responsible_for
        self.scheduler.on(CRM_TIMER, self.crm.run)

    def _console_host(self) -> ConsoleHost:
        store, line_changes = self.store, self.line_changes
        assert line_changes is not None, "the console is built after the line changes"
        return ConsoleHost(
            clock=self.clock,
            store=store,
            dialogs=self.dialogs,
            operators=self.operators,
            lines=self.lines,
            line_changes=line_changes,
            scheduler=self.scheduler,
            settings=self.config.console,
            operator_names=self.operator_names,
            rename_operator=self.rename_operator,
            base_url=lambda: self.url,
            public_url=self.config.server.public_url,
            crm=self.crm,
        )

    async def rename_operator(self, operator_id: str, name: str) -> None:
        """Give an operator a new display name: in the database, and in the names this process
        shares with the dialogs service and the desks."""
        await self.store.operators.save(operator_id, name)
        self.operator_names[operator_id] = name

    async def _sync_operators(self) -> None:
        """Make the database's operators and queues those of the config (presence, shift and
        load are the database's own and stay)."""
        for oc in self.config.operators:
            await self.store.operators.save(oc.id, oc.name, oc.capacity)
        for line in self.lines.values():
            settings = line.settings
            await self.store.operators.set_queue(
                line.id, settings.queue, default_capacity=settings.default_capacity
            )

    async def update_line(self, line_id: str, **changes: Any) -> LineSettings:
        """Change a line's settings at run time, e.g. ``await app.update_line("support",
        distribution="evenly")``: validated as a whole first (``pydantic.ValidationError``), then
        kept in the database, so every worker process runs on them and they outlive a restart
        (``omniline lines reset`` goes back to the config file's)."""
        if line_id not in self.lines:
            raise OmnilineError(f"no line {line_id!r}")
        if self.line_changes is None:
            raise OmnilineError("run-time line settings need omniline's SQL store")
        return await self.line_changes.change(line_id, changes)

    async def set_queue(self, line_id: str, operator_ids: Sequence[str]) -> None:
        """Change a line's queue at run time: these operators, in this order."""
        line = self.lines.get(line_id)
        if line is None:
            raise OmnilineError(f"no line {line_id!r}")
        await self.store.operators.set_queue(
            line_id, operator_ids, default_capacity=line.settings.default_capacity
        )
        line.settings = line.settings.model_copy(update={"queue": tuple(operator_ids)})
        for operator_id in operator_ids:
            self.dialogs.pick_up(operator_id)

    def _register_timers(self) -> None:
        dialogs = self.dialogs

        async def offer_timed_out(timer: Timer) -> None:
            data = timer.data if isinstance(timer.data, dict) else {}
            operator, hop = data.get("operator"), data.get("hop")
            if timer.dialog_id is None or not isinstance(hop, int):
                return
            try:
                await dialogs.offer_timed_out(
                    timer.dialog_id, operator if isinstance(operator, str) else None, hop
                )
            except DialogError as exc:
                log.info("offer timer of dialog %s: %s", timer.dialog_id, exc)

        async def route(timer: Timer) -> None:
            if timer.dialog_id is not None:
                await dialogs.route(timer.dialog_id)

        async def auto_close(timer: Timer) -> None:
            if timer.dialog_id is not None:
                await dialogs.auto_close(timer.dialog_id)

        self.scheduler.on(OFFER_TIMER, offer_timed_out)
        self.scheduler.on(ROUTE_TIMER, route)
        self.scheduler.on(AUTO_CLOSE_TIMER, auto_close)

    def _build_desks(self) -> None:
        for i, dc in enumerate(self.config.desks):
            name = dc.name or dc.type
            where = key_path(["desks", i])
            if name in self.desks:
                raise ConfigError(f"{where}: a second desk named {name!r}; give it another name")
            news = asyncio.Event()
            self._news.append(news)
            host = DeskHost(
                clock=self.clock,
                store=self.store,
                dialogs=self.dialogs,
                operators=self.operators,
                lines=self.lines,
                operator_names=self.operator_names,
                news=news,
                name=name,
                leases=self.leases,
            )
            with plugin_errors(["desks", i]):
                self.desks[name] = self.desk_plugin(dc.type).create(dc.settings, host)

    def _build_channels(self) -> None:
        from omniline.channels.webhook import WebhookChannel, mount

        for li, lc in enumerate(self.config.lines):
            for ci, cc in enumerate(lc.channels):
                ref = ChannelRef(type=cc.type, account=cc.account)
                host = _Host(self, ref)
                with plugin_errors(["lines", li, "channels", ci]):
                    channel = self.channel_plugin(cc.type).create(cc.settings, host, ref=ref)
                self.channels[ref] = channel
                self._line_of[ref] = lc.id
                if isinstance(channel, WebhookChannel):
                    mount(self.web, channel)

    def _place_middlewares(self) -> None:
        """Put the config's middlewares from plugins into the chain, in the config's order (once:
        a start that failed and is tried again does not place them twice)."""
        if self._config_middlewares_placed:
            return
        placed: list[tuple[Any, str, str | None, str | None]] = []
        names: set[str] = set()
        for i, mc in enumerate(self.config.middlewares):
            name = mc.name or mc.type
            where = key_path(["middlewares", i])
            if name in names:
                raise ConfigError(
                    f"{where}: a second middleware named {name!r}; give it another name"
                )
            names.add(name)
            host = MiddlewareHost(
                name=name,
                clock=self.clock,
                lines=self.lines,
                state=PluginState(self.store.state, f"middleware:{name}"),
            )
            with plugin_errors(["middlewares", i]):
                plugin = self.middleware_plugin(mc.type)
                middleware = plugin.create(mc.settings, host)
            before, after = middleware_place(mc, plugin, where)
            placed.append((middleware, name, before, after))
        for middleware, name, before, after in placed:
            self.middlewares.add(middleware, before=before, after=after, name=name)
        self._config_middlewares_placed = True

    async def recover(self) -> int:
        """Process stored events whose processing never finished. On SQLite one process owns the
        database, so every such event not queued here is an orphan; on PostgreSQL other workers
        may be busy with recent ones, so only events older than the grace period are taken."""
        grace = self._recovery_grace
        if grace is None:
            grace = 0.0 if self.config.storage.url.startswith("sqlite") else 120.0
        return await self.pipeline.recover(before=self.clock.now() - timedelta(seconds=grace))

    async def _recovery_loop(self) -> None:
        while True:
            await self.clock.sleep(self.recovery_interval)
            try:
                count = await self.recover()
            except Exception:
                log.exception("recovery sweep failed; trying again later")
                continue
            if count:
                log.warning("recovered %d inbound events whose processing had failed", count)

    def _sink_for(self, line_id: str) -> InboundSink:
        line = self.lines[line_id]

        async def sink(event: InboundEvent) -> Receipt:
            settings = line.settings
            receipt = await self.store.inbox.ingest(
                event,
                line_id=line_id,
                initial_status=line.initial_status,
                reopen_within=settings.reopen_within,
                rating_window=settings.rating.window if settings.rating.enabled else 0.0,
            )
            if not receipt.duplicate:
                self._notify()
                self.pipeline.submit(event, receipt, line_id)
            return receipt

        return sink

    async def _serve(self) -> None:
        async def health(request: web.Request) -> web.Response:
            # the pid tells apart the workers serving one port (``omniline run --workers``)
            return web.json_response({"status": "ok", "pid": os.getpid()})

        self.web.router.add_get("/healthz", health)
        readiness = Readiness(lambda: self._store, lambda: self._channels_started)
        self.web.router.add_get("/readyz", readiness.handle)
        self._runner = web.AppRunner(
            self.web,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=10.0,
            logger=_ServerLog(logging.getLogger("aiohttp.server"), {}),
        )
        await self._runner.setup()
        host, port = self.config.server.host, self.config.server.port
        try:
            if self._listen_sockets:
                for sock in self._listen_sockets:
                    await web.SockSite(self._runner, sock).start()
            else:
                await web.TCPSite(self._runner, host, port).start()
        except OSError as exc:
            raise OmnilineError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None

    async def idle(self, *, paced: bool = True) -> None:
        """Wait until every accepted message has been processed and every delivery attempted
        (``paced=False``: or waiting for its rate-limit slot)."""
        while True:
            await self._serializer.join()
            await (self.outbox.idle() if paced else self.outbox.settled())
            if not self._serializer.busy_keys:
                return

    async def stop(self) -> None:
        """Stop accepting, finish what is in flight, and close. Nothing accepted is lost: what is
        not finished stays in the database and is picked up on the next start."""
        if not self._started:
            return
        self._started = False
        self._channels_started = False
        if self.console is not None:
            await self.console.stop()
        if self._runner is not None:
            await self._runner.shutdown()
        for name, desk in self.desks.items():
            try:
                await desk.stop()
            except Exception:
                log.exception("desk %s failed to stop cleanly", name)
        self.desks.clear()
        self._news.clear()
        self.console = None
        if self._wakeup is not None:
            await self._wakeup.stop()
            self._wakeup = None
        if self.line_changes is not None:
            await self.line_changes.stop()
        for channel in self.channels.values():
            try:
                await channel.stop()
            except Exception:
                log.exception("channel %s failed to stop cleanly", channel.ref)
        await self.leases.stop()  # the next worker takes the polling loops over at once
        await self._serializer.join()
        await self.outbox.stop()
        self.scheduler.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.crm is not None:
            try:
                await self.crm.crm.close()
            except Exception:
                log.exception("the CRM failed to close cleanly")
            self.crm = None
        await self.store.close()
        self._store = None


class _ServerLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server log, but a request it cannot parse (a header over 8 KiB, a broken request
    line), which it answers with 400, is the sender's fault: one line, no traceback. What a handler
    raised is still logged with its traceback."""

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, HttpProcessingError):
            self.info("%s: %s", str(msg) % args, exc.message)
            return
        super().exception(msg, *args, **kwargs)
