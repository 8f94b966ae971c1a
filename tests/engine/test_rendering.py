"""Content a channel cannot show is degraded in one place."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from omniline import Attachment, AttachmentKind, Button, Capabilities, OutboundMessage
from omniline.engine.rendering import button_for_number, degrade, split_text

words = st.lists(st.text(alphabet="abcdefghij", min_size=1, max_size=12), min_size=1, max_size=80)


@given(words, st.integers(min_value=12, max_value=60))
def test_split_keeps_every_word_and_respects_the_limit(parts: list[str], limit: int) -> None:
    text = " ".join(parts)
    chunks = split_text(text, limit)
    assert all(0 < len(c) <= limit for c in chunks)
    assert " ".join(chunks).split() == text.split()


@given(st.text(min_size=1, max_size=500), st.integers(min_value=1, max_value=50))
def test_split_never_loses_non_space_characters(text: str, limit: int) -> None:
    chunks = split_text(text, limit)
    assert all(len(c) <= limit for c in chunks)
    assert "".join("".join(c.split()) for c in chunks) == "".join(text.split())


def test_split_prefers_paragraphs_then_lines_then_words() -> None:
    text = "First paragraph here.\n\nSecond one.\nThird line"
    assert split_text(text, 30) == ["First paragraph here.", "Second one.\nThird line"]
    assert split_text("a" * 10, 4) == ["aaaa", "aaaa", "aa"]


BUTTONS = ((Button(text="Yes", payload="y"), Button(text="No", payload="n")),)


def test_buttons_become_a_numbered_list_where_the_channel_has_none() -> None:
    message = OutboundMessage(text="Rate us?", buttons=BUTTONS)
    parts = degrade(message, Capabilities(buttons=False, inline_buttons=False))
    assert [p.text for p in parts] == ["Rate us?\n\n1. Yes\n2. No"]
    assert parts[0].buttons == ()
    assert button_for_number(BUTTONS, " 2. ") == Button(text="No", payload="n")
    assert button_for_number(BUTTONS, "3") is None
    assert button_for_number(BUTTONS, "two") is None


def test_buttons_stay_on_the_last_part_of_a_long_message() -> None:
    message = OutboundMessage(text="word " * 10, buttons=BUTTONS)
    parts = degrade(message, Capabilities(max_text_length=20))
    assert len(parts) == 3
    assert [bool(p.buttons) for p in parts] == [False, False, True]


def test_reply_keyboard_buttons_follow_the_reply_keyboard_capability() -> None:
    message = OutboundMessage(text="Pick", buttons=BUTTONS, inline=False)
    kept = degrade(message, Capabilities(buttons=True, inline_buttons=False))
    assert kept[0].buttons == BUTTONS


def test_attachments_become_links_where_the_channel_takes_none() -> None:
    photo = Attachment(kind=AttachmentKind.IMAGE, url="https://cdn.example/p.jpg")
    message = OutboundMessage(text="See", attachments=(photo,))
    parts = degrade(message, Capabilities(attachments=False))
    assert [p.text for p in parts] == ["See\n[image] https://cdn.example/p.jpg"]
    sent = degrade(message, Capabilities())
    assert sent[0].attachments == (photo,) and sent[1].text == "See"


def test_a_reply_stands_for_a_button_by_its_number_or_its_label() -> None:
    from omniline.engine.rendering import button_for_reply

    assert button_for_reply(BUTTONS, "2") == Button(text="No", payload="n")
    assert button_for_reply(BUTTONS, "  yes ") == Button(text="Yes", payload="y")
    assert button_for_reply(BUTTONS, "maybe") is None


PAGE = Attachment(kind=AttachmentKind.LINK, url="https://shop.example/mug", name="The mug")


def test_a_link_attachment_becomes_its_title_and_url_where_the_channel_sends_no_links() -> None:
    photo = Attachment(kind=AttachmentKind.IMAGE, url="https://cdn.example/p.jpg")
    message = OutboundMessage(text="Here it is", attachments=(PAGE, photo))
    parts = degrade(message, Capabilities())
    assert parts[0].attachments == (photo,)
    assert [p.text for p in parts[1:]] == ["Here it is\nThe mug: https://shop.example/mug"]
    only_page = degrade(OutboundMessage(attachments=(PAGE,)), Capabilities())
    assert [(p.text, p.attachments) for p in only_page] == [
        ("The mug: https://shop.example/mug", ())
    ]


def test_a_link_attachment_stays_one_where_the_channel_sends_links() -> None:
    message = OutboundMessage(attachments=(PAGE,))
    parts = degrade(message, Capabilities(link_attachments=True))
    assert [(p.text, p.attachments) for p in parts] == [(None, (PAGE,))]


def test_a_link_without_a_title_is_its_url_alone_and_files_still_become_kind_lines() -> None:
    bare = Attachment(kind=AttachmentKind.LINK, url="https://shop.example/")
    photo = Attachment(kind=AttachmentKind.IMAGE, url="https://cdn.example/p.jpg")
    message = OutboundMessage(attachments=(bare, photo))
    parts = degrade(message, Capabilities(attachments=False, link_attachments=True))
    assert [p.text for p in parts] == ["https://shop.example/\n[image] https://cdn.example/p.jpg"]
