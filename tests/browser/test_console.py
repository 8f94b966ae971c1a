"""The operator console in a real browser, against the real demo application.

Operators ``anna`` and ``boris`` and supervisor ``sam`` each log in in their own browser context;
the client writes in the web-chat widget in another one. Everything the test checks is on screen
(or, for privacy, in the frames a page received), and the console learns everything live through
its push connection: no test reloads a page to see news, except where reloading is the point.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from omniline.app import Omniline
from omniline.demo import demo_credentials

pytestmark = pytest.mark.asyncio(loop_scope="module")

DEMO_PATH = "/channels/webchat/site/demo"
CONSOLE_PATH = "/console/"
GREETING = "Hello! I am the Acme Coffee bot. What can I help you with?"
RATING_QUESTION = "Please rate how we helped you:"
RATING_THANKS = "Thank you for your rating!"
FIVE_STARS = "★★★★★"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}
SHADOW_TEXT_JS = "() => document.getElementById('omniline-chat').shadowRoot.textContent"

# Lets a test drop the console's push connection and keep it down for a while: the page's
# WebSocket constructor throws while ``window.__holdPush`` is true.
HOLD_PUSH_JS = """(() => {
  const Native = window.WebSocket;
  window.__holdPush = false;
  window.__sockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      if (window.__holdPush) throw new Error('held by the test');
      super(...args);
      window.__sockets.push(this);
    }
  };
})();"""

NewContext = Callable[..., Awaitable[BrowserContext]]


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def credentials(app: Omniline, tmp_path: Path) -> dict[str, str]:
    """The demo accounts' passwords (``app`` made them in ``tmp_path / "demo"``)."""
    found = demo_credentials(tmp_path / "demo")
    assert {"anna", "boris", "sam"} <= set(found), found
    return found


@pytest.fixture
def page_errors() -> list[str]:
    """Uncaught script errors of the pages watched with ``watch``; a test ends expecting none."""
    return []


def watch(context: BrowserContext, errors: list[str]) -> BrowserContext:
    context.on("weberror", lambda e: errors.append(f"{e.page.url if e.page else ''}: {e.error}"))
    return context


@pytest_asyncio.fixture(loop_scope="module")
async def new_context(
    browser: Browser,
    app: Omniline,
    request: pytest.FixtureRequest,
    artifacts: Path,
    page_errors: list[str],
) -> AsyncIterator[NewContext]:
    """Makes more browser profiles (one per person in the scenario); all close before the
    application stops, and leave screenshots behind when the test failed."""
    made: list[BrowserContext] = []

    async def make(**options: object) -> BrowserContext:
        options.setdefault("viewport", LAPTOP)
        ctx = await browser.new_context(**options)  # type: ignore[arg-type]
        ctx.set_default_timeout(10_000)
        made.append(watch(ctx, page_errors))
        return ctx

    yield make
    report = getattr(request.node, "report_call", None)
    failed = report is not None and report.failed
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    for i, ctx in enumerate(made):
        for j, page in enumerate(ctx.pages):
            if failed:
                with contextlib.suppress(Exception):
                    await page.screenshot(path=artifacts / f"FAILED-{name}-ctx{i}-{j}.png")
        await ctx.close()


# --- console helpers ----------------------------------------------------------------------------


async def open_console(context: BrowserContext, app: Omniline) -> Page:
    page = await context.new_page()
    await page.goto(f"{app.url}{CONSOLE_PATH}")
    await expect(page.get_by_test_id("login-form")).to_be_visible()
    return page


async def log_in(page: Page, login: str, password: str) -> None:
    await page.get_by_test_id("login-name").fill(login)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("logout")).to_be_visible()
    await expect(page.get_by_test_id("login-form")).to_be_hidden()


async def operator_console(
    context: BrowserContext, app: Omniline, credentials: dict[str, str], login: str
) -> Page:
    """An operator logged in, with their working day started (so they get offers)."""
    page = await open_console(context, app)
    await log_in(page, login, credentials[login])
    presence = page.get_by_test_id("presence")
    await expect(presence).to_have_attribute("data-shift", "not_started")
    await page.get_by_test_id("shift-start").click()
    await expect(presence).to_have_attribute("data-shift", "working")
    await expect(presence).to_have_attribute("data-presence", "online")
    await expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    return page


