"""PHP's artefacts: batch commands as http_build_query strings, and answers as json_encode makes
them (``[]`` for an empty object, objects for arrays with holes, ids and numbers as strings)."""

from __future__ import annotations

from typing import Any

import pytest
from omniline_bitrix24 import phpquery
from omniline_bitrix24.answers import as_int, as_list, as_object, as_text
from omniline_bitrix24.records import ImCodec, record_from
from omniline_bitrix24.settings import DEFAULT_IM_TYPES
from omniline_bitrix24.testing import FakeBitrix24

from omniline.plugins import RecordKind


def test_a_batch_command_is_built_like_http_build_query() -> None:
    command = phpquery.command(
        "crm.lead.add",
        {"fields": {"TITLE": "A & B = C", "PHONE": [{"VALUE": "+4930 1", "VALUE_TYPE": "WORK"}]}},
    )
    assert command == (
        "crm.lead.add?fields%5BTITLE%5D=A+%26+B+%3D+C"
        "&fields%5BPHONE%5D%5B0%5D%5BVALUE%5D=%2B4930+1"
        "&fields%5BPHONE%5D%5B0%5D%5BVALUE_TYPE%5D=WORK"
    )
    assert phpquery.command("crm.duplicate.findbycomm", {"values": ["a", "b"]}) == (
        "crm.duplicate.findbycomm?values%5B0%5D=a&values%5B1%5D=b"
    )
    assert phpquery.command("user.current", {}) == "user.current"


def test_booleans_become_1_and_0_and_none_is_left_out() -> None:
    assert phpquery.build({"a": True, "b": False, "c": None, "d": 2.5}) == "a=1&b=0&d=2.5"


@pytest.mark.parametrize(
    "params",
    [
        {"id": "12"},
        {"filter": {"IM": "424242", "ORIGIN_ID": "omniline:client:7"}, "select": ["ID"]},
        {"fields": {"COMMENT": "[b]Ann[/b]: привет?&x=1#%", "EMAIL": [{"VALUE": "a+b@x.org"}]}},
        {"values": ["+49301", "+49302"], "type": "PHONE"},
    ],
)
def test_what_is_built_is_read_back_the_same_by_the_portal(params: dict[str, Any]) -> None:
    assert phpquery.parse(phpquery.build(params)) == params


def test_the_portal_reads_literal_brackets_and_appended_items() -> None:
    # "=" inside a key must be encoded: like parse_str, a pair splits at its first "="
    assert phpquery.parse("values[]=a&values[]=b&filter[%3DID]=3&select[0]=ID") == {
        "values": ["a", "b"],
        "filter": {"=ID": "3"},
        "select": ["ID"],
    }


def test_empty_objects_holes_and_strings_are_read_as_meant() -> None:
    assert as_object([]) == {} and as_object(None) == {} and as_object({"a": 1}) == {"a": 1}
    assert as_list({"0": "a", "2": "c"}) == ["a", "c"] and as_list(None) == []
    assert [as_int(v) for v in ("12", 12, 12.0, " 7 ", "", None, "x", True)] == [
        12,
        12,
        12,
        7,
        None,
        None,
        None,
        None,
    ]
    assert [as_text(v) for v in ("  Ann ", "", None, [], 5)] == ["Ann", None, None, None, "5"]


def test_a_record_is_read_from_php_shapes() -> None:
    raw = {
        "ID": "275",
        "NAME": "Ivan",
        "SECOND_NAME": None,
        "LAST_NAME": "Petrov",
        "ASSIGNED_BY_ID": "7",
        # a multi-field whose entries had holes: an object, not a list
        "PHONE": {"0": {"ID": "1", "VALUE": "+7 (912) 123-45-67", "VALUE_TYPE": "WORK"}},
        "EMAIL": [],
        "IM": [
            {"ID": "2", "VALUE": "424242", "VALUE_TYPE": "TELEGRAM"},
            {"ID": "3", "VALUE": "webchat:abc", "VALUE_TYPE": "OTHER"},
            {"ID": "4", "VALUE": "ivan.p", "VALUE_TYPE": "SKYPE"},
            {"ID": "5", "VALUE": "", "VALUE_TYPE": "VK"},
        ],
    }
    record = record_from(
        RecordKind.CONTACT,
        raw,
        ims=ImCodec(DEFAULT_IM_TYPES),
        operator_of={7: "boris"}.get,  # type: ignore[arg-type]
        portal="https://b24.example.com",
    )
    assert record is not None
    assert record.id == "contact:275" and record.name == "Ivan Petrov"
    assert record.phones == ("+79121234567",)
    assert record.emails == ()
    assert record.ims == ("telegram:424242", "webchat:abc", "skype:ivan.p")
    assert record.responsible == "boris"
    assert record.url == "https://b24.example.com/crm/contact/details/275/"


def test_a_record_without_a_usable_id_is_not_a_record() -> None:
    codec = ImCodec(DEFAULT_IM_TYPES)
    for raw in ({}, {"ID": ""}, {"ID": "0"}):
        assert (
            record_from(RecordKind.LEAD, raw, ims=codec, operator_of=lambda _: None, portal="")
            is None
        )


async def test_find_handles_the_empty_array_findbycomm_gives_for_no_match(
    portal: FakeBitrix24, crm: Any
) -> None:
    assert await crm.find(phones=["+4930000"], emails=["nobody@example.org"]) == []
    batch = next(c for c in portal.calls if c.method == "batch")
    assert batch.params["cmd"]["phone_0"] == (
        "crm.duplicate.findbycomm?type=PHONE&values%5B0%5D=%2B4930000"
    )


async def test_a_batch_whose_every_command_failed_gives_php_empty_arrays(
    portal: FakeBitrix24, crm: Any
) -> None:
    # a lead found by phone is gone when it is read: the batch answers "result": []
    lead = portal.add_lead("Gone", phones=["+4930123"])
    portal.fail("crm.lead.get", "", description="Not found")
    assert await crm.find(phones=["+4930123"]) == []
    assert lead in portal.leads
