"""The cost of one routing decision as the line's queue and the stored dialogs grow: 10, 1,000 and
10,000 operators in the queue, 1,000 and 1,000,000 closed dialogs in the database.

Each decision goes through the real store API: a new client's message is ingested as a queued
dialog (``store.inbox.ingest``), then ``store.dialogs.apply(dialog_id, [RouteAction(plan)])`` offers it to
an operator (one unit of work, one transaction), once per dialog. Printed per database, queue
state, mode and size: that decision's median and p90 (the ingest before it not included), its ratio
to the smallest case (10 operators, 1,000 dialogs) of the same database, state and mode, the same
for ``routing.route()`` alone (the decision's statements inside the transaction, without the
transaction's begin, commit and the dialog read of ``apply``), and the ingest's median.

Queue states (every operator online and working; the plan's default capacity is 1,000,000, so
operators with room never fill up during a run):

- ``room``: everyone has room.
- ``front-full``: the first 90% of the queue (by position) are at their capacity (capacity 2,
  load 2, set with SQL: no held dialog rows). This is where a busy line settles: strict mode fills
  the head of the queue first, and in evenly mode full operators stop receiving and so come first
  by ``received``. Decisions read the ready operators (online, working, with room) from a
  partial index, so the full ones are not walked past.
- ``random-full``: a random 90% are at capacity (received counts all start at 0).
- ``all-full``: everyone is at capacity (a line at its peak): the decision is to let the dialog
  wait.

Operators, their status and the queue are set through the store API (``save_operator``,
``set_operator``, ``set_queue``); the stored dialogs (with their clients and identities) and the
full operators' loads are bulk-inserted with SQL. Each measured run starts from a fresh copy of
the database, so the dialogs of one run do not add to the next; each case runs three times
(interleaved) and the run with the lowest median is kept.

    python bench/routing.py [--database sqlite|postgresql|both] [--quick] [--explain]
        [--operators 10 1000 10000] [--dialogs 1000 1000000] [--decisions 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).parent))

from _load import percentile

from omniline.engine.clock import SystemClock
from omniline.engine.distribution import CANDIDATES, strategy_for
from omniline.engine.ports import DialogAction, RouteAction, RoutePlan
from omniline.engine.settings import Distribution
from omniline.model import (
    ChannelRef,
    DialogStatus,
    Identity,
    InboundEvent,
    InboundMessage,
    Presence,
    Shift,
)
from omniline.store import SqlStore, open_store, routing, upgrade
from omniline.store.executor import Tx
from omniline.store.statements import statements_for

LINE = "sales"
CHANNEL = ChannelRef(type="webchat", account="site")
CAPACITY = 1_000_000
"""The plan's default capacity: an operator with room keeps it for the whole run."""
FULL_CAPACITY = 2
"""The busy operators' own capacity; their load is set to it."""
BUSY = 0.9
STATES = ("room", "front-full", "random-full", "all-full")
MODES = ("strict", "evenly")
FLAT = 2.0


@dataclass(frozen=True)
class Sizes:
    operators: tuple[int, ...]
    dialogs: tuple[int, ...]
    decisions: int
    warmup: int
    repeat: int
    """Runs of each case, interleaved; the one with the lowest median is kept (the machines are
    shared: a neighbour's burst only ever slows a run down)."""


FULL = Sizes((10, 1_000, 10_000), (1_000, 1_000_000), decisions=1000, warmup=50, repeat=3)
QUICK = Sizes((10, 1_000, 10_000), (1_000, 20_000), decisions=200, warmup=20, repeat=1)


# --- timing routing.route() inside the transaction -------------------------------------------------

_route_ns: list[int] = []
_real_route = routing.route


def _timed_route(tx: Tx, dialog_id: int, plan: RoutePlan, now: datetime) -> list[DialogAction]:
    began = time.perf_counter_ns()
    actions = _real_route(tx, dialog_id, plan, now)
    _route_ns.append(time.perf_counter_ns() - began)
    return actions


routing.route = _timed_route  # store.dialogs.apply calls it through the module


# --- databases ------------------------------------------------------------------------------------


