"""``omniline run --workers N``: a supervisor process that listens on the port and keeps N worker
processes serving it.

The supervisor binds the listening sockets itself, so every worker serves the one port (port 0
too) and a worker that dies leaves the port open to the others. Each worker is ``omniline run``
again, given the sockets' file descriptors and one end of a socket pair, its link to the
supervisor: the worker writes a byte on it once it has started (the supervisor tells a worker that
dies at start from one that dies later), and stops gracefully when the link closes (its
supervisor is gone). See ``docs/workers.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import typer
from prometheus_client import multiprocess

from omniline.config import Config
from omniline.errors import ConfigError, OmnilineError
from omniline.store.database import check_schema, parse_url

log = logging.getLogger("omniline.workers")

STOP_TIMEOUT = 30.0
"""Seconds the workers get to finish their work in flight after SIGTERM, before SIGKILL."""
FAILED_STARTS = 3
"""A worker that dies before it has started this many times in a row: the supervisor gives up."""
RESTART_DELAYS = (0.5, 2.0)
"""Seconds before starting again a worker that died at start (then the last, again): a crash at
start is not run as fast as the machine allows."""
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus-client's multi-process mode: where every worker keeps its metrics' files."""
BACKLOG = 128
READY = b"r"


class CrashLoop(OmnilineError):
    """Workers keep dying right at start; starting them again would not help."""


# --- the worker's side ----------------------------------------------------------------------------


def inherited_sockets(fds: Sequence[int]) -> list[socket.socket]:
    """The listening sockets a worker got from its supervisor."""
    return [socket.socket(fileno=fd) for fd in fds]


class SupervisorLink:
    """A worker's end of the link to its supervisor."""

    def __init__(self, fd: int) -> None:
        self._socket = socket.socket(fileno=fd)
        self._socket.setblocking(False)
        self._watch: asyncio.Task[None] | None = None

    def ready(self, stop: asyncio.Event) -> None:
        """Tell the supervisor this worker has started; set ``stop`` when the supervisor is gone
        (killed itself), so that a worker never serves on without one."""
        with contextlib.suppress(OSError):  # the supervisor is gone: the watch finds out
            self._socket.send(READY)
        self._watch = asyncio.create_task(self._until_closed(stop), name="omniline-supervisor")

    async def _until_closed(self, stop: asyncio.Event) -> None:
        with contextlib.suppress(OSError):
            while await asyncio.get_running_loop().sock_recv(self._socket, 1):
                pass
        if not stop.is_set():
            log.warning("the supervisor is gone: stopping this worker")
            stop.set()


# --- the supervisor -------------------------------------------------------------------------------


def listen(host: str, port: int) -> list[socket.socket]:
    """Listening sockets on every address of ``host`` (as asyncio's ``create_server`` binds them),
    all on one port: with port 0, the one the first got."""
    try:
        found = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError as exc:
        raise OmnilineError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    addresses = list(dict.fromkeys(found))
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in addresses:
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and len(addresses) > 1:
                # the IPv4 address is bound on a socket of its own
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
            sock.listen(BACKLOG)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise OmnilineError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sockets


