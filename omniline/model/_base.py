"""The base class for every omniline data model: frozen, strict about unknown fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """An immutable value. Unknown fields are an error, so a typo never passes silently."""

    model_config = ConfigDict(frozen=True, extra="forbid")