class Backend(Protocol):
    name: str

    async def empty(self, name: str) -> str:
        """The URL of a new, empty database (schema not created)."""
        ...

    async def copy(self, url: str, name: str) -> str:
        """The URL of a copy of ``url``'s database (nobody may be connected to it)."""
        ...

    async def drop(self, url: str) -> None: ...

    async def execute(self, url: str, statements: Sequence[str]) -> None:
        """Run ``statements`` (no parameters) in one transaction."""
        ...

    def insert_series(self, count: int, target: str, select: str) -> str:
        """``INSERT INTO target SELECT select`` with ``i`` running from 1 to ``count``."""
        ...

    def after_seed(self) -> list[str]:
        """What to run after rows were inserted with explicit ids."""
        ...

    async def analyze(self, url: str) -> None:
        """Refresh the planner's statistics where the server would do it by itself."""
        ...

    async def explain(self, url: str, sql: str, args: tuple[Any, ...]) -> list[str]: ...


class Sqlite:
    name = "sqlite"

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    @staticmethod
    def _path(url: str) -> Path:
        return Path(url.removeprefix("sqlite:///"))

    async def empty(self, name: str) -> str:
        return f"sqlite:///{self._folder / name}.db"

    async def copy(self, url: str, name: str) -> str:
        target = self._folder / f"{name}.db"
        await asyncio.to_thread(shutil.copyfile, self._path(url), target)
        return f"sqlite:///{target}"

    async def drop(self, url: str) -> None:
        def remove() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self._path(url)}{suffix}").unlink(missing_ok=True)

        await asyncio.to_thread(remove)

    async def execute(self, url: str, statements: Sequence[str]) -> None:
        def run() -> None:
            conn = sqlite3.connect(self._path(url), isolation_level=None)
            try:
                conn.execute("PRAGMA cache_size=-262144")  # 256 MiB: the seeding's index inserts
                conn.execute("BEGIN IMMEDIATE")
                for sql in statements:
                    conn.execute(sql)
                conn.execute("COMMIT")
            finally:
                conn.close()

        await asyncio.to_thread(run)

    def insert_series(self, count: int, target: str, select: str) -> str:
        return (
            f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {count}) "
            f"INSERT INTO {target} SELECT {select} FROM s"
        )

    def after_seed(self) -> list[str]:
        return []

    async def analyze(self, url: str) -> None:
        """Nothing: omniline never runs ANALYZE on SQLite, so the planner works without
        statistics in production too."""

    async def explain(self, url: str, sql: str, args: tuple[Any, ...]) -> list[str]:
        conn = sqlite3.connect(self._path(url))
        try:
            plan = [str(r[3]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args)]
            runs = []
            for _ in range(50):
                began = time.perf_counter_ns()
                conn.execute(sql, args).fetchall()
                runs.append((time.perf_counter_ns() - began) / 1000)
            return [*plan, f"executed alone: median {statistics.median(runs):.0f} us"]
        finally:
            conn.close()


