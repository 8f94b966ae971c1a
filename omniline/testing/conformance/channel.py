"""The channel conformance suite: what every ``Channel`` implementation must do.

Subclass :class:`ChannelConformance` in a test module (name it ``Test...``) and implement its
hooks, which drive the platform side: usually a local fake of the platform's API that the real
client library talks to. The suite then checks the contract every part of omniline relies on::

    class TestSmsChannel(ChannelConformance):
        async def open_channel(self, host: ChannelHost) -> Channel: ...
        async def client_writes(self, channel, external_id, text) -> bool: ...
        async def redeliver_last(self, channel) -> bool: ...
        async def received_texts(self, channel, external_id) -> list[str]: ...

``host`` is a :class:`RecordingHost`. The suite starts and stops the channel itself.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest
import pytest_asyncio

from omniline.channels.webhook import WebhookChannel
from omniline.engine.clock import SystemClock
from omniline.engine.ports import Capabilities, Channel, Clock, Delivery, Receipt
from omniline.model import ChannelRef, Identity, InboundEvent, OutboundMessage, StoredMessage

_ids = itertools.count(1)


class RecordingHost:
    """A ``ChannelHost`` for conformance tests: records profiles, has no history."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self.profiles: list[Identity] = []
        self.state: dict[str, str] = {}
        self.exclusive_names: list[str] = []
        """The leases the channel asked for, in order."""

    @property
    def clock(self) -> Clock:
        return self._clock

    async def history(
        self, identity: Identity, *, after_id: int = 0, limit: int = 100
    ) -> list[StoredMessage]:
        return []

    async def update_profile(self, identity: Identity) -> None:
        self.profiles.append(identity)

    def author_name(self, author: str) -> str | None:
        return None

    async def load_state(self, key: str) -> str | None:
        return self.state.get(key)

    async def save_state(self, key: str, value: str) -> None:
        self.state[key] = value

    async def exclusive(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        """One process, no one to share with: the work just runs."""
        self.exclusive_names.append(name)
        await work()


class RecordingSink:
    """An inbound sink that stores events in memory, recognises redeliveries by event id, and can
    be told to fail (as a database outage would)."""

    def __init__(self) -> None:
        self.events: list[InboundEvent] = []
        self.failures = 0
        self._receipts: dict[str, Receipt] = {}

    async def __call__(self, event: InboundEvent) -> Receipt:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the store is unavailable (conformance test)")
        known = self._receipts.get(event.event_id)
        if known is not None:
            return known.model_copy(update={"duplicate": True})
        self.events.append(event)
        n = next(_ids)
        receipt = Receipt(duplicate=False, inbox_id=n, dialog_id=n, message_id=n)
        self._receipts[event.event_id] = receipt
        return receipt


def delivery_to(ref: ChannelRef, external_id: str, message: OutboundMessage) -> Delivery:
    n = next(_ids)
    return Delivery(
        outbox_id=n,
        delivery_key=f"m{n}.0",
        dialog_id=n,
        message_id=n,
        recipient=Identity(channel=ref, external_id=external_id),
        message=message,
    )


class ChannelConformance(ABC):
    """Checks a channel against the contract of ``omniline.engine.ports.Channel``."""

    client_id: str = "conformance-client-1"
    """An external user id the platform side knows (a chat id, a visitor id...)."""

    # --- hooks ------------------------------------------------------------------------------------

    @abstractmethod
    async def open_channel(self, host: RecordingHost) -> Channel:
        """A channel of the implementation, not yet started, talking to the platform side."""

    @abstractmethod
    async def client_writes(self, channel: Channel, external_id: str, text: str) -> bool:
        """Make the platform deliver a text message from ``external_id``. Return whether the
        platform considers it delivered (acknowledged), once the channel has answered."""

    @abstractmethod
    async def redeliver_last(self, channel: Channel) -> bool:
        """Make the platform deliver its last update again (as platforms do when unsure); return
        whether it was acknowledged."""

    @abstractmethod
    async def received_texts(self, channel: Channel, external_id: str) -> list[str]:
        """The texts the platform received for ``external_id``, in order."""

    async def close_platform(self) -> None:
        """Release what ``open_channel`` set up on the platform side (called after ``stop``)."""
        return None

    async def forged_request_status(self, channel: Channel) -> int | None:
        """For webhook channels: send a request that fails verification (wrong secret or
        signature) and return the HTTP status the channel answered; None if not applicable."""
        return None

    # --- fixtures ---------------------------------------------------------------------------------

    @pytest_asyncio.fixture
    async def host(self) -> RecordingHost:
        return RecordingHost()

    @pytest_asyncio.fixture
    async def sink(self) -> RecordingSink:
        return RecordingSink()

    @pytest_asyncio.fixture
    async def channel(self, host: RecordingHost, sink: RecordingSink) -> AsyncIterator[Channel]:
        channel = await self.open_channel(host)
        await channel.start(sink)
        try:
            yield channel
        finally:
            await channel.stop()
            await self.close_platform()

    # --- the contract -----------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_declares_what_it_can_render(self, channel: Channel) -> None:
        assert isinstance(channel, Channel)
        assert isinstance(channel.ref, ChannelRef)
        assert isinstance(channel.capabilities, Capabilities)
        assert channel.capabilities.max_text_length >= 16

    @pytest.mark.asyncio
    async def test_a_client_message_reaches_the_sink_normalized(
        self, channel: Channel, sink: RecordingSink
    ) -> None:
        before = datetime.now(UTC)
        assert await self.client_writes(channel, self.client_id, "hello from conformance")
        [event] = sink.events
        assert event.identity.channel == channel.ref
        assert event.identity.external_id == self.client_id
        assert event.message.text == "hello from conformance"
        assert event.event_id
        assert event.raw is not None, "the platform's raw payload is kept"
        assert event.received_at >= before.replace(microsecond=0)

    @pytest.mark.asyncio
    async def test_a_redelivered_update_keeps_its_event_id(
        self, channel: Channel, sink: RecordingSink
    ) -> None:
        assert await self.client_writes(channel, self.client_id, "once")
        assert await self.redeliver_last(channel)
        assert [e.message.text for e in sink.events] == ["once"]

    @pytest.mark.asyncio
    async def test_nothing_is_acknowledged_that_was_not_stored(
        self, channel: Channel, sink: RecordingSink
    ) -> None:
        sink.failures = 1
        acknowledged = await self.client_writes(channel, self.client_id, "must not be lost")
        assert not acknowledged, "the platform was told the update arrived, but it was not stored"
        assert sink.events == []
        assert await self.redeliver_last(channel)
        assert [e.message.text for e in sink.events] == ["must not be lost"]

    @pytest.mark.asyncio
    async def test_sending_returns_the_platform_message_id(self, channel: Channel) -> None:
        await self.client_writes(channel, self.client_id, "hi")
        message_id = await channel.send(
            delivery_to(channel.ref, self.client_id, OutboundMessage(text="an answer"))
        )
        assert isinstance(message_id, str) and message_id
        assert (await self.received_texts(channel, self.client_id))[-1:] == ["an answer"]

    @pytest.mark.asyncio
    async def test_text_up_to_the_declared_length_arrives_whole(self, channel: Channel) -> None:
        await self.client_writes(channel, self.client_id, "hi")
        limit = min(channel.capabilities.max_text_length, 4096)
        text = ("word " * limit)[: limit - 1] + "!"
        await channel.send(delivery_to(channel.ref, self.client_id, OutboundMessage(text=text)))
        assert (await self.received_texts(channel, self.client_id))[-1] == text

    @pytest.mark.asyncio
    async def test_a_forged_webhook_is_refused_and_nothing_is_stored(
        self, channel: Channel, sink: RecordingSink
    ) -> None:
        if not isinstance(channel, WebhookChannel):
            pytest.skip("not a webhook channel")
        status = await self.forged_request_status(channel)
        if status is None:
            pytest.skip("the channel receives by polling here")
        assert status in (401, 403)
        assert sink.events == []


__all__ = ["ChannelConformance", "RecordingHost", "RecordingSink", "delivery_to"]
