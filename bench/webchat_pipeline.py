"""Web-chat messages through the whole pipeline with durable storage, over loopback HTTP.

The server is ``omniline run`` in its own process (SQLite, the demo bot answering every message);
the load comes from this process. Printed beside the limits measured in the same run: one
durable aiosqlite insert+commit per message, an aiohttp endpoint that does nothing, and an aiohttp
endpoint that stores each message with that one insert+commit (the raw commit with HTTP in front of
it).

    python bench/webchat_pipeline.py [--messages 6000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sqlite3
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).parent))

from _load import (
    PYTHON,
    LoadResult,
    Request,
    Server,
    closed_loop,
    free_port,
    open_loop,
    rss_mib,
    server_config,
)

LIMIT_SERVER = textwrap.dedent(
    """
    import gc, json, sys
    import aiosqlite
    from aiohttp import web
    port, mode, path, synchronous = sys.argv[1:5]
    async def open_db(app):
        db = await aiosqlite.connect(path)
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute(f"PRAGMA synchronous={synchronous}")
        await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, body TEXT)")
        await db.commit()
        app["db"] = db
    async def close_db(app):
        await app["db"].close()
    async def nothing(request):
        await request.read()
        return web.json_response({"message_id": 1, "duplicate": False})
    async def store(request):
        body = await request.read()
        db = request.app["db"]
        key = json.loads(body)["client_message_id"]
        cursor = await db.execute("INSERT INTO t (k, body) VALUES (?, ?)", (key, body.decode()))
        await db.commit()
        return web.json_response({"message_id": cursor.lastrowid, "duplicate": False})
    async def health(request):
        return web.Response(text="ok")
    app = web.Application()
    if mode == "store":
        app.on_startup.append(open_db)
        app.on_cleanup.append(close_db)
    app.router.add_post("/m", store if mode == "store" else nothing)
    app.router.add_get("/healthz", health)
    gc.collect(); gc.freeze()
    web.run_app(app, host="127.0.0.1", port=int(port), access_log=None, print=None)
    """
)
"""The limits' server: an aiohttp endpoint that does nothing, or that stores each message the
simplest durable way (one aiosqlite insert + commit): the raw commit rate behind HTTP."""


WRK_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"client_message_id":"w-%d-%d","text":"hello %d"}',
                             math.random(1, 1000000000), counter, counter)
  return wrk.format("POST", nil, {["Content-Type"]="application/json"}, body)
end
"""
"""A fresh client_message_id for every request, so that stored rows never collide."""


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value.strip()).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


