"""Throwaway PostgreSQL servers for tests.

This module is meant for the test suites of omniline itself and of omniline plugins (channels,
stores, ...) that need a real PostgreSQL rather than SQLite. :class:`TemporaryPostgres` runs
``initdb`` in a fresh temporary directory, starts a private server on a free TCP port of
``127.0.0.1`` (its unix socket also lives in the temporary directory, so it never clashes with a
system server) and removes everything again on :meth:`TemporaryPostgres.stop`::

    from omniline.testing.postgres import TemporaryPostgres

    with TemporaryPostgres() as pg:
        url = pg.create_database("store_test")  # "postgresql://postgres@127.0.0.1:<port>/..."

Authentication is ``trust`` for the superuser ``postgres`` and durability is switched off
(``fsync``, ``full_page_writes`` and ``synchronous_commit`` are ``off``), which makes the server
fast to start and to use but **unsuitable for anything but tests**.

The server programs are looked up by :func:`find_postgres_bin`: first on ``PATH``, then in
``/usr/lib/postgresql/<version>/bin`` (the newest version wins), which is where Debian's
``postgresql`` package installs them.

Running as root
    PostgreSQL refuses to run as root, yet CI jobs and containers often do. When the effective
    user id is 0 the server programs are run as an unprivileged account instead (``nobody`` by
    default, or the ``user`` given to :class:`TemporaryPostgres`): the temporary directory is
    created where that account can reach it, handed over to it with ``chown``, and ``initdb``,
    ``pg_ctl`` and ``postgres`` are started with ``subprocess``'s ``user``/``group`` arguments
    and no supplementary groups.

Outages
    :meth:`TemporaryPostgres.pause` stops the server as an administrator would (``pg_ctl stop -m
    fast``) and :meth:`TemporaryPostgres.resume` starts it again on the same port, so a test can
    check what its code does while the database is gone and after it is back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import pathlib
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import urllib.parse
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Self

__all__ = [
    "PostgresNotFoundError",
    "PostgresStartError",
    "TemporaryPostgres",
    "find_postgres_bin",
]

_DEBIAN_ROOT = pathlib.Path("/usr/lib/postgresql")
_REQUIRED_PROGRAMS = ("initdb", "pg_ctl", "postgres")
_DEFAULT_ROOT_USER = "nobody"
_START_ATTEMPTS = 3
_PG_CTL_TIMEOUT = 60  # seconds
_LOG_TAIL_LINES = 30


class PostgresNotFoundError(RuntimeError):
    """The PostgreSQL server programs (``initdb``, ``pg_ctl``, ``postgres``) were not found."""


class PostgresStartError(RuntimeError):
    """Initialising or starting the temporary PostgreSQL server failed."""


def _has_programs(folder: pathlib.Path) -> bool:
    return all(os.access(folder / name, os.X_OK) for name in _REQUIRED_PROGRAMS)


def _version_key(folder: pathlib.Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", folder.name))


def find_postgres_bin() -> pathlib.Path:
    """Return the folder holding PostgreSQL's ``initdb``, ``pg_ctl`` and ``postgres``.

    ``PATH`` is searched first (symbolic links are followed, so a ``/usr/local/bin/initdb`` link
    into Debian's tree yields the real folder), then ``/usr/lib/postgresql/<version>/bin``
    with the highest version first.

    Raises:
        PostgresNotFoundError: if no folder has all three programs.
    """
    candidates: list[pathlib.Path] = []
    initdb = shutil.which("initdb")
    if initdb is not None:
        found = pathlib.Path(initdb)
        candidates += [found.parent, found.resolve().parent]
    for entry in os.environ.get("PATH", os.defpath).split(os.pathsep):
        if entry:
            candidates.append(pathlib.Path(entry))
    if _DEBIAN_ROOT.is_dir():
        versions = [path for path in _DEBIAN_ROOT.iterdir() if _version_key(path)]
        candidates += [path / "bin" for path in sorted(versions, key=_version_key, reverse=True)]
    for folder in candidates:
        if _has_programs(folder):
            return folder.absolute()
    raise PostgresNotFoundError(
        "PostgreSQL server programs (initdb, pg_ctl, postgres) were not found on PATH nor in "
        f"{_DEBIAN_ROOT}/<version>/bin; install Debian's `postgresql` package "
        "(apt-get install postgresql) or put them on PATH."
    )


@dataclass(frozen=True)
class _RunAs:
    """The account the server programs run as (``None`` fields: the current process's)."""

    name: str | None = None
    uid: int | None = None
    gid: int | None = None

    @classmethod
    def lookup(cls, name: str) -> _RunAs:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise PostgresStartError(f"user {name!r} does not exist") from None
        if entry.pw_uid == 0:
            raise PostgresStartError(f"PostgreSQL cannot run as {name!r}: it is a root account")
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid)

    def can_traverse(self, path: pathlib.Path) -> bool:
        """Whether this account may enter ``path`` and every folder above it."""
        if self.uid is None:
            return True
        for folder in (path, *path.parents):
            try:
                info = folder.stat()
            except OSError:
                return False
            if info.st_uid == self.uid:
                allowed = info.st_mode & stat.S_IXUSR
            elif info.st_gid == self.gid:
                allowed = info.st_mode & stat.S_IXGRP
            else:
                allowed = info.st_mode & stat.S_IXOTH
            if not allowed:
                return False
        return True

    def run(self, args: Sequence[str], *, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args),
            cwd=cwd,
            env=_clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
            user=self.uid,
            group=self.gid,
            extra_groups=None if self.uid is None else [],
        )