def chat_messages(page: Page) -> Locator:
    return page.get_by_test_id("chat").get_by_test_id("chat-message")


def chat_texts(page: Page) -> Locator:
    return chat_messages(page).locator(".text")


def queue_items(page: Page) -> Locator:
    return page.get_by_test_id("queue").get_by_test_id("queue-item")


def dialog_items(page: Page) -> Locator:
    return page.get_by_test_id("my-dialogs").get_by_test_id("dialog-item")


async def send(page: Page, text: str, *, whisper: bool = False) -> None:
    toggle = page.get_by_test_id("whisper-toggle")
    if (await toggle.get_attribute("aria-pressed") == "true") != whisper:
        await toggle.click()
    await expect(toggle).to_have_attribute("aria-pressed", "true" if whisper else "false")
    await page.get_by_test_id("reply-text").fill(text)
    await page.get_by_test_id("send").click()
    await expect(page.get_by_test_id("reply-text")).to_have_value("")


async def accept_offer(page: Page) -> None:
    """Accept the one dialog offered to this operator and wait until it is open in the chat."""
    offer = queue_items(page)
    await expect(offer).to_have_count(1)
    await expect(offer).to_have_attribute("data-status", "offered")
    await offer.get_by_test_id("accept").click()
    await expect(queue_items(page)).to_have_count(0)
    await expect(dialog_items(page)).to_have_count(1)
    await expect(page.get_by_test_id("chat-status")).to_have_text("Active")


async def assert_each_once(page: Page) -> None:
    ids = await chat_messages(page).evaluate_all("els => els.map(e => e.dataset.id)")
    assert len(ids) == len(set(ids)), f"a message is shown twice: {ids}"


async def console_shot(page: Page, artifacts: Path, name: str) -> None:
    await page.screenshot(path=artifacts / f"console-{name}.png")


# --- widget helpers (the client's side) ---------------------------------------------------------


def bubbles(widget: Page) -> Locator:
    return (
        widget.get_by_test_id("omniline-messages")
        .get_by_test_id("omniline-message")
        .locator(".bubble")
    )


def chips(widget: Page) -> Locator:
    return widget.get_by_test_id("omniline-buttons").get_by_test_id("omniline-button")


async def client_widget(context: BrowserContext, app: Omniline) -> Page:
    widget = await context.new_page()
    await widget.goto(f"{app.url}{DEMO_PATH}")
    await widget.get_by_test_id("omniline-launcher").click()
    await expect(widget.get_by_test_id("omniline-panel")).to_be_visible()
    return widget


async def say(widget: Page, text: str) -> None:
    box = widget.get_by_test_id("omniline-input")
    await box.fill(text)
    await box.press("Enter")
    await expect(box).to_have_value("")
    # Stored on the server once the message has its id.
    pending = widget.locator('[data-testid="omniline-message"]:is([data-pending], :not([data-id]))')
    await expect(pending).to_have_count(0)


async def ask_for_a_person(widget: Page, first: str = "hello") -> None:
    """Say something to the bot, then press its 'Talk to a person' button."""
    await say(widget, first)
    await expect(chips(widget).filter(has_text="Talk to a person")).to_be_visible()
    await chips(widget).filter(has_text="Talk to a person").click()
    await expect(bubbles(widget).last).to_have_text("Talk to a person")


# --- tests --------------------------------------------------------------------------------------


async def test_wrong_password_shows_the_error(
    page: Page,
    app: Omniline,
    credentials: dict[str, str],
    artifacts: Path,
    page_errors: list[str],
) -> None:
    watch(page.context, page_errors)
    await page.goto(f"{app.url}{CONSOLE_PATH}")
    await page.get_by_test_id("login-name").fill("anna")
    await page.get_by_test_id("login-password").fill(credentials["anna"] + "-wrong")
    await page.get_by_test_id("login-submit").click()

    error = page.get_by_test_id("login-error")
    await expect(error).to_be_visible()
    await expect(error).not_to_be_empty()
    await expect(page.get_by_test_id("logout")).to_be_hidden()
    await console_shot(page, artifacts, "login-error")

    # The right password still works after a wrong one.
    await log_in(page, "anna", credentials["anna"])
    await expect(page.get_by_test_id("account")).to_have_text("Anna Petrova")
    assert page_errors == []


