"""Texts a line sends by itself (welcome, closing, off-hours, rating): placeholders and languages.

A template names values in braces, with an optional fallback after a bar::

    "Hello, {client_name|there}! {operator_name} from {line_name} will answer you."

``{{`` and ``}}`` stand for literal braces. Placeholders are checked when the template is made, so
a typo is a configuration error, not a message with a hole in it. A :class:`LocalizedText` holds a
default text and translations chosen by the client's language tag (``pt-BR`` falls back to ``pt``,
then to the default).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import Field, field_validator

from omniline.model._base import Frozen

PLACEHOLDERS = frozenset({"client_name", "operator_name", "line_name"})
"""The values a line's texts may use."""

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}|]*)(?:\|([^{}]*))?\}|[{}]")


def placeholders(template: str) -> list[str]:
    """The placeholder names a template uses, in order. Raises ``ValueError`` for a stray brace or
    a name that is not one of :data:`PLACEHOLDERS`."""
    names = []
    for match in _TOKEN.finditer(template):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        if token in ("{", "}"):
            raise ValueError(
                f"a lone {token!r} at position {match.start()}: write {token * 2!r} for the "
                "character itself"
            )
        name = match.group(1).strip()
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
            raise ValueError(f"unknown placeholder {{{name}}}; use one of {known}")
        names.append(name)
    return names


def render(template: str, values: Mapping[str, str | None]) -> str:
    """Fill in the placeholders. A value that is missing or empty takes the placeholder's fallback
    (``{client_name|there}``), or nothing."""
    placeholders(template)

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        value = values.get(match.group(1).strip())
        return value if value else (match.group(2) or "")

    return _TOKEN.sub(fill, template)


def _language(tag: str) -> str:
    return tag.strip().replace("_", "-").lower()


class LocalizedText(Frozen):
    """A text in the line's default language, with translations by language tag."""

    default: str = Field(min_length=1)
    translations: dict[str, str] = Field(default_factory=dict)
    """Language tag (``de``, ``pt-BR``) to text."""

    @field_validator("default")
    @classmethod
    def _check_default(cls, value: str) -> str:
        placeholders(value)
        return value

    @field_validator("translations")
    @classmethod
    def _check_translations(cls, value: dict[str, str]) -> dict[str, str]:
        normalized: dict[str, str] = {}
        for tag, text in value.items():
            if not re.fullmatch(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*", tag):
                raise ValueError(f"{tag!r} is not a language tag like 'de' or 'pt-BR'")
            if not text:
                raise ValueError(f"the {tag!r} text is empty")
            placeholders(text)
            normalized[_language(tag)] = text
        return normalized

    def for_language(self, language: str | None) -> str:
        """The text for ``language`` (exact tag, then its primary language), else the default."""
        if language:
            tag = _language(language)
            for candidate in (tag, tag.split("-", 1)[0]):
                found = self.translations.get(candidate)
                if found is not None:
                    return found
        return self.default

    def render(self, language: str | None, values: Mapping[str, str | None]) -> str:
        return render(self.for_language(language), values)
