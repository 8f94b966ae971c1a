"""The dialogs service deciding on a dialog its caller has already read (``known``): one read
per action, and a read that is older than the dialog is never acted on."""

from __future__ import annotations

import pytest

from omniline.errors import DialogError
from omniline.model import DialogStatus
from omniline.testing import Kit

OPERATORS = {"ann": "Ann", "bob": "Bob"}
LINE = {"queue": ["ann", "bob"], "response_timeout": 60, "distribution": "strict"}


async def test_an_accept_on_a_read_from_before_the_offer_moved_on_does_not_steal_it() -> None:
    async with Kit(operators=OPERATORS, line_settings=LINE) as kit:
        for operator_id in OPERATORS:
            await kit.operator(operator_id).starts_work()
        client = kit.client("zoe")
        await client.says("hello")
        read = await client.dialog()
        assert (read.status, read.operator_id) == (DialogStatus.OFFERED, "ann")
        await kit.advance(60)  # ann let it go: offered to bob, the same status

        with pytest.raises(DialogError, match="offered to operator bob"):
            await kit.app.dialogs.accept(read.id, "ann", known=read)

        now = await client.dialog()
        assert (now.status, now.operator_id) == (DialogStatus.OFFERED, "bob")


async def test_a_reply_on_a_read_from_before_the_accept_is_decided_on_the_dialog_as_it_is() -> None:
    async with Kit(operators=OPERATORS, line_settings=LINE) as kit:
        await kit.operator("ann").starts_work()
        client = kit.client("zoe")
        await client.says("hello")
        read = await client.dialog()
        await kit.app.dialogs.accept(read.id, "ann", known=read)

        await kit.app.dialogs.reply(read.id, "ann", "Hello Zoe", known=read)

        await kit.app.idle(paced=False)
        assert kit.channel.texts_to("zoe")[-1] == "Hello Zoe"
