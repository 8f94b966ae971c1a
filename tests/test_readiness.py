"""``/readyz``: 200 only when the database answers, its schema is this omniline's and the channels
have started; otherwise 503 with every reason, and never a traceback. ``/healthz`` stays 200."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import BaseModel

from omniline import Config, Omniline
from omniline.model import ChannelRef
from omniline.plugins import Capabilities, ChannelHost, ChannelPlugin, Delivery, InboundSink
from omniline.store import upgrade
from omniline.store.database import head_revision
from omniline.testing import TemporaryPostgres

TIMEOUT = aiohttp.ClientTimeout(total=10)
DEADLINE = 30.0


class GateSettings(BaseModel):
    pass


class GatedChannel:
    """A channel whose ``start`` returns only once the test opens ``gate``."""

    gate: asyncio.Event | None = None

    def __init__(self, ref: ChannelRef, settings: GateSettings, host: ChannelHost) -> None:
        self._ref = ref

    @property
    def ref(self) -> ChannelRef:
        return self._ref

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities()

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return []

    async def start(self, sink: InboundSink) -> None:
        if GatedChannel.gate is not None:
            await GatedChannel.gate.wait()

    async def stop(self) -> None:
        pass

    async def send(self, delivery: Delivery) -> str:
        return "1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def gated_app(url: str, port: int) -> Omniline:
    config = Config.model_validate(
        {
            "storage": {"url": url, "pool_size": 2},
            "server": {"host": "127.0.0.1", "port": port},
            "console": {"enabled": False},
            "lines": [
                {
                    "id": "support",
                    "name": "Support",
                    "channels": [{"type": "gated", "account": "a"}],
                }
            ],
        }
    )
    plugin = ChannelPlugin(name="gated", config_model=GateSettings, factory=GatedChannel)
    return Omniline(config, channel_plugins={"gated": plugin}, migrate=True)


async def probe(port: int, path: str = "/readyz") -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as http,
        http.get(f"http://127.0.0.1:{port}{path}") as resp,
    ):
        return resp.status, await resp.json()


async def until(port: int, status: int) -> Any:
    """The body of the first ``/readyz`` answer with ``status``, within the deadline."""
    deadline = time.monotonic() + DEADLINE
    seen: tuple[int, Any] | None = None
    while time.monotonic() < deadline:
        try:
            seen = await probe(port)
        except aiohttp.ClientConnectionError:
            seen = None  # not listening yet
        if seen is not None and seen[0] == status:
            return seen[1]
        await asyncio.sleep(0.05)
    pytest.fail(f"/readyz never answered {status}; last: {seen}")


async def test_readyz_says_channels_starting_until_they_started_while_healthz_is_ok(
    tmp_path: Path,
) -> None:
    GatedChannel.gate = asyncio.Event()
    port = free_port()
    app = gated_app(f"sqlite:///{tmp_path / 'db.sqlite'}", port)
    starting = asyncio.create_task(app.start())
    try:
        body = await until(port, 503)
        assert body == {"status": "not ready", "reasons": ["channels starting"]}
        assert await probe(port, "/healthz") == (200, {"status": "ok", "pid": os.getpid()})
        assert not starting.done()

        GatedChannel.gate.set()
        await starting

        assert await probe(port) == (200, {"status": "ready"})
    finally:
        GatedChannel.gate.set()
        await starting
        await app.stop()
        GatedChannel.gate = None


async def test_readyz_says_the_schema_is_behind_or_from_a_newer_omniline(tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "db.sqlite"
    app = gated_app(f"sqlite:///{path}", port)
    await app.start()

    def record(revision: str) -> None:
        with sqlite3.connect(path) as db:
            db.execute("UPDATE alembic_version SET version_num = ?", (revision,))

    try:
        assert await probe(port) == (200, {"status": "ready"})
        head = head_revision()
        behind = f"{int(head) - 1:04d}"

        record(behind)
        status, body = await probe(port)
        assert status == 503
        assert body["status"] == "not ready"
        assert body["reasons"] == [
            f"the database schema is at revision {behind}, behind this omniline's {head}: "
            "run `omniline db upgrade`"
        ]

        record("9999_from_the_future")
        status, body = await probe(port)
        assert status == 503
        [reason] = body["reasons"]
        assert "9999_from_the_future, which this omniline does not know" in reason

        record(head)
        assert await probe(port) == (200, {"status": "ready"})
    finally:
        await app.stop()


async def test_readyz_is_503_during_a_database_outage_and_ready_again_after(
    temporary_postgres: TemporaryPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    url = await asyncio.to_thread(temporary_postgres.create_database, "readiness_outage")
    await upgrade(url)
    port = free_port()
    app = gated_app(url, port)
    await app.start()
    paused = False
    try:
        assert await probe(port) == (200, {"status": "ready"})

        with caplog.at_level(logging.INFO):
            await asyncio.to_thread(temporary_postgres.pause)
            paused = True
            started = time.monotonic()
            status, body = await probe(port)
            answered_in = time.monotonic() - started
            assert status == 503, body
            assert body["status"] == "not ready"
            [reason] = body["reasons"]
            assert reason.startswith("the database does not answer"), reason
            assert answered_in < 5, "the probe waited on the database past its timeout"
            assert await probe(port, "/healthz") == (200, {"status": "ok", "pid": os.getpid()})

            await asyncio.to_thread(temporary_postgres.resume)
            paused = False
            assert await until(port, 200) == {"status": "ready"}
        # The probes left no traceback (what the scheduler's poll logs is its own matter).
        served = [r for r in caplog.records if r.name.startswith("aiohttp")]
        assert not any(r.exc_info for r in served), caplog.text
        assert "readiness check failed" not in caplog.text
    finally:
        if paused:
            await asyncio.to_thread(temporary_postgres.resume)
        await app.stop()
