"""omniline's outbound messages as Viber ``send_message`` bodies, built with viberbot's messages."""

from __future__ import annotations

from typing import Any, cast

from viberbot.api.messages import (  # type: ignore[import-untyped]
    FileMessage,
    PictureMessage,
    TextMessage,
    URLMessage,
    VideoMessage,
)

from omniline.model import Attachment, AttachmentKind, Button, OutboundMessage

KEYBOARD_COLUMNS = 6
"""A Viber keyboard row is six columns wide."""
PICTURE_CAPTION = 120
"""Viber shows at most 120 characters under a picture."""


def keyboard(rows: tuple[tuple[Button, ...], ...]) -> dict[str, Any]:
    """A Viber keyboard whose buttons send their payload back as the reply's text."""
    buttons: list[dict[str, Any]] = []
    for row in rows:
        for start in range(0, len(row), KEYBOARD_COLUMNS):
            chunk = row[start : start + KEYBOARD_COLUMNS]
            columns = max(1, KEYBOARD_COLUMNS // len(chunk))
            buttons.extend(
                {
                    "Columns": columns,
                    "Rows": 1,
                    "ActionType": "reply",
                    "ActionBody": button.payload,
                    "Text": button.text,
                }
                for button in chunk
            )
    return {"Type": "keyboard", "DefaultHeight": False, "Buttons": buttons}


def _attachment(attachment: Attachment, board: dict[str, Any] | None) -> Any:
    url = attachment.url
    if url is None:  # Viber sends files only by URL; name what cannot be sent instead
        return TextMessage(keyboard=board, text=f"[{attachment.kind.value}] {attachment.file_id}")
    if attachment.kind in (AttachmentKind.IMAGE, AttachmentKind.STICKER):
        caption = (attachment.name or "")[:PICTURE_CAPTION]
        return PictureMessage(keyboard=board, media=url, text=caption)
    if attachment.kind is AttachmentKind.VIDEO and attachment.size is not None:
        return VideoMessage(keyboard=board, media=url, size=attachment.size)
    if attachment.kind in (AttachmentKind.DOCUMENT, AttachmentKind.AUDIO, AttachmentKind.VOICE) or (
        attachment.kind is AttachmentKind.VIDEO
    ):
        name = attachment.name or url.rstrip("/").rsplit("/", 1)[-1] or "file"
        return FileMessage(keyboard=board, media=url, size=attachment.size or 0, file_name=name)
    return URLMessage(keyboard=board, media=url)


def bodies(
    message: OutboundMessage, *, receiver: str, sender: dict[str, str], tracking_data: str | None
) -> list[dict[str, Any]]:
    """One ``send_message`` body per Viber message: the attachments, then the text. The keyboard
    goes with the last one, so it stays on the client's screen."""
    board = keyboard(message.buttons) if message.buttons else None
    parts: list[Any] = []
    count = len(message.attachments) + (1 if message.text else 0)
    for index, attachment in enumerate(message.attachments):
        parts.append(_attachment(attachment, board if index == count - 1 else None))
    if message.text:
        parts.append(TextMessage(keyboard=board, text=message.text))
    result: list[dict[str, Any]] = []
    for part in parts:
        body = cast(dict[str, Any], part.to_dict())
        body = {key: value for key, value in body.items() if value is not None}
        body["receiver"] = receiver
        body["sender"] = sender
        if tracking_data is not None:
            body["tracking_data"] = tracking_data
        if board is not None and "keyboard" in body:
            body["min_api_version"] = 3
        result.append(body)
    return result
