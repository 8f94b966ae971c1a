"""Plugins are found through entry points; a broken one gives one clear error naming it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import BaseModel

from omniline import API_VERSION, PluginError
from omniline.model import ChannelRef
from omniline.plugins import (
    ChannelPlugin,
    Plugin,
    PluginKind,
    channel_plugin,
    installed,
    middleware_plugin,
)
from omniline.testing.fake_channel import FakeChannelSettings
from tests.conftest import Site


def test_the_built_in_web_chat_is_an_installed_channel_plugin() -> None:
    found = {(p.group, p.name): p for p in installed()}
    assert ("omniline.channels", "webchat") in found
    assert found[("omniline.channels", "webchat")].distribution == "omniline"
    plugin = channel_plugin("webchat")
    assert plugin.api_version == API_VERSION


def test_a_plugin_that_fails_to_import_names_its_distribution(site: Site) -> None:
    site.install(
        "omniline-brokenchat", "thirdparty_broken", "import does_not_exist\n", "brokenchat"
    )
    with pytest.raises(PluginError) as err:
        channel_plugin("brokenchat")
    message = str(err.value)
    assert "omniline-brokenchat" in message
    assert "No module named 'does_not_exist'" in message


def test_a_plugin_for_another_api_version_is_refused(site: Site) -> None:
    source = """
        from pydantic import BaseModel
        from omniline.plugins import ChannelPlugin

        class Settings(BaseModel):
            token: str

        plugin = ChannelPlugin(
            name="oldchat", config_model=Settings, factory=lambda *a: None, api_version=0
        )
    """
    site.install("omniline-oldchat", "thirdparty_old", source, "oldchat")
    with pytest.raises(PluginError, match="omniline-oldchat targets omniline plugin API 0"):
        channel_plugin("oldchat")


def test_a_plugin_object_of_the_wrong_kind_is_refused(site: Site) -> None:
    source = """
        from pydantic import BaseModel

        class Settings(BaseModel):
            pass

        class NotAPlugin:
            api_version = 1
            config_model = Settings

        plugin = NotAPlugin()
    """
    site.install("omniline-oddchat", "thirdparty_odd", source, "oddchat")
    with pytest.raises(PluginError, match="is not a ChannelPlugin"):
        channel_plugin("oddchat")


def test_an_unknown_channel_type_lists_what_is_installed() -> None:
    with pytest.raises(
        PluginError, match=r"no channel plugin 'nope' is installed \(installed: .*webchat"
    ):
        channel_plugin("nope")


def test_a_desk_plugin_installed_as_a_channel_is_refused(site: Site) -> None:
    """One plugin type serves every kind, so the kind, not the class, says what it makes."""
    source = """
        from pydantic import BaseModel
        from omniline.plugins import Plugin, PluginKind

        class Settings(BaseModel):
            pass

        plugin = Plugin(
            kind=PluginKind.DESK, name="deskchat", config_model=Settings, factory=lambda s, h: None
        )
    """
    site.install("omniline-deskchat", "thirdparty_deskchat", source, "deskchat")
    with pytest.raises(PluginError, match=r"is not a ChannelPlugin .*of kind 'channel'"):
        channel_plugin("deskchat")


def test_a_middleware_plugin_made_without_its_constructor_is_checked_at_load(site: Site) -> None:
    """``MiddlewarePlugin`` checks the place when the plugin is made; a ``Plugin`` made directly
    is checked when omniline loads it."""
    source = """
        from pydantic import BaseModel
        from omniline.plugins import Plugin, PluginKind

        class Settings(BaseModel):
            pass

        plugin = Plugin(
            kind=PluginKind.MIDDLEWARE,
            name="lost",
            config_model=Settings,
            factory=lambda s, h: None,
            before="boot",
        )
    """
    site.install("omniline-lost", "thirdparty_lost", source, "lost", "omniline.middlewares")
    with pytest.raises(PluginError, match="unknown built-in middleware 'boot'"):
        middleware_plugin("lost")


def test_only_a_middleware_plugin_has_a_place() -> None:
    with pytest.raises(PluginError, match="only a middleware has a place"):
        Plugin(
            kind=PluginKind.CHANNEL,
            name="placed",
            config_model=BaseModel,
            factory=lambda *a: None,
            after="bot",
        )


def test_a_channel_plugin_is_created_with_its_ref() -> None:
    made: list[tuple[object, ...]] = []
    plugin = ChannelPlugin(
        name="fake",
        config_model=FakeChannelSettings,
        factory=lambda ref, settings, host: made.append((ref, settings, host)),  # type: ignore[arg-type,func-returns-value]
    )
    ref = ChannelRef(type="fake", account="main")
    plugin.create({}, "host", ref=ref)
    assert made == [(ref, FakeChannelSettings(), "host")]
    with pytest.raises(TypeError, match="needs the channel's ref"):
        plugin.create({}, "host")


MODULES_BELOW_PLUGINS = (
    "omniline/crm",
    "omniline/services/desk_plugins.py",
    "omniline/pipeline",
    "omniline/engine",
)
PUBLIC_TO_PLUGINS = {
    "omniline",
    "omniline.plugins",
    "omniline.model",
    "omniline.errors",
    "omniline.testing",
    "omniline.testing.conformance",
}
ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def python_files(*places: str) -> list[Path]:
    files: list[Path] = []
    for place in places:
        path = ROOT / place
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def test_crm_desks_and_pipeline_do_not_import_the_plugins_module() -> None:
    """``omniline.plugins`` re-exports their ports; importing it back from them made a cycle."""
    offenders = {
        str(path.relative_to(ROOT))
        for path in python_files(*MODULES_BELOW_PLUGINS)
        if "omniline.plugins" in imported_modules(path)
    }
    assert offenders == set()


def test_plugins_import_only_omniline_public_modules() -> None:
    """Plugins see omniline's public modules only, so the core can move what lies behind them."""
    files = [
        path for path in python_files("plugins") if ".egg-info" not in str(path) and path.is_file()
    ]
    assert files
    reached = {
        (str(path.relative_to(ROOT)), module)
        for path in files
        for module in imported_modules(path)
        if module.split(".")[0] == "omniline" and module not in PUBLIC_TO_PLUGINS
    }
    assert reached == set()
