"""Two real worker processes race on one PostgreSQL database; afterwards no operator holds more
than their capacity, the load counters match the dialogs, and no dialog has two holders."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from omniline.engine.clock import SystemClock
from omniline.engine.settings import Distribution
from omniline.model import DialogStatus
from omniline.store import open_store, upgrade
from omniline.testing import TemporaryPostgres

WORKER = Path(__file__).with_name("two_process_worker.py")
CAPACITY = {"ann": 1, "bob": 1, "cid": 2}


@pytest.mark.parametrize("distribution", [mode.value for mode in Distribution])
async def test_two_worker_processes_never_overfill_an_operator(
    temporary_postgres: TemporaryPostgres, distribution: str
) -> None:
    url = await asyncio.to_thread(temporary_postgres.create_database, f"two_{distribution}")
    await upgrade(url)
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            url,
            str(seed),
            "300",
            distribution,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        for seed in (1, 2)
    ]
    for worker in workers:
        out, _ = await asyncio.wait_for(worker.communicate(), timeout=240)
        assert worker.returncode == 0, out.decode()[-3000:]

    store = await open_store(url, SystemClock())
    try:
        held = await store.operators.held_counts()
        operators = await store.operators.all()
        assert sum(o.load for o in operators) > 0 or held == {}
        for operator in operators:
            assert operator.load == held.get(operator.id, 0), operator
            assert held.get(operator.id, 0) <= CAPACITY[operator.id], (operator, held)
        for dialog_id in range(1, 200):
            dialog = await store.dialogs.get(dialog_id)
            if dialog is None:
                break
            offered_to = await store.operators.offered_to(dialog_id)
            if dialog.status is DialogStatus.ACTIVE:
                assert dialog.operator_id is not None and offered_to == []
            if dialog.status is DialogStatus.OFFERED:
                assert (dialog.operator_id is None) == bool(offered_to)
    finally:
        await store.close()