def _clean_env() -> dict[str, str]:
    """The environment without ``PG*`` variables that could redirect the server programs."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _conf_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _log_tail(log_file: pathlib.Path) -> str:
    try:
        lines = log_file.read_text(errors="replace").splitlines()
    except OSError:
        return "(no server log)"
    return "\n".join(lines[-_LOG_TAIL_LINES:]) or "(server log is empty)"


def _make_temp_dir(run_as: _RunAs) -> pathlib.Path:
    """A fresh private folder that ``run_as`` owns and can reach."""
    parents = [pathlib.Path(tempfile.gettempdir()), pathlib.Path("/tmp"), pathlib.Path("/dev/shm")]
    for parent in parents:
        if parent.is_dir() and run_as.can_traverse(parent):
            break
    else:
        raise PostgresStartError(
            f"no temporary folder is reachable by user {run_as.name!r}; set TMPDIR to one"
        )
    path = pathlib.Path(tempfile.mkdtemp(prefix="omniline-pg-", dir=parent))
    if run_as.uid is not None:
        os.chown(path, run_as.uid, run_as.gid if run_as.gid is not None else -1)
    return path


def _shutdown(bin_dir: pathlib.Path, run_as: _RunAs, base: pathlib.Path) -> None:
    """Stop the server in ``base`` (if running) and delete ``base``. Safe to call repeatedly."""
    data = base / "data"
    pid_file = data / "postmaster.pid"
    if pid_file.exists():
        pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w"]
        result = run_as.run([*pg_ctl, "-t", str(_PG_CTL_TIMEOUT), "stop"], cwd=base)
        if result.returncode != 0:
            # Last resort: kill the postmaster directly so no server outlives its folder.
            with contextlib.suppress(OSError, ValueError, IndexError):
                pid = int(pid_file.read_text().splitlines()[0])
                os.kill(pid, signal.SIGKILL)
    shutil.rmtree(base, ignore_errors=True)


if TYPE_CHECKING:
    _Finalizer = weakref.finalize[[pathlib.Path, _RunAs, pathlib.Path], "TemporaryPostgres"]


class TemporaryPostgres:
    """A private, throwaway PostgreSQL server for tests.

    Use it as a context manager, or call :meth:`start` and :meth:`stop` (for example from a
    session-scoped pytest fixture). The server listens on ``127.0.0.1`` only, accepts the
    superuser ``postgres`` without password and has durability switched off. If it is never
    stopped explicitly it is stopped when the object is garbage-collected or at interpreter
    exit.

    Args:
        user: the operating-system account to run the server programs as. By default the
            current user, or ``nobody`` when running as root (PostgreSQL refuses root). Giving
            another account than the current one requires root.
    """

    def __init__(self, *, user: str | None = None) -> None:
        self._user = user
        self._port: int | None = None
        self._base: pathlib.Path | None = None
        self._finalizer: _Finalizer | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Create the cluster and start the server; returns once it accepts connections.

        Raises:
            PostgresNotFoundError: if the PostgreSQL server programs are not installed.
            PostgresStartError: if ``initdb`` or ``pg_ctl start`` fails (the message includes
                their output and the end of the server log).
        """
        if self._finalizer is not None and self._finalizer.alive:
            raise PostgresStartError("this TemporaryPostgres is already started")
        bin_dir = find_postgres_bin()
        run_as = self._run_as()
        base = _make_temp_dir(run_as)
        finalizer = weakref.finalize(self, _shutdown, bin_dir, run_as, base)
        try:
            self._port = self._init_and_start(bin_dir, run_as, base)
        except BaseException:
            finalizer()
            raise
        self._base = base
        self._finalizer = finalizer

    def stop(self) -> None:
        """Stop the server (``pg_ctl stop -m immediate``) and delete its folder.

        Calling it again, or on a server that was never started, does nothing.
        """
        if self._finalizer is not None:
            self._finalizer()
        self._finalizer = None
        self._port = None

    def pause(self) -> None:
        """Stop the server as an administrator would (``pg_ctl stop -m fast``: open sessions are
        ended, new connections refused) and keep its data, for tests of a database outage.
        :meth:`resume` starts it again on the same port."""
        bin_dir, run_as, base = self._running()
        pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(base / "data"), "-w"]
        result = run_as.run([*pg_ctl, "-m", "fast", "-t", str(_PG_CTL_TIMEOUT), "stop"], cwd=base)
        if result.returncode != 0:
            raise PostgresStartError(f"pg_ctl stop failed:\n{result.stdout}")

    def resume(self) -> None:
        """Start the server stopped by :meth:`pause` again, on the same port and data; returns
        once it accepts connections."""
        bin_dir, run_as, base = self._running()
        log_file = base / "postgres.log"
        pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(base / "data"), "-l", str(log_file), "-w"]
        options = ["-o", f"-p {self.port}", "-t", str(_PG_CTL_TIMEOUT)]
        result = run_as.run([*pg_ctl, *options, "start"], cwd=base)
        if result.returncode != 0:
            raise PostgresStartError(
                f"pg_ctl start failed:\n{result.stdout}\n--- end of {log_file} ---\n"
                f"{_log_tail(log_file)}"
            )

    def _running(self) -> tuple[pathlib.Path, _RunAs, pathlib.Path]:
        if self._base is None or self._port is None:
            raise RuntimeError("the temporary PostgreSQL server is not running; call start()")
        return find_postgres_bin(), self._run_as(), self._base

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- connection details ------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port the server listens on (on ``127.0.0.1``)."""
        if self._port is None:
            raise RuntimeError("the temporary PostgreSQL server is not running; call start()")
        return self._port

    @property
    def url(self) -> str:
        """URL of the default ``postgres`` database, e.g. for ``asyncpg.connect``.

        Use ``url.replace("postgresql://", "postgresql+asyncpg://", 1)`` for SQLAlchemy.
        """
        return self._database_url("postgres")

    @property
    def directory(self) -> pathlib.Path:
        """The temporary folder holding the cluster (``data/``), socket and ``postgres.log``."""
        if self._base is None or self._port is None:
            raise RuntimeError("the temporary PostgreSQL server is not running; call start()")
        return self._base

    def create_database(self, name: str) -> str:
        """Create a new, empty database called ``name`` and return its URL.

        Works from plain code and from inside a running event loop alike: the statement is
        sent with asyncpg on a fresh event loop in a helper thread, which blocks the caller for
        the fraction of a second ``CREATE DATABASE`` takes.
        """
        admin_url = self.url
        with concurrent.futures.ThreadPoolExecutor(1, "omniline-pg") as pool:
            pool.submit(lambda: asyncio.run(_create_database(admin_url, name))).result()
        return self._database_url(name)

    # -- internals ---------------------------------------------------------------------------

    def _database_url(self, database: str) -> str:
        quoted = urllib.parse.quote(database, safe="")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{quoted}"

    def _run_as(self) -> _RunAs:
        if self._user is not None:
            return _RunAs.lookup(self._user)
        if os.geteuid() == 0:
            return _RunAs.lookup(_DEFAULT_ROOT_USER)
        return _RunAs()

    @staticmethod
    def _init_and_start(bin_dir: pathlib.Path, run_as: _RunAs, base: pathlib.Path) -> int:
        data = base / "data"
        sockets = base / "socket"
        log_file = base / "postgres.log"
        sockets.mkdir(mode=0o700)
        if run_as.uid is not None:
            os.chown(sockets, run_as.uid, run_as.gid if run_as.gid is not None else -1)

        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
        result = run_as.run([*initdb, "--encoding=UTF8", "--no-locale", "--no-sync"], cwd=base)
        if result.returncode != 0:
            raise PostgresStartError(f"initdb failed ({result.returncode}):\n{result.stdout}")

        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": _conf_string(str(sockets)),
            "fsync": "off",
            "full_page_writes": "off",
            "synchronous_commit": "off",
        }
        with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# omniline.testing.postgres (tests only)\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

        output = ""
        for _ in range(_START_ATTEMPTS):  # retry in case another process grabbed the port
            port = _free_port()
            result = run_as.run(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(log_file),
                    "-o",
                    f"-p {port}",
                    "-w",
                    "-t",
                    str(_PG_CTL_TIMEOUT),
                    "start",
                ],
                cwd=base,
            )
            if result.returncode == 0:
                return port
            output = result.stdout
            if "could not bind" not in _log_tail(log_file):
                break
            time.sleep(0.1)
        raise PostgresStartError(
            f"pg_ctl start failed:\n{output}\n--- end of {log_file} ---\n{_log_tail(log_file)}"
        )


async def _create_database(admin_url: str, name: str) -> None:
    import asyncpg

    identifier = '"' + name.replace('"', '""') + '"'
    connection = await asyncpg.connect(admin_url, timeout=30)
    try:
        await connection.execute(f"CREATE DATABASE {identifier}")
    finally:
        await connection.close()
