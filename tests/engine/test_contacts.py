"""Contact details found in what clients write, and remembered on their identity."""

from __future__ import annotations

import pytest

from omniline.engine.contacts import contact_details, emails_in, normalized_phone, phones_in
from omniline.model import ContactShare, Identity, InboundMessage
from omniline.testing import Kit


def test_phone_numbers_are_normalised_to_e164_in_the_line_region() -> None:
    assert normalized_phone("030 1234567", "DE") == "+49301234567"
    assert normalized_phone("+7 (912) 345-67-89", None) == "+79123456789"
    assert normalized_phone("12345", "DE") is None
    assert phones_in("call me on 030 1234567 after six", "DE") == ["+49301234567"]
    assert phones_in("order 1234567 arrived", None) == []  # no region: not a number


def test_emails_are_found_and_checked() -> None:
    assert emails_in("write to Anna.P@Example.com, thanks") == ["anna.p@example.com"]
    assert emails_in("user@localhost or a@b") == []


def test_a_shared_contact_comes_first() -> None:
    message = InboundMessage(contact=ContactShare(phone="+49 30 1234567", name="Zoe"))
    assert contact_details(message, None) == {"phone": "+49301234567", "name": "Zoe"}
    text = InboundMessage(text="zoe@example.org / +49 30 7654321")
    assert contact_details(text, None) == {"phone": "+49307654321", "email": "zoe@example.org"}


async def test_the_contact_form_answer_is_remembered_and_the_first_phone_stays() -> None:
    settings = {"queue": ["ann"], "nobody_answered": "form", "default_region": "DE"}
    async with Kit(operators={"ann": "Ann"}, line_settings=settings) as kit:
        client = kit.client("zoe")
        await client.says("hello")
        await client.says("Zoe, 030 1234567, zoe@example.org")
        await client.says("or rather 030 7654321")
        identity = Identity(channel=kit.channel.ref, external_id="zoe")
        [message] = (await client.history())[1:2]
        assert message.text == "Zoe, 030 1234567, zoe@example.org"
        dialog = await kit.app.store.dialogs.open_of(identity, kit.line_id)
        assert dialog is not None
        assert dialog.identity.profile["phone"] == "+49301234567"
        assert dialog.identity.profile["email"] == "zoe@example.org"


def test_an_unknown_region_is_a_configuration_error() -> None:
    from omniline.engine.settings import LineSettings

    with pytest.raises(ValueError, match="country code"):
        LineSettings(default_region="XX")


@pytest.mark.parametrize("region", ["DE", None])
def test_a_shared_phone_without_a_plus_is_not_read_in_the_line_region(region: str | None) -> None:
    # Telegram's clients share the account's number as "4915112345678": international, no "+".
    message = InboundMessage(contact=ContactShare(phone="4915112345678"))
    assert contact_details(message, region) == {"phone": "+4915112345678"}


def test_a_shared_national_number_is_still_read_in_the_line_region() -> None:
    message = InboundMessage(contact=ContactShare(phone="030 1234567"))
    assert contact_details(message, "DE") == {"phone": "+49301234567"}
