"""Asking a client to rate a closed dialog, and recognising the answer.

The question carries five buttons whose payloads are ``omniline:rate:1`` .. ``omniline:rate:5``.
Where a channel has no buttons they arrive as a numbered list, so a bare number 1-5 answers too, as
does a button's label sent back by a reply keyboard.
"""

from __future__ import annotations

from omniline.model import Button, InboundMessage, OutboundMessage

RATE_PREFIX = "omniline:rate:"
LABELS = ("★", "★★", "★★★", "★★★★", "★★★★★")


def rating_question(text: str) -> OutboundMessage:
    buttons = tuple(
        Button(text=label, payload=f"{RATE_PREFIX}{n}") for n, label in enumerate(LABELS, 1)
    )
    return OutboundMessage(text=text, buttons=(buttons,))


def score_of(message: InboundMessage, pending: tuple[tuple[Button, ...], ...] = ()) -> int | None:
    """The score (1-5) ``message`` gives, or None when it is not an answer to the question."""
    payload = message.button_payload
    if payload is None and message.text:
        text = message.text.strip()
        if text.isdigit():
            score = int(text)
            return score if 1 <= score <= 5 else None
        label = text.casefold()
        payload = next(
            (b.payload for row in pending for b in row if b.text.strip().casefold() == label), None
        )
    if payload is None or not payload.startswith(RATE_PREFIX):
        return None
    tail = payload.removeprefix(RATE_PREFIX)
    if not tail.isdigit() or not 1 <= int(tail) <= 5:
        return None
    return int(tail)
