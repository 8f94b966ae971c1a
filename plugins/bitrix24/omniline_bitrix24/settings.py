"""The settings of one Bitrix24 portal (the ``settings`` of the ``bitrix24`` CRM)."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

WEBHOOK_SHAPE = "https://<portal>/rest/<user id>/<code>/"
_WEBHOOK_PATH = re.compile(r"/rest/(?P<user>[1-9][0-9]*)/(?P<code>[A-Za-z0-9_-]{8,})/?")

DEFAULT_IM_TYPES = {"telegram": "TELEGRAM", "vk": "VK", "viber": "VIBER"}


class Bitrix24Settings(BaseModel):
    # The webhook's code is a password: pydantic must not repeat a rejected value in its errors.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    webhook_url: SecretStr
    """The incoming webhook, ``https://<portal>/rest/<user id>/<code>/`` (secret: the code is
    the password of the webhook's user)."""
    operators: dict[Annotated[str, Field(min_length=1)], Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict
    )
    """omniline operator id -> Bitrix24 user id (``ASSIGNED_BY_ID``)."""
    rate: float = Field(default=2.0, gt=0)
    """Calls a second the portal's leaky bucket drains (Bitrix24: 2; Enterprise: 5)."""
    burst: int = Field(default=50, ge=1)
    """Calls the portal takes at once before pacing (Bitrix24: 50; Enterprise: 250)."""
    max_attempts: int = Field(default=4, ge=1)
    """Tries of one call on rate limits and, for reads, on network errors and server trouble."""
    base_delay: float = Field(default=0.5, gt=0)
    """The first back-off; it doubles on every further try (with jitter)."""
    max_delay: float = Field(default=10.0, gt=0)
    """The longest back-off, and the longest a call waits in place for a paused method: a longer
    pause fails the call as temporary, with the seconds left as ``retry_after``."""
    timeout: float = Field(default=10.0, gt=0)
    """Seconds for one HTTP request."""
    lead_source_id: str = Field(default="OTHER", min_length=1)
    """``SOURCE_ID`` of new leads: a status id of the portal's *Source* list (``OTHER`` exists on
    every portal; add your own source in the CRM settings and put its id here)."""
    originator_id: str = Field(default="omniline", min_length=1, max_length=255)
    """``ORIGINATOR_ID`` of new leads: together with ``ORIGIN_ID`` it finds a lead made before."""
    default_responsible: int | None = Field(default=None, ge=1)
    """Bitrix24 user for new leads without a (mapped) responsible operator; none: the portal's
    default (the webhook's user)."""
    im_types: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_IM_TYPES))
    """omniline channel type -> Bitrix24 ``IM`` ``VALUE_TYPE``. Identities of other channels are
    stored whole (``webchat:abc``) with ``VALUE_TYPE`` ``OTHER``."""

    @model_validator(mode="before")
    @classmethod
    def _check_webhook_shape(cls, data: Any) -> Any:
        # Checked before field validation, so a rejected URL is never the error's input value
        # (omniline's config errors print the input of a failing field).
        if isinstance(data, dict):
            url = data.get("webhook_url")
            if isinstance(url, SecretStr):
                url = url.get_secret_value()
            if isinstance(url, str):
                problem = webhook_problem(url)
                if problem is not None:
                    raise ValueError(f"webhook_url {problem}")
                data = {**data, "webhook_url": normalized_webhook(url)}
        return data

    @property
    def root(self) -> str:
        """The webhook root, ending with ``/``; methods are ``<root><method>.json``."""
        return self.webhook_url.get_secret_value()

    @property
    def portal(self) -> str:
        """``scheme://host`` of the portal (not secret)."""
        parts = urlsplit(self.root)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def webhook_user(self) -> int:
        match = _WEBHOOK_PATH.fullmatch(urlsplit(self.root).path)
        assert match is not None  # checked by the validator
        return int(match["user"])

    @property
    def code(self) -> str:
        match = _WEBHOOK_PATH.fullmatch(urlsplit(self.root).path)
        assert match is not None
        return match["code"]

    @property
    def masked_url(self) -> str:
        """The webhook with its code hidden: ``https://portal/rest/1/***/``."""
        return f"{self.portal}/rest/{self.webhook_user}/***/"


def webhook_problem(url: str) -> str | None:
    """What is wrong with an incoming webhook URL (None: nothing). Never repeats the code."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return f"is not a URL: expected {WEBHOOK_SHAPE}"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"must be an http(s) URL of the portal: expected {WEBHOOK_SHAPE}"
    if parts.query or parts.fragment:
        return f"must have no query or fragment: expected {WEBHOOK_SHAPE}"
    if _WEBHOOK_PATH.fullmatch(parts.path) is None:
        if parts.path.startswith("/rest/") and parts.path.rstrip("/").endswith(".json"):
            return f"must be the webhook's root, without a method: expected {WEBHOOK_SHAPE}"
        return (
            f"must be an incoming webhook of the portal: expected {WEBHOOK_SHAPE} "
            "(Developer resources > Other > Incoming webhook)"
        )
    return None


def normalized_webhook(url: str) -> str:
    url = url.strip()
    return url if url.endswith("/") else url + "/"
