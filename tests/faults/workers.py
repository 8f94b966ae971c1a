"""Worker processes for the fault tests: ``python -m omniline run -c omniline.yaml`` as children on
loopback ports, their logs kept in files, and helpers that speak the web chat's API."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
import pytest
import yaml

START_DEADLINE = 60.0
"""Seconds a worker may take to answer /healthz (two cores shared with other test runs)."""
SECRET = "fault-tests-secret-0123456789"
ECHO_BOT = """
from omniline import MessageContext, Router

bot = Router("echo")


@bot.message()
async def echo(ctx: MessageContext) -> None:
    ctx.reply(f"echo: {ctx.text}")
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(folder: Path, name: str, config: dict[str, Any]) -> Path:
    """The config file, and ``fault_echo_bot.py`` next to it (``fault_echo_bot:bot``)."""
    (folder / "fault_echo_bot.py").write_text(textwrap.dedent(ECHO_BOT), encoding="utf-8")
    path = folder / name
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


class Worker:
    """One ``omniline run`` process; ``kill()`` is SIGKILL, ``stop()`` SIGTERM."""

    def __init__(self, folder: Path, name: str, config: dict[str, Any]) -> None:
        self.name = name
        self.port = free_port()
        config = {**config, "server": {**config.get("server", {}), "port": self.port}}
        self.folder = folder
        self.config = write_config(folder, f"{name}.yaml", config)
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = self.log_path.open("wb")
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join([str(self.folder), os.environ.get("PYTHONPATH", "")]),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "omniline", "run", "-c", str(self.config)],
            cwd=self.folder,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_DEADLINE
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while True:
                if not self.alive:
                    pytest.fail(f"{self.name} exited:\n{self.log()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(f"{self.base}/healthz") as resp:
                        if resp.status == 200:
                            return
                if time.monotonic() > deadline:
                    pytest.fail(f"{self.name} not healthy after {START_DEADLINE} s:\n{self.log()}")
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None


def all_logs(workers: list[Worker]) -> str:
    return "\n".join(f"----- {w.name} -----\n{w.log()}" for w in workers)


# --- the web chat -----------------------------------------------------------------------------


def webchat(base: str, account: str = "site") -> str:
    return f"{base}/channels/webchat/{account}/api"


@dataclass
class Visitor:
    name: str
    token: str
    sent: list[tuple[str, str]] = field(default_factory=list)
    """(client_message_id, text) of every distinct message, in the order written."""
    acked: dict[str, int] = field(default_factory=dict)
    """client_message_id -> message id, for every post answered 200."""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def new_message(self) -> tuple[str, str]:
        n = len(self.sent) + 1
        message = (f"{self.name}-message-{n:04d}", f"{self.name} says {n}")
        self.sent.append(message)
        return message


async def new_visitor(http: aiohttp.ClientSession, base: str, name: str) -> Visitor:
    async with http.post(f"{webchat(base)}/visitors", json={}) as resp:
        assert resp.status == 201, await resp.text()
        return Visitor(name, (await resp.json())["token"])


async def history(http: aiohttp.ClientSession, base: str, visitor: Visitor) -> list[Any]:
    messages: list[Any] = []
    after = 0
    while True:
        async with http.get(
            f"{webchat(base)}/messages",
            params={"after": str(after), "limit": "100"},
            headers=visitor.headers,
        ) as resp:
            assert resp.status == 200, await resp.text()
            page = (await resp.json())["messages"]
        messages.extend(page)
        if len(page) < 100:
            return messages
        after = page[-1]["id"]


def shown_once(visitor: Visitor, found: list[Any]) -> None:
    """The visitor's history holds each acknowledged message exactly once, and no id twice."""
    ids = [m["id"] for m in found]
    assert len(ids) == len(set(ids)), f"{visitor.name}: a message shows twice: {ids}"
    texts = [m["text"] for m in found if m["direction"] == "in"]
    texts_of = dict(visitor.sent)
    for cid in visitor.acked:
        count = texts.count(texts_of[cid])
        assert count == 1, f"{visitor.name}: acknowledged {texts_of[cid]!r} shows {count} times"
    assert len(texts) == len(set(texts)), f"{visitor.name}: a message is stored twice: {texts}"
