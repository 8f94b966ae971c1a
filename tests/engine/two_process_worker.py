"""One worker process of the two-process assignment test: random arrivals, accepts, skips, closes
and presence changes against a shared PostgreSQL database, as fast as it can.

Run as ``python two_process_worker.py DATABASE_URL SEED STEPS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys

from omniline.app import Omniline
from omniline.config.models import Config
from omniline.errors import DialogError, OmnilineError
from omniline.model import ChannelRef, Identity, Presence
from omniline.testing.fake_channel import FakeChannel, fake_channel_plugin

OPERATORS = {"ann": 1, "bob": 1, "cid": 2}
CLIENTS = [f"c{n}" for n in range(12)]


def config(url: str) -> Config:
    return Config.model_validate(
        {
            "storage": {"url": url, "pool_size": 4},
            "operators": [
                {"id": o, "name": o.title(), "capacity": c} for o, c in OPERATORS.items()
            ],
            "lines": [
                {
                    "id": "support",
                    "name": "Support",
                    "queue": list(OPERATORS),
                    "distribution": sys.argv[4] if len(sys.argv) > 4 else "strict",
                    "nobody_answered": "nothing",
                    "response_timeout": 60,
                    "channels": [{"type": "fake", "account": "test"}],
                }
            ],
        }
    )


async def main(url: str, seed: int, steps: int) -> None:
    rnd = random.Random(seed)
    channel = FakeChannel(ChannelRef(type="fake", account="test"))
    app = Omniline(
        config(url),
        channel_plugins={"fake": fake_channel_plugin(channel)},
        serve_http=False,
        recovery_grace=3600,
    )
    await app.start()
    try:
        for step in range(steps):
            kind = rnd.choice(["arrive", "arrive", "accept", "accept", "skip", "close", "presence"])
            operator = rnd.choice(list(OPERATORS))
            client = rnd.choice(CLIENTS)
            with contextlib.suppress(DialogError, OmnilineError):
                if kind == "arrive":
                    await channel.receive(client, "hi", event_id=f"w{seed}-{step}")
                    continue
                if kind == "presence":
                    online = rnd.random() < 0.7
                    presence = Presence.ONLINE if online else Presence.OFFLINE
                    await app.operators.set_presence(operator, presence)
                    await app.operators.start_day(operator)
                    continue
                identity = Identity(channel=channel.ref, external_id=client)
                dialog = await app.store.dialogs.open_of(identity, "support")
                if dialog is None:
                    continue
                if kind == "accept":
                    await app.dialogs.accept(dialog.id, operator)
                elif kind == "skip":
                    await app.dialogs.skip(dialog.id, operator)
                else:
                    await app.dialogs.close(dialog.id, actor=f"operator:{operator}")
        await app.idle(paced=False)
    finally:
        await app.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