async def test_too_many_attempts_say_how_long_to_wait(
    page: Page,
    app: Omniline,
    credentials: dict[str, str],
    page_errors: list[str],
) -> None:
    watch(page.context, page_errors)
    await page.goto(f"{app.url}{CONSOLE_PATH}")
    error = page.get_by_test_id("login-error")
    await page.get_by_test_id("login-name").fill("boris")
    for attempt in range(1, 10):
        await page.get_by_test_id("login-password").fill(f"guess-{attempt}")
        await page.get_by_test_id("login-submit").click()
        await expect(error).to_be_visible()
        await expect(page.get_by_test_id("login-submit")).to_be_enabled()
        if "too many" in (await error.text_content() or "").lower():
            break
    else:
        pytest.fail("the server never refused the login attempts")
    await expect(error).to_have_text(re.compile(r"^Too many .*\(in \d+ s\)\.$"))
    assert attempt > 1, "the first attempt is never refused"
    assert page_errors == []


async def test_a_dialog_from_offer_to_rating_and_statistics(
    context: BrowserContext,
    new_context: NewContext,
    app: Omniline,
    credentials: dict[str, str],
    artifacts: Path,
    page_errors: list[str],
) -> None:
    watch(context, page_errors)
    anna = await operator_console(context, app, credentials, "anna")
    boris = await operator_console(await new_context(), app, credentials, "boris")
    widget = await client_widget(await new_context(), app)
    frames: list[str] = []
    widget.on(
        "websocket",
        lambda ws: ws.on(
            "framereceived",
            lambda payload: frames.append(
                payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
            ),
        ),
    )

    # The client asks for a person; the offer reaches Anna (strict queue: anna, boris) live.
    await ask_for_a_person(widget)
    offer = queue_items(anna)
    await expect(offer).to_have_count(1)
    await expect(offer.get_by_test_id("skip")).to_be_visible()
    await expect(anna).to_have_title("(1) New dialog - omniline")
    await expect(queue_items(boris)).to_have_count(0)
    await console_shot(anna, artifacts, "offer")

    await accept_offer(anna)
    await expect(anna).not_to_have_title(re.compile(r"New dialog"))
    await expect(chat_texts(anna)).to_have_text([re.compile("hello"), GREETING, "Talk to a person"])
    await expect(chat_messages(anna).first).to_have_attribute("data-author", "client")
    await expect(chat_messages(anna).nth(1)).to_have_class(re.compile(r"\bmsg-system\b"))
    await expect(anna.get_by_test_id("client-card")).to_be_visible()
    await expect(anna.get_by_test_id("client-card").get_by_test_id("identities")).to_be_visible()

    # A reply reaches the client; a whisper never does.
    await send(anna, "Hi, Anna here. How can I help?")
    await expect(bubbles(widget).last).to_have_text("Hi, Anna here. How can I help?")
    whisper = "WHISPER-51c: regular customer, offer the loyalty discount"
    await send(anna, whisper, whisper=True)
    shown = chat_messages(anna).filter(has_text=whisper)
    await expect(shown).to_have_attribute("data-visibility", "operators")
    await expect(shown).to_have_class(re.compile(r"\bwhisper\b"))
    await expect(shown.get_by_test_id("whisper-label")).to_have_text(
        re.compile("only operators see this")
    )
    shade = await shown.evaluate("e => getComputedStyle(e).backgroundImage")
    assert shade != "none", "a whisper is shaded"
    await send(anna, "One moment, please.")
    # The client got the reply sent after the whisper, so the whisper would be there by now.
    await expect(bubbles(widget).last).to_have_text("One moment, please.")
    assert whisper not in await widget.evaluate(SHADOW_TEXT_JS)
    assert not any("WHISPER-51c" in f for f in frames), "the whisper reached the client's page"
    await assert_each_once(anna)
    await console_shot(anna, artifacts, "chat")

    # Transfer to Boris: an offer to him, with the whole history (the whisper too).
    await anna.get_by_test_id("transfer").click()
    await anna.get_by_test_id("transfer-operator").select_option("boris")
    await anna.get_by_test_id("transfer-submit").click()
    await expect(anna.get_by_test_id("transfer-dialog")).to_have_count(0)
    await expect(dialog_items(anna)).to_have_count(0)
    await accept_offer(boris)
    await expect(chat_texts(boris)).to_have_text(
        [
            re.compile("hello"),
            GREETING,
            "Talk to a person",
            "Hi, Anna here. How can I help?",
            whisper,
            "One moment, please.",
        ]
    )
    await expect(chat_messages(boris).filter(has_text=whisper)).to_have_attribute(
        "data-visibility", "operators"
    )
    await send(boris, "Boris here, the discount is yours.")
    await expect(bubbles(widget).last).to_have_text("Boris here, the discount is yours.")

    # Close; the client rates the dialog in the widget.
    await boris.get_by_test_id("close").click()
    await expect(boris.get_by_test_id("chat-status")).to_have_text("Closed")
    await expect(dialog_items(boris)).to_have_count(0)
    await expect(chips(widget)).to_have_count(5)
    await expect(widget.get_by_text(RATING_QUESTION)).to_be_visible()
    await chips(widget).filter(has_text=re.compile(f"^{FIVE_STARS}$")).click()
    await expect(bubbles(widget).last).to_have_text(RATING_THANKS)
    await console_shot(boris, artifacts, "closed")

    # The supervisor sees it in the statistics.
    sam = await open_console(await new_context(), app)
    await log_in(sam, "sam", credentials["sam"])
    await expect(sam.get_by_test_id("shift-start")).to_be_hidden()  # takes no dialogs
    await expect(anna.get_by_test_id("stats-nav")).to_be_hidden()
    await sam.get_by_test_id("stats-nav").click()
    stats = sam.get_by_test_id("stats-page")
    await expect(stats).to_be_visible()
    await expect(stats.get_by_test_id("stat-dialogs")).to_have_text("1")
    await expect(stats.get_by_test_id("stat-rating")).to_have_text(re.compile(r"^5\.0 / 5 \(1\)"))
    five = stats.get_by_test_id("chart-ratings").locator(f'rect[data-label="{FIVE_STARS}"]')
    await expect(five).to_have_attribute("data-value", "1")
    today = stats.get_by_test_id("chart-by-day").locator("rect[data-value='1']")
    await expect(today).to_have_count(1)
    await expect(stats.get_by_test_id("chart-first-response").locator("rect")).not_to_have_count(0)
    await stats.get_by_test_id("range-30d").click()
    await expect(stats.get_by_test_id("range-30d")).to_have_attribute("aria-pressed", "true")
    await expect(stats.get_by_test_id("chart-by-day").locator("rect")).to_have_count(30)
    await expect(stats.get_by_test_id("stat-dialogs")).to_have_text("1")
    await console_shot(sam, artifacts, "stats")

    await sam.get_by_test_id("logout").click()
    await expect(sam.get_by_test_id("login-form")).to_be_visible()
    await sam.reload()
    await expect(sam.get_by_test_id("login-form")).to_be_visible()  # the session is gone
    assert page_errors == []


