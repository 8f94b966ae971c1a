"""The desk's pure parts: topic names, texts within Telegram's limits, commands."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from omniline_telegram.desk_commands import Command, UsageError, Verb, parse_command
from omniline_telegram.desk_texts import (
    TOPIC_NAME_LIMIT,
    message_text,
    split_text,
    topic_name,
    utf16_length,
)

from omniline.model import (
    Attachment,
    AttachmentKind,
    ChannelRef,
    Direction,
    Identity,
    StoredMessage,
    Visibility,
)

VK = ChannelRef(type="vk", account="shop")


def test_a_topic_is_named_after_the_client_and_their_channel() -> None:
    assert topic_name(Identity(channel=VK, external_id="42", display_name="Zoe  Miller")) == (
        "Zoe Miller · vk"
    )
    assert topic_name(Identity(channel=VK, external_id="42")) == "42 · vk"
    long = topic_name(Identity(channel=VK, external_id="42", display_name="Z" * 256))
    assert len(long) == TOPIC_NAME_LIMIT and long.endswith("… · vk")


def test_long_texts_are_split_within_telegrams_limit_counting_utf16() -> None:
    text = "\n".join(["😀" * 1000] * 5)  # every emoji counts twice for Telegram
    pieces = split_text(text)
    assert all(utf16_length(p) <= 4096 for p in pieces)
    assert len(pieces) == 3 and "\n".join(pieces) == text  # cut at line ends
    assert split_text("short") == ["short"]


def test_a_clients_files_show_by_name_or_link() -> None:
    message = StoredMessage(
        id=1,
        dialog_id=1,
        client_id=1,
        direction=Direction.IN,
        visibility=Visibility.CLIENT,
        author="client",
        text="see this",
        attachments=(
            Attachment(kind=AttachmentKind.IMAGE, url="https://cdn.example/a.png"),
            Attachment(kind=AttachmentKind.DOCUMENT, file_id="x", name="invoice.pdf"),
        ),
        created_at=datetime(2026, 1, 5, tzinfo=UTC),
    )
    assert message_text(message, "Zoe") == (
        "👤 Zoe: see this\n🖼 photo: https://cdn.example/a.png\n📎 invoice.pdf"
    )


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("/accept", Command(Verb.ACCEPT)),
        ("/Skip@Desk_Bot", Command(Verb.SKIP)),
        ("/transfer boris", Command(Verb.TRANSFER, target="boris")),
        ("/transfer line sales", Command(Verb.TRANSFER, target="sales", to_line=True)),
        ("/invite boris", Command(Verb.INVITE, target="boris")),
        ("/close", Command(Verb.CLOSE)),
        ("/close  spam, again ", Command(Verb.CLOSE, reason="spam, again")),
        ("/rating", Command(Verb.RATING)),
        ("/close@other_bot", None),
    ],
)
def test_commands(text: str, command: Command | None) -> None:
    assert parse_command(text, "desk_bot") == command


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("/transfer", "write /transfer <operator id> or /transfer line <line id>"),
        ("/transfer a b c", "write /transfer"),
        ("/invite", "write /invite <operator id>"),
        ("/pin now", "/pin takes nothing after it"),
        ("/start", "unknown command /start"),
    ],
)
def test_a_malformed_command_says_how_to_write_it(text: str, error: str) -> None:
    with pytest.raises(UsageError, match=error):
        parse_command(text, "desk_bot")
