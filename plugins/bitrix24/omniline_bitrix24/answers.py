"""Reading Bitrix24's answers despite their PHP artefacts.

PHP's ``json_encode`` turns an empty array into ``[]`` even where an object is meant, an array with
holes in its keys into an object (``{"0": ..., "2": ...}``), and read results carry ids and numbers
as strings. These helpers take whatever came and give the shape the caller expects.
"""

from __future__ import annotations

from typing import Any


def as_object(value: Any) -> dict[str, Any]:
    """A JSON object; ``[]``, ``null`` and anything else that is not one: ``{}``."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """A JSON array; an object (a PHP array with holes) gives its values; ``null``: ``[]``."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return []


def as_int(value: Any) -> int | None:
    """An integer from ``12``, ``"12"`` or ``12.0``; None for anything else (``""``, ``null``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdecimal() or (text[:1] == "-" and text[1:].isdecimal()):
            return int(text)
    return None


def as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def as_text(value: Any) -> str | None:
    """A non-blank string, stripped; None for ``""``, ``null``, ``[]``..."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None
