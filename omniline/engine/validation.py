"""Validation errors told the way a person who made the mistake reads them: at the key at fault,
in the validator's own words.

pydantic puts the error of a check over a whole model at the model itself (for the config file, at
its top level) and prefixes a validator's message with "Value error, ". A check that finds one key
at fault raises :func:`error_at` naming that key; whoever shows errors reads them with
:func:`error_location` and :func:`error_message`.
"""

from __future__ import annotations

from pydantic_core import ErrorDetails, PydanticCustomError

AT = "at"
"""The context entry of an :func:`error_at` error that holds the key path, relative to the model."""

PREFIXES = {"value_error": "Value error, ", "assertion_error": "Assertion failed, "}
"""What pydantic puts before a validator's own message, by error type."""


def error_at(message: str, *at: int | str) -> PydanticCustomError:
    """An error found by a model's validator that belongs to one key inside the model: ``at`` is
    its path from the model (``"lines", 1, "id"``). Raise it from the validator."""
    return PydanticCustomError("value_error", "{message}", {"message": message, AT: list(at)})


def error_location(error: ErrorDetails) -> tuple[int | str, ...]:
    """Where the error is: pydantic's location, and below it the key an :func:`error_at` names."""
    at = error.get("ctx", {}).get(AT, ())
    return (*error["loc"], *at)


def error_message(error: ErrorDetails) -> str:
    """The error's message without the prefix pydantic puts before a validator's own words."""
    message = error["msg"]
    prefix = PREFIXES.get(error["type"])
    if prefix is not None:
        message = message.removeprefix(prefix)
    return message
