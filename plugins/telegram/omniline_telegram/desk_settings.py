"""The settings of the Telegram desk: one supergroup with topics where operators work."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class TelegramDeskSettings(BaseModel):
    """A bot in a forum supergroup, the operators it knows by their Telegram user ids, and which
    lines' dialogs it shows."""

    model_config = ConfigDict(extra="forbid")

    token: SecretStr
    """The desk bot's token from @BotFather. Use a bot of its own: a bot whose updates a Telegram
    channel in polling mode reads cannot be long-polled by the desk as well."""
    api_base_url: str = "https://api.telegram.org"
    """The Bot API root; point it at a local Bot API server, a proxy or a test fake."""
    group_id: int
    """The supergroup's chat id (``-100`` followed by digits); topics must be turned on."""
    operators: dict[str, int] = Field(min_length=1)
    """omniline operator id -> that operator's Telegram user id. Only these people can act."""
    whisper_prefix: str = Field(default="!", min_length=1, max_length=16)
    """A message in a topic starting with this is a whisper: it stays among the operators."""
    lines: list[str] | None = Field(default=None, min_length=1)
    """Show the dialogs of these lines only (a dialog keeps its topic if it moves to another line);
    all lines when left out."""
    close_topics: bool = True
    """Close a dialog's topic when the dialog closes (and reopen it when the dialog reopens)."""
    poll_timeout: int = Field(default=25, ge=0, le=50)
    """Seconds one ``getUpdates`` long poll may wait for updates."""
    retry_delay: float = Field(default=5.0, gt=0)
    """Seconds to wait after a failed poll, or when the group cannot be written to."""
    request_timeout: float = Field(default=30.0, gt=0)
    """Seconds one Bot API request (other than the long poll) may take."""
    feed_interval: float = Field(default=2.0, gt=0)
    """Most seconds before the desk sees what other worker processes did (this process's own
    doings it sees at once)."""

    @field_validator("group_id")
    @classmethod
    def _a_supergroup(cls, value: int) -> int:
        if not str(value).startswith("-100"):
            raise ValueError(
                "must be a supergroup's chat id, -100 followed by digits (e.g. -1001234567890); "
                "see docs/desks/telegram.md for how to find it"
            )
        return value

    @field_validator("operators")
    @classmethod
    def _one_person_each(cls, value: dict[str, int]) -> dict[str, int]:
        for operator_id, user_id in value.items():
            if user_id <= 0:
                raise ValueError(f"{operator_id}: a Telegram user id is a positive number")
        seen: dict[int, str] = {}
        for operator_id, user_id in value.items():
            if user_id in seen:
                raise ValueError(
                    f"Telegram user {user_id} is given to both {seen[user_id]} and {operator_id}"
                )
            seen[user_id] = operator_id
        return value

    @field_validator("whisper_prefix")
    @classmethod
    def _not_a_command(cls, value: str) -> str:
        if value.startswith("/") or value != value.strip():
            raise ValueError("must not start with '/' (commands) nor start or end with a space")
        return value
