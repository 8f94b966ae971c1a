"""A channel that lives in memory, for tests of bots, lines and plugins."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from omniline.engine.ports import (
    Capabilities,
    Channel,
    ChannelHost,
    Clock,
    Delivery,
    InboundSink,
    Receipt,
)
from omniline.errors import DeliveryError
from omniline.model import (
    Attachment,
    ChannelRef,
    ContactShare,
    Identity,
    InboundEvent,
    InboundMessage,
    Location,
    Unsupported,
)
from omniline.plugins import ChannelPlugin, Plugin


class FakeChannel:
    """Records what it is asked to send; ``receive`` plays a client writing in.

    Make sends fail with ``fail_next(...)``: a ``DeliveryError`` (permanent or with ``retry_after``)
    or any other exception (taken as a passing failure).
    """

    def __init__(
        self,
        ref: ChannelRef | None = None,
        *,
        capabilities: Capabilities | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._ref = ref or ChannelRef(type="fake", account="test")
        self._capabilities = capabilities or Capabilities()
        self._clock = clock
        self._host: ChannelHost | None = None
        self._sink: InboundSink | None = None
        self.sent: list[Delivery] = []
        self.attempts: list[Delivery] = []
        self._failures: list[BaseException] = []
        self._ids = itertools.count(1)
        self._event_ids = itertools.count(1)

    @property
    def ref(self) -> ChannelRef:
        return self._ref

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def bind(self, clock: Clock, host: ChannelHost | None = None) -> None:
        self._clock = clock
        self._host = host

    async def gives_details(self, external_id: str, **profile: str) -> None:
        """The client gives profile details outside a message (as the web chat's form does):
        ``await channel.gives_details("visitor-1", email="zoe@example.org")``."""
        if self._host is None:
            raise RuntimeError("the fake channel is not attached to an application")
        identity = Identity(channel=self.ref, external_id=external_id, profile=profile)
        await self._host.update_profile(identity)

    async def start(self, sink: InboundSink) -> None:
        self._sink = sink

    async def stop(self) -> None:
        self._sink = None

    async def send(self, delivery: Delivery) -> str:
        self.attempts.append(delivery)
        if self._failures:
            raise self._failures.pop(0)
        self.sent.append(delivery)
        return f"fake-{next(self._ids)}"

    def fail_next(self, *errors: BaseException) -> None:
        """The next sends raise these, in order."""
        self._failures.extend(errors)

    def fail_permanently(self, reason: str = "blocked by the user") -> None:
        self.fail_next(DeliveryError(reason, permanent=True))

    async def receive(
        self,
        external_id: str,
        text: str | None = None,
        *,
        event_id: str | None = None,
        display_name: str | None = None,
        button_payload: str | None = None,
        contact: ContactShare | None = None,
        location: Location | None = None,
        unsupported: Unsupported | None = None,
        attachments: Sequence[Attachment] = (),
        profile: dict[str, str] | None = None,
        raw: Any = None,
    ) -> Receipt:
        """A client writes in. Returns the inbox receipt (``duplicate`` for a repeated event id)."""
        if self._sink is None:
            raise RuntimeError("the fake channel is not started")
        if self._clock is None:
            raise RuntimeError("the fake channel has no clock; start it through an application")
        event = InboundEvent(
            event_id=event_id or f"fake-event-{next(self._event_ids)}",
            identity=Identity(
                channel=self._ref,
                external_id=external_id,
                display_name=display_name,
                profile=profile or {},
            ),
            message=InboundMessage(
                text=text,
                button_payload=button_payload,
                contact=contact,
                location=location,
                unsupported=unsupported,
                attachments=tuple(attachments),
            ),
            received_at=self._clock.now(),
            raw=raw if raw is not None else {"text": text, "from": external_id},
        )
        return await self._sink(event)

    def texts_to(self, external_id: str) -> list[str]:
        """Texts sent to one client, in order."""
        return [
            d.message.text or ""
            for d in self.sent
            if d.recipient.external_id == external_id and d.message.text is not None
        ]


class FakeChannelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")


def fake_channel_plugin(channel: FakeChannel) -> Plugin[FakeChannelSettings, Channel]:
    """A plugin whose factory hands out ``channel`` (give it to ``Omniline(channel_plugins=...)``)."""

    def factory(ref: ChannelRef, settings: FakeChannelSettings, host: ChannelHost) -> FakeChannel:
        if ref != channel.ref:
            raise ValueError(f"this fake channel is {channel.ref}, not {ref}")
        channel.bind(host.clock, host)
        return channel

    return ChannelPlugin(name=channel.ref.type, config_model=FakeChannelSettings, factory=factory)
