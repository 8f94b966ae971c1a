"""Acceptance: a process killed (SIGKILL) while messages arrive loses none it acknowledged,
and after a restart shows none twice and answers every one exactly once.

A real ``omniline run`` subprocess serves the web chat. Twenty visitors post numbered messages
in parallel (each visitor one after another, as a widget does); the process is killed while
posts are in flight. After a restart on the same database the visitors resend what was not
acknowledged, with the same ``client_message_id`` (as the widget does), redeliver a few
acknowledged ones, and write a little more. Then every visitor's history must hold each message
exactly once, in the order it was sent, each followed by exactly one bot answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
import pytest
import yaml

VISITORS = 20
KILL_AFTER_ACKS = 150
"""Kill the process once this many posts were acknowledged..."""
KILL_AFTER_SECONDS = 3.0
"""...or after this long, whichever comes first."""
MAX_PER_VISITOR = 1000
NEW_AFTER_RESTART = 2
"""Fresh messages each visitor writes after the restart."""
REDELIVERIES = 5
"""Acknowledged messages posted again after the restart."""
ACCOUNT = "site"
START_DEADLINE = 20.0
SETTLE_DEADLINE = 20.0
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=10)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``python -m omniline run -c CONFIG`` as a child process, one log file per start."""

    def __init__(self, tmp_path: Path, config: Path, port: int) -> None:
        self.tmp_path = tmp_path
        self.config = config
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.logs: list[Path] = []
        self._log_file: IO[bytes] | None = None
        self._env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "omniline", *args, "-c", str(self.config)]

    def upgrade(self) -> None:
        done = subprocess.run(
            self.command("db", "upgrade"),
            cwd=self.tmp_path,
            env=self._env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"db upgrade failed:\n{done.stdout}\n{done.stderr}"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None
        self._close_log()
        log = self.tmp_path / f"run-{len(self.logs) + 1}.log"
        self.logs.append(log)
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            self.command("run"),
            cwd=self.tmp_path,
            env=self._env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return "\n".join(
            f"----- {path.name} -----\n{path.read_text(errors='replace')}" for path in self.logs
        )

    async def wait_healthy(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + START_DEADLINE
        timeout = aiohttp.ClientTimeout(total=1)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                if self.proc.poll() is not None:
                    pytest.fail(f"omniline exited with {self.proc.returncode}:\n{self.log()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(f"{self.base}/healthz") as resp:
                        if resp.status == 200:
                            return
                if time.monotonic() > deadline:
                    pytest.fail(f"omniline not healthy after {START_DEADLINE} s:\n{self.log()}")
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float) -> int | None:
        """SIGTERM, then the exit code, or None if it did not exit within ``timeout``."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


@dataclass
class Visitor:
    name: str
    visitor_id: str
    token: str
    sent: list[tuple[str, str]] = field(default_factory=list)
    """(client_message_id, text) of every distinct message, in the order first sent."""
    acked: dict[str, int] = field(default_factory=dict)
    """client_message_id -> message_id, for every post answered 200."""
    unacked: list[tuple[str, str]] = field(default_factory=list)
    """Posts that got no 200 before the kill (at most one: a visitor stops at its first failure)."""
    failure: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def new_message(self) -> tuple[str, str]:
        n = len(self.sent) + 1
        message = (f"cm-{self.name}-{n:05d}", f"{self.name}-{n}")
        self.sent.append(message)
        return message


def api(base: str) -> str:
    return f"{base}/channels/webchat/{ACCOUNT}/api"


async def post(
    session: aiohttp.ClientSession, base: str, visitor: Visitor, cid: str, text: str
) -> tuple[int, Any]:
    async with session.post(
        f"{api(base)}/messages",
        json={"client_message_id": cid, "text": text},
        headers=visitor.headers,
    ) as resp:
        body = await resp.json() if resp.status == 200 else await resp.text()
        return resp.status, body


async def history(session: aiohttp.ClientSession, base: str, visitor: Visitor) -> list[Any]:
    messages: list[Any] = []
    after = 0
    while True:
        async with session.get(
            f"{api(base)}/messages",
            params={"after": str(after), "limit": "100"},
            headers=visitor.headers,
        ) as resp:
            assert resp.status == 200, await resp.text()
            page = (await resp.json())["messages"]
        messages.extend(page)
        if len(page) < 100:
            return messages
        after = page[-1]["id"]


async def test_sigkill_loses_no_acknowledged_message_and_duplicates_none(tmp_path: Path) -> None:
    port = _free_port()
    config = tmp_path / "omniline.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "storage": {"url": f"sqlite:///{tmp_path / 'omniline.db'}"},
                "server": {"host": "127.0.0.1", "port": port},
                "lines": [
                    {
                        "id": "support",
                        "name": "Support",
                        "bot": "omniline.demo.bot:bot",
                        "handoff_when_unhandled": False,
                        "channels": [
                            {
                                "type": "webchat",
                                "account": ACCOUNT,
                                "settings": {
                                    "secret": "s" * 16 + "0123456789abcdef",
                                    "messages_per_minute": 100_000,
                                    "message_burst": 1000,
                                },
                            }
                        ],
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    server = Server(tmp_path, config, port)
    base = server.base
    try:
        server.upgrade()
        server.start()
        await server.wait_healthy()

        # --- phase 1: visitors write in parallel; the process is killed mid-stream -------------
        visitors: list[Visitor] = []
        async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as session:
            for i in range(VISITORS):
                async with session.post(f"{api(base)}/visitors", json={}) as resp:
                    assert resp.status in (200, 201), await resp.text()
                    body = await resp.json()
                visitors.append(Visitor(f"v{i:02d}", body["visitor_id"], body["token"]))

        acks = 0
        enough = asyncio.Event()

        async def write_until_failure(session: aiohttp.ClientSession, visitor: Visitor) -> None:
            nonlocal acks
            for _ in range(MAX_PER_VISITOR):
                cid, text = visitor.new_message()
                try:
                    status, body = await post(session, base, visitor, cid, text)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    visitor.unacked.append((cid, text))
                    visitor.failure = repr(exc)
                    return
                if status != 200:
                    # The server may refuse while it dies (503): not acknowledged, sent again later.
                    assert status >= 500, f"{visitor.name} {cid}: {status} {body}"
                    visitor.unacked.append((cid, text))
                    visitor.failure = f"HTTP {status}: {body}"
                    return
                assert body["duplicate"] is False, f"{visitor.name} {cid}: first post {body}"
                visitor.acked[cid] = body["message_id"]
                acks += 1
                if acks >= KILL_AFTER_ACKS:
                    enough.set()
            pytest.fail(f"{visitor.name} wrote {MAX_PER_VISITOR} messages without a failure")

        async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as session:
            writers = [asyncio.create_task(write_until_failure(session, v)) for v in visitors]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(enough.wait(), KILL_AFTER_SECONDS)
            early = {v.name: v.failure for v in visitors if v.failure}
            server.kill()
            await asyncio.wait_for(asyncio.gather(*writers), 30)
        assert not early, f"posts failed before the kill: {early}\n{server.log()}"
        acked_before_kill = sum(len(v.acked) for v in visitors)
        assert acked_before_kill > 0, f"nothing was acknowledged before the kill:\n{server.log()}"
        assert all(len(v.unacked) == 1 for v in visitors)

        # --- phase 2: restart; resend the unacknowledged, redeliver some, write more ----------
        server.start()
        await server.wait_healthy()

        redeliver: dict[str, list[str]] = {}
        with_acks = [v for v in visitors if v.acked]
        for k in range(REDELIVERIES):
            visitor = with_acks[k % len(with_acks)]
            cids = list(visitor.acked)
            redeliver.setdefault(visitor.name, []).append(cids[(k * 7) % len(cids)])
        stored_unacked = 0

        async def after_restart(session: aiohttp.ClientSession, visitor: Visitor) -> None:
            nonlocal stored_unacked
            texts = dict(visitor.sent)
            for cid, text in visitor.unacked:
                status, body = await post(session, base, visitor, cid, text)
                assert status == 200, f"{visitor.name} resend {cid}: {status} {body}"
                visitor.acked[cid] = body["message_id"]
                stored_unacked += body["duplicate"]
            for cid in redeliver.get(visitor.name, []):
                status, body = await post(session, base, visitor, cid, texts[cid])
                assert status == 200, f"{visitor.name} redelivery {cid}: {status} {body}"
                assert body == {"message_id": visitor.acked[cid], "duplicate": True}, (
                    f"{visitor.name}: redelivered {cid} acknowledged as {body}, "
                    f"first as message {visitor.acked[cid]}"
                )
            for _ in range(NEW_AFTER_RESTART):
                cid, text = visitor.new_message()
                status, body = await post(session, base, visitor, cid, text)
                assert status == 200, f"{visitor.name} {cid}: {status} {body}"
                assert body["duplicate"] is False, f"{visitor.name} {cid}: {body}"
                visitor.acked[cid] = body["message_id"]

        async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as session:
            await asyncio.gather(*(after_restart(session, v) for v in visitors))

            # --- phase 3: wait until every message has its answer, then check each history ----
            deadline = time.monotonic() + SETTLE_DEADLINE
            pending = list(visitors)
            histories: dict[str, list[Any]] = {}
            while pending:
                for visitor in list(pending):
                    found = await history(session, base, visitor)
                    histories[visitor.name] = found
                    ins = sum(m["direction"] == "in" for m in found)
                    outs = sum(m["direction"] == "out" for m in found)
                    if ins >= len(visitor.sent) and outs >= ins:
                        pending.remove(visitor)
                if not pending:
                    break
                if time.monotonic() > deadline:
                    summary = {
                        v.name: (
                            len(v.sent),
                            sum(m["direction"] == "in" for m in histories[v.name]),
                            sum(m["direction"] == "out" for m in histories[v.name]),
                        )
                        for v in pending
                    }
                    pytest.fail(
                        f"not settled after {SETTLE_DEADLINE} s; (sent, in, out) per visitor: "
                        f"{summary}\n{server.log()}"
                    )
                await asyncio.sleep(0.2)
            # A late duplicate answer would show only after "settled": look once more.
            await asyncio.sleep(0.5)
            for visitor in visitors:
                histories[visitor.name] = await history(session, base, visitor)

        for visitor in visitors:
            found = histories[visitor.name]
            where = f"visitor {visitor.name}"
            ids = [m["id"] for m in found]
            assert len(ids) == len(set(ids)), f"{where}: a message id shows twice: {ids}"
            assert ids == sorted(ids), f"{where}: history out of order: {ids}"
            ins = [m for m in found if m["direction"] == "in"]
            in_texts = [m["text"] for m in ins]
            for cid, message_id in visitor.acked.items():
                text = dict(visitor.sent)[cid]
                count = in_texts.count(text)
                assert count == 1, f"{where}: acknowledged {text!r} ({cid}) is there {count} times"
                shown = next(m["id"] for m in ins if m["text"] == text)
                assert shown == message_id, (
                    f"{where}: {text!r} acknowledged as message {message_id}, shown as {shown}"
                )
            assert in_texts == [text for _, text in visitor.sent], (
                f"{where}: inbound messages are not each sent one, once, in order:\n"
                f"  sent:  {[text for _, text in visitor.sent]}\n  shown: {in_texts}"
            )
            assert all(m["author"] == "client" for m in ins), f"{where}: {ins}"
            outs = [m for m in found if m["direction"] == "out"]
            assert all(m["author"] == "bot" and m["text"] for m in outs), f"{where}: {outs}"
            assert len(outs) == len(ins), (
                f"{where}: {len(ins)} inbound messages got {len(outs)} bot answers:\n"
                + "\n".join(f"  {m['id']} {m['direction']} {m['text']!r}" for m in found)
            )
            seen_in = 0
            for m in found:  # no answer comes before the message it answers
                seen_in += m["direction"] == "in"
                if m["direction"] == "out":
                    seen_in -= 1
                    assert seen_in >= 0, f"{where}: an answer precedes its message: {ids}"
        # --- phase 4: a graceful stop ---------------------------------------------------------
        code = server.terminate(timeout=10)
        assert code is not None, f"omniline did not stop within 10 s of SIGTERM:\n{server.log()}"
        assert code == 0, f"omniline exited {code} on SIGTERM:\n{server.log()}"
        for path in server.logs:
            text = path.read_text(errors="replace")
            assert "Traceback" not in text and " ERROR " not in text, (
                f"omniline logged an error:\n{server.log()}"
            )
        print(
            f"\n{acked_before_kill} acknowledged before the kill; {VISITORS} posts in flight, "
            f"{stored_unacked} of them stored before the kill (resend came back duplicate)"
        )
    finally:
        server.cleanup()