async def test_html_from_the_client_is_shown_as_text(
    context: BrowserContext,
    new_context: NewContext,
    app: Omniline,
    credentials: dict[str, str],
    artifacts: Path,
    page_errors: list[str],
) -> None:
    watch(context, page_errors)
    markup = '<b>x</b><img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
    anna = await operator_console(context, app, credentials, "anna")
    widget = await client_widget(await new_context(), app)

    await ask_for_a_person(widget, first=markup)

    await expect(queue_items(anna)).to_have_count(1)
    await queue_items(anna).locator(".item-main").click()  # a look before accepting
    await expect(chat_texts(anna).first).to_have_text(markup)
    await accept_offer(anna)
    await expect(chat_texts(anna).first).to_have_text(markup)
    chat = anna.get_by_test_id("chat")
    await expect(chat.locator("b, script, img:not(.attachments img)")).to_have_count(0)
    assert await anna.evaluate("() => typeof window.__xss") == "undefined"
    await console_shot(anna, artifacts, "html-as-text")
    assert page_errors == []


async def test_the_chat_shows_the_clients_earlier_dialogs(
    context: BrowserContext,
    new_context: NewContext,
    app: Omniline,
    credentials: dict[str, str],
    page_errors: list[str],
) -> None:
    watch(context, page_errors)
    anna = await operator_console(context, app, credentials, "anna")
    widget = await client_widget(await new_context(), app)
    await ask_for_a_person(widget, "hello, first visit")
    await accept_offer(anna)
    await send(anna, "Answer in the first dialog")
    await anna.get_by_test_id("close").click()
    await expect(anna.get_by_test_id("chat-status")).to_have_text("Closed")
    await expect(chips(widget)).to_have_count(5)  # the rating question, left unanswered

    await ask_for_a_person(widget, "hello, I am back")
    await expect(queue_items(anna)).to_have_count(1)
    await queue_items(anna).get_by_test_id("accept").click()
    await expect(anna.get_by_test_id("chat-status")).to_have_text("Active")

    sections = anna.get_by_test_id("chat").locator(".dialog-section")
    await expect(sections).to_have_count(2)
    await expect(sections.first.locator(".text")).to_contain_text(
        ["hello, first visit", "Answer in the first dialog"]
    )
    await expect(sections.last.locator(".text").first).to_have_text("hello, I am back")
    await expect(sections.first.locator(".channel").first).to_have_attribute(
        "data-channel", "webchat"
    )
    await expect(
        anna.get_by_test_id("client-card").get_by_test_id("past-dialogs").locator("li")
    ).to_have_count(2)
    assert page_errors == []


