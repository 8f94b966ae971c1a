"""omniline's records and drafts in Bitrix24's fields, and back.

- Record ids are ``contact:<ID>`` and ``lead:<ID>``.
- Phones and emails are the multi-fields ``PHONE`` and ``EMAIL`` (``VALUE_TYPE`` ``WORK`` for the
  ones omniline adds). A phone read back is compared without its formatting (spaces, dashes,
  brackets), so ``+49 30 1234`` typed by a manager is the ``+49301234`` a client shared.
- Messenger identities (``telegram:424242``) are the multi-field ``IM``: a channel with a Bitrix24
  messenger type keeps only its external id as ``VALUE`` (``424242``, ``VALUE_TYPE`` ``TELEGRAM``);
  other channels keep the whole identity with ``VALUE_TYPE`` ``OTHER``.
- The name goes into ``NAME`` whole; reading joins ``NAME``, ``SECOND_NAME`` and ``LAST_NAME``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from omniline.plugins import CrmRecord, LeadDraft, RecordKind
from omniline_bitrix24.answers import as_int, as_list, as_object, as_text

MULTI_FIELDS = ("PHONE", "EMAIL", "IM")
OTHER_IM = "OTHER"
_PHONE_NOISE = re.compile(r"[\s\-().]")
_E164 = re.compile(r"\+[0-9]{4,15}")


def record_id(kind: RecordKind, number: int) -> str:
    return f"{kind.value}:{number}"


def parse_record_id(value: str) -> tuple[RecordKind, int] | None:
    """``lead:12`` -> (LEAD, 12); None for what is not a Bitrix24 record id of this plugin."""
    kind, _, number = value.partition(":")
    if kind not in (RecordKind.CONTACT.value, RecordKind.LEAD.value) or not number.isdecimal():
        return None
    n = int(number)
    return (RecordKind(kind), n) if n > 0 else None


def phone_key(value: str) -> str:
    """A phone as compared: without spaces, dashes, dots and brackets."""
    return _PHONE_NOISE.sub("", value.strip())


def phone_read(value: str) -> str:
    """A phone as omniline sees it: E.164 when it is one under its formatting, else as written."""
    key = phone_key(value)
    return key if _E164.fullmatch(key) else value.strip()


def email_key(value: str) -> str:
    return value.strip().lower()


class ImCodec:
    """omniline identities <-> Bitrix24 ``IM`` entries."""

    def __init__(self, types: Mapping[str, str]) -> None:
        self._types = {channel: kind.upper() for channel, kind in types.items()}
        self._channels = {kind: channel for channel, kind in reversed(self._types.items())}

    def entry(self, identity: str) -> dict[str, str]:
        channel, sep, external = identity.partition(":")
        kind = self._types.get(channel) if sep and external else None
        if kind is not None:
            return {"VALUE": external, "VALUE_TYPE": kind}
        return {"VALUE": identity, "VALUE_TYPE": OTHER_IM}

    def identity(self, entry: Mapping[str, Any]) -> str | None:
        value = as_text(entry.get("VALUE"))
        if value is None:
            return None
        kind = (as_text(entry.get("VALUE_TYPE")) or OTHER_IM).upper()
        channel = self._channels.get(kind)
        if channel is not None:
            return f"{channel}:{value}"
        if kind == OTHER_IM and ":" in value:
            return value
        return f"{kind.lower()}:{value}"


def multi_values(raw: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    """The entries of a multi-field (``PHONE``...) of a read record."""
    return [as_object(entry) for entry in as_list(raw.get(name)) if isinstance(entry, dict)]


def _unique(values: Iterable[str], key: Callable[[str], str]) -> list[str]:
    seen: dict[str, str] = {}
    for value in values:
        value = value.strip()
        if value and key(value) not in seen:
            seen[key(value)] = value
    return list(seen.values())


def record_from(
    kind: RecordKind,
    raw: Mapping[str, Any],
    *,
    ims: ImCodec,
    operator_of: Callable[[int | None], str | None],
    portal: str,
) -> CrmRecord | None:
    """A record from ``crm.contact.get`` / ``crm.lead.get`` (None if it has no usable ``ID``)."""
    number = as_int(raw.get("ID"))
    if number is None or number <= 0:
        return None
    names = (as_text(raw.get(f)) for f in ("NAME", "SECOND_NAME", "LAST_NAME"))
    name = " ".join(n for n in names if n) or None
    phones = _unique(
        (phone_read(v) for e in multi_values(raw, "PHONE") if (v := as_text(e.get("VALUE")))),
        phone_key,
    )
    emails = _unique(
        (v for e in multi_values(raw, "EMAIL") if (v := as_text(e.get("VALUE")))), email_key
    )
    identities = _unique(
        (i for e in multi_values(raw, "IM") if (i := ims.identity(e))), lambda i: i
    )
    return CrmRecord(
        id=record_id(kind, number),
        kind=kind,
        name=name,
        phones=tuple(phones),
        emails=tuple(emails),
        ims=tuple(identities),
        responsible=operator_of(as_int(raw.get("ASSIGNED_BY_ID"))),
        url=f"{portal}/crm/{kind.value}/details/{number}/",
    )


def contact_entries(
    *, phones: Sequence[str], emails: Sequence[str], ims: Sequence[str], codec: ImCodec
) -> dict[str, list[dict[str, str]]]:
    """New multi-field entries (no ``ID``: Bitrix24 appends them) for these values."""
    fields: dict[str, list[dict[str, str]]] = {}
    if found := _unique(phones, phone_key):
        fields["PHONE"] = [{"VALUE": p, "VALUE_TYPE": "WORK"} for p in found]
    if found := _unique(emails, email_key):
        fields["EMAIL"] = [{"VALUE": e, "VALUE_TYPE": "WORK"} for e in found]
    if found := _unique(ims, lambda i: i):
        fields["IM"] = [codec.entry(i) for i in found]
    return fields


def missing_entries(
    raw: Mapping[str, Any],
    *,
    phones: Sequence[str],
    emails: Sequence[str],
    ims: Sequence[str],
    codec: ImCodec,
) -> dict[str, list[dict[str, str]]]:
    """Entries for the values the read record ``raw`` does not have yet."""
    have_phones = {phone_key(str(e.get("VALUE") or "")) for e in multi_values(raw, "PHONE")}
    have_emails = {email_key(str(e.get("VALUE") or "")) for e in multi_values(raw, "EMAIL")}
    have_ims = {i for e in multi_values(raw, "IM") if (i := codec.identity(e))}
    return contact_entries(
        phones=[p for p in phones if phone_key(p) not in have_phones],
        emails=[e for e in emails if email_key(e) not in have_emails],
        ims=[i for i in ims if codec.identity(codec.entry(i)) not in have_ims],
        codec=codec,
    )


def lead_fields(
    draft: LeadDraft,
    *,
    source_id: str,
    originator_id: str,
    assigned_to: int | None,
    codec: ImCodec,
) -> dict[str, Any]:
    """The ``fields`` of ``crm.lead.add`` for a draft."""
    fields: dict[str, Any] = {
        "TITLE": draft.title,
        "STATUS_ID": "NEW",
        "SOURCE_ID": source_id,
        "ORIGINATOR_ID": originator_id,
        "ORIGIN_ID": draft.origin_id,
    }
    if draft.name:
        fields["NAME"] = draft.name
    description = ": ".join(part for part in (draft.source, draft.source_description) if part)
    if description:
        fields["SOURCE_DESCRIPTION"] = description
    if assigned_to is not None:
        fields["ASSIGNED_BY_ID"] = assigned_to
    fields.update(
        contact_entries(phones=draft.phones, emails=draft.emails, ims=draft.ims, codec=codec)
    )
    return fields
