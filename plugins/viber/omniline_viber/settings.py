"""The settings of one Viber bot account (the ``settings`` of a ``viber`` channel)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

VIBER_API_URL = "https://chatapi.viber.com/pa"


class ViberSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    auth_token: SecretStr
    """The bot's token from the Viber Admin Panel. It signs webhooks and authenticates calls."""
    api_base_url: str = VIBER_API_URL
    mode: Literal["webhook"] = "webhook"
    """Viber only pushes updates to a webhook; it has no polling API."""
    webhook_url: str | None = None
    """Public URL of ``/channels/viber/<account>/webhook``. When set, ``start`` registers it with
    Viber (``set_webhook``), retrying with back-off until Viber takes it; leave it out to register
    the webhook yourself."""
    webhook_retry_delay: float = Field(default=5.0, gt=0)
    """Seconds before the first retry of a ``set_webhook`` that failed; each next wait doubles."""
    webhook_retry_max_delay: float = Field(default=300.0, gt=0)
    """The longest wait between two ``set_webhook`` attempts."""
    max_callback_bytes: int = Field(default=256 * 1024, ge=1024)
    """Callbacks over this size are refused with 413 before they are read any further (Viber's own
    messages stay far below it: a text is at most 7000 characters)."""
    sender_name: str = Field(default="Support", min_length=1, max_length=28)
    """The name shown above the bot's messages (Viber requires one, at most 28 characters)."""
    sender_avatar: str | None = None
    max_text_length: int = Field(default=7000, ge=16, le=7000)
    max_request_bytes: int = Field(default=30 * 1024, ge=1024, le=30 * 1024)
    """Viber refuses request bodies over 30 KB."""
    max_unanswered_per_hour: int = Field(default=100, ge=1)
    """Viber lets a bot send a user at most this many messages within an hour without a reply."""
    unanswered_retry_after: float = Field(default=600.0, gt=0)
    """How long to wait when Viber itself says too many messages went unanswered."""
    global_rate: float | None = Field(default=50.0, gt=0)
    """Messages per second across the account (Viber: 500 requests per 10 s)."""
    per_chat_rate: float | None = Field(default=None, gt=0)
    remembered_keyboards: int = Field(default=10_000, ge=1)
    """How many users' last keyboards are kept in memory to recognise button presses."""
    request_timeout: float = Field(default=30.0, gt=0)
