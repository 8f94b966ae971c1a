"""How a platform names the person writing, and the client behind one or more identities."""

from __future__ import annotations

from pydantic import Field

from omniline.model._base import Frozen

NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"


class ChannelRef(Frozen):
    """One configured channel: its type (from a plugin) and the account (one configured instance)."""

    type: str = Field(pattern=NAME_PATTERN)
    account: str = Field(min_length=1, max_length=128)

    def __str__(self) -> str:
        return f"{self.type}/{self.account}"


class Identity(Frozen):
    """(channel type, account, external user id), plus what the platform told about the person."""

    channel: ChannelRef
    external_id: str = Field(min_length=1, max_length=256)
    display_name: str | None = Field(default=None, max_length=256)
    profile: dict[str, str] = Field(default_factory=dict)
    """Profile fields as the platform gives them: username, first_name, last_name, language, phone,
    email, avatar_url... Keys are free-form so a plugin can keep what its platform offers."""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.channel.type, self.channel.account, self.external_id)


class ClientLink(Frozen):
    """Why the chat tracker moved an identity to another client, and whether it was undone."""

    id: int
    identity_id: int
    from_client_id: int
    to_client_id: int
    type: str
    """``phone`` or ``email``: the kind of value both clients gave."""
    value: str
    message_id: int | None
    """The message the value came in."""
    at: float
    undone_at: float | None
