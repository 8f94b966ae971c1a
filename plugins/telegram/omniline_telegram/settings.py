"""The settings of one Telegram bot account."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
"""What Telegram accepts as a webhook ``secret_token``."""


class TelegramSettings(BaseModel):
    """One bot: its token, how updates come in, and the platform's limits."""

    model_config = ConfigDict(extra="forbid")

    token: SecretStr
    """The bot token from @BotFather (``123456:ABC-...``)."""
    api_base_url: str = "https://api.telegram.org"
    """The Bot API root; point it at a local Bot API server, a proxy or a test fake."""
    mode: Literal["webhook", "polling"] = "webhook"
    """``webhook``: Telegram calls ``/channels/telegram/{account}/webhook``; ``polling``: the
    channel long-polls ``getUpdates``."""
    webhook_secret: SecretStr | None = None
    """Sent by Telegram in ``X-Telegram-Bot-Api-Secret-Token`` with every webhook call; required in
    webhook mode (1-256 characters of ``A-Za-z0-9_-``)."""
    webhook_url: str | None = None
    """The public URL of this account's webhook. When set, ``start`` registers it with
    ``setWebhook``; leave it out to register the webhook yourself."""
    poll_timeout: int = Field(default=25, ge=0, le=50)
    """Seconds one ``getUpdates`` long poll may wait for updates."""
    poll_retry_delay: float = Field(default=5.0, gt=0)
    """Seconds to wait after a failed poll or a failure to store an update."""
    request_timeout: float = Field(default=30.0, gt=0)
    """Seconds one Bot API request (other than the long poll) may take."""
    per_chat_rate: float = Field(default=1.0, gt=0)
    """Messages per second to one chat (Telegram tolerates about one, in short bursts more)."""
    global_rate: float = Field(default=30.0, gt=0)
    """Messages per second across all chats of the bot (Telegram: about 30)."""
    max_text_length: int = Field(default=4096, ge=16, le=4096)
    """Longer texts are split; 4096 is Telegram's limit."""
    max_caption_length: int = Field(default=1024, ge=0, le=1024)
    """Text up to this length rides on a single file as its caption; longer text follows it."""

    @field_validator("webhook_secret")
    @classmethod
    def _telegram_accepts_it(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not SECRET_TOKEN.match(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @model_validator(mode="after")
    def _webhook_needs_a_secret(self) -> TelegramSettings:
        if self.mode == "webhook" and self.webhook_secret is None:
            raise ValueError("webhook mode needs webhook_secret (or set mode: polling)")
        return self
