"""Settings: the webhook's shape is checked, and its code (a password) is never repeated."""

from __future__ import annotations

from typing import Any

import pytest
from omniline_bitrix24 import Bitrix24Crm, Bitrix24Settings, plugin
from omniline_bitrix24.testing import CODE, CrmTestHost
from pydantic import ValidationError

from omniline.plugins import format_validation_error, installed, load

GOOD = f"https://b24-abc123.bitrix24.com/rest/17/{CODE}/"


def test_a_webhook_root_is_taken_with_or_without_its_slash() -> None:
    settings = Bitrix24Settings(webhook_url=GOOD.rstrip("/"), operators={"anna": 5})
    assert settings.root == GOOD
    assert settings.portal == "https://b24-abc123.bitrix24.com"
    assert settings.webhook_user == 17
    assert settings.masked_url == "https://b24-abc123.bitrix24.com/rest/17/***/"
    assert (settings.rate, settings.burst, settings.lead_source_id) == (2.0, 50, "OTHER")


def test_the_code_is_in_no_repr_or_dump() -> None:
    settings = Bitrix24Settings(webhook_url=GOOD)
    crm = Bitrix24Crm(settings, CrmTestHost())
    for shown in (repr(settings), str(settings), repr(crm), settings.model_dump_json()):
        assert CODE not in shown


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"https://b24.example.com/rest/1/{CODE}/crm.lead.add.json", "without a method"),
        (f"https://b24.example.com/rest/{CODE}/", "incoming webhook"),
        (f"https://b24.example.com/rest/0/{CODE}/", "incoming webhook"),
        (f"ftp://b24.example.com/rest/1/{CODE}/", "http(s)"),
        (f"https://b24.example.com/rest/1/{CODE}/?auth=1", "no query"),
        (f"b24.example.com/rest/1/{CODE}/", "http(s)"),
        ("https://b24.example.com/rest/1/short/", "incoming webhook"),
    ],
)
def test_a_webhook_of_the_wrong_shape_is_refused_without_repeating_it(url: str, says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Bitrix24Settings(webhook_url=url)
    assert says in str(caught.value)
    assert "rest/<user id>/<code>/" in str(caught.value)
    assert CODE not in str(caught.value)
    # omniline's config errors print a failing field's input: here there is none to print
    assert CODE not in format_validation_error("omniline.yaml", caught.value, ["crm"])


@pytest.mark.parametrize(
    "change",
    [
        {"operators": {"anna": 0}},
        {"operators": {"": 5}},
        {"rate": 0},
        {"burst": 0},
        {"max_attempts": 0},
        {"unknown": 1},
        {"default_responsible": -1},
    ],
)
def test_other_settings_are_checked(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        Bitrix24Settings.model_validate({"webhook_url": GOOD, **change})
    assert CODE not in str(caught.value)


def test_the_plugin_is_found_through_its_entry_point_and_makes_a_crm() -> None:
    (entry,) = [p for p in installed("omniline.crm") if p.name == "bitrix24"]
    assert entry.distribution == "omniline-bitrix24"
    assert load(entry) is plugin
    crm = plugin.create({"webhook_url": GOOD, "operators": {"anna": 5}}, CrmTestHost())
    assert isinstance(crm, Bitrix24Crm)
