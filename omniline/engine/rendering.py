"""The one place where content a channel cannot render is degraded.

Long text is split at word boundaries; buttons the channel cannot show become a numbered list, and the
client answers with the number (the pipeline maps the number back to the button's payload); shared
web pages and files the channel cannot send become lines of text.
"""

from __future__ import annotations

from collections.abc import Sequence

from omniline.engine.ports import Capabilities, DialogAction, LogAction, RouteAction, SendAction
from omniline.model import Attachment, AttachmentKind, Button, OutboundMessage, Visibility


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` characters, preferring paragraph, line and
    word boundaries, cutting inside a word only when one word is longer than the limit."""
    if limit < 1:
        raise ValueError("limit must be positive")
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = -1
        for sep in ("\n\n", "\n", " "):
            cut = window.rfind(sep)
            if cut > 0:
                break
        if cut <= 0:
            parts.append(rest[:limit])
            rest = rest[limit:]
            continue
        head = rest[:cut].rstrip()
        if head:
            parts.append(head)
        rest = rest[cut:].lstrip()
    if rest or not parts:
        parts.append(rest)
    return parts


def numbered_buttons(buttons: tuple[tuple[Button, ...], ...]) -> str:
    """Buttons as text: one numbered line each, in reading order."""
    flat = [b for row in buttons for b in row]
    return "\n".join(f"{i}. {b.text}" for i, b in enumerate(flat, start=1))


def button_for_number(buttons: tuple[tuple[Button, ...], ...], reply: str) -> Button | None:
    """The button a numbered reply stands for, if ``reply`` is just one of the numbers shown."""
    flat = [b for row in buttons for b in row]
    token = reply.strip().rstrip(".")
    if not token.isdigit():
        return None
    index = int(token)
    return flat[index - 1] if 1 <= index <= len(flat) else None


def button_for_reply(buttons: tuple[tuple[Button, ...], ...], reply: str) -> Button | None:
    """The button a text reply stands for: one of the numbers of a numbered list, or a button's
    label (as reply keyboards send it back), compared without case."""
    found = button_for_number(buttons, reply)
    if found is not None:
        return found
    label = reply.strip().casefold()
    return next((b for row in buttons for b in row if b.text.strip().casefold() == label), None)


def link_text(page: Attachment) -> str:
    """A shared web page as a line of text: its title and its url (either alone when the other
    is missing)."""
    address = page.url or page.file_id or ""
    title = (page.name or "").strip()
    if not title or title == address:
        return address
    return f"{title}: {address}" if address else title


def degrade(message: OutboundMessage, caps: Capabilities) -> tuple[OutboundMessage, ...]:
    """The parts a channel with ``caps`` sends for ``message``, in order.

    Buttons stay on the last text part; a shared web page becomes its title and url in the text
    where the channel cannot send one as such; other attachments are dropped into a text link when
    the channel takes none.
    """
    text = message.text or ""
    buttons = message.buttons
    can_buttons = caps.inline_buttons if message.inline else caps.buttons
    if buttons and not can_buttons:
        listing = numbered_buttons(buttons)
        text = f"{text}\n\n{listing}" if text else listing
        buttons = ()
    attachments = message.attachments
    if not (caps.attachments and caps.link_attachments):
        pages = [a for a in attachments if a.kind is AttachmentKind.LINK]
        if pages:
            note = "\n".join(link_text(a) for a in pages)
            text = f"{text}\n{note}" if text else note
            attachments = tuple(a for a in attachments if a.kind is not AttachmentKind.LINK)
    if attachments and not caps.attachments:
        links = [a.url or a.name or a.file_id or "" for a in attachments]
        note = "\n".join(
            f"[{a.kind.value}] {link}" for a, link in zip(attachments, links, strict=True)
        )
        text = f"{text}\n{note}" if text else note
        attachments = ()
    texts = split_text(text, caps.max_text_length) if text else []
    parts: list[OutboundMessage] = []
    if attachments:
        parts.append(OutboundMessage(attachments=attachments, inline=message.inline))
    for i, chunk in enumerate(texts):
        last = i == len(texts) - 1
        parts.append(
            OutboundMessage(text=chunk, buttons=buttons if last else (), inline=message.inline)
        )
    return tuple(parts)


def fill_parts(actions: Sequence[DialogAction], caps: Capabilities) -> list[DialogAction]:
    """Give every message to the client that has none yet its parts as a channel with ``caps``
    sends them (the texts of a routing plan too)."""
    done: list[DialogAction] = []
    for action in actions:
        if (
            isinstance(action, SendAction)
            and action.visibility is Visibility.CLIENT
            and not action.parts
        ):
            action = action.model_copy(update={"parts": degrade(action.message, caps)})
        elif isinstance(action, RouteAction) and action.plan.when_exhausted:
            texts = tuple(
                a
                for a in fill_parts(action.plan.when_exhausted, caps)
                if isinstance(a, SendAction | LogAction)
            )
            action = RouteAction(plan=action.plan.model_copy(update={"when_exhausted": texts}))
        done.append(action)
    return done