def _ended(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


@dataclass
class _Worker:
    number: int
    process: asyncio.subprocess.Process
    link: socket.socket
    """The supervisor's end: a byte when the worker has started, closed when it has died."""

    @property
    def pid(self) -> int:
        return self.process.pid

    async def started(self) -> bool:
        """Whether the worker started, or died first."""
        with contextlib.suppress(OSError):
            return bool(await asyncio.get_running_loop().sock_recv(self.link, 1))
        return False


class Supervisor:
    """Keeps ``count`` workers serving ``sockets`` until SIGTERM or SIGINT."""

    def __init__(
        self,
        config_path: Path,
        count: int,
        sockets: Sequence[socket.socket],
        metrics_dir: Path,
        *,
        worker_args: Sequence[str] = (),
        stop_timeout: float = STOP_TIMEOUT,
        on_started: Callable[[], None] = lambda: None,
    ) -> None:
        self._config_path = config_path
        self._count = count
        self._sockets = list(sockets)
        self._metrics_dir = metrics_dir
        self._worker_args = list(worker_args)
        self._stop_timeout = stop_timeout
        self._on_started = on_started
        self._workers: dict[int, _Worker] = {}
        self._waiting_first_start = set(range(1, count + 1))
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        """Serve until a signal (then return once every worker has stopped), or raise
        ``CrashLoop`` when a worker keeps dying at start."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stop)
        keepers = [
            asyncio.create_task(self._keep(n), name=f"omniline-worker-{n}")
            for n in range(1, self._count + 1)
        ]
        signalled = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait([signalled, *keepers], return_when=asyncio.FIRST_COMPLETED)
            self._stop()
            await self._stop_workers(keepers)
        finally:
            signalled.cancel()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        for keeper in keepers:
            if not keeper.cancelled() and (error := keeper.exception()) is not None:
                raise error

    def _stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        # New connections are refused from now on, not left in the backlog while the workers
        # stop; each worker closes its own copy when it stops accepting.
        for sock in self._sockets:
            sock.close()

    async def _stop_workers(self, keepers: list[asyncio.Task[None]]) -> None:
        running = [w for w in self._workers.values() if w.process.returncode is None]
        if running:
            log.info(
                "stopping %d workers (they finish their work in flight, for up to %g s)",
                len(running),
                self._stop_timeout,
            )
        for worker in running:
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signal.SIGTERM)
        _, late = await asyncio.wait(keepers, timeout=self._stop_timeout)
        if late:
            for worker in self._workers.values():
                if worker.process.returncode is None:
                    log.error(
                        "worker %d (pid %d) did not stop within %g s: killing it",
                        worker.number,
                        worker.pid,
                        self._stop_timeout,
                    )
                    with contextlib.suppress(ProcessLookupError):
                        worker.process.kill()
            await asyncio.wait(late)
        log.info("all workers stopped")

    async def _keep(self, number: int) -> None:
        """Keep worker ``number`` running: start it again whenever it dies, until the supervisor
        stops; raise ``CrashLoop`` when it dies at start ``FAILED_STARTS`` times in a row."""
        failed_starts = 0
        died: str | None = None
        while not self._stopping.is_set():
            worker = await self._spawn(number)
            if died is None:
                log.info("worker %d started (pid %d)", number, worker.pid)
            else:
                log.warning("%s; started it again as pid %d", died, worker.pid)
            try:
                started = await worker.started()
                if started:
                    failed_starts = 0
                    self._first_start(number)
                code = await worker.process.wait()
            finally:
                worker.link.close()
                # prometheus-client leaves this one function unannotated
                multiprocess.mark_process_dead(worker.pid, str(self._metrics_dir))  # type: ignore[no-untyped-call]
            if self._stopping.is_set():
                outcome = "stopped" if code == 0 else f"stopped: it {_ended(code)}"
                log.info("worker %d (pid %d) %s", number, worker.pid, outcome)
                return
            died = f"worker {number} (pid {worker.pid}) {_ended(code)}"
            if not started:
                died += " before it had started"
                failed_starts += 1
                if failed_starts >= FAILED_STARTS:
                    raise CrashLoop(
                        f"workers keep dying at start: worker {number} died {failed_starts} "
                        f"times in a row before it had started (the last, pid {worker.pid}, "
                        f"{_ended(code)}); its error is in the log above. Stopped the other "
                        "workers; fix the cause and start again"
                    )
                delay = RESTART_DELAYS[min(failed_starts, len(RESTART_DELAYS)) - 1]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)

    async def _spawn(self, number: int) -> _Worker:
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        fds = [sock.fileno() for sock in self._sockets]
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "omniline",
                "run",
                "-c",
                str(self._config_path),
                *self._worker_args,
                *(f"--listen-fd={fd}" for fd in fds),
                f"--supervisor-fd={theirs.fileno()}",
                pass_fds=(*fds, theirs.fileno()),
                env={**os.environ, METRICS_DIR: str(self._metrics_dir)},
                # Its own process group: Ctrl+C in a terminal reaches the supervisor only, which
                # stops the workers in order.
                process_group=0,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        worker = _Worker(number, process, ours)
        self._workers[number] = worker
        if self._stopping.is_set():  # a signal came while it was being started
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        return worker

    def _first_start(self, number: int) -> None:
        if number in self._waiting_first_start:
            self._waiting_first_start.discard(number)
            if not self._waiting_first_start:
                self._on_started()


# --- the command ----------------------------------------------------------------------------------


def options_given(ctx: typer.Context, leave_out: Collection[str]) -> list[str]:
    """The options of the command being run that were given on its command line, written out
    again (but those named in ``leave_out``): what a worker's ``omniline run`` gets from its
    supervisor's, so that an override (a log level, a host) holds in every worker."""
    args: list[str] = []
    for param in ctx.command.params:
        name = param.name
        if param.param_type_name != "option" or name is None or name in leave_out:
            continue
        source = ctx.get_parameter_source(name)
        if source is None or source.name != "COMMANDLINE":
            continue
        value = ctx.params[name]
        if getattr(param, "is_flag", False):
            if value:
                args.append(param.opts[0])
            elif param.secondary_opts:
                args.append(param.secondary_opts[0])
            continue
        for one in value if param.multiple else [value]:
            if one is not None:
                args += [param.opts[0], str(getattr(one, "value", one))]
    return args


def _metrics_dir() -> tuple[Path, bool]:
    """The workers' metrics directory, and whether it is the supervisor's own (removed at exit).
    The user's (``PROMETHEUS_MULTIPROC_DIR``) is emptied of a previous run's files."""
    given = os.environ.get(METRICS_DIR)
    if not given:
        return Path(tempfile.mkdtemp(prefix="omniline-metrics-")), True
    path = Path(given)
    try:
        path.mkdir(parents=True, exist_ok=True)
        for old in path.glob("*.db"):  # prometheus-client's files, nothing else
            old.unlink()
    except OSError as exc:
        raise OmnilineError(
            f"cannot use {METRICS_DIR}={given} for the workers' metrics: {exc.strerror or exc}"
        ) from None
    return path, False


def supervise(
    config_path: Path,
    config: Config,
    count: int,
    *,
    worker_args: Sequence[str] = (),
    announce: Callable[[str], None] = print,
    places: Callable[[str], Sequence[str]] = lambda url: (),
    stop_timeout: float = STOP_TIMEOUT,
) -> None:
    """Run ``count`` workers of ``config`` on one port until SIGTERM or SIGINT (``omniline run
    --workers``). ``worker_args`` go to every worker's ``omniline run`` after ``-c``: the command
    line's overrides other than the address. ``places`` gives the lines printed under the
    address once every worker started (where the console is...), from the public URL. Raises ``OmnilineError`` with what to do when it
    cannot start or its workers keep dying at start."""
    if parse_url(config.storage.url).get_backend_name() != "postgresql":
        raise ConfigError(
            f"--workers {count} needs PostgreSQL: a SQLite database belongs to one process (it "
            "batches the commits of its writes, and at start takes every unfinished message as "
            "its own), so several workers cannot share one; set storage.url to a postgresql:// "
            "database, or run one worker"
        )
    asyncio.run(check_schema(config.storage.url))
    server = config.server
    sockets = listen(server.host, server.port)
    port = sockets[0].getsockname()[1]
    url = (server.public_url or f"http://{server.host}:{port}").rstrip("/")
    metrics_dir, own_metrics_dir = _metrics_dir()
    supervisor = Supervisor(
        config_path,
        count,
        sockets,
        metrics_dir,
        worker_args=worker_args,
        stop_timeout=stop_timeout,
        on_started=lambda: announce(
            "\n".join(
                [
                    f"omniline is running at {url} with {count} workers "
                    f"(supervisor pid {os.getpid()})",
                    *places(url),
                ]
            )
        ),
    )
    try:
        asyncio.run(supervisor.run())
    finally:
        for sock in sockets:
            sock.close()
        if own_metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
