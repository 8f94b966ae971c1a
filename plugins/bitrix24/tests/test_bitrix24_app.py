"""A whole line with the Bitrix24 CRM from its config (``crm: {type: bitrix24}``) against the fake
portal: leads, the responsible manager, new contacts and transcripts, as omniline's CRM jobs do
them, on a fake messenger channel and the virtual clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from omniline_bitrix24 import Bitrix24Crm
from omniline_bitrix24.testing import FakeBitrix24, fake_bitrix24

from omniline import Config, Omniline
from omniline.model import ChannelRef, ContactShare, Identity, Presence
from omniline.testing import FakeChannel, VirtualClock, fake_channel_plugin

TELEGRAM = ChannelRef(type="telegram", account="bot")
USERS = {"ann": 11, "bob": 12, "mia": 13}


class Line:
    def __init__(self, app: Omniline, portal: FakeBitrix24, clock: VirtualClock) -> None:
        self.app = app
        self.portal = portal
        self.clock = clock
        channel = app.channels[TELEGRAM]
        assert isinstance(channel, FakeChannel)
        self.telegram = channel

    async def settle(self) -> None:
        """Everything processed and the CRM jobs due now run; the virtual clock creeps on
        meanwhile, so a CRM call's back-off ends."""
        work = asyncio.ensure_future(self._settle())
        while not work.done():
            await asyncio.sleep(0.002)
            await self.clock.advance(0.01)
        await work

    async def _settle(self) -> None:
        await self.app.idle(paced=False)
        await self.app.scheduler.run_due()
        await self.app.idle(paced=False)

    async def dialog_of(self, external_id: str) -> Any:
        identity = Identity(channel=TELEGRAM, external_id=external_id)
        return await self.app.store.dialogs.open_of(identity, "support")


@asynccontextmanager
async def line(tmp_path: Path) -> AsyncIterator[Line]:
    clock = VirtualClock()
    async with fake_bitrix24() as portal:
        config = Config.model_validate(
            {
                "storage": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
                "operators": [{"id": o, "name": o.title()} for o in USERS],
                "crm": {
                    "type": "bitrix24",
                    "settings": {
                        "webhook_url": portal.webhook_url,
                        "operators": USERS,
                        "base_delay": 0.01,
                    },
                },
                "lines": [
                    {
                        "id": "support",
                        "name": "Support",
                        "queue": ["ann", "bob"],
                        "default_region": "DE",
                        "channels": [{"type": TELEGRAM.type, "account": TELEGRAM.account}],
                    }
                ],
            }
        )
        plugins = {TELEGRAM.type: fake_channel_plugin(FakeChannel(TELEGRAM, clock=clock))}
        app = Omniline(config, clock=clock, channel_plugins=plugins, migrate=True, serve_http=False)
        await app.start()
        app.scheduler.stop()  # CRM jobs run when the test says so
        try:
            for operator in USERS:
                await app.operators.set_presence(operator, Presence.ONLINE)
                await app.operators.start_day(operator)
            here = Line(app, portal, clock)
            await here.settle()
            yield here
        finally:
            await app.stop()


async def test_a_new_client_becomes_one_lead_and_the_dialog_goes_on_its_timeline(
    tmp_path: Path,
) -> None:
    async with line(tmp_path) as lx:
        assert lx.app.crm is not None and isinstance(lx.app.crm.crm, Bitrix24Crm)
        lx.portal.lose_answer("crm.lead.add")
        await lx.telegram.receive(
            "tg-1", contact=ContactShare(phone="+49 30 1234567"), display_name="Zoe"
        )
        await lx.settle()
        assert len(lx.portal.leads) == 1
        (lead,) = lx.portal.leads.values()
        assert lead.fields["ORIGIN_ID"] and lead.fields["ORIGIN_ID"].startswith("omniline:client:")
        assert lead.fields["NAME"] == "Zoe"
        assert [e["VALUE"] for e in lead.multi["PHONE"]] == ["+49301234567"]
        assert [(e["VALUE_TYPE"], e["VALUE"]) for e in lead.multi["IM"]] == [("TELEGRAM", "tg-1")]

        dialog = await lx.dialog_of("tg-1")
        await lx.app.dialogs.accept(dialog.id, "ann")
        await lx.app.dialogs.reply(dialog.id, "ann", "Hi Zoe!")
        await lx.app.dialogs.close(dialog.id, actor="operator:ann")
        await lx.settle()
        [comment] = lx.portal.comments
        assert comment["ENTITY_TYPE"] == "lead" and comment["ENTITY_ID"] == str(lead.id)
        assert "ann: Hi Zoe!" in comment["COMMENT"]


async def test_a_client_known_in_bitrix24_goes_to_their_responsible_manager(
    tmp_path: Path,
) -> None:
    async with line(tmp_path) as lx:
        lx.portal.add_contact("VIP", ims=[("TELEGRAM", "vip")], assigned=USERS["mia"])
        await lx.telegram.receive("vip", "hello")
        await lx.telegram.receive("other", "hello")
        await lx.settle()
        assert (await lx.dialog_of("vip")).operator_id == "mia"  # outside the queue
        assert (await lx.dialog_of("other")).operator_id == "ann"


async def test_a_client_found_by_phone_adds_their_messenger_identity_not_a_lead(
    tmp_path: Path,
) -> None:
    async with line(tmp_path) as lx:
        contact = lx.portal.add_contact("Zoe", phones=["+49301234567"])
        await lx.telegram.receive("tg-9", contact=ContactShare(phone="+49 30 1234567"))
        await lx.settle()
        assert lx.portal.leads == {}
        assert [(e["VALUE_TYPE"], e["VALUE"]) for e in lx.portal.contacts[contact].multi["IM"]] == [
            ("TELEGRAM", "tg-9")
        ]
