"""``messages.send``'s ``random_id``: VK drops a message whose ``random_id`` it saw recently from
the community. It must repeat for a retry of one delivery and for nothing else, across databases
too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from omniline_vk import plugin
from omniline_vk.channel import SALT_KEY, random_id
from omniline_vk.testing import SECRET, FakeVk, message_new

from omniline import Delivery, DeliveryError, Omniline, OutboundMessage
from omniline.model import ChannelRef, Identity
from omniline.plugins import Channel
from omniline.testing import VirtualClock
from omniline.testing.conformance import RecordingHost, RecordingSink

REF = ChannelRef(type="vk", account="main")
PEER = 4242


def delivery(key: str = "m2.0", text: str = "echo: hi", peer: int = PEER) -> Delivery:
    return Delivery(
        outbox_id=1,
        delivery_key=key,
        dialog_id=1,
        message_id=2,
        recipient=Identity(channel=REF, external_id=str(peer)),
        message=OutboundMessage(text=text),
    )


def channel_on(vk: FakeVk, host: RecordingHost) -> Channel:
    return plugin.factory(REF, plugin.config_model.model_validate(vk.settings()), host)


async def sent_random_id(vk: FakeVk, host: RecordingHost, item: Delivery) -> str:
    channel = channel_on(vk, host)
    await channel.start(RecordingSink())
    try:
        await channel.send(item)
    finally:
        await channel.stop()
    return [v for name, v in vk.calls if name == "messages.send"][-1]["random_id"]


async def test_a_fresh_database_does_not_repeat_the_random_ids_of_another(
    make_app: Callable[..., Omniline], vk: FakeVk
) -> None:
    """The defect: ``random_id`` came from the delivery key alone (``m2.0`` for the first reply of
    every database), so VK, which remembers the community's ``random_id``s, dropped the first
    reply of a fresh (or restored) database as a repeat."""
    for database in ("first.sqlite", "second.sqlite"):
        app = make_app(database=database)
        await app.start()
        try:
            async with TestClient(TestServer(app.web)) as client:
                update = {**message_new(f"ev-{database}", PEER, "hi"), "secret": SECRET}
                assert (await client.post("/channels/vk/main/webhook", json=update)).status == 200
                await app.idle(paced=False)
        finally:
            await app.stop()
    assert [s["message"] for s in vk.sent] == ["echo: hi", "echo: hi"]
    assert vk.sent[0]["random_id"] != vk.sent[1]["random_id"]


async def test_a_retry_of_one_delivery_sends_the_same_random_id_after_a_restart(
    vk: FakeVk,
) -> None:
    host = RecordingHost(VirtualClock())
    first = await sent_random_id(vk, host, delivery())
    assert host.state[SALT_KEY]  # made once, kept in the channel's durable state
    again = await sent_random_id(vk, host, delivery())  # a restarted process, the same database
    assert again == first
    assert len(vk.sent) == 1  # VK dropped the repeat


async def test_another_database_sends_another_random_id_for_the_same_delivery(
    vk: FakeVk,
) -> None:
    first = await sent_random_id(vk, RecordingHost(VirtualClock()), delivery())
    other = await sent_random_id(vk, RecordingHost(VirtualClock()), delivery())
    assert first != other
    assert len(vk.sent) == 2


@pytest.mark.parametrize(
    "changed",
    [
        {"key": "m3.0"},
        {"text": "echo: something else"},
        {"peer": PEER + 1},
    ],
    ids=["another delivery key", "other content (a restored database)", "another client"],
)
def test_the_random_id_differs_for_another_delivery_with_the_same_salt(
    changed: dict[str, Any],
) -> None:
    assert random_id("salt", delivery()) == random_id("salt", delivery())
    assert random_id("salt", delivery()) != random_id("salt", delivery(**changed))


def test_random_ids_are_positive_int32s() -> None:
    ids = {random_id("salt", delivery(key=f"m{n}.0")) for n in range(2000)}
    assert all(0 < i < 2**31 for i in ids)
    assert len(ids) == 2000


async def test_a_delivery_before_the_channel_started_is_retried_not_failed(vk: FakeVk) -> None:
    """The recovery sweep runs before channels start, so a reply can reach ``send`` early."""
    channel = channel_on(vk, RecordingHost(VirtualClock()))
    with pytest.raises(DeliveryError) as error:
        await channel.send(delivery())
    assert not error.value.permanent and error.value.retry_after
    assert vk.calls == []
