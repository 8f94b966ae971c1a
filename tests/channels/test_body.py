"""Untrusted request bodies: read whole however they arrive, limited in size and depth."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from omniline.plugins import BodyRefused, parse_json, read_json

LIMIT = 200_000


async def _echo(request: web.Request) -> web.Response:
    try:
        value = await read_json(request, max_bytes=LIMIT)
    except BodyRefused as exc:
        return exc.response()
    return web.json_response({"got": value})


@pytest.fixture
async def url() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/", _echo)
    server = TestServer(app)
    await server.start_server()
    yield str(server.make_url("/"))
    await server.close()


async def _pieces(*parts: bytes, pause: float = 0.2) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
        await asyncio.sleep(pause)


async def test_a_body_sent_in_two_pieces_with_a_pause_is_read_whole(url: str) -> None:
    body = _pieces(b'{"update_id": 1, "mess', b'age": "hi"}')
    async with aiohttp.ClientSession() as http, http.post(url, data=body) as r:
        assert r.status == 200
        assert await r.json() == {"got": {"update_id": 1, "message": "hi"}}


async def test_a_body_over_the_limit_is_413_declared_or_not(url: str) -> None:
    big = b'{"a": "' + b"x" * LIMIT + b'"}'
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=big) as declared:
            assert declared.status == 413
        async with http.post(
            url, data=_pieces(big[:150_000], big[150_000:], pause=0.05)
        ) as chunked:
            assert chunked.status == 413


async def test_a_body_just_under_the_limit_is_read(url: str) -> None:
    body = b'{"a": "' + b"x" * (LIMIT - 9) + b'"}'
    assert len(body) == LIMIT
    async with aiohttp.ClientSession() as http, http.post(url, data=body) as r:
        assert r.status == 200


@pytest.mark.parametrize("body", [b"[" * 100_000, b"[" * 65 + b"]" * 65, b"{\xff}", b"nope"])
async def test_deep_or_broken_json_is_400_not_500(url: str, body: bytes) -> None:
    async with aiohttp.ClientSession() as http, http.post(url, data=body) as r:
        assert r.status == 400


def test_nesting_at_the_limit_is_accepted() -> None:
    assert parse_json("[" * 64 + "]" * 64) is not None
    with pytest.raises(BodyRefused):
        parse_json('{"a":' * 65 + "1" + "}" * 65)


def test_nul_and_lone_surrogates_are_replaced_in_strings_and_keys() -> None:
    value = parse_json(b'{"a\\u0000": ["x\\ud800y", {"k": "ok"}], "n": 1}')
    assert value == {"a\ufffd": ["x\ufffdy", {"k": "ok"}], "n": 1}


def test_a_clean_body_comes_back_as_parsed() -> None:
    assert parse_json('{"a": ["b", 1, null, {"c": "\\u00e9"}]}') == {
        "a": ["b", 1, None, {"c": "é"}]
    }


def test_without_scrub_the_caller_sees_what_was_sent() -> None:
    assert parse_json('"a\\u0000"', scrub=False) == "a\x00"
