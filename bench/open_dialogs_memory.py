"""Memory as open dialogs grow: the server's resident memory with 1,000 and with 100,000 open
dialogs in the database, after the same message load (half to existing dialogs, chosen at random,
half from new visitors).

    python bench/open_dialogs_memory.py [--sizes 1000 100000] [--messages 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).parent))

from _load import PYTHON, SECRET, Server, closed_loop, free_port, rss_mib, server_config

from omniline.engine.clock import SystemClock
from omniline.model import ChannelRef, DialogStatus, Identity, InboundEvent, InboundMessage
from omniline.store import open_store, upgrade


def token(visitor: str) -> str:
    """A web-chat visitor token, made the way the channel makes them (same secret)."""

    mac = hmac.new(SECRET.encode(), f"site:{visitor}".encode(), hashlib.sha256).digest()
    return f"{visitor}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


async def populate(url: str, count: int) -> None:
    """``count`` visitors with an open dialog each, written through the store."""
    store = await open_store(url, SystemClock())
    channel = ChannelRef(type="webchat", account="site")
    try:
        for start in range(0, count, 1000):
            events = [
                InboundEvent(
                    event_id=f"seed-{i}",
                    identity=Identity(channel=channel, external_id=f"seed{i}"),
                    message=InboundMessage(text="first message"),
                    received_at=datetime.now(UTC),
                )
                for i in range(start, min(count, start + 1000))
            ]
            await asyncio.gather(
                *(
                    store.inbox.ingest(e, line_id="bench", initial_status=DialogStatus.BOT)
                    for e in events
                )
            )
    finally:
        await store.close()


async def measure(tmp: Path, size: int, messages: int) -> tuple[float, float, float]:
    db = tmp / f"dialogs-{size}.db"
    url = f"sqlite:///{db}"
    await upgrade(url)
    began = time.perf_counter()
    await populate(url, size)
    seeded = time.perf_counter() - began
    port = free_port()
    config = tmp / f"config-{size}.yaml"
    config.write_text(server_config(db, port))
    server = Server(
        [PYTHON, "-m", "omniline", "run", "-c", str(config)],
        f"http://127.0.0.1:{port}",
        tmp / f"server-{size}.log",
    )
    try:
        await server.wait_ready()
        base = f"{server.url}/channels/webchat/site/api/messages"
        rng = random.Random(size)

        async def post(session: aiohttp.ClientSession, w: int, n: int) -> bool:
            visitor = f"seed{rng.randrange(size)}" if n % 2 else f"new-{w}-{n // 20}"
            body = {"client_message_id": f"m-{w}-{n}-{size}", "text": "hello"}
            headers = {"Authorization": f"Bearer {token(visitor)}"}
            async with session.post(base, json=body, headers=headers) as response:
                await response.read()
                return response.status == 200

        await closed_loop(post, workers=32, per_worker=20)  # warm up
        before = rss_mib(server.proc.pid)
        result = await closed_loop(post, workers=32, per_worker=messages // 32)
        after = rss_mib(server.proc.pid)
        assert result.errors == 0, f"{result.errors} requests failed"
        del seeded
        return before, after, result.rate
    finally:
        server.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--messages", type=int, default=4000)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="omniline-bench-") as name:
        for size in args.sizes:
            rows.append((size, *await measure(Path(name), size, args.messages)))
    print(f"\nserver memory with open dialogs in the database ({args.messages} messages each)\n")
    print(f"{'open dialogs':>14} {'RSS warm':>10} {'RSS after':>10} {'messages/s':>11}")
    for size, before, after, rate in rows:
        print(f"{size:>14,} {before:>8.1f} M {after:>8.1f} M {rate:>11.0f}")
    first, last = rows[0], rows[-1]
    print(
        f"\nRSS after load, {last[0]:,} vs {first[0]:,} open dialogs: "
        f"{last[2] / first[2]:.2f}x (flat is ~1.0x)"
    )


if __name__ == "__main__":
    asyncio.run(main())
