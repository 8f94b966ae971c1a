"""Fault: one of three ``omniline run`` workers on one PostgreSQL is killed (SIGKILL) while web-chat
visitors write and operators accept, answer and close dialogs through the REST API.

Guaranteed: every inbound message a worker acknowledged is stored exactly once; every operator
reply the API acknowledged is stored once and delivered at least once (nothing is left unsent),
and the visitor's history shows it once; no dialog is accepted by two operators, and no operator
ever holds more active dialogs than their capacity. The dead worker's unfinished inbound events
are taken over by the others after ``storage.recovery_grace`` and its leased outbox rows after
``outbox.lease``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from omniline.store import upgrade
from omniline.testing import TemporaryPostgres
from tests.faults.workers import (
    SECRET,
    Visitor,
    Worker,
    all_logs,
    history,
    new_visitor,
    shown_once,
    webchat,
)

OPERATORS = ("op1", "op2", "op3")
CAPACITY = 2
VISITORS = 8
REPLIES = 2
"""Replies an operator writes in a dialog before closing it."""
KILL_AFTER = 3.0
"""Seconds of load before a worker is killed..."""
AFTER_KILL = 5.0
"""...and after."""
SETTLE_DEADLINE = 40.0
TIMEOUT = aiohttp.ClientTimeout(total=10)


def config(url: str) -> dict[str, Any]:
    return {
        "storage": {"url": url, "pool_size": 4, "recovery_grace": 2, "recovery_interval": 1},
        "server": {"host": "127.0.0.1"},
        "outbox": {"lease": 3, "poll_interval": 0.5},
        "console": {"offline_after": None},
        "operators": [{"id": op, "name": op.upper(), "capacity": CAPACITY} for op in OPERATORS],
        "accounts": [
            {"login": op, "name": op.upper(), "password": f"password-of-{op}"} for op in OPERATORS
        ],
        "lines": [
            {
                "id": "support",
                "name": "Support",
                "queue": list(OPERATORS),
                "distribution": "all",
                "only_online": False,
                "only_working": False,
                "response_timeout": 600,
                "channels": [
                    {
                        "type": "webchat",
                        "account": "site",
                        "settings": {
                            "secret": SECRET,
                            "messages_per_minute": 100_000,
                            "message_burst": 1000,
                        },
                    }
                ],
            }
        ],
    }


class Cluster:
    """The workers, and a turn that skips the dead ones."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers
        self.turn = itertools.count()

    def base(self) -> str:
        alive = [w for w in self.workers if w.alive]
        return alive[next(self.turn) % len(alive)].base


async def visitor_writes(
    http: aiohttp.ClientSession, cluster: Cluster, visitor: Visitor, stop: asyncio.Event
) -> None:
    """Messages one after another; one that is not acknowledged goes again, same id, elsewhere."""
    while not stop.is_set():
        cid, text = visitor.new_message()
        for _ in range(50):
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.post(
                    f"{webchat(cluster.base())}/messages",
                    json={"client_message_id": cid, "text": text},
                    headers=visitor.headers,
                ) as resp:
                    if resp.status == 200:
                        visitor.acked[cid] = (await resp.json())["message_id"]
                        break
                    assert resp.status == 503, f"{visitor.name}: {resp.status} {await resp.text()}"
            await asyncio.sleep(0.1)
        else:
            pytest.fail(f"{visitor.name}: {cid} was never acknowledged")
        await asyncio.sleep(0.1)


class Operator:
    def __init__(self, login: str) -> None:
        self.login = login
        self.accepted: list[int] = []
        self.replies: dict[str, int] = {}
        """Text -> dialog of every reply the API acknowledged."""
        self.unacknowledged: list[str] = []
        self.written: dict[int, int] = defaultdict(int)
        self.attempt = itertools.count(1)
        self.csrf = ""

    async def call(
        self, http: aiohttp.ClientSession, base: str, method: str, path: str, body: Any = None
    ) -> tuple[int, Any]:
        async with http.request(
            method,
            f"{base}/api/v1{path}",
            json=body,
            headers={"X-CSRF-Token": self.csrf} if method != "GET" else {},
        ) as resp:
            return resp.status, await resp.json()

    async def work(self, cluster: Cluster, stop: asyncio.Event) -> None:
        jar = aiohttp.CookieJar(unsafe=True)  # the session cookie of 127.0.0.1, for every worker
        async with aiohttp.ClientSession(timeout=TIMEOUT, cookie_jar=jar) as http:
            status, body = await self.call(
                http,
                cluster.base(),
                "POST",
                "/session",
                {"login": self.login, "password": f"password-of-{self.login}"},
            )
            assert status == 200, body
            self.csrf = body["csrf_token"]
            while not stop.is_set():
                # A worker that is gone fails the round: the next round goes to another.
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    await self.round(http, cluster.base())
                await asyncio.sleep(0.1)

    async def round(self, http: aiohttp.ClientSession, base: str) -> None:
        status, page = await self.call(
            http, base, "GET", "/dialogs?status=offered&status=active&limit=50"
        )
        if status != 200:
            assert status == 503, page
            return
        for dialog in page["items"]:
            number = dialog["id"]
            if dialog["status"] == "offered" and self.login in dialog["offered_to"]:
                status, answer = await self.call(
                    http, base, "POST", f"/dialogs/{number}/accept", {}
                )
                assert status in (200, 409, 503), answer
                if status == 200:
                    self.accepted.append(number)
            elif dialog["status"] == "active" and dialog["operator_id"] == self.login:
                if self.written[number] >= REPLIES:
                    status, answer = await self.call(
                        http, base, "POST", f"/dialogs/{number}/close", {}
                    )
                    assert status in (200, 409, 503), answer
                    continue
                text = f"{self.login} answers dialog {number}, try {next(self.attempt)}"
                try:
                    status, answer = await self.call(
                        http, base, "POST", f"/dialogs/{number}/reply", {"text": text}
                    )
                except (aiohttp.ClientError, TimeoutError):
                    self.unacknowledged.append(text)
                    raise
                assert status in (200, 409, 503), answer
                if status == 200:
                    self.replies[text] = number
                    self.written[number] += 1
                else:
                    self.unacknowledged.append(text)


