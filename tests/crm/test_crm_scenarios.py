"""The CRM hooks and the chat tracker, scenario by scenario, on a line with a messenger and the
web chat (two fake channels), the embedded CRM and the virtual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from omniline.app import Omniline
from omniline.config.models import Config
from omniline.crm import CRM, CrmError, CrmRecord, LeadDraft
from omniline.crm.embedded import EmbeddedCrm
from omniline.model import (
    Attachment,
    AttachmentKind,
    ChannelRef,
    ContactShare,
    Identity,
    Location,
    Presence,
    Unsupported,
)
from omniline.testing.clock import VirtualClock
from omniline.testing.fake_channel import FakeChannel, fake_channel_plugin

MESSENGER = ChannelRef(type="telegram", account="bot")
WEBCHAT = ChannelRef(type="webchat", account="site")


class Line:
    def __init__(self, app: Omniline, clock: VirtualClock) -> None:
        self.app = app
        self.clock = clock
        self.messenger = channel_of(app, MESSENGER)
        self.webchat = channel_of(app, WEBCHAT)

    @property
    def crm(self) -> CRM:
        assert self.app.crm is not None
        return self.app.crm.crm

    async def settle(self) -> None:
        """Everything processed and sent, and the CRM jobs due now run."""
        await self.app.idle(paced=False)
        await self.app.scheduler.run_due()
        await self.app.idle(paced=False)

    async def advance(self, seconds: float) -> None:
        await self.clock.advance(seconds)
        await self.settle()

    async def dialog_of(self, channel: FakeChannel, external_id: str) -> Any:
        identity = Identity(channel=channel.ref, external_id=external_id)
        return await self.app.store.dialogs.open_of(identity, "support")


def channel_of(app: Omniline, ref: ChannelRef) -> FakeChannel:
    channel = app.channels[ref]
    assert isinstance(channel, FakeChannel)
    return channel


@asynccontextmanager
async def line(
    tmp_path: Path, crm: dict[str, Any] | None = None, **settings: Any
) -> AsyncIterator[Line]:
    clock = VirtualClock()
    config = Config.model_validate(
        {
            "storage": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
            "operators": [{"id": o, "name": o.title()} for o in ("ann", "bob", "mia")],
            "crm": crm or {"type": "embedded"},
            "lines": [
                {
                    "id": "support",
                    "name": "Support",
                    "queue": ["ann", "bob"],
                    "default_region": "DE",
                    "channels": [
                        {"type": MESSENGER.type, "account": MESSENGER.account},
                        {"type": WEBCHAT.type, "account": WEBCHAT.account},
                    ],
                    **settings,
                }
            ],
        }
    )
    plugins = {
        ref.type: fake_channel_plugin(FakeChannel(ref, clock=clock)) for ref in (MESSENGER, WEBCHAT)
    }
    app = Omniline(config, clock=clock, channel_plugins=plugins, migrate=True, serve_http=False)
    await app.start()
    app.scheduler.stop()  # timers fire when the test says so
    try:
        for operator in ("ann", "bob", "mia"):
            await app.operators.set_presence(operator, Presence.ONLINE)
            await app.operators.start_day(operator)
        here = Line(app, clock)
        await here.settle()
        yield here
    finally:
        await app.stop()


async def test_one_client_across_channels_one_record_both_dialogs_together(tmp_path: Path) -> None:
    async with line(tmp_path) as lx:
        await lx.messenger.receive(
            "tg-1", contact=ContactShare(phone="+49 30 1234567"), display_name="Zoe"
        )
        await lx.settle()
        first = await lx.dialog_of(lx.messenger, "tg-1")
        [lead] = await lx.crm.find(phones=["+49301234567"])
        assert lead.ims == ("telegram:tg-1",)
        await lx.app.dialogs.close(first.id)
        await lx.settle()

        await lx.webchat.receive("visitor-9", "Hi, it's Zoe again")
        await lx.webchat.receive("visitor-9", "my number is 030 1234567")
        await lx.settle()

        second = await lx.dialog_of(lx.webchat, "visitor-9")
        assert second.client_id == first.client_id  # one client
        history = await lx.app.store.dialogs.client_history(first.client_id, limit=100)
        assert {m.dialog_id for m in history} == {first.id, second.id}  # one view
        [record] = await lx.crm.find(phones=["+49301234567"])
        assert record.id == lead.id  # one CRM record, which learnt the web-chat identity
        assert set(record.ims) == {"telegram:tg-1", "webchat:visitor-9"}
        [link] = await lx.app.store.clients.links(first.client_id)
        assert (link.type, link.value) == ("phone", "+49301234567")
        assert link.message_id is not None


async def test_a_wrong_link_is_undone_and_the_histories_separate(tmp_path: Path) -> None:
    async with line(tmp_path) as lx:
        await lx.messenger.receive("tg-1", "call me at 030 1234567")
        await lx.settle()
        zoe = await lx.dialog_of(lx.messenger, "tg-1")
        await lx.webchat.receive("visitor-9", "my office is 030 1234567, I'm Max")
        await lx.settle()
        max_dialog = await lx.dialog_of(lx.webchat, "visitor-9")
        assert max_dialog.client_id == zoe.client_id  # the tracker linked them

        [link] = await lx.app.store.clients.links(zoe.client_id)
        undone = await lx.app.store.clients.unmerge(link.id)

        assert undone.undone_at is not None
        max_dialog = await lx.dialog_of(lx.webchat, "visitor-9")
        assert max_dialog.client_id != zoe.client_id
        zoe_history = await lx.app.store.dialogs.client_history(zoe.client_id, limit=100)
        assert {m.dialog_id for m in zoe_history} == {zoe.id}
        # The same value never links them again.
        await lx.webchat.receive("visitor-9", "again: 030 1234567")
        await lx.settle()
        assert (await lx.dialog_of(lx.webchat, "visitor-9")).client_id != zoe.client_id


async def test_the_first_phone_is_kept_and_links_even_when_the_client_later_gives_another(
    tmp_path: Path,
) -> None:
    async with line(tmp_path) as lx:
        await lx.messenger.receive("tg-1", "030 1234567")
        await lx.messenger.receive("tg-1", "new number: 030 7654321")
        await lx.settle()
        zoe = await lx.dialog_of(lx.messenger, "tg-1")
        assert zoe.identity.profile["phone"] == "+49301234567"
        await lx.webchat.receive("visitor-9", "it's me, 030 1234567")
        await lx.settle()
        assert (await lx.dialog_of(lx.webchat, "visitor-9")).client_id == zoe.client_id


async def test_a_known_client_goes_to_their_responsible_manager_outside_the_queue(
    tmp_path: Path,
) -> None:
    async with line(tmp_path) as lx:
        await lx.crm.create_lead(
            LeadDraft(origin_id="imported-1", title="VIP", ims=("telegram:vip",), responsible="mia")
        )
        await lx.messenger.receive("vip", "hello")
        await lx.messenger.receive("other", "hello")
        await lx.settle()
        assert (await lx.dialog_of(lx.messenger, "vip")).operator_id == "mia"
        assert (await lx.dialog_of(lx.messenger, "other")).operator_id == "ann"


async def test_a_phone_shared_in_the_first_message_finds_the_manager(tmp_path: Path) -> None:
    async with line(tmp_path) as lx:
        await lx.crm.create_lead(
            LeadDraft(
                origin_id="imported-2", title="VIP", phones=("+49301234567",), responsible="mia"
            )
        )
        await lx.messenger.receive("tg-7", contact=ContactShare(phone="+49 30 1234567"))
        await lx.settle()
        assert (await lx.dialog_of(lx.messenger, "tg-7")).operator_id == "mia"


async def test_a_web_chat_visitor_without_contacts_makes_no_lead_until_they_give_an_email(
    tmp_path: Path,
) -> None:
    async with line(tmp_path) as lx:
        await lx.webchat.receive("visitor-1", "hello")
        await lx.settle()
        assert await lx.crm.find(ims=["webchat:visitor-1"]) == []
        await lx.webchat.receive("visitor-1", "write me at zoe@example.org")
        await lx.settle()
        [lead] = await lx.crm.find(emails=["zoe@example.org"])
        assert lead.ims == ("webchat:visitor-1",)
        assert lead.kind == "lead"


async def test_an_email_given_in_the_web_chat_form_links_and_makes_the_lead(
    tmp_path: Path,
) -> None:
    async with line(tmp_path) as lx:
        await lx.messenger.receive("tg-1", "write me at zoe@example.org")
        await lx.webchat.receive("visitor-3", "hello")
        await lx.settle()
        await lx.webchat.gives_details("visitor-3", email="Zoe@Example.org")
        await lx.settle()
        zoe = await lx.dialog_of(lx.messenger, "tg-1")
        assert (await lx.dialog_of(lx.webchat, "visitor-3")).client_id == zoe.client_id
        [record] = await lx.crm.find(emails=["zoe@example.org"])
        assert "webchat:visitor-3" in record.ims


async def test_manual_leads_and_the_transcript_on_close(tmp_path: Path) -> None:
    async with line(tmp_path, crm_leads="manual") as lx:
        await lx.messenger.receive("tg-1", "hello", display_name="Zoe")
        await lx.settle()
        dialog = await lx.dialog_of(lx.messenger, "tg-1")
        assert await lx.crm.find(ims=["telegram:tg-1"]) == []
        await lx.app.dialogs.accept(dialog.id, "ann")
        await lx.app.dialogs.reply(dialog.id, "ann", "Hi Zoe!")
        await lx.app.dialogs.whisper(dialog.id, "ann", "internal: VIP")
        assert lx.app.crm is not None
        lead = await lx.app.crm.create_lead(dialog.id)
        assert (lead.name, lead.ims) == ("Zoe", ("telegram:tg-1",))
        await lx.app.dialogs.close(dialog.id, actor="operator:ann")
        await lx.settle()
        crm = lx.crm
        assert isinstance(crm, EmbeddedCrm)
        notes = await crm.timeline(lead.id)
        assert [kind for kind, _, _ in notes] == ["transcript", "transcript"]
        last = notes[-1][1]
        assert "Client: hello" in last and "ann: Hi Zoe!" in last
        assert "internal: VIP" not in last  # whispers stay among operators


class FlakyCrm:
    """A CRM that is down until told otherwise (wrapping the embedded one)."""

    def __init__(self, inner: CRM) -> None:
        self.inner = inner
        self.down = True
        self.calls = 0

    def _check(self) -> None:
        self.calls += 1
        if self.down:
            raise CrmError("the CRM is down", temporary=True)

    async def find(
        self, *, phones: Sequence[str] = (), emails: Sequence[str] = (), ims: Sequence[str] = ()
    ) -> list[CrmRecord]:
        self._check()
        return await self.inner.find(phones=phones, emails=emails, ims=ims)

    async def get(self, record_id: str) -> CrmRecord | None:
        self._check()
        return await self.inner.get(record_id)

    async def create_lead(self, draft: LeadDraft) -> CrmRecord:
        self._check()
        return await self.inner.create_lead(draft)

    async def set_responsible(self, record_id: str, operator_id: str) -> None:
        self._check()
        await self.inner.set_responsible(record_id, operator_id)

    async def attach_transcript(self, record_id: str, text: str) -> None:
        self._check()
        await self.inner.attach_transcript(record_id, text)

    async def add_contacts(
        self,
        record_id: str,
        *,
        phones: Sequence[str] = (),
        emails: Sequence[str] = (),
        ims: Sequence[str] = (),
    ) -> None:
        self._check()
        await self.inner.add_contacts(record_id, phones=phones, emails=emails, ims=ims)

    async def close(self) -> None:
        await self.inner.close()


async def test_a_transfer_by_hand_makes_the_colleague_responsible(tmp_path: Path) -> None:
    async with line(tmp_path, crm_reassign_on_transfer=True) as lx:
        await lx.messenger.receive("tg-1", "hello")
        await lx.settle()
        dialog = await lx.dialog_of(lx.messenger, "tg-1")
        await lx.app.dialogs.accept(dialog.id, "ann")
        await lx.app.dialogs.transfer(dialog.id, "ann", to_operator="bob")
        await lx.settle()
        [lead] = await lx.crm.find(ims=["telegram:tg-1"])
        assert lead.responsible == "bob"


async def test_a_crm_that_is_down_delays_crm_work_not_the_conversation(tmp_path: Path) -> None:
    async with line(tmp_path, welcome="Hello!") as lx:
        assert lx.app.crm is not None
        flaky = FlakyCrm(lx.app.crm.crm)
        lx.app.crm.crm = flaky
        await lx.messenger.receive("tg-1", "hello")
        await lx.settle()
        assert lx.messenger.texts_to("tg-1") == ["Hello!"]
        assert (await lx.dialog_of(lx.messenger, "tg-1")).operator_id == "ann"  # by the queue
        assert flaky.calls > 0
        flaky.down = False
        await lx.advance(700)  # the job's back-off has passed
        assert [r.ims for r in await flaky.find(ims=["telegram:tg-1"])] == [("telegram:tg-1",)]


async def test_a_transcript_writes_every_kind_of_message_as_text(tmp_path: Path) -> None:
    """A location, a shared contact, a sticker or a poll used to be blank lines in the CRM."""
    async with line(tmp_path, crm_leads="manual") as lx:
        zoe = lx.messenger
        await zoe.receive("tg-1", "hello", display_name="Zoe")
        await zoe.receive("tg-1", location=Location(latitude=52.520008, longitude=13.404954))
        await zoe.receive("tg-1", contact=ContactShare(phone="+4915112345678", name="Zoe"))
        sticker = Attachment(kind=AttachmentKind.STICKER, file_id="CAACAgIAAxkB")
        await zoe.receive("tg-1", attachments=[sticker])
        page = Attachment(kind=AttachmentKind.LINK, url="https://shop.example/mug", name="The mug")
        await zoe.receive("tg-1", "look", attachments=[page])
        await zoe.receive("tg-1", "Yes", button_payload="order:yes")
        await zoe.receive("tg-1", unsupported=Unsupported(kind="poll"))
        await lx.settle()
        dialog = await lx.dialog_of(zoe, "tg-1")
        assert lx.app.crm is not None
        lead = await lx.app.crm.create_lead(dialog.id)
        await lx.app.dialogs.close(dialog.id, actor="system")
        await lx.settle()
        crm = lx.crm
        assert isinstance(crm, EmbeddedCrm)
        said = [
            row.split("] ", 1)[1] for row in (await crm.timeline(lead.id))[-1][1].splitlines()[1:]
        ]
        osm = "https://www.openstreetmap.org/?mlat=52.52001&mlon=13.40495#map=16/52.52001/13.40495"
        assert said == [
            "Client: hello",
            f"Client: [location 52.52001, 13.40495 {osm}]",
            "Client: [contact Zoe +4915112345678]",
            "Client: [sticker]",
            "Client: look [link The mug https://shop.example/mug]",
            "Client: Yes [button: order:yes]",
            "Client: [unsupported: poll]",
        ]
