"""Property: however arrivals, accepts, skips, timeouts, presence changes and closes interleave,
no operator ever holds more dialogs than their capacity, no dialog is held by two operators, and
the load counters the distributor decides by agree with the dialogs themselves.

On PostgreSQL the steps run concurrently on two workers (two applications with their own
connection pools and no shared memory, as two processes would be) against one database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omniline.app import Omniline
from omniline.engine.settings import Distribution
from omniline.errors import DialogError, OmnilineError
from omniline.model import ChannelRef, DialogStatus, Identity, Presence
from omniline.store import parse_url
from omniline.store.executor import Executor, PostgresExecutor, SqliteExecutor, Tx
from omniline.store.schema import line_operators, operators
from omniline.store.statements import compile_for, dialect_for
from omniline.testing import Kit, TemporaryPostgres
from omniline.testing.fake_channel import FakeChannel, fake_channel_plugin

OPERATORS = {"ann": "Ann", "bob": "Bob", "cid": "Cid"}
CAPACITY = {"ann": 1, "bob": 1, "cid": 2}
CLIENTS = [f"c{n}" for n in range(5)]


@dataclass(frozen=True)
class Step:
    kind: str
    client: str = ""
    operator: str = ""
    worker: int = 0


operator_ids = st.sampled_from(sorted(OPERATORS))
clients = st.sampled_from(CLIENTS)
workers = st.integers(0, 1)
steps = st.one_of(
    st.builds(Step, kind=st.just("arrive"), client=clients, worker=workers),
    st.builds(Step, kind=st.just("accept"), client=clients, operator=operator_ids, worker=workers),
    st.builds(Step, kind=st.just("skip"), client=clients, operator=operator_ids, worker=workers),
    st.builds(Step, kind=st.just("close"), client=clients, operator=operator_ids, worker=workers),
    st.builds(Step, kind=st.just("timeout")),
    st.builds(Step, kind=st.just("online"), operator=operator_ids, worker=workers),
    st.builds(Step, kind=st.just("offline"), operator=operator_ids, worker=workers),
    st.builds(Step, kind=st.just("break"), operator=operator_ids, worker=workers),
)
# Each batch of steps runs concurrently; the invariants are checked after every batch.
programs = st.lists(st.lists(steps, min_size=1, max_size=4), min_size=1, max_size=16)


class World:
    def __init__(
        self, kit: Kit, apps: list[Omniline], channels: list[FakeChannel], reader: Executor
    ) -> None:
        self.kit = kit
        self.apps = apps
        self.channels = channels
        self.reader = reader
        """A connection of the test's own, for what the store keeps but does not show."""
        self.sent = 0

    async def open_dialog(self, client: str) -> int | None:
        identity = Identity(channel=self.channels[0].ref, external_id=client)
        dialog = await self.apps[0].store.dialogs.open_of(identity, self.kit.line_id)
        return dialog.id if dialog is not None else None

    async def run(self, step: Step) -> None:
        app = self.apps[step.worker]
        if step.kind == "arrive":
            self.sent += 1
            await self.channels[step.worker].receive(step.client, f"message {self.sent}")
            return
        if step.kind == "timeout":
            await self.kit.clock.advance(61)
            for worker in self.apps:
                await worker.scheduler.run_due()
            return
        if step.kind in ("online", "offline", "break"):
            operators = app.operators
            if step.kind == "online":
                await operators.set_presence(step.operator, Presence.ONLINE)
                await operators.start_day(step.operator)
            elif step.kind == "offline":
                await operators.set_presence(step.operator, Presence.OFFLINE)
            else:
                with contextlib.suppress(OmnilineError):
                    await operators.take_break(step.operator)
            return
        dialog_id = await self.open_dialog(step.client)
        if dialog_id is None:
            return
        action = {
            "accept": lambda: app.dialogs.accept(dialog_id, step.operator),
            "skip": lambda: app.dialogs.skip(dialog_id, step.operator),
            "close": lambda: app.dialogs.close(dialog_id, actor=f"operator:{step.operator}"),
        }[step.kind]
        with contextlib.suppress(DialogError):  # not theirs, taken meanwhile, no room...
            await action()

    async def settle(self) -> None:
        for app in self.apps:
            await app.idle(paced=False)

    async def check(self) -> None:
        store = self.apps[0].store
        held = await store.operators.held_counts()
        operators = {o.id: o for o in await store.operators.all()}
        for operator_id, operator in operators.items():
            count = held.get(operator_id, 0)
            assert operator.load == count, f"{operator_id}: load {operator.load}, holds {count}"
            assert count <= CAPACITY[operator_id], f"{operator_id} holds {count}"
        for row in await self.reader.run(_readiness):
            operator_id, ready, presence, shift = (
                row["operator_id"],
                row["ready"],
                row["presence"],
                row["shift"],
            )
            capacity, line_capacity, load = row["capacity"], row["line_capacity"], row["load"]
            expected = (
                presence == "online" and shift == "working" and load < (capacity or line_capacity)
            )
            assert bool(ready) == expected, f"{operator_id} ready={ready}, should be {expected}"
        for client in CLIENTS:
            dialog_id = await self.open_dialog(client)
            if dialog_id is None:
                continue
            dialog = await store.dialogs.get(dialog_id)
            assert dialog is not None
            offered_to = await store.operators.offered_to(dialog_id)
            if dialog.status is DialogStatus.ACTIVE:
                assert dialog.operator_id is not None and offered_to == []
            if dialog.status is DialogStatus.OFFERED:
                assert (dialog.operator_id is None) == bool(offered_to)
            if dialog.status in (DialogStatus.QUEUED, DialogStatus.BOT):
                assert offered_to == []


