"""Shared helpers for the benchmarks: subprocess servers, load generation, percentiles."""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    """A server in its own process (its own core), stopped with SIGTERM."""

    def __init__(self, args: list[str], url: str, log: Path, env: dict[str, str] | None = None):
        self.url = url
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(
            args,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )

    async def wait_ready(self, path: str = "/healthz", deadline: float = 60) -> None:
        end = time.monotonic() + deadline
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < end:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited:\n{self.log.read_text()}")
                try:
                    async with session.get(self.url + path) as response:
                        if response.status < 500:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"server not ready:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 99)


Request = Callable[[aiohttp.ClientSession, int, int], Awaitable[bool]]
"""(session, worker, sequence number) -> ok."""


async def closed_loop(request: Request, *, workers: int, per_worker: int) -> LoadResult:
    """``workers`` clients, each sending ``per_worker`` requests back to back."""
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=workers * 2)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(w: int) -> None:
            nonlocal errors
            for n in range(per_worker):
                started = time.perf_counter()
                ok = await request(session, w, n)
                latencies.append((time.perf_counter() - started) * 1000)
                if not ok:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(workers)))
        seconds = time.perf_counter() - began
    return LoadResult(workers * per_worker, seconds, latencies, errors)


async def open_loop(request: Request, *, rate: float, seconds: float, workers: int) -> LoadResult:
    """Requests started at a fixed ``rate`` per second (not waiting for answers), spread over
    ``workers`` clients: latency under a load the server keeps up with."""
    latencies: list[float] = []
    errors = 0
    total = int(rate * seconds)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = []
        began = time.perf_counter()

        async def one(i: int) -> None:
            nonlocal errors
            started = time.perf_counter()
            ok = await request(session, i % workers, i)
            latencies.append((time.perf_counter() - started) * 1000)
            if not ok:
                errors += 1

        for i in range(total):
            due = began + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
    return LoadResult(total, elapsed, latencies, errors)


PYTHON = sys.executable
SECRET = "bench-secret-0123456789"

_CONFIG = """
storage: {{url: "sqlite:///{db}", sqlite_synchronous: {synchronous}}}
server: {{host: 127.0.0.1, port: {port}, gc_freeze: {gc_freeze}, gc_threshold: {gc_threshold}}}
log_level: WARNING
lines:
  - id: bench
    name: Bench
    bot: omniline.demo.bot:bot
    handoff_when_unhandled: false
    channels:
      - type: webchat
        account: site
        settings: {{secret: "{secret}", messages_per_minute: 1000000, message_burst: 10000}}
"""


def server_config(
    db: Path,
    port: int,
    *,
    synchronous: str = "NORMAL",
    gc_freeze: bool = True,
    gc_threshold: int = 20_000,
) -> str:
    """The benchmarks' line: the web chat, and the demo bot answering every message."""
    return _CONFIG.format(
        db=db,
        port=port,
        synchronous=synchronous,
        gc_freeze=str(gc_freeze).lower(),
        gc_threshold=gc_threshold,
        secret=SECRET,
    )
