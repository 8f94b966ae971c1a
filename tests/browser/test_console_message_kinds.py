"""Every kind of message a client sends, as the operator sees it in the console, in Chromium.

Before, a location or a shared contact was an empty bubble. Now: a location is a map link with
its coordinates, a contact a card with a number to call, pictures and stickers inline, video and
sound with players, files as downloads with their size, a shared page as a link with its title,
a button press as its label and a ``button: payload`` tag, an unsupported part as a muted notice,
and a file known only by a messenger's id as a placeholder (never a broken image). Whatever the
client wrote into names, titles and kinds is shown as text, never run as HTML.

The application is the desk of ``tests/console`` (fake messenger channels, accounts of every
role); the client writes in through the fake channel.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from omniline.model import Attachment, AttachmentKind, ContactShare, Location, Unsupported
from tests.console.conftest import PASSWORD, SALES, Desk, start_desk, stop_desk

pytestmark = pytest.mark.asyncio(loop_scope="module")

OSM = "https://www.openstreetmap.org/?mlat=52.52001&mlon=13.40495#map=16/52.52001/13.40495"
HOSTILE = '<img src=x onerror="window.__pwned=1">'


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A one-colour PNG, made here so the test needs no image on disk or on the network."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


@pytest_asyncio.fixture(loop_scope="module")
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    running = await start_desk(f"sqlite:///{tmp_path / 'desk.db'}", "sqlite")
    try:
        yield running
    finally:
        await stop_desk(running)


async def upload_picture(desk: Desk) -> str:
    """A picture kept by omniline (as an operator's upload is), so the browser can load it."""
    anna = await desk.with_token("anna")
    form = aiohttp.FormData()
    form.add_field(
        "file", png(160, 100, (37, 99, 235)), filename="parcel.png", content_type="image/png"
    )
    status, body = await anna.call("POST", "/files", data=form)
    assert status == 201, body
    url: str = body["url"]
    return url


async def client_sends_every_kind(desk: Desk) -> None:
    picture = await upload_picture(desk)
    zoe = desk.channels[SALES]
    await zoe.receive("zoe", "Hi, the parcel did not come. I am here:", display_name="Zoe")
    await zoe.receive("zoe", location=Location(latitude=52.520008, longitude=13.404954))
    await zoe.receive("zoe", contact=ContactShare(phone="+4915112345678", name="Zoe Weber"))
    await zoe.receive(
        "zoe",
        "The box",
        attachments=[Attachment(kind=AttachmentKind.IMAGE, url=picture, name="parcel.png")],
    )
    await zoe.receive(
        "zoe", attachments=[Attachment(kind=AttachmentKind.STICKER, file_id="CAACAgIAAxkB")]
    )
    await zoe.receive(
        "zoe",
        attachments=[
            Attachment(kind=AttachmentKind.VIDEO, url="https://cdn.invalid/unboxing.mp4"),
            Attachment(kind=AttachmentKind.VOICE, url="https://cdn.invalid/voice.ogg"),
            Attachment(
                kind=AttachmentKind.DOCUMENT,
                url="https://cdn.invalid/invoice.pdf",
                name="invoice.pdf",
                size=48_213,
            ),
            Attachment(
                kind=AttachmentKind.LINK, url="https://shop.invalid/orders/17", name="Order 17"
            ),
        ],
    )
    await zoe.receive("zoe", "Yes, send a new one", button_payload="resend:yes")
    await zoe.receive("zoe", unsupported=Unsupported(kind="poll"))
    # Everything a client controls, written to break out of its place.
    await zoe.receive(
        "zoe",
        HOSTILE,
        contact=ContactShare(phone="+49 30 1234567", name="<b>bold</b>"),
        attachments=[
            Attachment(
                kind=AttachmentKind.LINK,
                url="https://shop.invalid/",
                name="<script>window.__pwned=2</script>",
            ),
            Attachment(
                kind=AttachmentKind.DOCUMENT,
                url="javascript:window.__pwned=3",
                name='"><img src=x onerror=window.__pwned=4>',
            ),
        ],
        button_payload='"><i>payload</i>',
        unsupported=Unsupported(kind="<i>dice</i>"),
    )
    await desk.app.idle(paced=False)


async def open_the_dialog(browser: Browser, desk: Desk) -> Page:
    await desk.online("anna")
    dialog = await desk.dialog_of(SALES, "zoe")
    await desk.app.dialogs.accept(dialog.id, "anna")
    context = await browser.new_context(viewport={"width": 1280, "height": 1500})
    context.set_default_timeout(10_000)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{desk.url}/console/")
    await page.get_by_test_id("login-name").fill("anna")
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    items = page.get_by_test_id("my-dialogs").get_by_test_id("dialog-item")
    await expect(items).to_have_count(1)
    await items.first.click()
    await expect(page.get_by_test_id("chat").get_by_test_id("chat-message")).to_have_count(9)
    assert not errors, errors
    return page


async def test_every_kind_of_message_is_shown_and_nothing_is_run(
    browser: Browser, desk: Desk, artifacts: Path
) -> None:
    await client_sends_every_kind(desk)
    page = await open_the_dialog(browser, desk)
    chat = page.get_by_test_id("chat")
    messages = chat.get_by_test_id("chat-message")

    location = messages.nth(1).get_by_test_id("location")
    await expect(location).to_have_attribute("href", OSM)
    await expect(location).to_contain_text("52.52001, 13.40495")

    contact = messages.nth(2).get_by_test_id("contact")
    await expect(contact).to_contain_text("Zoe Weber")
    await expect(contact.locator("a")).to_have_attribute("href", "tel:+4915112345678")

    picture = messages.nth(3).locator("img")
    await expect(picture).to_have_attribute("loading", "lazy")
    await expect(picture).to_have_js_property("complete", True)
    assert await picture.evaluate("img => img.naturalWidth") == 160
    box = await picture.bounding_box()
    assert box is not None and box["width"] <= 280 and box["height"] <= 220

    sticker = messages.nth(4)
    await expect(sticker.locator("img")).to_have_count(0)  # no broken image
    placeholder = sticker.get_by_test_id("attachment-missing")
    await expect(placeholder).to_contain_text("Sticker")
    await expect(placeholder).to_contain_text("kept by the messenger, no preview")

    files = messages.nth(5)
    await expect(files.locator("video[controls]")).to_have_attribute(
        "src", "https://cdn.invalid/unboxing.mp4"
    )
    await expect(files.locator("audio[controls]")).to_have_attribute(
        "src", "https://cdn.invalid/voice.ogg"
    )
    download = files.locator("a.download")
    await expect(download).to_have_text("invoice.pdf · 47 KB")
    await expect(download).to_have_attribute("href", "https://cdn.invalid/invoice.pdf")
    link = files.get_by_test_id("link")
    await expect(link).to_have_attribute("href", "https://shop.invalid/orders/17")
    await expect(link).to_contain_text("Order 17")

    press = messages.nth(6)
    await expect(press.locator(".text")).to_have_text("Yes, send a new one")
    await expect(press.get_by_test_id("button-press")).to_have_text("button: resend:yes")

    await expect(messages.nth(7).get_by_test_id("unsupported")).to_have_text(
        "Unsupported message: poll"
    )

    await page.screenshot(path=artifacts / "console-message-kinds.png")

    hostile = messages.nth(8)
    await expect(hostile.locator(".text")).to_have_text(HOSTILE)
    await expect(hostile.get_by_test_id("contact")).to_contain_text("<b>bold</b>")
    await expect(hostile.get_by_test_id("link")).to_contain_text(
        "<script>window.__pwned=2</script>"
    )
    await expect(hostile.get_by_test_id("button-press")).to_have_text('button: "><i>payload</i>')
    await expect(hostile.get_by_test_id("unsupported")).to_have_text(
        "Unsupported message: <i>dice</i>"
    )
    # A javascript: address is no link: the file is named, not opened.
    await expect(hostile.locator("a[href^='javascript']")).to_have_count(0)
    named = hostile.get_by_test_id("attachment-missing")
    await expect(named).to_contain_text('"><img src=x onerror=window.__pwned=4>')
    await expect(named).to_contain_text("not a web address, not opened")
    await expect(chat.locator("b, i, script, img[src='x']")).to_have_count(0)
    assert await page.evaluate("() => window.__pwned") is None
