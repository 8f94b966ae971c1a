"""Two transactions that lock the same rows in opposite orders: PostgreSQL rolls one back as a
deadlock, and the executor runs it again instead of failing the unit (regression: two worker
processes in "all" distribution failed a routing decision with "deadlock detected")."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from omniline.store import upgrade
from omniline.store.executor import PostgresExecutor, Tx, collided
from omniline.store.statements import Query
from omniline.testing import TemporaryPostgres

LOCK = Query("UPDATE operators SET capacity = capacity WHERE id = $1::VARCHAR", ("id",), {})
PAUSE = Query("SELECT pg_sleep(0.3)", (), {}, ("pg_sleep",))
ADD = Query(
    "INSERT INTO operators (id, name, presence, shift, capacity, load, updated_at) "
    "VALUES ($1::VARCHAR, $1::VARCHAR, 'online', 'working', 1, 0, 0)",
    ("id",),
    {},
)


async def test_a_unit_rolled_back_as_a_deadlock_is_run_again_not_failed(
    temporary_postgres: TemporaryPostgres,
) -> None:
    url = await asyncio.to_thread(temporary_postgres.create_database, "collisions")
    await upgrade(url)
    executor = PostgresExecutor(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        await executor.run(lambda tx: [tx.run(ADD, {"id": name}) for name in ("ann", "bob")])
        runs: list[str] = []

        def locks(first: str, second: str) -> Callable[[Tx], str]:
            def unit(tx: Tx) -> str:
                runs.append(first)
                tx.run(LOCK, {"id": first})
                tx.rows(PAUSE, {})  # both hold their first row before either asks the second
                tx.run(LOCK, {"id": second})
                return first

            return unit

        done = await asyncio.gather(
            executor.run(locks("ann", "bob")), executor.run(locks("bob", "ann"))
        )
        assert sorted(done) == ["ann", "bob"]
        assert len(runs) == 3  # one of the two was rolled back as a deadlock and ran again
    finally:
        await executor.close()


def test_only_collisions_are_run_again() -> None:
    class Refused(Exception):
        def __init__(self, sqlstate: str) -> None:
            self.sqlstate = sqlstate

    assert collided(Refused("40P01")) and collided(Refused("40001"))
    wrapped = RuntimeError("wrapped")
    wrapped.__cause__ = Refused("40P01")
    assert collided(wrapped)
    assert not collided(Refused("23505"))  # a unique violation is the unit's own doing
    assert not collided(ValueError("no"))