def _reader(url: str) -> Executor:
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database is not None
        return SqliteExecutor(parsed.database)
    asyncpg_url = parsed.set(drivername="postgresql+asyncpg")
    return PostgresExecutor(asyncpg_url.render_as_string(hide_password=False), pool_size=1)


def _readiness(tx: Tx) -> list[Any]:
    """Each queue row's stored readiness beside what its operator's row says."""
    lo, o = line_operators.c, operators.c
    stmt = sa.select(
        lo.operator_id, lo.ready, lo.line_capacity, o.presence, o.shift, o.capacity, o.load
    ).select_from(line_operators.join(operators, o.id == lo.operator_id))
    dialect, _ = dialect_for(tx.q.dialect_name)
    return list(tx.rows(compile_for(stmt, dialect), {}))


@contextlib.asynccontextmanager
async def world(database_url: str | None, distribution: str, workers: int) -> AsyncIterator[World]:
    # "nothing" leaves exhausted dialogs in the queue, where any operator may take them by hand:
    # the path where only the database's capacity check stands in the way.
    nobody_answered = "circulate" if distribution == "all" else "nothing"
    line = {
        "queue": sorted(OPERATORS),
        "distribution": distribution,
        "response_timeout": 60,
        "nobody_answered": nobody_answered,
    }
    kit = Kit(operators=OPERATORS, line_settings=line, database_url=database_url)
    config = kit.app.config.model_copy(
        update={
            "operators": [
                o.model_copy(update={"capacity": CAPACITY[o.id]}) for o in kit.app.config.operators
            ]
        }
    )
    apps, channels = [], []
    for n in range(workers):
        channel = FakeChannel(ChannelRef(type="fake", account="test"), clock=kit.clock)
        app = Omniline(
            config,
            clock=kit.clock,
            channel_plugins={"fake": fake_channel_plugin(channel)},
            migrate=n == 0,
            serve_http=False,
            recovery_grace=3600,
        )
        apps.append(app)
        channels.append(channel)
    reader: Executor | None = None
    try:
        for app in apps:
            await app.start()
            # Timers fire only in "timeout" steps, so the checks never race a timer's handler.
            app.scheduler.stop()
        reader = _reader(config.storage.url)
        yield World(kit, apps, channels, reader)
    finally:
        if reader is not None:
            await reader.close()
        for app in reversed(apps):
            await app.stop()
        await kit.close()


async def play(w: World, program: list[list[Step]]) -> None:
    for batch in program:
        await asyncio.gather(*(w.run(step) for step in batch))
        await w.settle()
        await w.check()


PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("distribution", [mode.value for mode in Distribution])
@PROPERTY
@given(program=programs)
def test_assignment_invariants_on_sqlite(distribution: str, program: list[list[Step]]) -> None:
    async def main() -> None:
        async with world(None, distribution, workers=1) as w:
            await play(
                w, [[s.__class__(**{**s.__dict__, "worker": 0}) for s in b] for b in program]
            )

    asyncio.run(main())


@pytest.mark.parametrize("distribution", [mode.value for mode in Distribution])
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(program=programs)
def test_assignment_invariants_on_postgres_with_two_workers(
    temporary_postgres: TemporaryPostgres, distribution: str, program: list[list[Step]]
) -> None:
    url = temporary_postgres.create_database(f"prop_{next(_numbers)}")

    async def main() -> None:
        async with world(url, distribution, workers=2) as w:
            await play(w, program)

    asyncio.run(main())


_numbers = iter(range(10**9))