async def test_unread_counts_survive_a_reload(
    context: BrowserContext,
    new_context: NewContext,
    app: Omniline,
    credentials: dict[str, str],
    page_errors: list[str],
) -> None:
    watch(context, page_errors)
    anna = await operator_console(context, app, credentials, "anna")
    first = await client_widget(await new_context(), app)
    second = await client_widget(await new_context(), app)
    await ask_for_a_person(first, "hello from the first client")
    await accept_offer(anna)
    await ask_for_a_person(second, "hello from the second client")
    await expect(queue_items(anna)).to_have_count(1)
    await queue_items(anna).get_by_test_id("accept").click()
    await expect(dialog_items(anna)).to_have_count(2)
    await expect(chat_texts(anna).first).to_have_text("hello from the second client")

    # The first client writes while the second dialog is on screen.
    await say(first, "are you still there?")
    await say(first, "hello?")
    unread = anna.locator('[data-testid="dialog-item"]:not([aria-current]) [data-testid="unread"]')
    await expect(unread).to_have_text("2")
    selected = anna.locator('[data-testid="dialog-item"][aria-current] [data-testid="unread"]')
    await expect(selected).to_be_hidden()

    await unread.locator("xpath=..").locator(".item-main").click()
    await expect(chat_texts(anna).last).to_have_text("hello?")
    await expect(anna.get_by_test_id("unread").filter(visible=True)).to_have_count(0)

    # Seen stays seen after a reload (kept in localStorage).
    await anna.reload()
    await expect(dialog_items(anna)).to_have_count(2)
    await expect(anna.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    await expect(anna.get_by_test_id("unread").filter(visible=True)).to_have_count(0)
    assert page_errors == []


async def test_reconnect_replays_what_was_missed(
    context: BrowserContext,
    new_context: NewContext,
    app: Omniline,
    credentials: dict[str, str],
    page_errors: list[str],
) -> None:
    watch(context, page_errors)
    await context.add_init_script(HOLD_PUSH_JS)
    anna = await operator_console(context, app, credentials, "anna")
    urls: list[str] = []
    anna.on("websocket", lambda ws: urls.append(ws.url))
    widget = await client_widget(await new_context(), app)
    await ask_for_a_person(widget)
    await accept_offer(anna)

    # The connection drops and stays down while the client writes.
    await anna.evaluate("() => { window.__holdPush = true; window.__sockets.at(-1).close(); }")
    await expect(anna.get_by_test_id("connection")).to_have_attribute("data-state", "offline")
    await say(widget, "written while the console was offline")
    await anna.evaluate("() => { window.__holdPush = false; }")

    await expect(anna.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    await expect(chat_texts(anna).last).to_have_text("written while the console was offline")
    assert any("cursor=" in url for url in urls), f"reconnected without the cursor: {urls}"
    await say(widget, "and once more")
    await expect(chat_texts(anna).last).to_have_text("and once more")
    await assert_each_once(anna)
    assert page_errors == []


async def test_pin_invite_attachment_lead_and_shift(
    context: BrowserContext,
    new_context: NewContext,
    app: Omniline,
    credentials: dict[str, str],
    tmp_path: Path,
    artifacts: Path,
    page_errors: list[str],
) -> None:
    watch(context, page_errors)
    anna = await operator_console(context, app, credentials, "anna")
    boris = await operator_console(await new_context(), app, credentials, "boris")
    widget = await client_widget(await new_context(), app)
    await ask_for_a_person(widget)
    await accept_offer(anna)

    pin = anna.get_by_test_id("pin")
    await pin.click()
    await expect(pin).to_have_attribute("aria-pressed", "true")
    await expect(dialog_items(anna)).to_contain_text("Pinned")
    await pin.click()
    await expect(pin).to_have_attribute("aria-pressed", "false")
    await expect(dialog_items(anna)).not_to_contain_text("Pinned")

    # A file goes up first, then out with the reply.
    note = tmp_path / "price-list.txt"
    note.write_text("Espresso 2.50\n", encoding="utf-8")
    await anna.get_by_test_id("attach-input").set_input_files(note)
    await expect(anna.get_by_test_id("attachments")).to_contain_text("price-list.txt")
    await send(anna, "Here is our price list.")
    sent = chat_messages(anna).filter(has_text="Here is our price list.")
    await expect(sent.locator(".attachments a")).to_contain_text("price-list.txt")
    await expect(anna.get_by_test_id("attachments")).to_be_hidden()
    await expect(widget.get_by_text("price-list.txt")).to_be_visible()

    # An invited colleague joins and sees the dialog with its history.
    await anna.get_by_test_id("invite").click()
    await anna.get_by_test_id("invite-operator").select_option("boris")
    await anna.get_by_test_id("invite-submit").click()
    await expect(dialog_items(boris)).to_have_count(1)
    await dialog_items(boris).locator(".item-main").click()
    await expect(chat_texts(boris).filter(has_text="Here is our price list.")).to_have_count(1)

    # A phone number written in the chat lands on the client card; then a lead can reach them.
    await say(widget, "My number is +49 30 1234567")
    card = anna.get_by_test_id("client-card")
    await expect(card).to_contain_text("1234567")
    await anna.get_by_test_id("lead").click()
    await expect(anna.get_by_test_id("toast")).to_contain_text("Lead created")
    await expect(card.get_by_test_id("crm-record")).not_to_have_text("Not in the CRM yet.")
    await console_shot(anna, artifacts, "lead")

    # The working day: a break takes Anna out of the queue, resume and finish.
    presence = anna.get_by_test_id("presence")
    await anna.get_by_test_id("shift-break").click()
    await expect(presence).to_have_attribute("data-shift", "break")
    await expect(anna.get_by_test_id("shift-break")).to_be_hidden()
    await anna.get_by_test_id("shift-resume").click()
    await expect(presence).to_have_attribute("data-shift", "working")
    await anna.get_by_test_id("shift-finish").click()
    await expect(presence).to_have_attribute("data-presence", "offline")
    await expect(anna.get_by_test_id("shift-start")).to_be_visible()
    assert page_errors == []


async def test_a_lead_nobody_can_reach_is_refused_with_the_reason(
    context: BrowserContext,
    new_context: NewContext,
    app: Omniline,
    credentials: dict[str, str],
    page_errors: list[str],
) -> None:
    """The contract: an action impossible in the dialog's state answers 409 ``conflict`` with a
    message saying why, and the console shows that message."""
    watch(context, page_errors)
    anna = await operator_console(context, app, credentials, "anna")
    widget = await client_widget(await new_context(), app)
    await ask_for_a_person(widget)
    await accept_offer(anna)

    await anna.get_by_test_id("lead").click()

    error = anna.get_by_test_id("toast").get_by_role("alert")
    await expect(error).to_contain_text("phone or email")
    await expect(anna.get_by_test_id("client-card").get_by_test_id("crm-record")).to_have_text(
        "Not in the CRM yet."
    )
    assert page_errors == []


async def test_phone_shows_one_pane_at_a_time(
    phone_context: BrowserContext,
    new_context: NewContext,
    app: Omniline,
    credentials: dict[str, str],
    artifacts: Path,
    page_errors: list[str],
) -> None:
    watch(phone_context, page_errors)
    anna = await operator_console(phone_context, app, credentials, "anna")
    widget = await client_widget(await new_context(), app)
    await ask_for_a_person(widget)

    lists, chat = anna.get_by_test_id("lists"), anna.get_by_test_id("chat")
    await expect(queue_items(anna)).to_have_count(1)
    await expect(chat).to_be_hidden()
    await console_shot(anna, artifacts, "phone-list")

    await accept_offer(anna)
    await expect(chat).to_be_visible()
    await expect(lists).to_be_hidden()
    for part in ("reply-text", "send", "back"):
        await expect(anna.get_by_test_id(part)).to_be_in_viewport(ratio=1)
    box = await chat.bounding_box()
    assert box is not None and box["width"] <= PHONE["width"]
    await send(anna, "Hello from a phone")
    await expect(bubbles(widget).last).to_have_text("Hello from a phone")
    await console_shot(anna, artifacts, "phone")

    await anna.get_by_test_id("card-open").click()
    await expect(anna.get_by_test_id("client-card")).to_be_visible()
    await expect(chat).to_be_hidden()
    await anna.get_by_test_id("card-back").click()
    await expect(chat).to_be_visible()
    await anna.get_by_test_id("back").click()
    await expect(lists).to_be_visible()
    await expect(chat).to_be_hidden()
    await expect(dialog_items(anna)).to_have_count(1)
    assert page_errors == []


async def test_demo_page_puts_widget_and_console_side_by_side(
    page: Page,
    new_context: NewContext,
    app: Omniline,
    artifacts: Path,
    page_errors: list[str],
) -> None:
    watch(page.context, page_errors)
    await page.goto(f"{app.url}/console/demo.html")
    widget, console = page.locator("iframe").nth(0), page.locator("iframe").nth(1)
    await expect(widget).to_have_attribute("src", DEMO_PATH)
    await expect(console).to_have_attribute("src", CONSOLE_PATH)
    await expect(page.frame_locator("iframe >> nth=1").get_by_test_id("login-form")).to_be_visible()
    await expect(
        page.frame_locator("iframe >> nth=0").get_by_test_id("omniline-launcher")
    ).to_be_visible()
    left, right = await widget.bounding_box(), await console.bounding_box()
    assert left is not None and right is not None
    assert left["x"] + left["width"] <= right["x"] + 1 and abs(left["y"] - right["y"]) < 2
    await page.screenshot(path=artifacts / "console-demo.png")

    phone = await (await new_context(viewport=PHONE)).new_page()
    await phone.goto(f"{app.url}/console/demo.html")
    top, bottom = (
        await phone.locator("iframe").nth(0).bounding_box(),
        await phone.locator("iframe").nth(1).bounding_box(),
    )
    assert top is not None and bottom is not None
    assert top["y"] + top["height"] <= bottom["y"] + 1, "stacked on a phone"
    assert bottom["width"] <= PHONE["width"]
    assert page_errors == []