async def watch_capacity(url: str, stop: asyncio.Event, seen: list[tuple[str, int]]) -> None:
    connection = await asyncpg.connect(url)
    try:
        while not stop.is_set():
            rows = await connection.fetch(
                "SELECT operator_id, count(*) AS n FROM dialogs "
                "WHERE status = 'active' GROUP BY operator_id"
            )
            seen.extend((row["operator_id"], row["n"]) for row in rows)
            await asyncio.sleep(0.2)
    finally:
        await connection.close()


async def test_a_worker_killed_mid_load_loses_nothing_acknowledged_and_breaks_no_rule(
    tmp_path: Path, temporary_postgres: TemporaryPostgres
) -> None:
    url = await asyncio.to_thread(temporary_postgres.create_database, "worker_killed")
    await upgrade(url)
    workers = [Worker(tmp_path, f"worker-{i}", config(url)) for i in (1, 2, 3)]
    try:
        for worker in workers:
            worker.start()
        await asyncio.gather(*(w.wait_healthy() for w in workers))
        cluster = Cluster(workers)
        operators = [Operator(login) for login in OPERATORS]
        stop_writing, stop_watching = asyncio.Event(), asyncio.Event()
        loads: list[tuple[str, int]] = []
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            visitors = [
                await new_visitor(http, cluster.base(), f"visitor{i}") for i in range(VISITORS)
            ]
            tasks = [
                asyncio.create_task(visitor_writes(http, cluster, v, stop_writing))
                for v in visitors
            ]
            tasks += [asyncio.create_task(o.work(cluster, stop_writing)) for o in operators]
            watcher = asyncio.create_task(watch_capacity(url, stop_watching, loads))
            await asyncio.sleep(KILL_AFTER)
            workers[1].kill()
            await asyncio.sleep(AFTER_KILL)
            stop_writing.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 30)

            # --- settle: every stored event processed, every outbox row sent -----------------
            connection = await asyncpg.connect(url)
            try:
                deadline = time.monotonic() + SETTLE_DEADLINE
                while True:
                    pending = await connection.fetchval(
                        "SELECT count(*) FROM inbox WHERE status = 'pending'"
                    )
                    unsent = await connection.fetchval(
                        "SELECT count(*) FROM outbox WHERE status <> 'sent'"
                    )
                    if pending == 0 and unsent == 0:
                        break
                    if time.monotonic() > deadline:
                        pytest.fail(
                            f"{pending} events unprocessed, {unsent} outbox rows unsent "
                            f"{SETTLE_DEADLINE} s after the load:\n{all_logs(workers)}"
                        )
                    await asyncio.sleep(0.3)
                held_by = await connection.fetch(
                    "SELECT operator_id, count(*) AS n FROM dialogs "
                    "WHERE status IN ('active', 'offered') AND operator_id IS NOT NULL "
                    "GROUP BY operator_id"
                )
            finally:
                await connection.close()
            stop_watching.set()
            await watcher
            histories = {v.name: await history(http, cluster.base(), v) for v in visitors}

        acked = sum(len(v.acked) for v in visitors)
        replies = {text: number for o in operators for text, number in o.replies.items()}
        assert acked > 0 and replies, f"no load got through:\n{all_logs(workers)}"

        # Inbound: each acknowledged message once.
        for visitor in visitors:
            shown_once(visitor, histories[visitor.name])

        # Outbound: each acknowledged reply shown once; an unacknowledged one at most once.
        shown: dict[str, int] = defaultdict(int)
        for found in histories.values():
            for message in found:
                if message["direction"] == "out" and message["author"] == "operator":
                    shown[message["text"]] += 1
        for text in replies:
            assert shown[text] == 1, f"acknowledged reply {text!r} shows {shown[text]} times"
        assert all(n == 1 for n in shown.values()), {t: n for t, n in shown.items() if n > 1}

        # No dialog taken by two operators; no operator over capacity, ever.
        taken: dict[int, list[str]] = defaultdict(list)
        for operator in operators:
            for number in operator.accepted:
                taken[number].append(operator.login)
        assert all(len(who) == 1 for who in taken.values()), {
            n: who for n, who in taken.items() if len(who) > 1
        }
        over = [(op, n) for op, n in loads if n > CAPACITY]
        assert not over, f"operators over their capacity of {CAPACITY}: {over}"
        assert all(row["n"] <= CAPACITY for row in held_by), held_by
        survivors = [w for w in workers if w.alive]
        assert len(survivors) == 2
        print(
            f"\n{acked} inbound messages and {len(replies)} replies acknowledged "
            f"({sum(len(o.unacknowledged) for o in operators)} replies not), "
            f"{len(taken)} dialogs accepted"
        )
        for worker in survivors:
            assert "Traceback" not in worker.log(), f"{worker.name}:\n{worker.log()}"
    finally:
        for worker in workers:
            worker.stop()
