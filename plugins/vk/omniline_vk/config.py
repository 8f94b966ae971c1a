"""The settings of one VK community account."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

VK_API_ROOT = "https://api.vk.ru/method/"


class VkSettings(BaseModel):
    """``settings`` of a ``type: vk`` channel."""

    model_config = ConfigDict(extra="forbid")

    api_base_url: str = VK_API_ROOT
    """The API root every method name is appended to (a local fake or a proxy in tests)."""
    api_version: str = "5.199"
    token: SecretStr
    """The community's access token (Manage community -> API usage -> Access tokens)."""
    group_id: int = Field(gt=0)
    """The community's numeric id (without the minus sign)."""
    mode: Literal["webhook", "polling"] = "webhook"
    """``webhook``: VK's Callback API calls us; ``polling``: Bots Long Poll."""
    confirmation: str | None = None
    """Callback API: the string VK expects back when it confirms the server address."""
    secret: SecretStr | None = None
    """Callback API: the secret key VK puts in every event (required in webhook mode)."""
    max_body_bytes: int = Field(default=1_048_576, ge=4096)
    """Callback API: a larger request body is answered 413 before it is read past this size."""
    max_json_depth: int = Field(default=128, ge=16, le=200)
    """Callback API: a body nesting deeper is answered 400. Forwarded messages nest (each level
    two deeper), so this is above omniline's usual 64; at most 200, which the stored ``raw``
    payload can still hold."""
    long_poll_wait: int = Field(default=25, ge=1, le=90)
    """Bots Long Poll: seconds a request may wait for events."""
    poll_retry_pause: float = Field(default=3.0, gt=0)
    """Bots Long Poll: pause after a failed poll or a failed store before trying again."""
    request_timeout: float = Field(default=30.0, gt=0)
    max_text_length: int = Field(default=4096, ge=16)
    per_chat_rate: float | None = Field(default=1.0, gt=0)
    global_rate: float | None = Field(default=20.0, gt=0)
    """Group tokens may make 20 API calls a second."""
    rate_limit_retry_after: float = Field(default=1.0, gt=0)
    """Seconds to wait after error 6 (too many requests per second)."""
    flood_retry_after: float = Field(default=600.0, gt=0)
    """Seconds to wait after error 9 (flood control: too many messages to one user)."""
    quota_retry_after: float = Field(default=3600.0, gt=0)
    """Seconds to wait after error 29 (the method's daily quota)."""
    fetch_profiles: bool = True
    """Ask ``users.get`` for a client's name (cached per channel)."""

    @model_validator(mode="after")
    def _webhook_needs_secrets(self) -> VkSettings:
        if self.mode == "webhook" and (self.secret is None or not self.confirmation):
            raise ValueError("webhook mode needs both 'secret' and 'confirmation'")
        return self
