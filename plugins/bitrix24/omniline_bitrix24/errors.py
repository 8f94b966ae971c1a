"""What a Bitrix24 error answer means, whatever its HTTP status says.

Bitrix24 answers errors as ``{"error": CODE, "error_description": TEXT}``; old CRM methods send
``"error": ""`` with the meaning only in the text (``"Not found"``, ``"Access denied."``). The HTTP
status is used only when the code says nothing (an unknown code with a 5xx is server trouble).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from omniline.plugins import CrmError
from omniline_bitrix24.answers import as_float, as_object


class Trouble(StrEnum):
    RATE_LIMIT = "rate limit"
    """``QUERY_LIMIT_EXCEEDED``: the portal's leaky bucket is full; the call was not run."""
    OPERATION_LIMIT = "operation limit"
    """``OPERATION_TIME_LIMIT``: the method is blocked until ``time.operating_reset_at``."""
    AUTH = "auth"
    """The webhook itself is refused (deleted, regenerated, wrong URL)."""
    ACCESS = "access"
    """The webhook works but may not do this (no crm permission, the user's CRM rights)."""
    NOT_FOUND = "not found"
    SERVER = "server"
    """Server or network trouble: temporary, and the call may or may not have been done."""
    REJECTED = "rejected"
    """Anything else the portal refused: retrying the same call will not help."""


_TEMPORARY = {Trouble.RATE_LIMIT, Trouble.OPERATION_LIMIT, Trouble.SERVER}
_AUTH_CODES = {"NO_AUTH_FOUND", "INVALID_CREDENTIALS", "INVALID_TOKEN", "WRONG_AUTH_TYPE"}
_ACCESS_CODES = {
    "INSUFFICIENT_SCOPE",
    "ACCESS_DENIED",
    "ERROR_ACCESS_DENIED",
    "USER_ACCESS_ERROR",
    "ALLOWED_ONLY_INTRANET_USER",
}
_NOT_FOUND_CODES = {"NOT_FOUND", "ERROR_NOT_FOUND", "ENTITY_NOT_FOUND"}
_SERVER_CODES = {"INTERNAL_SERVER_ERROR", "ERROR_UNEXPECTED_ANSWER", "OVERLOAD_LIMIT"}


class Bitrix24Error(CrmError):
    """A Bitrix24 call failed. ``trouble`` says how; ``ambiguous`` ones may have been done."""

    def __init__(
        self,
        reason: str,
        *,
        method: str,
        trouble: Trouble,
        code: str = "",
        description: str = "",
        retry_after: float | None = None,
        reset_at: float | None = None,
    ) -> None:
        super().__init__(reason, temporary=trouble in _TEMPORARY, retry_after=retry_after)
        self.method = method
        self.trouble = trouble
        self.code = code
        self.description = description
        self.reset_at = reset_at
        """For ``OPERATION_LIMIT``: when the method may run again (the portal's Unix time)."""

    @property
    def ambiguous(self) -> bool:
        """True when the call may have been done although it failed (lost answer, 5xx)."""
        return self.trouble is Trouble.SERVER


def classify(code: str, description: str, status: int | None) -> Trouble:
    upper, text = code.upper(), description.strip().lower().rstrip(".!")
    if upper == "QUERY_LIMIT_EXCEEDED":
        return Trouble.RATE_LIMIT
    if upper == "OPERATION_TIME_LIMIT":
        return Trouble.OPERATION_LIMIT
    if upper in _AUTH_CODES or upper == "EXPIRED_TOKEN":
        return Trouble.AUTH
    if upper in _ACCESS_CODES or (not upper and text == "access denied"):
        return Trouble.ACCESS
    if upper in _NOT_FOUND_CODES or (not upper and text.endswith("not found")):
        return Trouble.NOT_FOUND
    if upper in _SERVER_CODES:
        return Trouble.SERVER
    if status is not None and status >= 500:
        return Trouble.SERVER
    return Trouble.REJECTED


def error_from(
    method: str, body: dict[str, Any], status: int | None, *, portal: str, user: int
) -> Bitrix24Error:
    """The error a Bitrix24 error answer stands for, with a message that says what to check."""
    code = str(body.get("error") or "")
    description = str(body.get("error_description") or "").strip()
    trouble = classify(code, description, status)
    said = ": ".join(p for p in (code, description) if p) or f"HTTP {status}"
    reason = _reason(method, trouble, code, said, portal=portal, user=user)
    reset_at = None
    if trouble is Trouble.OPERATION_LIMIT:
        reset_at = as_float(as_object(body.get("time")).get("operating_reset_at"))
    return Bitrix24Error(
        reason,
        method=method,
        trouble=trouble,
        code=code,
        description=description,
        reset_at=reset_at,
    )


def _reason(method: str, trouble: Trouble, code: str, said: str, *, portal: str, user: int) -> str:
    if trouble is Trouble.AUTH and code.upper() == "EXPIRED_TOKEN":
        return (
            f"Bitrix24 {portal} answered {method} with {said}: incoming webhooks never expire, so "
            "webhook_url is not an incoming webhook; create one (Developer resources > Other > "
            "Incoming webhook) and use its URL"
        )
    if trouble is Trouble.AUTH:
        return (
            f"Bitrix24 {portal} did not accept the incoming webhook ({said}): check webhook_url; "
            "the webhook may have been deleted, its code regenerated or its user deactivated"
        )
    if trouble is Trouble.ACCESS:
        return (
            f"Bitrix24 {portal} refused {method} ({said}): give the incoming webhook the crm "
            f"permission and make sure its user (id {user}) may read and edit leads and contacts"
        )
    if code.upper() == "ERROR_METHOD_NOT_FOUND":
        return (
            f"Bitrix24 {portal} has no method {method} ({said}): the webhook needs the crm "
            "permission, and the portal's plan must include the CRM"
        )
    if trouble is Trouble.RATE_LIMIT:
        return f"Bitrix24 {portal} is rate-limiting calls ({said}) on {method}"
    if trouble is Trouble.OPERATION_LIMIT:
        return f"Bitrix24 {portal} has paused {method} for its operating-time limit ({said})"
    if trouble is Trouble.NOT_FOUND:
        return f"Bitrix24 {portal}: {method}: not found ({said})"
    if trouble is Trouble.SERVER:
        return f"Bitrix24 {portal} had trouble with {method} ({said})"
    return f"Bitrix24 {portal} rejected {method} ({said})"
