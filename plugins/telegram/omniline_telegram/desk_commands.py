"""The commands operators write in a dialog's topic: pure parsing, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verb(StrEnum):
    ACCEPT = "accept"
    SKIP = "skip"
    TRANSFER = "transfer"
    INVITE = "invite"
    PIN = "pin"
    UNPIN = "unpin"
    CLOSE = "close"
    REOPEN = "reopen"
    RATING = "rating"
    HELP = "help"


HELP = "\n".join(
    [
        "In a dialog's topic:",
        "text - goes to the client (you must hold the dialog or be invited)",
        "{prefix}text - a whisper: only operators see it",
        "/accept, /skip - take or pass on the dialog offered to you",
        "/transfer <operator> - offer it to a colleague; /transfer line <line> - to a line",
        "/invite <operator> - a colleague joins you in the dialog",
        "/pin, /unpin - a pinned dialog is never closed automatically",
        "/close [reason] - close the dialog (the client is asked to rate it)",
        "/reopen - reopen a closed dialog and hold it",
        "/rating - the client's rating of the dialog",
    ]
)
"""What /help answers (``{prefix}``: the desk's whisper prefix)."""


class UsageError(ValueError):
    """A command written wrongly; the message says how to write it."""


@dataclass(frozen=True)
class Command:
    verb: Verb
    target: str | None = None
    """The operator (transfer, invite) or the line (transfer to a line)."""
    to_line: bool = False
    reason: str | None = None
    """Why the dialog is closed (``/close spam``)."""


def parse_command(text: str, bot_username: str | None) -> Command | None:
    """The command ``text`` is (it starts with ``/``), or None when it is addressed to another bot
    (``/close@other_bot``). Raises :class:`UsageError` for an unknown or malformed command."""
    head, *words = text.split()
    name, _, addressee = head[1:].partition("@")
    if addressee and (bot_username is None or addressee.casefold() != bot_username.casefold()):
        return None
    try:
        verb = Verb(name.casefold())
    except ValueError:
        raise UsageError(f"unknown command /{name}; /help lists the commands") from None
    match verb:
        case Verb.TRANSFER:
            if len(words) == 2 and words[0].casefold() == "line":
                return Command(verb, target=words[1], to_line=True)
            if len(words) != 1:
                raise UsageError("write /transfer <operator id> or /transfer line <line id>")
            return Command(verb, target=words[0])
        case Verb.INVITE:
            if len(words) != 1:
                raise UsageError("write /invite <operator id>")
            return Command(verb, target=words[0])
        case Verb.CLOSE:
            return Command(verb, reason=" ".join(words) or None)
        case _:
            if words:
                raise UsageError(f"/{verb.value} takes nothing after it")
            return Command(verb)
