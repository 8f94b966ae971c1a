"""Contact details a client gives in the chat: a shared contact, or a phone number or email
written in a message (the answer to the line's contact form, or just said in passing).

Phone numbers are found and normalised to E.164 by ``phonenumbers``: a shared contact's number is
international (platforms send the account's number so, with or without the ``+``); numbers written
without a country code are read in the line's ``default_region``; emails are checked by
``email-validator``, without a DNS lookup.
"""

from __future__ import annotations

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from omniline.model import InboundMessage

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_DIGITS = re.compile(r"[0-9][0-9 ()\-]*")


def normalized_phone(raw: str, region: str | None) -> str | None:
    """``raw`` as an E.164 number (``+4930123456``), or None if it is not a valid number."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def shared_phone(raw: str, region: str | None) -> str | None:
    """A phone from a shared contact as E.164. Platforms hand over the account's number in
    international form, and Telegram's clients send it without the ``+`` (``4915112345678``): a
    number of digits alone is read as international first, and in ``region`` only if that fails
    (a national number a user typed into a contact card, ``030 1234567``)."""
    digits = raw.strip()
    if digits and not digits.startswith(("+", "0")) and _DIGITS.fullmatch(digits):
        international = normalized_phone("+" + digits, None)
        if international is not None:
            return international
    return normalized_phone(raw, region)


def phones_in(text: str, region: str | None) -> list[str]:
    found = []
    for match in phonenumbers.PhoneNumberMatcher(text, region or "ZZ"):
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        if e164 not in found:
            found.append(e164)
    return found


def emails_in(text: str) -> list[str]:
    found = []
    for candidate in _EMAIL.findall(text):
        try:
            # Lower case whole: mail servers treat local parts alike in practice, and the same
            # address written twice must match.
            email = validate_email(candidate, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            continue
        if email not in found:
            found.append(email)
    return found


def contact_details(message: InboundMessage, region: str | None) -> dict[str, str]:
    """The phone, email and name the message gives (the first of each)."""
    details: dict[str, str] = {}
    if message.contact is not None:
        phone = shared_phone(message.contact.phone, region)
        if phone is not None:
            details["phone"] = phone
        if message.contact.name:
            details["name"] = message.contact.name
    if message.text:
        if "phone" not in details:
            phones = phones_in(message.text, region)
            if phones:
                details["phone"] = phones[0]
        emails = emails_in(message.text)
        if emails:
            details["email"] = emails[0]
    return details
