"""The web-chat widget in a real browser, against the real demo application.

The widget renders inside an open shadow root on ``#omniline-chat``; Playwright's CSS and test-id
locators pierce it. Every check is on what the visitor sees in the page, plus, where the brief is
about storage or privacy, on the store and on the WebSocket frames the page received.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Locator, Page, expect

from omniline.app import Omniline
from omniline.model import ChannelRef, Dialog, DialogStatus, Direction, Identity, StoredMessage

pytestmark = pytest.mark.asyncio(loop_scope="module")

DEMO_PATH = "/channels/webchat/site/demo"
WEBCHAT = ChannelRef(type="webchat", account="site")
LINE = "demo"

GREETING = "Hello! I am the Acme Coffee bot. What can I help you with?"
HOURS = (
    "Our roastery café is open Monday to Friday 8:00-19:00 and Saturday 9:00-17:00. "
    "On Sundays we rest."
)
DELIVERY = (
    "We roast on Mondays and Thursdays and ship the same day. Delivery takes 1-3 working "
    "days; orders over 40 EUR ship free."
)
FALLBACK = (
    "I am only a bot and did not understand that. Ask about opening hours or delivery, "
    "or press 'Talk to a person'."
)
MENU = ["Opening hours", "Delivery", "Talk to a person"]

# What one message element shows, read from the DOM.
SHOWN_JS = """els => els.map(e => ({
    id: e.getAttribute('data-id'),
    direction: e.getAttribute('data-direction'),
    name: e.querySelector('.author') ? e.querySelector('.author').textContent : null,
    text: e.querySelector('.bubble').textContent,
}))"""
SHADOW_TEXT_JS = "() => document.getElementById('omniline-chat').shadowRoot.textContent"


# --- helpers ------------------------------------------------------------------------------------


def messages(page: Page) -> Locator:
    return page.get_by_test_id("omniline-messages").get_by_test_id("omniline-message")


def bubbles(page: Page) -> Locator:
    return messages(page).locator(".bubble")


def chips(page: Page) -> Locator:
    return page.get_by_test_id("omniline-buttons").get_by_test_id("omniline-button")


async def expect_menu(page: Page) -> None:
    """The bot's three menu buttons are on screen as reply chips."""
    await expect(page.get_by_test_id("omniline-buttons")).to_be_visible()
    await expect(chips(page)).to_have_text(MENU)
    for chip in await chips(page).all():
        await expect(chip).to_be_visible()


async def shown(page: Page) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await messages(page).evaluate_all(SHOWN_JS)
    return result


async def settled(panel: Locator) -> None:
    """Wait for the panel's opening animation, so boxes and screenshots show where it rests."""
    await panel.evaluate("el => Promise.all(el.getAnimations().map(a => a.finished))")


async def open_demo(page: Page, app: Omniline) -> None:
    """Open the demo site through ``/`` and wait for the widget's launcher."""
    await page.goto(f"{app.url}/")
    assert page.url == f"{app.url}{DEMO_PATH}"
    await expect(page.get_by_test_id("omniline-launcher")).to_be_visible()


async def open_chat(page: Page, app: Omniline) -> None:
    await open_demo(page, app)
    panel = page.get_by_test_id("omniline-panel")
    await expect(panel).to_be_hidden()
    await page.get_by_test_id("omniline-launcher").click()
    await expect(panel).to_be_visible()
    await settled(panel)


async def say(page: Page, text: str) -> None:
    """Type into the composer like a visitor and press Enter."""
    box = page.get_by_test_id("omniline-input")
    await box.press_sequentially(text)
    await box.press("Enter")
    await expect(box).to_have_value("")


async def start_chat(page: Page, app: Omniline) -> None:
    """Open the chat, say hello and wait for the bot's greeting and its buttons."""
    await open_chat(page, app)
    await say(page, "hello")
    await expect(bubbles(page)).to_have_text(["hello", GREETING])
    await expect_menu(page)


async def all_stored(page: Page) -> None:
    """Wait until no message waits for the server any more (each one has its server id)."""
    waiting = page.locator('[data-testid="omniline-message"]:is([data-pending], :not([data-id]))')
    await expect(waiting).to_have_count(0)


async def visitor(page: Page, app: Omniline) -> Identity:
    """The visitor this browser is, from the widget's session in localStorage."""
    key = f"omniline:{app.url}/channels/webchat/site/"
    visitor_id = await page.evaluate("k => JSON.parse(localStorage.getItem(k)).visitor_id", key)
    assert isinstance(visitor_id, str) and visitor_id
    return Identity(channel=WEBCHAT, external_id=visitor_id)


async def history(app: Omniline, identity: Identity) -> list[StoredMessage]:
    return await app.store.dialogs.identity_history(identity, limit=1000)


