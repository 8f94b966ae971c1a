"""Browser fixtures: Debian's Chromium driven by Playwright, and the real demo application.

One browser per test module, one fresh browser context (own localStorage, so a new visitor) and one
fresh application (own database) per test. Everything runs in the module's event loop: the aiohttp
server answers the browser while the test awaits Playwright.

Screenshots go to ``test-artifacts/`` at the repository root (git-ignored); a failing test leaves a
``FAILED-<test>.png`` there too.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from omniline.app import Omniline
from omniline.demo import demo_config

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEMO_PATH = "/channels/webchat/site/demo"

# Generous for a loaded CI machine; a passing run waits far less.
expect.set_options(timeout=10_000)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures can tell that the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "the browser tests need Debian's Chromium (the `chromium` command), which is not "
            "installed; `.ci/run` installs Debian's chromium package (apt-get install chromium)",
            pytrace=False,
        )
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest_asyncio.fixture(loop_scope="module")
async def app(tmp_path: Path) -> AsyncIterator[Omniline]:
    """The demo line (demo bot, web chat account ``site``) on a free port, with ``/`` leading to
    the demo page like ``omniline demo`` does."""
    app = Omniline(demo_config(tmp_path / "demo", host="127.0.0.1", port=0), migrate=True)

    async def home(request: web.Request) -> web.Response:
        raise web.HTTPFound(DEMO_PATH)

    app.web.router.add_get("/", home)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def _new_context(browser: Browser, **options: Any) -> BrowserContext:
    context = await browser.new_context(**options)
    context.set_default_timeout(10_000)
    return context


async def _close(context: BrowserContext, request: pytest.FixtureRequest, artifacts: Path) -> None:
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        for i, page in enumerate(context.pages):
            suffix = f"-{i}" if i else ""
            # The page may be gone; the failure itself is what matters.
            with contextlib.suppress(Exception):
                await page.screenshot(path=artifacts / f"FAILED-{name}{suffix}.png")
    await context.close()


@pytest_asyncio.fixture(loop_scope="module")
async def context(
    browser: Browser, app: Omniline, request: pytest.FixtureRequest, artifacts: Path
) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile at laptop size. Depends on ``app`` so that it closes (and with it
    the widget's WebSocket) before the application stops."""
    ctx = await _new_context(browser, viewport={"width": 1280, "height": 800})
    try:
        yield ctx
    finally:
        await _close(ctx, request, artifacts)


@pytest_asyncio.fixture(loop_scope="module")
async def phone_context(
    browser: Browser, app: Omniline, request: pytest.FixtureRequest, artifacts: Path
) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile the size of a phone screen."""
    ctx = await _new_context(
        browser,
        viewport={"width": 375, "height": 740},
        is_mobile=True,
        has_touch=True,
    )
    try:
        yield ctx
    finally:
        await _close(ctx, request, artifacts)


@pytest_asyncio.fixture(loop_scope="module")
async def page(context: BrowserContext) -> Page:
    return await context.new_page()
