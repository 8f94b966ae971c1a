"""A whole omniline line in a test: real store, fake channel, virtual clock, scripted people."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omniline.app import Omniline
from omniline.config.models import Config
from omniline.engine.ports import Capabilities, Receipt
from omniline.model import (
    ChannelRef,
    ContactShare,
    Dialog,
    DialogStatus,
    OutboundMessage,
    Presence,
    StoredMessage,
)
from omniline.pipeline.middleware import Middleware
from omniline.pipeline.router import Router
from omniline.plugins import Plugin
from omniline.testing.clock import VirtualClock
from omniline.testing.fake_channel import FakeChannel, fake_channel_plugin


class ScriptedClient:
    """A client writing on the kit's fake channel."""

    def __init__(self, kit: Kit, external_id: str, name: str | None) -> None:
        self.kit = kit
        self.external_id = external_id
        self.name = name

    async def says(self, text: str, *, event_id: str | None = None) -> Receipt:
        """Send ``text`` and wait until omniline has handled it and sent what it answers."""
        receipt = await self.kit.channel.receive(
            self.external_id, text, event_id=event_id, display_name=self.name
        )
        self.kit._dialog_ids.add(receipt.dialog_id)
        await self.kit.settle()
        return receipt

    async def presses(self, payload: str) -> Receipt:
        receipt = await self.kit.channel.receive(
            self.external_id, button_payload=payload, display_name=self.name
        )
        self.kit._dialog_ids.add(receipt.dialog_id)
        await self.kit.settle()
        return receipt

    async def shares_contact(self, phone: str) -> Receipt:
        receipt = await self.kit.channel.receive(
            self.external_id, contact=ContactShare(phone=phone, name=self.name)
        )
        await self.kit.settle()
        return receipt

    @property
    def received(self) -> list[str]:
        """Every text sent to this client so far."""
        return self.kit.channel.texts_to(self.external_id)

    @property
    def last(self) -> str | None:
        got = self.received
        return got[-1] if got else None

    async def dialog(self) -> Dialog:
        """The client's dialog on the kit's line (the open one, else an error)."""
        from omniline.model import Identity

        identity = Identity(channel=self.kit.channel.ref, external_id=self.external_id)
        dialog = await self.kit.app.store.dialogs.open_of(identity, self.kit.line_id)
        if dialog is None:
            raise AssertionError(f"client {self.external_id} has no open dialog")
        return dialog

    async def history(self) -> list[StoredMessage]:
        """What this client can read back (no whispers)."""
        from omniline.model import Identity

        identity = Identity(channel=self.kit.channel.ref, external_id=self.external_id)
        return await self.kit.app.store.dialogs.identity_history(identity, limit=1000)


class ScriptedOperator:
    """An operator acting through the application's dialog actions."""

    def __init__(self, kit: Kit, operator_id: str) -> None:
        self.kit = kit
        self.id = operator_id

    async def accepts(self, client: ScriptedClient) -> Dialog:
        dialog = await client.dialog()
        await self.kit.app.dialogs.accept(dialog.id, self.id)
        await self.kit.settle()
        return await self.kit.app.dialogs.get(dialog.id)

    async def replies(self, client: ScriptedClient, content: str | OutboundMessage) -> None:
        dialog = await client.dialog()
        await self.kit.app.dialogs.reply(dialog.id, self.id, content)
        await self.kit.settle()

    async def whispers(self, client: ScriptedClient, text: str) -> None:
        dialog = await client.dialog()
        await self.kit.app.dialogs.whisper(dialog.id, self.id, text)
        await self.kit.settle()

    async def closes(self, client: ScriptedClient) -> None:
        dialog = await client.dialog()
        await self.kit.app.dialogs.close(dialog.id, actor=f"operator:{self.id}")
        await self.kit.settle()

    async def skips(self, client: ScriptedClient) -> None:
        dialog = await client.dialog()
        await self.kit.app.dialogs.skip(dialog.id, self.id)
        await self.kit.settle()

    async def transfers(
        self, client: ScriptedClient, *, to: str | None = None, line: str | None = None
    ) -> None:
        dialog = await client.dialog()
        await self.kit.app.dialogs.transfer(dialog.id, self.id, to_operator=to, to_line=line)
        await self.kit.settle()

    async def invites(self, client: ScriptedClient, colleague: str) -> None:
        dialog = await client.dialog()
        await self.kit.app.dialogs.invite(dialog.id, self.id, colleague)
        await self.kit.settle()

    async def pins(self, client: ScriptedClient) -> None:
        dialog = await client.dialog()
        await self.kit.app.dialogs.pin(dialog.id, self.id)
        await self.kit.settle()

    async def starts_work(self) -> None:
        """Comes online and starts the working day: available for new dialogs."""
        await self.kit.app.operators.set_presence(self.id, Presence.ONLINE)
        await self.kit.app.operators.start_day(self.id)
        await self.kit.settle()

    async def goes_offline(self) -> None:
        await self.kit.app.operators.set_presence(self.id, Presence.OFFLINE)
        await self.kit.settle()

    async def offered(self) -> list[int]:
        """Ids of the open dialogs offered to this operator now (alone or with others)."""
        store = self.kit.app.store
        found = []
        for dialog_id in await self.kit.dialog_ids():
            dialog = await store.dialogs.get(dialog_id)
            if dialog is None or dialog.status is not DialogStatus.OFFERED:
                continue
            if dialog.operator_id == self.id or self.id in await store.operators.offered_to(
                dialog_id
            ):
                found.append(dialog_id)
        return found