async def dialog_of(app: Omniline, identity: Identity) -> Dialog:
    async with asyncio.timeout(10):
        await app.idle()
    dialog = await app.store.dialogs.open_of(identity, LINE)
    assert dialog is not None, "the visitor has no open dialog"
    return dialog


async def shot(page: Page, artifacts: Path, name: str) -> None:
    await page.screenshot(path=artifacts / f"webchat-{name}.png")


def assert_each_once(seen: list[dict[str, Any]]) -> None:
    ids = [m["id"] for m in seen]
    assert None not in ids, f"a message has no server id: {seen}"
    assert len(ids) == len(set(ids)), f"a message is shown twice: {seen}"
    assert ids == sorted(ids, key=int), f"messages are out of order: {seen}"


# --- tests --------------------------------------------------------------------------------------


async def test_hello_gets_the_bot_greeting_with_buttons(
    page: Page, app: Omniline, artifacts: Path
) -> None:
    await open_chat(page, app)
    box = page.get_by_test_id("omniline-input")
    await expect(box).to_be_focused()

    await say(page, "hello")

    await expect(bubbles(page)).to_have_text(["hello", GREETING])
    await expect_menu(page)
    await all_stored(page)
    seen = await shown(page)
    assert [m["direction"] for m in seen] == ["in", "out"]
    await expect(messages(page).nth(1)).to_have_attribute("data-author", "bot")
    assert seen[1]["name"] is None, "bot messages show no operator name"
    mine, bot = messages(page).nth(0), messages(page).nth(1)
    mine_box, bot_box = await mine.bounding_box(), await bot.bounding_box()
    assert mine_box is not None and bot_box is not None
    assert mine_box["x"] > bot_box["x"], "the visitor's message sits right, the bot's left"
    assert mine_box["y"] < bot_box["y"]
    await expect(page.get_by_test_id("omniline-error")).to_be_hidden()
    await shot(page, artifacts, "1-greeting-with-buttons")

    stored = await history(app, await visitor(page, app))
    assert [(m.direction, m.author, m.text) for m in stored] == [
        (Direction.IN, "client", "hello"),
        (Direction.OUT, "bot", GREETING),
    ]
    assert [str(m.id) for m in stored] == [m["id"] for m in seen]


async def test_button_chip_sends_its_label_and_gets_the_answer(
    page: Page, app: Omniline, artifacts: Path
) -> None:
    await start_chat(page, app)

    await chips(page).filter(has_text="Opening hours").click()

    await expect(bubbles(page)).to_have_text(["hello", GREETING, "Opening hours", HOURS])
    await expect_menu(page)  # the answer offers the menu again
    await all_stored(page)
    seen = await shown(page)
    assert [m["direction"] for m in seen] == ["in", "out", "in", "out"]
    await shot(page, artifacts, "2-opening-hours")

    pressed = (await history(app, await visitor(page, app)))[2]
    assert (pressed.direction, pressed.text, pressed.button_payload) == (
        Direction.IN,
        "Opening hours",
        "hours",
    )


async def test_reload_keeps_the_conversation_once(
    page: Page, app: Omniline, artifacts: Path
) -> None:
    await start_chat(page, app)
    await chips(page).filter(has_text="Opening hours").click()
    await expect(bubbles(page)).to_have_text(["hello", GREETING, "Opening hours", HOURS])
    await all_stored(page)
    before = await shown(page)
    assert_each_once(before)

    await page.reload()

    panel = page.get_by_test_id("omniline-panel")
    await expect(panel).to_be_visible()  # still open, nobody clicked the launcher
    await expect(page.get_by_test_id("omniline-launcher")).to_have_attribute(
        "aria-expanded", "true"
    )
    await expect(bubbles(page)).to_have_text(["hello", GREETING, "Opening hours", HOURS])
    await all_stored(page)
    assert await shown(page) == before
    await expect_menu(page)
    await settled(panel)
    await shot(page, artifacts, "3-after-reload")

    # The live connection made after the reload neither repeats the history nor misses news.
    await say(page, "delivery")
    expected = ["hello", GREETING, "Opening hours", HOURS, "delivery", DELIVERY]
    await expect(bubbles(page)).to_have_text(expected)
    await all_stored(page)
    after = await shown(page)
    assert after[:4] == before
    assert_each_once(after)
    await expect(page.locator('[data-testid="omniline-message"][data-id]')).to_have_count(6)


