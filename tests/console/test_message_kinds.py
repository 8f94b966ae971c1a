"""Every kind of message a client can send reaches the desk API as typed fields: a shared contact,
a location, a button press, something omniline does not model, and attachments of every kind
(a shared web page included). Before, a location or a contact came out as a message with nothing
in it."""

from __future__ import annotations

from typing import Any

from omniline.model import Attachment, AttachmentKind, ContactShare, Location, Unsupported
from tests.console.conftest import SALES, Desk

FILES = [
    Attachment(kind=AttachmentKind.IMAGE, url="https://cdn.example/p.jpg", name="p.jpg"),
    Attachment(kind=AttachmentKind.STICKER, file_id="CAACAgIAAxkB", name="cat"),
    Attachment(kind=AttachmentKind.LINK, url="https://shop.example/mug", name="The mug"),
    Attachment(
        kind=AttachmentKind.DOCUMENT,
        url="https://cdn.example/invoice.pdf",
        name="invoice.pdf",
        size=48_213,
        mime_type="application/pdf",
    ),
]


async def _history(desk: Desk) -> list[dict[str, Any]]:
    dialog = await desk.dialog_of(SALES, "zoe")
    await desk.app.dialogs.accept(dialog.id, "anna")
    anna = await desk.with_token("anna")
    status, page = await anna.get(f"/dialogs/{dialog.id}/messages")
    assert status == 200, page
    items: list[dict[str, Any]] = page["items"]
    return items


async def test_a_shared_location_and_contact_are_not_an_empty_message(desk: Desk) -> None:
    await desk.online("anna")
    channel = desk.channels[SALES]
    await channel.receive("zoe", location=Location(latitude=52.520008, longitude=13.404954))
    await channel.receive("zoe", contact=ContactShare(phone="+4915112345678", name="Zoe"))
    await desk.app.idle(paced=False)
    location, contact = [m for m in await _history(desk) if m["author"] == "client"]
    assert location["location"] == {"latitude": 52.520008, "longitude": 13.404954}
    assert location["contact"] is None and location["text"] is None
    assert contact["contact"] == {"phone": "+4915112345678", "name": "Zoe"}
    assert contact["location"] is None


async def test_a_button_press_an_unsupported_part_and_every_attachment_kind(desk: Desk) -> None:
    await desk.online("anna")
    channel = desk.channels[SALES]
    await channel.receive("zoe", "Yes, please", button_payload="order:yes")
    await channel.receive("zoe", unsupported=Unsupported(kind="poll"))
    await channel.receive("zoe", attachments=FILES)
    await desk.app.idle(paced=False)
    press, poll, files = [m for m in await _history(desk) if m["author"] == "client"]
    assert (press["text"], press["button_payload"]) == ("Yes, please", "order:yes")
    assert poll["unsupported"] == {"kind": "poll"} and poll["button_payload"] is None
    assert [a["kind"] for a in files["attachments"]] == ["image", "sticker", "link", "document"]
    sticker, link, document = files["attachments"][1:]
    assert (sticker["url"], sticker["file_id"]) == (None, "CAACAgIAAxkB")
    assert (link["url"], link["name"]) == ("https://shop.example/mug", "The mug")
    assert (document["size"], document["mime_type"]) == (48_213, "application/pdf")


async def test_every_field_of_a_message_is_always_present(desk: Desk) -> None:
    """A desk reads ``message["location"]`` without checking for the key first."""
    await desk.client_writes(SALES, "zoe", "hello")
    [message] = [m for m in await _history(desk) if m["author"] == "client"]
    assert {"contact", "location", "button_payload", "unsupported"} <= message.keys()
    assert message["text"] == "hello" and message["location"] is None