class Postgres:
    name = "postgresql"

    def __init__(self, admin_url: str) -> None:
        self._admin = admin_url
        self._base = admin_url.rsplit("/", 1)[0]

    @staticmethod
    def _db(url: str) -> str:
        return url.rsplit("/", 1)[1]

    async def _admin_execute(self, sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self._admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def empty(self, name: str) -> str:
        await self._admin_execute(f'CREATE DATABASE "{name}"')
        return f"{self._base}/{name}"

    async def copy(self, url: str, name: str) -> str:
        import asyncpg

        sql = f'CREATE DATABASE "{name}" TEMPLATE "{self._db(url)}" STRATEGY FILE_COPY'
        for attempt in range(100):  # autovacuum may be working in the template
            try:
                await self._admin_execute(sql)
                break
            except asyncpg.ObjectInUseError:
                if attempt == 99:
                    raise
                await asyncio.sleep(0.1)
        return f"{self._base}/{name}"

    async def drop(self, url: str) -> None:
        await self._admin_execute(f'DROP DATABASE "{self._db(url)}" WITH (FORCE)')

    async def execute(self, url: str, statements: Sequence[str]) -> None:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            async with conn.transaction():
                for sql in statements:
                    await conn.execute(sql)
        finally:
            await conn.close()

    def insert_series(self, count: int, target: str, select: str) -> str:
        return f"INSERT INTO {target} SELECT {select} FROM generate_series(1, {count}) AS s(i)"

    def after_seed(self) -> list[str]:
        return [
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            for table in ("clients", "identities", "dialogs")
        ]

    async def analyze(self, url: str) -> None:
        """What autovacuum does after bulk changes, done now rather than at some point mid-run."""
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            await conn.execute("ANALYZE")
        finally:
            await conn.close()

    async def explain(self, url: str, sql: str, args: tuple[Any, ...]) -> list[str]:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", *args)
            # The driver's prepared statement goes generic after five runs: show that plan too.
            await conn.execute("SET plan_cache_mode = force_generic_plan")
            generic = await conn.fetch(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}", *args)
            return [
                *(str(r[0]) for r in rows),
                "generic plan (what a prepared statement may switch to):",
                *(str(r[0]) for r in generic),
            ]
        finally:
            await conn.close()


# --- building the databases -----------------------------------------------------------------------


async def seed_dialogs(backend: Backend, url: str, count: int) -> None:
    """``count`` closed dialogs on the line, each with its client and identity, spread over the
    past year and over 10,000 operator ids; few statements, one transaction."""
    end = time.time() - 86_400
    step = 365 * 86_400 / count
    start = end - count * step
    series = backend.insert_series
    await backend.execute(
        url,
        [
            series(
                count,
                "clients (id, display_name, created_at)",
                f"i, 'Client ' || i, {start} + i * {step}",
            ),
            series(
                count,
                "identities (id, client_id, channel_type, account, external_id, display_name,"
                " profile, created_at, updated_at)",
                f"i, i, 'webchat', 'site', 'seed-' || i, 'Client ' || i, '{{}}',"
                f" {start} + i * {step}, {start} + i * {step}",
            ),
            series(
                count,
                "dialogs (id, line_id, client_id, identity_id, status, operator_id, pinned,"
                " opened_at, closed_at, hops, awaiting_rating)",
                f"i, '{LINE}', i, i, 'closed', 'op' || (i % 10000), FALSE, {start} + i * {step},"
                f" {start} + i * {step} + 600, 1, FALSE",
            ),
            *backend.after_seed(),
        ],
    )


async def add_operators(url: str, count: int) -> None:
    """``count`` operators, online and working, in the line's queue: all through the store."""
    store = await open_store(url, SystemClock())
    ids = [f"op{i}" for i in range(count)]
    try:
        for first in range(0, count, 500):
            chunk = ids[first : first + 500]
            await asyncio.gather(*(store.operators.save(o, f"Operator {o}") for o in chunk))
            await asyncio.gather(
                *(
                    store.operators.update(o, presence=Presence.ONLINE, shift=Shift.WORKING)
                    for o in chunk
                )
            )
        await store.operators.set_queue(LINE, ids)
        assert len(await store.operators.queue(LINE)) == count
    finally:
        await store.close()


def busy_positions(state: str, count: int) -> list[int]:
    """The queue positions of the operators at capacity."""
    busy = round(count * BUSY)
    if state == "front-full":
        return list(range(busy))
    if state == "random-full":
        return sorted(random.Random(count).sample(range(count), busy))
    if state == "all-full":
        return list(range(count))
    return []


async def set_state(backend: Backend, url: str, state: str, count: int) -> None:
    positions = busy_positions(state, count)
    if positions:
        listed = ", ".join(map(str, positions))
        await backend.execute(
            url,
            [
                f"UPDATE operators SET capacity = {FULL_CAPACITY}, load = {FULL_CAPACITY} "
                f"WHERE id IN (SELECT operator_id FROM line_operators "
                f"WHERE line_id = '{LINE}' AND position IN ({listed}))",
                # What the store keeps in step when it changes a load itself.
                f"UPDATE line_operators SET ready = (1 = 0) "
                f"WHERE line_id = '{LINE}' AND position IN ({listed})",
            ],
        )
        await backend.analyze(url)


# --- measuring ------------------------------------------------------------------------------------


@dataclass
class Run:
    database: str
    state: str
    mode: str
    operators: int
    dialogs: int
    decision_us: list[float] = field(default_factory=list)
    route_us: list[float] = field(default_factory=list)
    ingest_us: list[float] = field(default_factory=list)
    chosen: dict[str, int] = field(default_factory=dict)


def plan_for(mode: str) -> RoutePlan:
    return RoutePlan(
        line_id=LINE,
        distribution=Distribution(mode),
        default_capacity=CAPACITY,
        only_online=True,
        only_working=True,
        timeout=60,
    )


async def decide(store: SqlStore, run: Run, sizes: Sizes) -> None:
    """Ingest and route one new dialog at a time; the first ``warmup`` are not counted."""
    actions = [RouteAction(plan=plan_for(run.mode))]
    tag = f"{run.state}-{run.mode}"
    for n in range(sizes.warmup + sizes.decisions):
        event = InboundEvent(
            event_id=f"{tag}-{n}",
            identity=Identity(channel=CHANNEL, external_id=f"{tag}-{n}"),
            message=InboundMessage(text="Hello, I need help with my order"),
            received_at=datetime.now(UTC),
        )
        _route_ns.clear()
        began = time.perf_counter_ns()
        receipt = await store.inbox.ingest(event, line_id=LINE, initial_status=DialogStatus.QUEUED)
        ingested = time.perf_counter_ns()
        await store.dialogs.apply(receipt.dialog_id, actions)
        done = time.perf_counter_ns()
        if n >= sizes.warmup:
            run.ingest_us.append((ingested - began) / 1000)
            run.decision_us.append((done - ingested) / 1000)
            run.route_us.append(_route_ns[0] / 1000)
    total = sizes.warmup + sizes.decisions
    held = await store.operators.held_counts()
    if run.state == "all-full":  # nobody has room: every dialog waits in the queue
        assert not held, f"offered although everyone is full: {held}"
        assert len(await store.operators.waiting_dialogs(LINE, limit=total + 1)) == total
    else:
        assert sum(held.values()) == total, f"not all offered: {held}"
    run.chosen = held


async def explain(backend: Backend, url: str, run: Run) -> None:
    q = statements_for(backend.name)
    params = {
        "line_id": LINE,
        "capacity": CAPACITY,
        "any_presence": 0,
        "any_shift": 0,
        "limit": CANDIDATES,
    }
    order = strategy_for(Distribution(run.mode)).order
    name = f"candidates_by_{order.value}"
    query = getattr(q, name)
    lines = await backend.explain(url, query.sql, query.args(params))
    title = f"{backend.name} {run.state} {run.mode}, {run.operators:,} operators"
    print(f"  {name} after the run, {title}:", flush=True)
    for line in lines:
        print(f"    {line}", flush=True)


async def one_run(
    backend: Backend, with_queue: str, run: Run, sizes: Sizes, *, show_plan: bool = False
) -> None:
    """Decisions on a fresh copy of ``with_queue`` with the queue in ``run.state``."""
    name = f"run-{run.dialogs}-{run.operators}-{run.state}-{run.mode}"
    url = await backend.copy(with_queue, name)
    try:
        await set_state(backend, url, run.state, run.operators)
        store = await open_store(url, SystemClock())
        try:
            await decide(store, run, sizes)
        finally:
            await store.close()
        if show_plan:
            await explain(backend, url, run)
    finally:
        await backend.drop(url)


async def measure(backend: Backend, sizes: Sizes, *, show_plans: bool) -> list[Run]:
    runs: list[Run] = []
    for dialogs in sizes.dialogs:
        base = await backend.empty(f"base-{dialogs}")
        await upgrade(base)
        began = time.perf_counter()
        await seed_dialogs(backend, base, dialogs)
        print(
            f"{backend.name}: {dialogs:,} stored dialogs built in "
            f"{time.perf_counter() - began:.1f} s",
            flush=True,
        )
        for operators in sizes.operators:
            with_queue = await backend.copy(base, f"queue-{dialogs}-{operators}")
            began = time.perf_counter()
            await add_operators(with_queue, operators)
            await backend.analyze(with_queue)
            print(
                f"  {operators:,} operators set up through the store in "
                f"{time.perf_counter() - began:.1f} s",
                flush=True,
            )
            if not runs:  # the first run of the process pays for warming up: not counted
                await one_run(backend, with_queue, Run(backend.name, "room", "strict", 0, 0), sizes)
            best: dict[tuple[str, str], Run] = {}
            for repeat in range(sizes.repeat):
                for state in STATES:
                    for mode in MODES:
                        run = Run(backend.name, state, mode, operators, dialogs)
                        last = repeat == sizes.repeat - 1
                        await one_run(
                            backend, with_queue, run, sizes, show_plan=show_plans and last
                        )
                        print(f"    {summary(run)}", flush=True)
                        known = best.get((state, mode))
                        if known is None or median(run.decision_us) < median(known.decision_us):
                            best[state, mode] = run
            runs += best.values()
            await backend.drop(with_queue)
        await backend.drop(base)
    return runs


# --- report ---------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def summary(run: Run) -> str:
    outcome = "all waiting"
    if run.chosen:
        top = max(run.chosen.items(), key=lambda kv: kv[1])
        outcome = f"{len(run.chosen)} operators offered to (most: {top[0]} {top[1]})"
    return (
        f"{run.state:<11} {run.mode:<6} decision median {median(run.decision_us):7.0f} us, "
        f"route() {median(run.route_us):7.0f} us; {outcome}"
    )


def order(run: Run) -> tuple[str, int, int, int, int]:
    return (
        run.database,
        STATES.index(run.state),
        MODES.index(run.mode),
        run.operators,
        run.dialogs,
    )


def report(runs: list[Run]) -> None:
    smallest: dict[tuple[str, str, str], Run] = {}
    for run in runs:
        key = (run.database, run.state, run.mode)
        known = smallest.get(key)
        if known is None or (run.operators, run.dialogs) < (known.operators, known.dialogs):
            smallest[key] = run
    header = (
        f"{'database':<10} {'queue':<11} {'mode':<6} {'operators':>9} {'dialogs':>9} "
        f"{'median us':>9} {'p90 us':>8} {'ratio':>6} {'route() us':>10} {'ratio':>6} "
        f"{'ingest us':>9}"
    )
    print(
        "\none routing decision: store.dialogs.apply(dialog, [RouteAction]) after the dialog's ingest; "
        "ratios against 10 operators / 1,000 dialogs of the same database, queue and mode\n"
    )
    print(header)
    print("-" * len(header))
    beyond: list[str] = []
    beyond_route: list[str] = []
    for run in sorted(runs, key=order):
        ref = smallest[(run.database, run.state, run.mode)]
        ratio = median(run.decision_us) / median(ref.decision_us)
        route_ratio = median(run.route_us) / median(ref.route_us)
        name = f"{run.database} {run.state} {run.mode} {run.operators:,}/{run.dialogs:,}"
        if ratio > FLAT:
            beyond.append(f"{name} ({ratio:.1f}x)")
        if route_ratio > FLAT:
            beyond_route.append(f"{name} ({route_ratio:.1f}x)")
        print(
            f"{run.database:<10} {run.state:<11} {run.mode:<6} {run.operators:>9,} "
            f"{run.dialogs:>9,} {median(run.decision_us):>9.0f} "
            f"{percentile(run.decision_us, 90):>8.0f} {ratio:>5.2f}x "
            f"{median(run.route_us):>10.0f} {route_ratio:>5.2f}x {median(run.ingest_us):>9.0f}"
        )
    print()
    if beyond:
        print(f"decision within {FLAT:.0f}x everywhere: NO, beyond it: {'; '.join(beyond)}")
    else:
        print(f"decision within {FLAT:.0f}x everywhere: yes")
    if beyond_route:
        print(f"route() within {FLAT:.0f}x everywhere: NO, beyond it: {'; '.join(beyond_route)}")
    else:
        print(f"route() within {FLAT:.0f}x everywhere: yes")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument(
        "--quick", action="store_true", help="20,000 dialogs at most, 200 decisions a run"
    )
    parser.add_argument(
        "--explain", action="store_true", help="show the candidates query's plan after each run"
    )
    parser.add_argument("--operators", type=int, nargs="+", help="queue sizes instead")
    parser.add_argument("--dialogs", type=int, nargs="+", help="stored dialogs instead")
    parser.add_argument("--decisions", type=int, help="decisions measured a run instead")
    parser.add_argument("--repeat", type=int, help="runs of each case instead (best kept)")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    sizes = replace(
        sizes,
        operators=tuple(args.operators or sizes.operators),
        dialogs=tuple(args.dialogs or sizes.dialogs),
        decisions=args.decisions or sizes.decisions,
        repeat=args.repeat or sizes.repeat,
    )
    with tempfile.TemporaryDirectory(prefix="omniline-bench-") as name:
        if args.database in ("sqlite", "both"):
            report(await measure(Sqlite(Path(name)), sizes, show_plans=args.explain))
        if args.database in ("postgresql", "both"):
            from omniline.testing.postgres import TemporaryPostgres

            with TemporaryPostgres() as pg:
                report(await measure(Postgres(pg.url), sizes, show_plans=args.explain))


if __name__ == "__main__":
    asyncio.run(main())