async def wrk(
    url: str, script: str | None, tmp: Path, seconds: int, connections: int
) -> LoadResult:
    """Closed-loop load from wrk (C, its own process): the Python client tops out near 2,000
    requests a second on these machines, below what the servers here can take."""
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script is not None:
        path = tmp / "wrk.lua"
        path.write_text(script)
        args += ["-s", str(path)]
    proc = await asyncio.create_subprocess_exec(*args, url, stdout=asyncio.subprocess.PIPE)
    out = (await proc.communicate())[0].decode()
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if socket_errors:
        errors += sum(int(x) for x in socket_errors.groups())
    elapsed = float(re.search(r"requests in ([\d.]+)s", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    return LoadResult(total, elapsed, [p50] * 50 + [p99] * 49 + [p99], errors)


async def raw_commit_rate(path: Path, rows: int, synchronous: str) -> float:
    """One insert + commit per message with aiosqlite, WAL, at the pipeline's durability."""
    import aiosqlite

    async with aiosqlite.connect(path) as db:
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute(f"PRAGMA synchronous={synchronous}")
        await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, body TEXT)")
        await db.commit()
        began = time.perf_counter()
        for i in range(rows):
            await db.execute("INSERT INTO t (k, body) VALUES (?, ?)", (f"k{i}", "x" * 200))
            await db.commit()
        return rows / (time.perf_counter() - began)


async def limit_rate(
    tmp: Path, mode: str, synchronous: str, messages: int, concurrency: int
) -> LoadResult:
    """Load on the limits' server in ``mode`` (``nothing`` or ``store``), from wrk if installed."""
    port = free_port()
    script = tmp / "limit.py"
    script.write_text(LIMIT_SERVER)
    db = tmp / f"limit-{mode}-{synchronous}.db"
    server = Server(
        [PYTHON, str(script), str(port), mode, str(db), synchronous],
        f"http://127.0.0.1:{port}",
        tmp / f"limit-{mode}-{synchronous}.log",
    )
    try:
        await server.wait_ready()
        url = f"{server.url}/m"
        if shutil.which("wrk"):
            return await wrk(url, WRK_SCRIPT, tmp, 10, concurrency)

        async def post(session: aiohttp.ClientSession, w: int, n: int) -> bool:
            body = {"client_message_id": f"w{w}-n{n}-xxxx", "text": "hello"}
            async with session.post(url, json=body) as response:
                await response.read()
                return response.status == 200

        return await closed_loop(post, workers=concurrency, per_worker=messages // concurrency)
    finally:
        server.stop()


class Pipeline:
    def __init__(self, tmp: Path, gc_freeze: bool, synchronous: str) -> None:
        self.db = tmp / f"omniline-{gc_freeze}.db"
        port = free_port()
        config = tmp / f"bench-{gc_freeze}.yaml"
        config.write_text(
            server_config(
                self.db,
                port,
                synchronous=synchronous,
                gc_freeze=gc_freeze,
                gc_threshold=20_000 if gc_freeze else 700,
            )
        )
        self.config = config
        self.base = f"http://127.0.0.1:{port}/channels/webchat/site"
        self.url = f"http://127.0.0.1:{port}"
        self.log = tmp / f"server-{gc_freeze}.log"
        self.server: Server | None = None
        self.tokens: list[str] = []

    async def start(self) -> None:
        proc = await asyncio.create_subprocess_exec(
            PYTHON,
            "-m",
            "omniline",
            "db",
            "upgrade",
            "-c",
            str(self.config),
            stdout=asyncio.subprocess.DEVNULL,
        )
        await proc.wait()
        self.server = Server(
            [PYTHON, "-m", "omniline", "run", "-c", str(self.config)], self.url, self.log
        )
        await self.server.wait_ready()

    async def visitors(self, count: int) -> None:
        async with aiohttp.ClientSession() as session:
            for _ in range(count):
                async with session.post(f"{self.base}/api/visitors", json={}) as response:
                    self.tokens.append((await response.json())["token"])

    def request(self, tag: str) -> Request:
        url = f"{self.base}/api/messages"

        async def post(session: aiohttp.ClientSession, w: int, n: int) -> bool:
            token = self.tokens[w % len(self.tokens)]
            body = {"client_message_id": f"{tag}-{w}-{n}-msg", "text": f"hello {n}"}
            headers = {"Authorization": f"Bearer {token}"}
            async with session.post(url, json=body, headers=headers) as response:
                await response.read()
                return response.status == 200

        return post

    def sent(self) -> int:
        with sqlite3.connect(self.db) as conn:
            return int(
                conn.execute("SELECT count(*) FROM outbox WHERE status='sent'").fetchone()[0]
            )

    async def wait_processed(self, expected: int, deadline: float = 300) -> float:
        """Seconds until ``expected`` bot replies have been sent."""
        began = time.perf_counter()
        while self.sent() < expected:
            if time.perf_counter() - began > deadline:
                raise RuntimeError(f"only {self.sent()} of {expected} replies after {deadline} s")
            await asyncio.sleep(0.02)
        return time.perf_counter() - began

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


async def run_pipeline(
    tmp: Path, messages: int, concurrency: int, gc_freeze: bool, synchronous: str
) -> dict[str, float]:
    pipeline = Pipeline(tmp, gc_freeze, synchronous)
    await pipeline.start()
    try:
        await pipeline.visitors(max(concurrency, 256))
        warm = await closed_loop(pipeline.request("warm"), workers=concurrency, per_worker=10)
        done = warm.requests
        await pipeline.wait_processed(done)

        began = time.perf_counter()
        peak = await closed_loop(
            pipeline.request("peak"),
            workers=concurrency,
            per_worker=messages // concurrency,
        )
        done += peak.requests
        await pipeline.wait_processed(done)
        processed_rate = peak.requests / (time.perf_counter() - began)

        half = await open_loop(
            pipeline.request("half"),
            rate=processed_rate / 2,
            seconds=5,
            workers=256,
        )
        done += half.requests
        await pipeline.wait_processed(done)
        assert pipeline.server is not None
        return {
            "ack_rate": peak.rate,
            "processed_rate": processed_rate,
            "peak_p50": peak.p50,
            "peak_p99": peak.p99,
            "half_rate": half.rate,
            "half_p50": half.p50,
            "half_p99": half.p99,
            "errors": peak.errors + half.errors,
            "rss": rss_mib(pipeline.server.proc.pid),
        }
    finally:
        pipeline.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    runs: list[tuple[str, str, bool]] = [
        ("NORMAL", "synchronous=NORMAL (survives a crash), tuned collector", True),
        ("NORMAL", "synchronous=NORMAL, Python's collector defaults", False),
        ("FULL", "synchronous=FULL (survives a power loss), tuned collector", True),
    ]
    with tempfile.TemporaryDirectory(prefix="omniline-bench-") as name:
        tmp = Path(name)
        raw = {
            level: await raw_commit_rate(tmp / f"raw-{level}.db", 3000, level)
            for level in ("NORMAL", "FULL")
        }
        nothing = await limit_rate(tmp, "nothing", "NORMAL", args.messages, args.concurrency)
        stored = {
            level: await limit_rate(tmp, "store", level, args.messages, args.concurrency)
            for level in ("NORMAL", "FULL")
        }
        results = []
        for level, label, freeze in runs:
            sub = tmp / f"{level}-{freeze}"
            sub.mkdir()
            result = await run_pipeline(sub, args.messages, args.concurrency, freeze, level)
            results.append((level, label, result))

    client = "wrk" if shutil.which("wrk") else "the Python client (install wrk for more load)"
    print(
        f"\nweb chat -> pipeline -> SQLite -> bot reply sent; {args.concurrency} connections, "
        f"256 visitors; load on the limits' servers from {client}, on the pipeline from the "
        "Python client\n"
    )
    for level, rate in raw.items():
        print(f"{f'limit: aiosqlite insert+commit per message, {level}':56} {rate:8.0f} /s")
    print(
        f"{'limit: aiohttp endpoint doing nothing':56} {nothing.rate:8.0f} /s   "
        f"p50 {nothing.p50:6.1f} ms  p99 {nothing.p99:6.1f} ms"
    )
    for level, limit in stored.items():
        print(
            f"{f'limit: aiohttp endpoint, one insert+commit each, {level}':56} "
            f"{limit.rate:8.0f} /s   p50 {limit.p50:6.1f} ms  p99 {limit.p99:6.1f} ms   "
            f"({limit.rate / raw[level]:.2f}x raw)"
        )
    for level, label, r in results:
        print(f"\npipeline, {label}:")
        print(
            f"  {'messages acknowledged (stored)':54} {r['ack_rate']:8.0f} /s   "
            f"p50 {r['peak_p50']:6.1f} ms  p99 {r['peak_p99']:6.1f} ms"
        )
        print(f"  {'messages fully processed (bot reply sent)':54} {r['processed_rate']:8.0f} /s")
        print(
            f"  {'at half of that rate, open loop':54} {r['half_rate']:8.0f} /s   "
            f"p50 {r['half_p50']:6.1f} ms  p99 {r['half_p99']:6.1f} ms"
        )
        print(f"  {'errors':54} {r['errors']:8.0f}")
        print(f"  {'server RSS at the end':54} {r['rss']:8.1f} MiB")
        ratio = r["processed_rate"] / raw[level]
        print(
            f"  processed rate / raw {level} commit rate: {ratio:.2f}x "
            "(target >= 1.0x, below 0.5x is a defect)"
        )
        behind_http = r["processed_rate"] / stored[level].rate
        print(
            f"  processed rate / HTTP endpoint storing each message ({level}): {behind_http:.2f}x"
        )
        print(f"  p99 at half of peak: {r['half_p99']:.1f} ms (target < 50 ms)")


if __name__ == "__main__":
    asyncio.run(main())
