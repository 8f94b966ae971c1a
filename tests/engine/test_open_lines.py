"""The Open Lines engine, scenario by scenario, as Bitrix24 documents each rule.

Every test runs one line on a real SQLite database with the virtual clock: clients write on the fake
channel, operators act through the public API, timers fire as the test moves the clock.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from omniline.errors import DialogError, OperatorBusy
from omniline.model import Dialog, DialogStatus, Offered, Route, Skipped, Visibility
from omniline.pipeline.context import MessageContext
from omniline.pipeline.filters import Text
from omniline.pipeline.router import Router
from omniline.testing import Kit, ScriptedClient
from omniline.testing.clock import VirtualClock

OPERATORS = {"ann": "Ann", "bob": "Bob", "cid": "Cid"}
QUEUE = ["ann", "bob", "cid"]


def line(**settings: Any) -> dict[str, Any]:
    return {"queue": QUEUE, "response_timeout": 60, **settings}


async def started(kit: Kit, *operator_ids: str) -> None:
    for operator_id in operator_ids:
        await kit.operator(operator_id).starts_work()


async def dialog_of(client: ScriptedClient) -> Dialog:
    return await client.dialog()


async def offers(kit: Kit, dialog_id: int) -> list[Offered]:
    return [e for e in await kit.app.store.dialogs.events(dialog_id) if isinstance(e, Offered)]


# --- distribution -----------------------------------------------------------------------------------


async def test_strict_order_first_ignores_second_skips_third_accepts() -> None:
    async with Kit(operators=OPERATORS, line_settings=line(distribution="strict")) as kit:
        await started(kit, "ann", "bob", "cid")
        ann, bob, cid = (kit.operator(o) for o in QUEUE)
        client = kit.client("zoe", "Zoe")
        await client.says("hello")
        dialog = await dialog_of(client)
        assert (dialog.status, dialog.operator_id) == (DialogStatus.OFFERED, "ann")

        await kit.advance(59)
        assert (await dialog_of(client)).operator_id == "ann"  # not yet
        await kit.advance(1)
        assert (await dialog_of(client)).operator_id == "bob"  # ann ignored it for 60 s

        await bob.skips(client)
        assert (await dialog_of(client)).operator_id == "cid"
        await cid.accepts(client)

        dialog = await dialog_of(client)
        assert (dialog.status, dialog.operator_id) == (DialogStatus.ACTIVE, "cid")
        events = await kit.app.store.dialogs.events(dialog.id)
        hops = [(e.operator_ids, e.hop) for e in events if isinstance(e, Offered)]
        assert hops == [(("ann",), 1), (("bob",), 2), (("cid",), 3)]
        skips = [(e.operator_id, e.reason) for e in events if isinstance(e, Skipped)]
        assert skips == [("ann", "timeout"), ("bob", "skip")]
        loads = {o.id: o.load for o in await kit.app.operators.all()}
        assert loads == {"ann": 0, "bob": 0, "cid": 1}
        with pytest.raises(DialogError):
            await ann.accepts(client)


async def test_evenly_spreads_300_dialogs_100_each() -> None:
    settings = line(distribution="evenly", default_capacity=1000)
    async with Kit(operators=OPERATORS, line_settings=settings) as kit:
        await started(kit, *QUEUE)
        for n in range(300):
            await kit.client(f"c{n}").says("hi")
        received: Counter[str] = Counter()
        for dialog_id in await kit.dialog_ids():
            for offer in await offers(kit, dialog_id):
                received.update(offer.operator_ids)
        assert sum(received.values()) == 300
        assert all(abs(count - 100) <= 1 for count in received.values()), received


async def test_evenly_survives_a_restart(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'line.db'}"
    settings = line(distribution="evenly", queue=["ann", "bob"])
    clock = VirtualClock()
    async with Kit(
        operators=OPERATORS, line_settings=settings, database_url=url, clock=clock
    ) as kit:
        await started(kit, "ann", "bob")
        await kit.client("c1").says("hi")
    async with Kit(
        operators=OPERATORS, line_settings=settings, database_url=url, clock=clock
    ) as kit:
        client = kit.client("c2")
        await client.says("hi", event_id="after-the-restart")
        assert (await dialog_of(client)).operator_id == "bob"  # ann had her turn before the restart


async def test_evenly_breaks_ties_by_fewest_open_dialogs() -> None:
    settings = line(distribution="evenly", queue=["ann", "bob"])
    async with Kit(operators=OPERATORS, line_settings=settings) as kit:
        await started(kit, "ann", "bob")
        await kit.client("c1").says("hi")  # ann (first in the queue)
        await kit.client("c2").says("hi")  # bob
        await kit.operator("ann").closes(kit.client("c1"))
        third = kit.client("c3")
        await third.says("hi")  # both received one; ann has none open now
        assert (await dialog_of(third)).operator_id == "ann"


async def test_all_mode_offers_everyone_and_the_first_to_accept_wins() -> None:
    async with Kit(operators=OPERATORS, line_settings=line(distribution="all")) as kit:
        await started(kit, "ann", "bob", "cid")
        client = kit.client("zoe")
        await client.says("hello")
        dialog = await dialog_of(client)
        assert dialog.status is DialogStatus.OFFERED and dialog.operator_id is None
        for operator_id in QUEUE:
            assert await kit.operator(operator_id).offered() == [dialog.id]

        await kit.operator("bob").accepts(client)

        assert (await dialog_of(client)).operator_id == "bob"
        assert await kit.operator("ann").offered() == []
        events = await kit.app.store.dialogs.events(dialog.id)
        assert [e.operator_ids for e in events if e.kind == "withdrawn"] == [("ann", "cid")]
        with pytest.raises(DialogError):
            await kit.operator("cid").accepts(client)


async def test_all_mode_timeout_applies_the_nobody_answered_text() -> None:
    settings = line(distribution="all", nobody_answered_text="Sorry, {client_name|friend}!")
    async with Kit(operators=OPERATORS, line_settings=settings) as kit:
        await started(kit, *QUEUE)
        client = kit.client("zoe", "Zoe")
        await client.says("hello")
        await kit.advance(60)
        dialog = await dialog_of(client)
        assert (dialog.status, dialog.route) == (DialogStatus.QUEUED, Route.EXHAUSTED)
        assert client.last == "Sorry, Zoe!"
        await kit.operator("cid").accepts(client)  # taken from the queue by hand
        assert (await dialog_of(client)).operator_id == "cid"


# --- availability and capacity ----------------------------------------------------------------------


async def test_only_online_operators_get_offers() -> None:
    async with Kit(operators=OPERATORS, line_settings=line()) as kit:
        await started(kit, "bob")
        client = kit.client("zoe")
        await client.says("hello")
        assert (await dialog_of(client)).operator_id == "bob"


async def test_operators_on_break_or_not_started_are_passed_over() -> None:
    settings = line(only_online=False)
    async with Kit(operators=OPERATORS, line_settings=settings) as kit:
        await kit.app.operators.start_day("ann")
        await kit.app.operators.take_break("ann")
        await kit.app.operators.start_day("cid")
        client = kit.client("zoe")
        await client.says("hello")
        assert (await dialog_of(client)).operator_id == "cid"  # ann on break, bob not started


async def test_nobody_available_parks_by_queue_order_then_moves_to_who_comes() -> None:
    async with Kit(operators=OPERATORS, line_settings=line()) as kit:
        client = kit.client("zoe")
        await client.says("hello")
        dialog = await dialog_of(client)
        # Nobody is online: the dialog stays with whoever is next in the queue (Bitrix24's rule).
        assert (dialog.status, dialog.operator_id, dialog.route) == (
            DialogStatus.OFFERED,
            "ann",
            Route.PARKED,
        )
        await kit.advance(600)  # a parked dialog does not hop on a timer
        assert (await dialog_of(client)).operator_id == "ann"

        await kit.operator("cid").starts_work()

        dialog = await dialog_of(client)
        assert (dialog.status, dialog.operator_id, dialog.route) == (
            DialogStatus.OFFERED,
            "cid",
            None,
        )
        loads = {o.id: o.load for o in await kit.app.operators.all()}
        assert loads == {"ann": 0, "bob": 0, "cid": 1}


async def test_when_the_available_operators_are_full_it_waits_for_them_rather_than_parking() -> (
    None
):
    settings = line(queue=["ann", "bob"], default_capacity=1)
    async with Kit(operators=OPERATORS, line_settings=settings) as kit:
        await started(kit, "ann")  # bob is offline
        await kit.client("c1").says("hi")
        second = kit.client("c2")
        await second.says("hi")
        waiting = await dialog_of(second)
        assert (waiting.status, waiting.route) == (DialogStatus.QUEUED, Route.WAITING)
        await kit.operator("ann").closes(kit.client("c1"))
        assert (await dialog_of(second)).operator_id == "ann"


async def test_capacity_is_respected_and_a_freed_place_is_filled_at_once() -> None:
    settings = line(queue=["ann"], default_capacity=1)
    async with Kit(operators=OPERATORS, line_settings=settings) as kit:
        await started(kit, "ann")
        first, second = kit.client("c1"), kit.client("c2")
        await first.says("hi")
        await kit.operator("ann").accepts(first)
        await second.says("hi")
        waiting = await dialog_of(second)
        assert (waiting.status, waiting.route) == (DialogStatus.QUEUED, Route.WAITING)
        with pytest.raises(OperatorBusy):
            await kit.operator("ann").accepts(second)

        await kit.operator("ann").closes(first)

        offered = await dialog_of(second)
        assert (offered.status, offered.operator_id) == (DialogStatus.OFFERED, "ann")


async def test_nobody_answered_text_after_the_whole_queue() -> None:
    async with Kit(operators=OPERATORS, line_settings=line()) as kit:
        await started(kit, *QUEUE)
        client = kit.client("zoe")
        await client.says("hello")
        await kit.advance(60)
        await kit.advance(60)
        assert client.last is None or "busy" not in client.last
        await kit.advance(60)
        dialog = await dialog_of(client)
        assert (dialog.status, dialog.route) == (DialogStatus.QUEUED, Route.EXHAUSTED)
        assert client.last is not None and "busy" in client.last
        await kit.advance(600)
        assert len(await offers(kit, dialog.id)) == 3  # it stays put


async def test_nobody_answered_circulate_keeps_going_round() -> None:
    settings = line(queue=["ann", "bob"], nobody_answered="circulate")
    async with Kit(operators=OPERATORS, line_settings=settings) as kit:
        await started(kit, "ann", "bob")
        client = kit.client("zoe")
        await client.says("hello")
        for _ in range(4):
            await kit.advance(60)
        dialog = await dialog_of(client)
        assert [o.operator_ids[0] for o in await offers(kit, dialog.id)] == [
            "ann",
            "bob",
            "ann",
            "bob",
            "ann",
        ]
        assert client.received == []


async def test_nobody_answered_form_asks_for_contacts() -> None:
    settings = line(queue=["ann"], nobody_answered="form")
    async with Kit(operators=OPERATORS, line_settings=settings) as kit:
        await started(kit, "ann")
        client = kit.client("zoe")
        await client.says("hello")
        await kit.advance(60)
        assert client.last is not None and "phone number and email" in client.last


async def test_a_returning_client_goes_to_the_operator_who_served_them() -> None:
    async with Kit(operators=OPERATORS, line_settings=line()) as kit:
        await started(kit, *QUEUE)
        client = kit.client("zoe")
        await client.says("hello")
        await kit.operator("ann").skips(client)
        await kit.operator("bob").accepts(client)
        await kit.operator("bob").closes(client)
        await kit.advance(3600)
        await client.says("me again")
        assert (await dialog_of(client)).operator_id == "bob"


async def test_the_crm_responsible_manager_gets_the_client_even_outside_the_queue() -> None:
    operators = {**OPERATORS, "mia": "Mia"}
    async with Kit(operators=operators, line_settings=line()) as kit:
        await started(kit, "ann", "mia")

        async def responsible(dialog: Dialog) -> str | None:
            return "mia" if dialog.identity.external_id == "vip" else None

        kit.app.lines[kit.line_id].responsible_manager = responsible
        vip, other = kit.client("vip"), kit.client("other")
        await vip.says("hello")
        await other.says("hello")
        assert (await dialog_of(vip)).operator_id == "mia"
        assert (await dialog_of(other)).operator_id == "ann"


# --- lifecycle and operator actions -----------------------------------------------------------------


async def test_transfer_to_an_operator_who_then_sees_the_whole_history() -> None:
    async with Kit(operators=OPERATORS, line_settings=line()) as kit:
        await started(kit, *QUEUE)
        client = kit.client("zoe")
        await client.says("hello")
        await kit.operator("ann").accepts(client)
        await kit.operator("ann").replies(client, "Let me pass you to Cid")
        await kit.operator("ann").transfers(client, to="cid")
        dialog = await dialog_of(client)
        assert (dialog.status, dialog.operator_id) == (DialogStatus.OFFERED, "cid")
        await kit.operator("cid").accepts(client)
        with pytest.raises(DialogError, match="does not hold"):
            await kit.operator("ann").transfers(client, to="bob")  # not hers any more
        history = await kit.app.store.dialogs.messages(dialog.id, with_internal=True)
        assert [m.text for m in history] == ["hello", "Let me pass you to Cid"]
        loads = {o.id: o.load for o in await kit.app.operators.all()}
        assert loads == {"ann": 0, "bob": 0, "cid": 1}


async def test_a_transfer_nobody_accepts_goes_back_to_the_queue() -> None:
    async with Kit(operators=OPERATORS, line_settings=line(queue=["ann", "bob"])) as kit:
        await started(kit, "ann", "bob")
        await kit.operator("cid").starts_work()
        client = kit.client("zoe")
        await client.says("hello")
        await kit.operator("ann").accepts(client)
        await kit.operator("ann").transfers(client, to="cid")
        dialog = await dialog_of(client)
        assert [o.operator_ids for o in await offers(kit, dialog.id)][-1] == ("cid",)
        await kit.advance(60)  # cid never answers
        dialog = await dialog_of(client)
        assert (dialog.status, dialog.operator_id) == (DialogStatus.OFFERED, "ann")
        loads = {o.id: o.load for o in await kit.app.operators.all()}
        assert loads == {"ann": 1, "bob": 0, "cid": 0}


async def test_only_operators_in_a_dialog_close_or_pin_it() -> None:
    async with Kit(operators=OPERATORS, line_settings=line()) as kit:
        await started(kit, *QUEUE)
        client = kit.client("zoe")
        await client.says("hello")
        await kit.operator("ann").accepts(client)
        with pytest.raises(DialogError, match="not in dialog"):
            await kit.operator("bob").closes(client)
        with pytest.raises(DialogError, match="not in dialog"):
            await kit.operator("bob").pins(client)
        await kit.operator("ann").invites(client, "bob")
        await kit.operator("bob").pins(client)
        await kit.operator("bob").closes(client)


async def test_transfer_to_another_line_queues_it_there() -> None:
    async with Kit(operators=OPERATORS, line_settings=line(queue=["ann"])) as kit:
        # A second line, with its own queue, added at run time through the Python API.
        from omniline.pipeline.line import Line

        kit.app.lines["sales"] = Line(id="sales", name="Sales")
        await kit.app.set_queue("sales", ["bob"])
        await started(kit, "ann", "bob")
        client = kit.client("zoe")
        await client.says("I want to buy")
        await kit.operator("ann").accepts(client)
        await kit.operator("ann").transfers(client, line="sales")
        dialog = await dialog_of(client)
        assert (dialog.line_id, dialog.status, dialog.operator_id) == (
            "sales",
            DialogStatus.OFFERED,
            "bob",
        )
        await kit.operator("bob").accepts(client)
        await client.says("still me")
        assert (await dialog_of(client)).id == dialog.id


async def test_an_invited_colleague_writes_in_the_dialog_and_whispers_stay_hidden() -> None:
    async with Kit(operators=OPERATORS, line_settings=line()) as kit:
        await started(kit, *QUEUE)
        client = kit.client("zoe")
        await client.says("hello")
        await kit.operator("ann").accepts(client)
        with pytest.raises(DialogError):
            await kit.operator("bob").replies(client, "not yet")
        await kit.operator("ann").invites(client, "bob")
        await kit.operator("bob").whispers(client, "VIP, be nice")
        await kit.operator("bob").replies(client, "Bob here too")
        assert client.received == ["Bob here too"]
        readable = [m.text for m in await client.history()]
        assert "VIP, be nice" not in readable
        dialog = await dialog_of(client)
        internal = await kit.app.store.dialogs.messages(dialog.id, with_internal=True)
        assert [m.visibility for m in internal if m.text == "VIP, be nice"] == [
            Visibility.OPERATORS
        ]


async def test_auto_close_after_silence_unless_pinned() -> None:
    settings = line(auto_close_after=3600, auto_close_text="Closing this chat, bye!")
    async with Kit(operators=OPERATORS, line_settings=settings) as kit:
        await started(kit, *QUEUE)
        quiet, pinned = kit.client("quiet"), kit.client("pinned")
        for client in (quiet, pinned):
            await client.says("hello")
        await kit.operator("ann").accepts(quiet)
        await kit.operator("ann").replies(quiet, "How can I help?")
        await kit.operator("ann").accepts(pinned)
        await kit.operator("ann").replies(pinned, "How can I help?")
        await kit.operator("ann").pins(pinned)
        await kit.advance(1800)
        await quiet.says("wait, one more thing")  # the client spoke: the timer stops
        await kit.advance(3600)
        assert (await dialog_of(quiet)).status is DialogStatus.ACTIVE
        await kit.operator("ann").replies(quiet, "Sure?")
        await kit.advance(3600)

        with pytest.raises(AssertionError):
            await dialog_of(quiet)  # closed
        assert quiet.last == "Closing this chat, bye!"
        assert (await dialog_of(pinned)).status is DialogStatus.ACTIVE


async def test_an_auto_close_that_came_due_during_a_pin_closes_the_dialog_at_unpin() -> None:
    settings = line(auto_close_after=3600, auto_close_text="Closing this chat, bye!")
    async with Kit(operators=OPERATORS, line_settings=settings) as kit:
        await started(kit, *QUEUE)
        client = kit.client("zoe")
        await client.says("hello")
        await kit.operator("ann").accepts(client)
        await kit.operator("ann").replies(client, "How can I help?")
        await kit.operator("ann").pins(client)
        await kit.advance(7200)  # due an hour ago: the pin holds it
        dialog = await dialog_of(client)
        assert (dialog.status, dialog.pinned) == (DialogStatus.ACTIVE, True)

        await kit.app.dialogs.unpin(dialog.id, "ann")
        await kit.advance(0)  # the next poll of the timers, not the next reply

        assert (await kit.app.dialogs.get(dialog.id)).status is DialogStatus.CLOSED
        assert client.last == "Closing this chat, bye!"
        kinds = [e.kind for e in await kit.app.store.dialogs.events(dialog.id)]
        assert kinds[-2:] == ["unpinned", "closed"]


async def test_an_auto_close_still_to_come_at_unpin_closes_the_dialog_when_due() -> None:
    settings = line(auto_close_after=3600)
    async with Kit(operators=OPERATORS, line_settings=settings) as kit:
        await started(kit, *QUEUE)
        client = kit.client("zoe")
        await client.says("hello")
        await kit.operator("ann").accepts(client)
        await kit.operator("ann").replies(client, "How can I help?")
        await kit.operator("ann").pins(client)
        await kit.advance(1800)
        dialog = await dialog_of(client)
        await kit.app.dialogs.unpin(dialog.id, "ann")
        await kit.advance(1790)
        assert (await dialog_of(client)).status is DialogStatus.ACTIVE
        await kit.advance(10)
        assert (await kit.app.dialogs.get(dialog.id)).status is DialogStatus.CLOSED


async def test_an_unpinned_dialog_whose_client_wrote_last_is_not_auto_closed() -> None:
    settings = line(auto_close_after=3600)
    async with Kit(operators=OPERATORS, line_settings=settings) as kit:
        await started(kit, *QUEUE)
        client = kit.client("zoe")
        await client.says("hello")
        await kit.operator("ann").accepts(client)
        await kit.operator("ann").replies(client, "How can I help?")
        await kit.operator("ann").pins(client)
        await kit.advance(7200)
        await client.says("still here")  # the client spoke: nothing to close for
        dialog = await dialog_of(client)
        await kit.app.dialogs.unpin(dialog.id, "ann")
        await kit.advance(7200)
        assert (await dialog_of(client)).status is DialogStatus.ACTIVE


async def test_an_auto_close_that_fired_while_queued_does_not_close_it_at_unpin() -> None:
    settings = line(auto_close_after=3600, queue=["ann"])
    async with Kit(operators=OPERATORS, line_settings=settings) as kit:
        from omniline.pipeline.line import Line

        kit.app.lines["sales"] = Line(
            id="sales", name="Sales", settings=kit.app.lines[kit.line_id].settings
        )
        await kit.app.set_queue("sales", ["bob"])
        await started(kit, "ann")
        client = kit.client("zoe")
        await client.says("hello")
        await kit.operator("ann").accepts(client)
        await kit.operator("ann").replies(client, "Sales will answer")
        await kit.operator("ann").transfers(client, line="sales")
        await kit.advance(7200)  # the timer fires on a queued dialog: nobody answers it now
        await started(kit, "bob")
        await kit.operator("bob").accepts(client)
        await kit.operator("bob").pins(client)
        dialog = await dialog_of(client)
        await kit.app.dialogs.unpin(dialog.id, "bob")
        await kit.advance(0)
        assert (await dialog_of(client)).status is DialogStatus.ACTIVE


async def test_a_client_writing_within_the_reopen_window_reopens_the_dialog() -> None:
    settings = line(reopen_within=600)
    async with Kit(operators=OPERATORS, line_settings=settings) as kit:
        await started(kit, *QUEUE)
        client = kit.client("zoe")
        await client.says("hello")
        await kit.operator("ann").accepts(client)
        first = await dialog_of(client)
        await kit.operator("ann").closes(client)
        await kit.advance(300)
        await client.says("one more question")
        again = await dialog_of(client)
        assert again.id == first.id
        assert (again.status, again.operator_id) == (DialogStatus.OFFERED, "ann")
        await kit.operator("ann").accepts(client)
        await kit.operator("ann").closes(client)
        await kit.advance(601)
        await client.says("new topic")
        assert (await dialog_of(client)).id != first.id


async def test_an_operator_reopens_a_closed_dialog_from_history() -> None:
    async with Kit(operators=OPERATORS, line_settings=line()) as kit:
        await started(kit, *QUEUE)
        client = kit.client("zoe")
        await client.says("hello")
        await kit.operator("ann").accepts(client)
        dialog = await dialog_of(client)
        await kit.operator("ann").closes(client)
        await kit.app.dialogs.reopen(dialog.id, "bob")
        reopened = await kit.app.dialogs.get(dialog.id)
        assert (reopened.status, reopened.operator_id) == (DialogStatus.ACTIVE, "bob")


async def test_bot_first_then_handoff_then_back_to_the_bot() -> None:
    bot = Router()

    @bot.message(Text("price"))
    async def price(ctx: MessageContext) -> None:
        ctx.reply("It costs 10")

    settings = line(handoff_when_unhandled=False)
    async with Kit(bot=bot, operators=OPERATORS, line_settings=settings) as kit:
        await started(kit, *QUEUE)
        client = kit.client("zoe")
        await client.says("price")
        assert client.last == "It costs 10"
        assert (await dialog_of(client)).status is DialogStatus.BOT
        await client.says("operator")
        dialog = await dialog_of(client)
        assert (dialog.status, dialog.operator_id) == (DialogStatus.OFFERED, "ann")
        await kit.operator("ann").accepts(client)
        await kit.app.dialogs.back_to_bot(dialog.id, "ann")
        await client.says("price")
        assert client.last == "It costs 10"
        assert {o.id: o.load for o in await kit.app.operators.all()}["ann"] == 0


# --- auto-replies, working hours, rating -------------------------------------------------------------


async def test_welcome_and_closing_texts_with_placeholders_and_languages() -> None:
    settings = line(
        welcome={
            "default": "Hello {client_name|there}, this is {line_name}.",
            "translations": {"de": "Hallo {client_name|du}!"},
        },
        closing="Thanks, {client_name}! {operator_name} signing off.",
    )
    async with Kit(operators=OPERATORS, line_settings=settings) as kit:
        await started(kit, *QUEUE)
        zoe = kit.client("zoe", "Zoe")
        await zoe.says("hello")
        assert zoe.received == ["Hello Zoe, this is Support."]
        await zoe.says("anyone?")
        assert len(zoe.received) == 1  # once per dialog
        await kit.operator("ann").accepts(zoe)
        await kit.operator("ann").closes(zoe)
        assert zoe.last == "Thanks, Zoe! Ann signing off."

        await kit.channel.receive("hans", "hallo", profile={"language": "de-AT"})
        await kit.settle()
        assert kit.channel.texts_to("hans") == ["Hallo du!"]


async def test_an_off_hours_message_on_saturday_waits_for_monday_nine() -> None:
    hours = {"timezone": "Europe/Berlin", "weekly": {"mon-fri": "09:00-18:00"}}
    settings = line(working_hours=hours, off_hours_text="We are closed, back Monday.")
    saturday = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)  # 12:00 in Berlin
    async with Kit(
        operators=OPERATORS, line_settings=settings, clock=VirtualClock(saturday)
    ) as kit:
        await started(kit, *QUEUE)
        client = kit.client("zoe")
        await client.says("hello?")
        assert client.received == ["We are closed, back Monday."]
        dialog = await dialog_of(client)
        assert (dialog.status, dialog.route) == (DialogStatus.QUEUED, Route.HOURS)
        await client.says("anyone?")
        assert len(client.received) == 1  # told once

        monday_nine = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
        await kit.advance((monday_nine - saturday).total_seconds() - 1)
        assert (await dialog_of(client)).status is DialogStatus.QUEUED
        await kit.advance(1)
        dialog = await dialog_of(client)
        assert (dialog.status, dialog.operator_id) == (DialogStatus.OFFERED, "ann")
        [offer] = await offers(kit, dialog.id)
        assert offer.at == monday_nine


async def test_an_offer_made_at_closing_time_waits_through_the_night() -> None:
    hours = {"timezone": "Europe/Berlin", "weekly": {"mon-fri": "09:00-18:00"}}
    friday = datetime(2026, 11, 27, 16, 59, tzinfo=UTC)  # 17:59 in Berlin
    settings = line(working_hours=hours, response_timeout=180)
    async with Kit(operators=OPERATORS, line_settings=settings, clock=VirtualClock(friday)) as kit:
        await started(kit, *QUEUE)
        client = kit.client("zoe")
        await client.says("hello")
        # One minute counted on Friday; the other two run from Monday 09:00.
        monday_nine_oh_one = datetime(2026, 11, 30, 8, 1, tzinfo=UTC)
        await kit.advance((monday_nine_oh_one - friday).total_seconds())
        assert (await dialog_of(client)).operator_id == "ann"
        await kit.advance(60)
        dialog = await dialog_of(client)
        assert dialog.operator_id == "bob"
        [first, second] = await offers(kit, dialog.id)
        assert (first.operator_ids, second.operator_ids) == (("ann",), ("bob",))
        assert second.at == datetime(2026, 11, 30, 8, 2, tzinfo=UTC)


async def test_rating_with_buttons_and_by_number() -> None:
    settings = line(rating={"enabled": True})
    async with Kit(operators=OPERATORS, line_settings=settings) as kit:
        await started(kit, *QUEUE)
        client = kit.client("zoe")
        await client.says("hello")
        await kit.operator("ann").accepts(client)
        dialog = await dialog_of(client)
        await kit.operator("ann").closes(client)
        question = kit.channel.sent[-1].message
        assert question.buttons and len(question.buttons[0]) == 5

        await client.presses("omniline:rate:4")

        rated = await kit.app.dialogs.get(dialog.id)
        assert (rated.status, rated.rating, rated.awaiting_rating) == (
            DialogStatus.CLOSED,
            4,
            False,
        )
        assert client.last == "Thank you for your rating!"


async def test_rating_by_numbered_reply_where_the_channel_has_no_buttons() -> None:
    from omniline.engine.ports import Capabilities

    settings = line(rating={"enabled": True})
    caps = Capabilities(buttons=False, inline_buttons=False)
    async with Kit(operators=OPERATORS, line_settings=settings, capabilities=caps) as kit:
        await started(kit, *QUEUE)
        client = kit.client("zoe")
        await client.says("hello")
        await kit.operator("ann").accepts(client)
        dialog = await dialog_of(client)
        await kit.operator("ann").closes(client)
        assert client.last is not None and "5. ★★★★★" in client.last
        await client.says("5")
        assert (await kit.app.dialogs.get(dialog.id)).rating == 5
        await client.says("a new question")  # not a rating: a new dialog
        assert (await dialog_of(client)).id != dialog.id


# --- settings at run time ---------------------------------------------------------------------------


async def test_settings_change_at_run_time_and_are_validated() -> None:
    async with Kit(operators=OPERATORS, line_settings=line()) as kit:
        support = kit.app.lines[kit.line_id]
        support.update(distribution="all")
        assert support.settings.distribution == "all"
        with pytest.raises(ValueError, match="response_timeout"):
            support.update(response_timeout=7200)
        assert support.settings.response_timeout == 60
        await kit.app.set_queue(kit.line_id, ["cid", "ann"])
        assert await kit.app.store.operators.queue(kit.line_id) == ["cid", "ann"]