class Kit:
    """One line with one fake channel, on a real SQLite (or the given) database.

    ::

        async with Kit(bot=my_router) as kit:
            ann = kit.client("ann")
            await ann.says("hello")
            assert ann.last == "Hi! How can we help?"
    """

    def __init__(
        self,
        *,
        bot: Router | None = None,
        database_url: str | None = None,
        line_id: str = "support",
        capabilities: Capabilities | None = None,
        clock: VirtualClock | None = None,
        operators: dict[str, str] | None = None,
        line_settings: dict[str, Any] | None = None,
        outbox_settings: dict[str, Any] | None = None,
        middlewares: list[dict[str, Any]] | None = None,
        middleware_plugins: Mapping[str, Plugin[Any, Middleware]] | None = None,
    ) -> None:
        """``middlewares`` are entries of the config's ``middlewares:`` list (``type``,
        ``settings``, ``before``/``after``), from installed plugins or from
        ``middleware_plugins`` by type: how a middleware plugin's author tests it."""
        self.clock = clock or VirtualClock()
        self.channel = FakeChannel(
            ChannelRef(type="fake", account="test"), capabilities=capabilities, clock=self.clock
        )
        self.line_id = line_id
        self._dialog_ids: set[int] = set()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if database_url is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="omniline-kit-")
            database_url = f"sqlite:///{Path(self._tmp.name) / 'kit.db'}"
        config = Config.model_validate(
            {
                "storage": {"url": database_url},
                "outbox": {"poll_interval": 1.0, **(outbox_settings or {})},
                "operators": [{"id": k, "name": v} for k, v in (operators or {}).items()],
                "middlewares": middlewares or [],
                "lines": [
                    {
                        "id": line_id,
                        "name": line_id.title(),
                        "channels": [{"type": "fake", "account": "test"}],
                        **(line_settings or {}),
                    }
                ],
            }
        )
        self.app = Omniline(
            config,
            clock=self.clock,
            bots={line_id: bot} if bot is not None else None,
            channel_plugins={"fake": fake_channel_plugin(self.channel)},
            middleware_plugins=middleware_plugins,
            migrate=True,
            serve_http=False,
        )

    async def __aenter__(self) -> Kit:
        await self.app.start()
        # Timers fire when the test moves the clock (``advance``), never behind its back: a
        # handler still running when the test looks would make the test flaky.
        self.app.scheduler.stop()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.app.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def client(self, external_id: str = "client-1", name: str | None = None) -> ScriptedClient:
        return ScriptedClient(self, external_id, name)

    def operator(self, operator_id: str) -> ScriptedOperator:
        return ScriptedOperator(self, operator_id)

    async def dialog_ids(self) -> list[int]:
        """Every dialog of the kit's clients so far, oldest first."""
        return sorted(self._dialog_ids)

    async def settle(self) -> None:
        """Wait until everything accepted is processed and every due delivery attempted (or waits
        for its rate-limit slot, which comes when the test moves the clock)."""
        await self.app.idle(paced=False)

    async def advance(self, seconds: float) -> None:
        """Move the virtual clock, firing due timers and retrying due deliveries
        (``advance(0)`` fires the timers due now, such as CRM jobs)."""
        await self.clock.advance(seconds)
        await self.app.scheduler.run_due()
        await self.app.outbox.run_due()
        await self.settle()
