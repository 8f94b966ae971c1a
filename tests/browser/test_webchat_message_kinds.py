"""What the visitor sees in the widget besides text, in Chromium: a shared web page as a link with
its title, a file as a download with its size, video and sound with players, a file the
business knows only by a messenger's id as its kind and name (nothing fetched), and the phone the
visitor gave as a small contact card, shown at once. Names and titles are text, never HTML.

The application has one line with the web chat and a bot that answers with attachments.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from omniline import Config, Omniline
from omniline.model import Attachment, AttachmentKind, OutboundMessage
from omniline.pipeline import MessageContext, Router

pytestmark = pytest.mark.asyncio(loop_scope="module")

DEMO_PATH = "/channels/webchat/site/demo"
FILES = (
    Attachment(kind=AttachmentKind.LINK, url="https://shop.invalid/mug", name="<b>The mug</b>"),
    Attachment(
        kind=AttachmentKind.DOCUMENT,
        url="https://cdn.invalid/invoice.pdf",
        name="invoice.pdf",
        size=48_213,
    ),
    Attachment(kind=AttachmentKind.VIDEO, url="https://cdn.invalid/how-to.mp4", name="How to"),
    Attachment(kind=AttachmentKind.VOICE, url="https://cdn.invalid/hello.ogg"),
    Attachment(kind=AttachmentKind.STICKER, file_id="CAACAgIAAxkB", name="thumbs up"),
)


def shop_bot() -> Router:
    bot = Router()

    @bot.message()
    async def answer(ctx: MessageContext) -> None:
        if ctx.text:
            ctx.reply(OutboundMessage(text="Here you go", attachments=FILES))

    return bot


@pytest_asyncio.fixture(loop_scope="module")
async def shop(tmp_path: Path) -> AsyncIterator[Omniline]:
    config = Config.model_validate(
        {
            "storage": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
            "server": {"host": "127.0.0.1", "port": 0},
            "lines": [
                {
                    "id": "shop",
                    "name": "Shop",
                    "channels": [
                        {"type": "webchat", "account": "site", "settings": {"secret": "s" * 32}}
                    ],
                }
            ],
        }
    )
    app = Omniline(config, bots={"shop": shop_bot()}, migrate=True)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def open_widget(browser: Browser, shop: Omniline) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = await context.new_page()
    await page.goto(f"{shop.url}{DEMO_PATH}")
    await page.get_by_test_id("omniline-launcher").click()
    await expect(page.get_by_test_id("omniline-panel")).to_be_visible()
    return page


async def test_the_visitor_sees_links_files_players_and_their_contact_card(
    browser: Browser, shop: Omniline, artifacts: Path
) -> None:
    page = await open_widget(browser, shop)
    box = page.get_by_test_id("omniline-input")
    await box.fill("Do you have mugs?")
    await box.press("Enter")
    answer = page.locator('[data-testid="omniline-message"][data-direction="out"]').last
    await expect(answer.locator(".bubble")).to_contain_text("Here you go")

    link = answer.locator(".att-link")
    await expect(link).to_have_attribute("href", "https://shop.invalid/mug")
    await expect(link.locator(".att-title")).to_have_text("<b>The mug</b>")
    await expect(link.locator(".att-sub")).to_have_text("shop.invalid")
    document = answer.locator('a.att-file[data-kind="document"]')
    await expect(document).to_have_text("invoice.pdf · 47 KB")
    await expect(answer.locator("video[controls]")).to_have_attribute(
        "src", "https://cdn.invalid/how-to.mp4"
    )
    await expect(answer.locator("audio[controls]")).to_have_attribute(
        "src", "https://cdn.invalid/hello.ogg"
    )
    sticker = answer.locator('[data-kind="sticker"]')
    await expect(sticker).to_have_text("Sticker: thumbs up")
    await expect(answer.locator("img")).to_have_count(0)  # nothing to fetch, no broken image
    await expect(answer.locator("b")).to_have_count(0)

    await page.evaluate(
        "() => window.OmnilineChat.setProfile({name: 'Zoe <i>W</i>', phone: '+49 30 1234567'})"
    )
    card = page.get_by_test_id("omniline-contact")
    await expect(card).to_contain_text("Zoe <i>W</i>")
    await expect(card.locator("a")).to_have_attribute("href", "tel:+49301234567")
    await expect(card.locator("i")).to_have_count(0)
    await page.screenshot(path=artifacts / "widget-message-kinds.png")
    await page.context.close()
