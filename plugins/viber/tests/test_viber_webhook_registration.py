"""Registering the webhook with Viber: Viber checks the URL while ``set_webhook`` runs, so the
application must answer by then, and a refusal is retried with back-off."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from omniline_viber import ViberChannel, ViberSettings
from omniline_viber.testing import TOKEN, Answer, FakeViber, message_update, sign

from omniline.model import ChannelRef, Identity
from omniline.testing import VirtualClock
from omniline.testing.conformance import RecordingHost, RecordingSink

ANN = Identity(channel=ChannelRef(type="viber", account="main"), external_id="01234567890A=")
LOGGER = "omniline.channel.viber"
AppFactory = Callable[..., Awaitable[Any]]


def webhook_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/channels/viber/main/webhook"


def set_webhook_calls(viber: FakeViber) -> list[dict[str, Any]]:
    return [body for method, body, _ in viber.calls if method == "set_webhook"]


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelname == "WARNING"]


def infos(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and r.levelname == "INFO"]


async def until(condition: Callable[[], bool]) -> None:
    """Let the application work until ``condition`` holds (the test's timeout bounds it)."""
    while not condition():  # noqa: ASYNC110 - what it waits for has no event of its own
        await asyncio.sleep(0.01)


async def test_viber_does_not_refuse_the_webhook_as_invalid_url_at_start(
    start_app: AppFactory, viber: FakeViber, port: int, caplog: pytest.LogCaptureFixture
) -> None:
    # as `omniline run` starts: the application serves HTTP on its own port
    url = webhook_url(port)
    running = await start_app(serve=True, port=port, webhook_url=url)
    assert viber.checks == [(url, 200)]  # Viber's check was answered during set_webhook
    assert viber.webhook == url
    [body] = set_webhook_calls(viber)
    assert "conversation_started" in body["event_types"]
    assert warnings(caplog) == []
    # and what Viber then sends arrives through that very URL
    body = json.dumps(message_update(1001, {"type": "text", "text": "hello"})).encode()
    headers = {"X-Viber-Content-Signature": sign(body), "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as r,
    ):
        assert r.status == 200
    [stored] = await running.app.store.dialogs.identity_history(ANN)
    assert stored.text == "hello"


async def test_a_webhook_refused_while_nothing_listened_is_registered_on_a_later_attempt(
    start_app: AppFactory, viber: FakeViber, port: int, caplog: pytest.LogCaptureFixture
) -> None:
    # embedded: the application starts before the host program serves its routes
    caplog.set_level(logging.INFO, logger=LOGGER)
    url = webhook_url(port)
    running = await start_app(serve=False, test_server=False, port=port, webhook_url=url)
    assert viber.checks == [(url, None)] and viber.webhook is None
    [warning] = warnings(caplog)
    assert "attempt 1" in warning and "invalidUrl" in warning and "next attempt in 5 s" in warning
    server = TestServer(running.app.web, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        await running.clock.advance(5)
        await viber.registered.wait()
        assert viber.checks == [(url, None), (url, 200)]
        assert viber.webhook == url
        await until(lambda: any("attempt 2" in r.getMessage() for r in infos(caplog)))
        assert len(warnings(caplog)) == 1  # each failure logged once
    finally:
        await running.app.stop()
        await server.close()


async def test_set_webhook_is_retried_with_growing_waits(
    start_app: AppFactory, viber: FakeViber, port: int, caplog: pytest.LogCaptureFixture
) -> None:
    viber.script += [Answer(status=502, body={}), Answer(status=502, body={})]
    running = await start_app(serve=True, port=port, webhook_url=webhook_url(port))
    clock = running.clock
    assert len(set_webhook_calls(viber)) == 1
    await clock.advance(4.9)
    assert len(set_webhook_calls(viber)) == 1  # not before 5 s
    await clock.advance(0.1)
    await until(lambda: len(warnings(caplog)) == 2)
    assert "next attempt in 10 s" in warnings(caplog)[1]
    await clock.advance(9.9)
    assert len(set_webhook_calls(viber)) == 2  # not before 10 more
    await clock.advance(0.1)
    await viber.registered.wait()
    assert len(set_webhook_calls(viber)) == 3
    assert ["HTTP 502" in w for w in warnings(caplog)] == [True, True]


async def test_a_webhook_refused_for_a_wrong_token_is_not_retried(
    viber: FakeViber, caplog: pytest.LogCaptureFixture
) -> None:
    clock = VirtualClock()
    host = RecordingHost(clock)
    settings = ViberSettings(
        api_base_url=viber.url, auth_token="not-the-token", webhook_url="http://127.0.0.1:9/hook"
    )
    channel = ViberChannel(ChannelRef(type="viber", account="main"), settings, host)
    await channel.start(RecordingSink())
    try:
        assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
            "viber/main: Viber refused the webhook http://127.0.0.1:9/hook: invalidAuthToken; "
            "not retried: check auth_token"
        ]
        assert clock.sleepers == 0  # nothing waits to try again
    finally:
        await channel.stop()
    assert len(set_webhook_calls(viber)) == 1
    assert [token for _, _, token in viber.calls] == ["not-the-token"] != [TOKEN]
