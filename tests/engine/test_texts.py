"""A line's own texts: placeholders with fallbacks, checked early, chosen by language."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from omniline.engine.texts import LocalizedText, placeholders, render


def test_placeholders_are_filled_and_fall_back_when_missing() -> None:
    template = "Hello, {client_name|there}! {operator_name} from {line_name} will answer."
    assert render(
        template, {"client_name": "Ann", "operator_name": "Boris", "line_name": "Acme"}
    ) == ("Hello, Ann! Boris from Acme will answer.")
    assert render(template, {"client_name": "", "line_name": "Acme"}) == (
        "Hello, there!  from Acme will answer."
    )


def test_doubled_braces_are_literal() -> None:
    assert render("{{not a placeholder}} {line_name}", {"line_name": "Acme"}) == (
        "{not a placeholder} Acme"
    )


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("Hi {clientname}", "unknown placeholder {clientname}"),
        ("Hi {}", "unknown placeholder {}"),
        ("a { b", "a lone '{'"),
        ("a } b", "a lone '}'"),
    ],
)
def test_a_bad_template_is_refused_with_a_reason(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        placeholders(template)


def test_the_text_is_chosen_by_language_tag_then_primary_language_then_default() -> None:
    text = LocalizedText.model_validate(
        {
            "default": "Hello, {client_name|there}!",
            "translations": {"de": "Hallo, {client_name|du}!", "pt-BR": "Olá, {client_name}!"},
        }
    )
    values = {"client_name": "Ann"}
    assert text.render("de-AT", values) == "Hallo, Ann!"
    assert text.render("pt_br", values) == "Olá, Ann!"
    assert text.render("pt-PT", values) == "Hello, Ann!"
    assert text.render(None, {}) == "Hello, there!"


@pytest.mark.parametrize(
    "data",
    [
        {"default": ""},
        {"default": "Hi {name}"},
        {"default": "Hi", "translations": {"german": "Hallo"}},
        {"default": "Hi", "translations": {"de": ""}},
        {"default": "Hi", "translations": {"de": "Hallo {kunde}"}},
    ],
)
def test_bad_texts_are_refused_when_configured(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        LocalizedText.model_validate(data)


@given(st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=80))
def test_text_without_braces_is_left_as_it_is(text: str) -> None:
    assert render(text, {"client_name": "Ann"}) == text
