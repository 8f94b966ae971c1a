"""Hypothesis strategies for what a hostile or broken sender may post: random bodies, and valid,
real-shaped bodies mutated (fields dropped, types swapped, huge strings, NUL and lone surrogates,
deep nesting, extra fields, duplicated keys, truncated JSON, bytes that are not UTF-8, wrong
content types).

A body is built as a tree and written with :func:`dump`, which writes what ``json.dumps`` cannot:
nesting deeper than Python's recursion limit (:class:`Deep`) and an object with the same key twice
(:class:`Twice`).
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

SCALE = max(1, int(os.environ.get("OMNILINE_FUZZ_SCALE", "1")))
"""Run ``SCALE`` times the examples, on fresh random seeds (``OMNILINE_FUZZ_SCALE=20`` for a long
run on a quiet machine). At 1, the examples are the same on every run: the suite is not flaky."""


def fuzz_settings(max_examples: int) -> settings:
    """Bounded in examples, not in time per example (a slow machine must not fail a test)."""
    return settings(
        max_examples=max_examples * SCALE,
        deadline=None,
        database=None,
        derandomize=SCALE == 1,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,  # one running app for all examples, by design
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


@dataclass(frozen=True)
class Deep:
    """``depth`` nested lists (or objects) around ``inner``."""

    depth: int
    objects: bool = False


@dataclass(frozen=True)
class Twice:
    """An object written with its ``key`` twice: first ``first``, then the rest of ``value``."""

    value: dict[str, Any]
    key: str
    first: Any


@dataclass(frozen=True)
class Wire:
    """One request body as sent, and its Content-Type (None: none at all)."""

    body: bytes
    content_type: str | None = "application/json"

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        shown = self.body
        if len(shown) > 3000:
            shown = shown[:1500] + b"...(%d bytes in all)..." % len(shown) + shown[-1500:]
        return f"Wire(body={shown!r}, content_type={self.content_type!r})"


def dump(value: Any, *, ascii_only: bool = True) -> str:
    """``value`` as JSON text; :class:`Deep` and :class:`Twice` written as they say."""
    if isinstance(value, Deep):
        opening, closing = ('{"a":', "}") if value.objects else ("[", "]")
        return opening * value.depth + "0" + closing * value.depth
    if isinstance(value, Twice):
        rest = {k: v for k, v in value.value.items() if k != value.key}
        parts = [
            f"{dump(value.key, ascii_only=ascii_only)}:{dump(value.first, ascii_only=ascii_only)}"
        ]
        if value.key in value.value:
            parts.append(
                f"{dump(value.key, ascii_only=ascii_only)}:"
                f"{dump(value.value[value.key], ascii_only=ascii_only)}"
            )
        parts += [
            f"{dump(k, ascii_only=ascii_only)}:{dump(v, ascii_only=ascii_only)}"
            for k, v in rest.items()
        ]
        return "{" + ",".join(parts) + "}"
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(
                f"{dump(str(k), ascii_only=ascii_only)}:{dump(v, ascii_only=ascii_only)}"
                for k, v in value.items()
            )
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(dump(v, ascii_only=ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


def encode(text: str) -> bytes:
    """UTF-8, with lone surrogates written as their (invalid) three bytes."""
    return text.encode("utf-8", "surrogatepass")


# --- values ---------------------------------------------------------------------------------------

NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff",
    "x\ud83dy",
    "\ufeff",
    "\u202etxet",
    "😀",
    "\uffff",
    "\r\n\t",
    "0",
    "-1",
    "1e309",
    "NaN",
    "null",
    "true",
    "[]",
    "{}",
    "%s%n",
    "${jndi:x}",
    "<script>",
    "' OR 1=1 --",
    "../../etc/passwd",
    "Europe",
    "omniline:rate:5",
    "omniline:rate:99999999999999999999999",
    "omniline:rate:-1",
    "omniline:buttons:[1]",
]
"""Strings that have broken parsers, databases and templates before."""

WORST = ["\x00", "\ud800", ""]
"""The ones that most often break something: drawn as often as all the others together."""
nasty_strings = st.sampled_from(WORST) | st.sampled_from(NASTY)
huge_strings = st.builds(
    lambda unit, count: unit * count,
    st.sampled_from(["a", "я", "😀", "\x00", " ", "\ud800"]),
    st.sampled_from([256, 4_097, 40_000]) | st.integers(256, 40_000),
)
"""Past the limits that matter: a file name (255), a message (4096), a body (32 and 64 KiB)."""
texts = st.text(max_size=40) | st.text(st.characters(codec=None), max_size=20)  # surrogates too
strings = st.one_of(nasty_strings, texts, huge_strings)
big_ints = st.sampled_from([2**31, 2**53 + 1, 2**63, 2**64, 10**30, -(2**63) - 1])
numbers = st.one_of(
    st.integers(-(2**40), 2**40),
    big_ints,
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 1, 0.5, -0.0, 1e308]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, strings)
keys = st.one_of(st.sampled_from(["", "\x00", "\ud800", "type", "id", "__proto__"]), texts)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
deep_values = st.builds(Deep, st.sampled_from([63, 65, 200, 1_100, 20_000]), st.booleans())


# --- mutations ------------------------------------------------------------------------------------

Path = tuple[str | int, ...]


def leaves(value: Any) -> list[Path]:
    """The places in ``value`` that hold a scalar (or an empty list or object)."""
    return [
        p for p in paths(value) if not _at(value, p) or not isinstance(_at(value, p), dict | list)
    ]


def paths(value: Any, here: Path = ()) -> list[Path]:
    """Every place in ``value`` (the root first)."""
    found = [here]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*here, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*here, index))
    return found


def _at(value: Any, path: Path) -> Any:
    for step in path:
        value = value[step]
    return value


def _replace(value: Any, path: Path, new: Any) -> Any:
    if not path:
        return new
    parent = _at(value, path[:-1])
    parent[path[-1]] = new
    return value


def _drop(value: Any, path: Path) -> Any:
    if not path:
        return value
    parent = _at(value, path[:-1])
    del parent[path[-1]]
    return value


MUTATIONS = ["nasty", "taint", "swap", "huge", "drop", "anything", "deep", "extra", "twice", "wrap"]


@st.composite
def mutated_value(draw: st.DrawFn, base: Any, *, max_mutations: int = 2) -> Any:
    """``base`` with one to ``max_mutations`` mutations at places drawn from it."""
    value = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, max_mutations))):
        if isinstance(value, Deep | Twice):
            break
        # mostly a value, sometimes an object or a list
        path = draw(st.sampled_from(leaves(value)) | st.sampled_from(paths(value)))
        kind = draw(st.sampled_from(MUTATIONS))
        here = _at(value, path)
        if kind == "drop":
            value = _drop(value, path)
        elif kind == "swap":
            value = _replace(value, path, draw(_other_type(here)))
        elif kind == "nasty":
            value = _replace(value, path, draw(nasty_strings))
        elif kind == "taint" and isinstance(here, str):  # the value as it was, with a bad char in
            at = draw(st.integers(0, len(here)))
            value = _replace(value, path, here[:at] + draw(st.sampled_from(WORST[:2])) + here[at:])
        elif kind == "huge":
            value = _replace(value, path, draw(huge_strings))
        elif kind == "deep":
            value = _replace(value, path, draw(deep_values))
        elif kind == "extra" and isinstance(here, dict):
            here.update(draw(st.dictionaries(keys, json_values, min_size=1, max_size=3)))
        elif kind == "twice" and isinstance(here, dict) and here:
            key = draw(st.sampled_from(sorted(here)))
            value = _replace(value, path, Twice(dict(here), key, draw(json_values)))
        elif kind == "anything":
            value = _replace(value, path, draw(json_values))
        elif kind == "wrap":
            value = _replace(value, path, [here])
    return value


def _other_type(value: Any) -> st.SearchStrategy[Any]:
    """A value of another JSON type than ``value``'s: string <-> int <-> null <-> list <-> object."""
    options: list[st.SearchStrategy[Any]] = []
    if not isinstance(value, str):
        options += [st.just(str(value)), strings]
    if not isinstance(value, int) or isinstance(value, bool):
        options += [st.integers(-(2**40), 2**40), big_ints]
    if value is not None:
        options.append(st.none())
    if not isinstance(value, bool):
        options.append(st.booleans())
    if not isinstance(value, float):
        options.append(st.floats(allow_nan=False, allow_infinity=False))
    if not isinstance(value, list):
        options += [st.just([]), st.just([value]), st.lists(json_values, max_size=3)]
    if not isinstance(value, dict):
        options += [st.just({}), st.dictionaries(keys, json_values, max_size=3)]
    return st.one_of(options)


CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=latin-1",
    None,
]


@st.composite
def wire_of(draw: st.DrawFn, value: Any, *, content_types: bool = True) -> Wire:
    """``value`` written as JSON, sometimes broken on the way: truncated, with bytes that are not
    UTF-8, in UTF-16, behind a byte-order mark; sometimes under another Content-Type."""
    raw = encode(dump(value, ascii_only=draw(st.booleans())))
    damage = draw(st.sampled_from(["none"] * 12 + ["truncate", "bad_bytes", "utf16", "bom"]))
    if damage == "truncate" and raw:
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif damage == "bad_bytes":
        at = draw(st.integers(0, len(raw)))
        raw = (
            raw[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80"]))
            + raw[at:]
        )
    elif damage == "utf16":
        raw = raw.decode("utf-8", "surrogatepass").encode("utf-16", "surrogatepass")
    elif damage == "bom":
        raw = b"\xef\xbb\xbf" + raw
    content_type = "application/json"
    if content_types and draw(st.integers(0, 4)) == 0:
        content_type = draw(st.sampled_from(CONTENT_TYPES))
    return Wire(raw, content_type)


def mutated(base: Any, *, content_types: bool = True) -> st.SearchStrategy[Wire]:
    """A real-shaped ``base`` body, mutated and written (see :func:`mutated_value`, :func:`wire_of`)."""
    return mutated_value(base).flatmap(lambda v: wire_of(v, content_types=content_types))


random_bodies: st.SearchStrategy[Wire] = st.one_of(
    st.builds(Wire, st.binary(max_size=300)),
    json_values.flatmap(wire_of),
    deep_values.flatmap(wire_of),
)
"""Bodies with no shape at all: bytes, any JSON value, deep nesting."""


@st.composite
def tainted(draw: st.DrawFn, base: Any) -> Wire:
    """``base`` valid but for one of its strings, with a NUL or a lone surrogate in it: what
    passes every check of shape and still has to be stored."""
    value = copy.deepcopy(base)
    places = [p for p in paths(value) if isinstance(_at(value, p), str)]
    if places:
        path = draw(st.sampled_from(places))
        here = _at(value, path)
        at = draw(st.integers(0, len(here)))
        value = _replace(value, path, here[:at] + draw(st.sampled_from(WORST[:2])) + here[at:])
    return Wire(encode(dump(value, ascii_only=draw(st.booleans()))))


def bodies(base: Any) -> st.SearchStrategy[Wire]:
    """Mostly mutations of ``base`` (or of one of its fields alone, so that one bad field does
    not hide what the others would do), some random bodies."""
    options = [mutated(base), mutated(base), tainted(base), random_bodies]
    if isinstance(base, dict) and len(base) > 1:
        options.append(st.sampled_from(sorted(base)).flatmap(lambda k: mutated({k: base[k]})))
    return st.one_of(options)