async def test_operator_reply_arrives_live_and_whispers_stay_hidden(
    page: Page, app: Omniline, artifacts: Path
) -> None:
    frames: list[str] = []
    page.on(
        "websocket",
        lambda ws: ws.on(
            "framereceived",
            lambda payload: frames.append(
                payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
            ),
        ),
    )
    whisper = "WHISPER-7f3a: this visitor ordered twice, check the refund"
    await start_chat(page, app)

    await chips(page).filter(has_text="Talk to a person").click()

    await expect(bubbles(page)).to_have_text(["hello", GREETING, "Talk to a person"])
    await all_stored(page)
    await expect(page.get_by_test_id("omniline-buttons")).to_be_hidden()
    identity = await visitor(page, app)
    dialog = await dialog_of(app, identity)
    # Nobody is online in the demo, so the dialog waits with the first operator of the queue.
    assert (dialog.status, dialog.operator_id) == (DialogStatus.OFFERED, "anna"), (
        "pressing 'Talk to a person' hands the dialog to the queue"
    )

    await page.evaluate("() => { window.__sameDocument = true; }")
    await app.dialogs.accept(dialog.id, "anna")
    await app.dialogs.whisper(dialog.id, "anna", whisper)
    await app.dialogs.reply(dialog.id, "anna", "Anna here")
    internal = await app.store.dialogs.messages(dialog.id, limit=1000, with_internal=True)
    assert whisper in [m.text for m in internal], "the whisper was not stored for operators"

    await expect(bubbles(page)).to_have_text(["hello", GREETING, "Talk to a person", "Anna here"])
    reply = messages(page).last
    await expect(reply.locator(".author")).to_have_text("Anna Petrova")
    await expect(reply).to_have_attribute("data-author", "operator")
    assert await page.evaluate("() => window.__sameDocument") is True, "the page was reloaded"
    assert any("Anna here" in f for f in frames), "the reply did not come over the WebSocket"
    assert not any("WHISPER-7f3a" in f for f in frames)
    assert "WHISPER-7f3a" not in await page.evaluate(SHADOW_TEXT_JS)
    assert "WHISPER-7f3a" not in await page.evaluate("() => document.body.innerText")
    await shot(page, artifacts, "4-operator-reply")

    await page.reload()
    await expect(bubbles(page)).to_have_text(["hello", GREETING, "Talk to a person", "Anna here"])
    await expect(messages(page).last.locator(".author")).to_have_text("Anna Petrova")
    assert_each_once(await shown(page))
    assert "WHISPER-7f3a" not in await page.evaluate(SHADOW_TEXT_JS)
    assert not any("WHISPER-7f3a" in f for f in frames)
    await settled(page.get_by_test_id("omniline-panel"))
    await shot(page, artifacts, "4-operator-reply-after-reload")


async def test_html_from_the_visitor_is_shown_as_text(
    page: Page, app: Omniline, artifacts: Path
) -> None:
    markup = '<img src=x onerror="window.__xss=1"><b>bold</b>'
    await open_chat(page, app)

    await say(page, markup)

    await expect(bubbles(page)).to_have_text([markup, FALLBACK])
    await all_stored(page)
    listing = page.get_by_test_id("omniline-messages")

    async def still_text() -> None:
        assert (await shown(page))[0]["text"] == markup
        await expect(listing.locator("b, img")).to_have_count(0)
        assert await page.evaluate("() => typeof window.__xss") == "undefined"

    await still_text()
    await shot(page, artifacts, "5-html-as-text")

    # The same text read back from the history after a reload.
    await page.reload()
    await expect(bubbles(page)).to_have_text([markup, FALLBACK])
    await still_text()
    stored = await history(app, await visitor(page, app))
    assert stored[0].text == markup


async def test_phone_panel_fills_the_screen(
    phone_context: BrowserContext, app: Omniline, artifacts: Path
) -> None:
    page = await phone_context.new_page()
    await open_chat(page, app)

    box = await page.get_by_test_id("omniline-panel").bounding_box()
    assert box is not None
    assert [round(box[k]) for k in ("x", "y", "width", "height")] == [0, 0, 375, 740]
    await expect(page.get_by_test_id("omniline-launcher")).to_be_hidden()
    for part in ("omniline-close", "omniline-input", "omniline-send"):
        await expect(page.get_by_test_id(part)).to_be_in_viewport(ratio=1)
    await say(page, "hello")
    await expect(bubbles(page)).to_have_text(["hello", GREETING])
    await expect_menu(page)
    await shot(page, artifacts, "6-phone-375x740")

    await page.get_by_test_id("omniline-close").click()
    await expect(page.get_by_test_id("omniline-panel")).to_be_hidden()
    await expect(page.get_by_test_id("omniline-launcher")).to_be_visible()


async def test_laptop_panel_floats_over_the_page(
    page: Page, app: Omniline, artifacts: Path
) -> None:
    await open_chat(page, app)

    box = await page.get_by_test_id("omniline-panel").bounding_box()
    assert box is not None
    assert box["width"] < 1280 / 2 and box["height"] < 800, box
    assert box["x"] > 1280 / 2 and box["y"] > 0, "the panel sits bottom right"
    await expect(page.locator("h1")).to_be_in_viewport()  # the site stays visible beside it
    await expect(page.get_by_test_id("omniline-launcher")).to_be_visible()
    await shot(page, artifacts, "6-laptop-1280x800")
