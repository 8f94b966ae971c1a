"""Reading a configuration file: YAML, ``${ENV_VAR}`` secrets, and errors that point at the key."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from omniline.config.models import Config
from omniline.engine.validation import AT, error_location, error_message
from omniline.errors import ConfigError, PluginError

SECRET_KEY = re.compile(r"(?i)secret|token|password|key|webhook")
"""Settings whose values are never echoed in errors (a webhook URL carries its secret code)."""
"""Values under keys like these are never repeated in error messages."""
ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def key_path(loc: Sequence[int | str]) -> str:
    """``("lines", 0, "channels", 1, "type")`` as ``lines[0].channels[1].type``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def format_validation_error(
    source: str, exc: ValidationError, prefix: Sequence[int | str] = ()
) -> str:
    """``exc`` as lines that each name the file, the key path (below ``prefix``) and what is
    wrong there, in words meant for whoever wrote the file."""
    lines = [f"{source}: invalid configuration:"]
    for err in exc.errors(include_url=False):
        loc = [
            *prefix,
            *(
                p
                for p in error_location(err)
                if not isinstance(p, str) or not p.startswith("function-")
            ),
        ]
        kind = err["type"]
        msg = SHAPES.get(kind) or error_message(err)
        given = err.get("input")
        secret = any(isinstance(p, str) and SECRET_KEY.search(p) for p in loc)
        quiet = (
            kind in ("missing", "extra_forbidden")
            or AT in err.get("ctx", {})
            or isinstance(given, dict | list)
            or repr(given) in msg  # the message quotes it already
        )
        shown = "" if quiet or secret else f" (got {_shown(given)})"
        lines.append(f"  {source}: {key_path(loc)}: {msg}{shown}")
    return "\n".join(lines)


SHAPES = {
    "missing": "this key is required",
    "extra_forbidden": "unknown key (check the spelling)",
    "model_type": "expected a mapping of keys (key: value) here",
    "model_attributes_type": "expected a mapping of keys (key: value) here",
    "dict_type": "expected a mapping of keys (key: value) here",
    "list_type": "expected a list (items on lines starting with '- ', or [a, b])",
    "tuple_type": "expected a list (items on lines starting with '- ', or [a, b])",
}
"""Messages of the errors about the shape of the file, in its own words rather than pydantic's
(which name its classes: "a valid dictionary or instance of ChannelConfig")."""


def _shown(given: object) -> str:
    """A value as the file had it: YAML's ``null``, ``true`` and ``false`` rather than Python's."""
    if given is None:
        return "null"
    if isinstance(given, bool):
        return "true" if given else "false"
    return repr(given)


def _substitute(value: Any, loc: list[int | str], source: str) -> Any:
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            found = os.environ.get(name)
            if found is None:
                if default is not None:
                    return default
                raise ConfigError(
                    f"{source}: {key_path(loc)}: environment variable {name} is not set"
                )
            return found

        return ENV_PATTERN.sub(repl, value)
    if isinstance(value, dict):
        return {k: _substitute(v, [*loc, str(k)], source) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, [*loc, i], source) for i, v in enumerate(value)]
    return value


def parse_config(data: Any, *, source: str = "<config>", base_dir: Path | None = None) -> Config:
    """Validate already-parsed config data (environment references are resolved first)."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: the file must hold a mapping of sections (lines, storage, ...)"
        )
    data = _substitute(data, [], source)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None
    if base_dir is not None:
        config = _resolve_paths(config, base_dir)
    _validate_channel_settings(config, source)
    _validate_plugin_settings(config, source)
    return config


def load_config(path: str | Path) -> Config:
    """Read and validate the YAML file at ``path``."""
    file = Path(path)
    source = str(file)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read it: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{source}: not UTF-8 text (line {line} has byte {raw[exc.start]:#04x}): "
            "save the file as UTF-8"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}: not valid YAML{where}: {problem}") from None
    return parse_config(data, source=source, base_dir=file.resolve().parent)


def _resolve_paths(config: Config, base_dir: Path) -> Config:
    """A relative SQLite path is taken from the config file's folder, and ``~`` is the home
    folder (not a folder named ``~``)."""
    url = config.storage.url
    prefix = "sqlite:///"
    path = url[len(prefix) :].split("?", 1)[0]
    if url.startswith(prefix) and path and path != ":memory:" and not path.startswith("/"):
        absolute = (base_dir / Path(url[len(prefix) :]).expanduser()).resolve()
        storage = config.storage.model_copy(update={"url": f"{prefix}{absolute}"})
        config = config.model_copy(update={"storage": storage})
    return config


def _validate_channel_settings(config: Config, source: str) -> None:
    from omniline.config.discovery import channel_plugin

    for li, line in enumerate(config.lines):
        for ci, channel in enumerate(line.channels):
            where: list[int | str] = ["lines", li, "channels", ci]
            try:
                plugin = channel_plugin(channel.type)
            except PluginError as exc:
                raise ConfigError(f"{source}: {key_path([*where, 'type'])}: {exc}") from None
            try:
                plugin.config_model.model_validate(channel.settings)
            except ValidationError as exc:
                raise ConfigError(
                    format_validation_error(source, exc, [*where, "settings"])
                ) from None


def _validate_plugin_settings(config: Config, source: str) -> None:
    """The CRM's and the desks' settings, by their plugins' own models."""
    from omniline.config.discovery import crm_plugin, desk_plugin

    if config.crm.type not in ("embedded", "none"):
        _check_plugin(source, ["crm"], crm_plugin, config.crm.type, config.crm.settings)
    for di, desk in enumerate(config.desks):
        _check_plugin(source, ["desks", di], desk_plugin, desk.type, desk.settings)


def _check_plugin(
    source: str,
    where: list[int | str],
    find: Callable[[str], Any],
    plugin_type: str,
    settings: dict[str, Any],
) -> None:
    try:
        plugin = find(plugin_type)
    except PluginError as exc:
        raise ConfigError(f"{source}: {key_path([*where, 'type'])}: {exc}") from None
    try:
        plugin.config_model.model_validate(settings)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc, [*where, "settings"])) from None
