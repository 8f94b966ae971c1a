"""``docs/configuration.md`` is the whole reference: every key the configuration file takes is in
one of its tables, and every command of the CLI in its command table."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path

import pytest
import typer
from pydantic import BaseModel

from omniline.cli import cli
from omniline.config import Config

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def sections() -> dict[str, set[str]]:
    """For each ``## `section` `` of the page, the keys named in the first column of its tables
    (`` `key` ``, `` `a` / `b` ``) and in its headings, ``###`` ones included."""
    found: dict[str, set[str]] = {}
    for chunk in DOC.read_text(encoding="utf-8").split("\n## ")[1:]:
        heading, *lines = chunk.splitlines()
        keys = set(re.findall(r"`([a-z_.\[\]]+)`", heading))
        for line in lines:
            if line.startswith("| `"):
                keys.update(re.findall(r"`([^`]+)`", line.split(" | ")[0]))
            elif line.startswith("#"):
                keys.update(re.findall(r"`([a-z_.\[\]]+)`", line))
        for section in re.findall(r"`([a-z_]+)`", heading):
            found[section] = keys
    return found


def models_in(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models a field's type holds (``list[X]``, ``X | None``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        return [m for arg in typing.get_args(annotation) for m in models_in(arg)]
    return []


def keys_of(model: type[BaseModel], path: str = "") -> list[str]:
    found = []
    for name, field in model.model_fields.items():
        key = f"{path}{name}"
        found.append(key)
        for inner in models_in(field.annotation):
            if inner.__name__ not in ("LocalizedText",):  # a text: documented as one
                found.extend(keys_of(inner, f"{key}."))
    return found


CONFIG_KEYS = keys_of(Config)


@pytest.mark.parametrize("key", CONFIG_KEYS)
def test_every_configuration_key_is_in_the_reference(key: str) -> None:
    parts = key.split(".")
    top, name = parts[0], parts[-1]
    keys = sections().get(top)
    assert keys is not None, f"{DOC.name} has no section for {top}"
    assert name in keys, f"{key} is not in a table of the section {top} of {DOC.name}"


def test_the_reference_sees_nested_keys() -> None:
    assert {"storage.url", "lines.working_hours.timezone", "lines.rating.window"} <= set(
        CONFIG_KEYS
    )


def test_every_command_is_in_the_command_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    group = typer.main.get_command(cli)
    for name, command in getattr(group, "commands", {}).items():
        for sub in getattr(command, "commands", {None: None}):
            words = " ".join(w for w in ("omniline", name, sub) if w)
            assert f"| `{words}" in text, f"{words} is not in the command table"
