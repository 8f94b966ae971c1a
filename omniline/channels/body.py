"""Reading an untrusted JSON request body: its size limited before it is read past the limit, its
nesting limited before anything walks it.

Every webhook and the web-chat API read bodies through :func:`read_json`, so that no body, however
large, deep or slow to arrive, is answered with anything but a 2xx or a 4xx that says why.
"""

from __future__ import annotations

import json
import re

from aiohttp import web
from pydantic import JsonValue

MAX_DEPTH = 64
"""Deeper than any update a platform sends (Telegram's deepest are about 8 levels)."""


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
"""NUL (which PostgreSQL's text cannot hold) and lone surrogates (which UTF-8 cannot encode): JSON's
``\\u0000`` and ``\\ud800`` escapes produce them, and a platform's body may carry either."""

REPLACEMENT = "\ufffd"


class BodyRefused(Exception):
    """The body cannot be read as asked: ``status`` is 413 (too large) or 400 (not JSON, too deep)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def response(self) -> web.Response:
        return web.Response(status=self.status, text=self.reason)


async def read_body(request: web.Request, max_bytes: int) -> bytes:
    """The whole body, however many pieces it arrives in; 413 past ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused before a byte of the body is read.
    """
    if request.content_length is not None and request.content_length > max_bytes:
        raise BodyRefused(413, f"the request body is over {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(max_bytes + 1 - size)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise BodyRefused(413, f"the request body is over {max_bytes} bytes")
        chunks.append(chunk)


def parse_json(raw: bytes | str, *, max_depth: int = MAX_DEPTH, scrub: bool = True) -> JsonValue:
    """``raw`` parsed as JSON; 400 if it is not JSON or nests deeper than ``max_depth``.

    With ``scrub`` (the default, for what platforms send: an authentic update must be stored, not
    refused) every NUL and lone surrogate in a string or key becomes U+FFFD, so the value can be
    stored and sent on as UTF-8. Without it they are left for the caller to refuse (the web chat and
    the REST API answer 422: a person typed them and can be told)."""
    try:
        value: JsonValue = json.loads(raw)
    except RecursionError:
        raise BodyRefused(400, f"the JSON nests deeper than {max_depth} levels") from None
    except ValueError:  # UnicodeDecodeError included
        raise BodyRefused(400, "the request body is not JSON") from None
    if nesting(value) > max_depth:
        raise BodyRefused(400, f"the JSON nests deeper than {max_depth} levels")
    return scrubbed(value) if scrub else value


async def read_json(
    request: web.Request, *, max_bytes: int, max_depth: int = MAX_DEPTH, scrub: bool = True
) -> JsonValue:
    """The body read with :func:`read_body` and parsed with :func:`parse_json`."""
    return parse_json(await read_body(request, max_bytes), max_depth=max_depth, scrub=scrub)


def nesting(value: JsonValue) -> int:
    """How deep ``value`` nests (a scalar is 0, ``[]`` is 1), walked without recursion."""
    deepest = 0
    stack: list[tuple[JsonValue, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            depth += 1
            stack.extend((child, depth) for child in item.values())
        elif isinstance(item, list):
            depth += 1
            stack.extend((child, depth) for child in item)
        deepest = max(deepest, depth)
    return deepest


def scrubbed(value: JsonValue) -> JsonValue:
    """``value`` with every NUL and lone surrogate in its strings and keys replaced by U+FFFD; the
    same object when there is none (the common case costs one look at each string)."""
    if isinstance(value, str):
        return _UNSTORABLE.sub(REPLACEMENT, value) if _UNSTORABLE.search(value) else value
    if isinstance(value, list):
        items = [scrubbed(item) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if isinstance(value, dict):
        pairs = [(scrubbed(k), scrubbed(v)) for k, v in value.items()]
        same = all(
            k is k0 and v is v0 for (k, v), (k0, v0) in zip(pairs, value.items(), strict=True)
        )
        return value if same else {str(k): v for k, v in pairs}
    return value
