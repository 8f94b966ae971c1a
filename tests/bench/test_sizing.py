"""``bench/sizing.py`` at its smallest sizes, so that it cannot rot: it runs against the session's
PostgreSQL, prints every figure ``docs/scaling.md`` is derived from, and no request failed."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

from omniline.testing import TemporaryPostgres

BENCH = Path(__file__).parents[2] / "bench" / "sizing.py"


async def test_the_sizing_bench_runs_at_its_smallest_and_prints_its_figures(
    temporary_postgres: TemporaryPostgres,
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BENCH),
        "--quick",
        "--workers",
        "1",
        "--url",
        temporary_postgres.url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out = (await asyncio.wait_for(proc.communicate(), timeout=110))[0].decode()
    assert proc.returncode == 0, out[-4000:]
    for figure in (
        r"limit: asyncpg insert\+commit, \d+ connections \(#1\) +\d+ /s",
        r"fully processed \(stored, answered, answer sent\) +\d+ /s",
        r"half of peak: stored -> answer sent +p50 +[\d.]+ ms +p99 +[\d.]+ ms",
        r"transactions a message .* +[\d.]+",
        r"timers: a burst of 50 due at once, all fired in +[\d.]+ s",
        r"timers: 20 due at 20/s, .* lag p50 +\d+ ms +p99 +\d+ ms",
        r"40 open dialogs +[\d.]+ MiB",
    ):
        assert re.search(figure, out), f"no {figure!r} in:\n{out}"
    assert re.search(r"errors +0 ", out), out
