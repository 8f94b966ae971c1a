"""PHP's query strings: how a command inside a Bitrix24 ``batch`` carries its parameters.

A batch command is ``method?<query>``, the query built like PHP's ``http_build_query``: nested
keys in brackets (``fields[PHONE][0][VALUE]=...``), list items by index (``values[0]=...``),
keys and values percent-encoded (``+`` becomes ``%2B``, a space ``+``), ``true``/``false`` as
``1``/``0``, ``None`` left out. The portal reads it back with ``parse_str``: every value arrives
as a string. :func:`parse` does what ``parse_str`` does, for the fake portal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_plus, unquote_plus

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def build(params: Mapping[str, Any]) -> str:
    """``http_build_query(params)``."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        _flatten(str(key), value, pairs)
    return "&".join(f"{quote_plus(k, safe='')}={quote_plus(v, safe='')}" for k, v in pairs)


def command(method: str, params: Mapping[str, Any]) -> str:
    """One ``cmd`` entry of a batch: ``method?query``."""
    query = build(params)
    return f"{method}?{query}" if query else method


def _flatten(key: str, value: Any, pairs: list[tuple[str, str]]) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        pairs.append((key, "1" if value else "0"))
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{key}[{k}]", v, pairs)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _flatten(f"{key}[{i}]", v, pairs)
    else:
        pairs.append((key, str(value)))


def parse(query: str) -> dict[str, Any]:
    """``parse_str(query)``; PHP arrays indexed 0..n-1 become lists (as ``json_encode`` does)."""
    root: dict[str, Any] = {}
    for part in query.split("&"):
        if not part:
            continue
        raw_key, _, raw_value = part.partition("=")
        key, value = unquote_plus(raw_key), unquote_plus(raw_value)
        bracket = key.find("[")
        if bracket <= 0:
            if key:
                root[key] = value
            continue
        path = [key[:bracket], *_SEGMENT.findall(key[bracket:])]
        node = root
        for i, name in enumerate(path):
            last = i == len(path) - 1
            if name == "":
                name = str(sum(1 for k in node if k.isdigit()))
            if last:
                node[name] = value
            else:
                child = node.get(name)
                if not isinstance(child, dict):
                    child = node[name] = {}
                node = child
    return {k: _lists(v) for k, v in root.items()}


def _lists(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    items = {k: _lists(v) for k, v in value.items()}
    if items and list(items) == [str(i) for i in range(len(items))]:
        return list(items.values())
    return items
