"""Plugins are found through entry points; a broken one gives one clear error naming it."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from omniline import API_VERSION, PluginError
from omniline.plugins import channel_plugin, installed


def test_the_built_in_web_chat_is_an_installed_channel_plugin() -> None:
    found = {(p.group, p.name): p for p in installed()}
    assert ("omniline.channels", "webchat") in found
    assert found[("omniline.channels", "webchat")].distribution == "omniline"
    plugin = channel_plugin("webchat")
    assert plugin.api_version == API_VERSION


def make_distribution(root: Path, name: str, module: str, source: str, entry: str) -> None:
    (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = root / f"{name.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[omniline.channels]\n{entry} = {module}:plugin\n", encoding="utf-8"
    )


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in list(sys.modules):
            if name.startswith("thirdparty_"):
                del sys.modules[name]


def test_a_plugin_that_fails_to_import_names_its_distribution(site: Path) -> None:
    make_distribution(
        site, "omniline-brokenchat", "thirdparty_broken", "import does_not_exist\n", "brokenchat"
    )
    with pytest.raises(PluginError) as err:
        channel_plugin("brokenchat")
    message = str(err.value)
    assert "omniline-brokenchat" in message
    assert "No module named 'does_not_exist'" in message


def test_a_plugin_for_another_api_version_is_refused(site: Path) -> None:
    source = """
        from pydantic import BaseModel
        from omniline.plugins import ChannelPlugin

        class Settings(BaseModel):
            token: str

        plugin = ChannelPlugin(
            name="oldchat", config_model=Settings, factory=lambda *a: None, api_version=0
        )
    """
    make_distribution(site, "omniline-oldchat", "thirdparty_old", source, "oldchat")
    with pytest.raises(PluginError, match="omniline-oldchat targets omniline plugin API 0"):
        channel_plugin("oldchat")


def test_a_plugin_object_of_the_wrong_kind_is_refused(site: Path) -> None:
    source = """
        from pydantic import BaseModel

        class Settings(BaseModel):
            pass

        class NotAPlugin:
            api_version = 1
            config_model = Settings

        plugin = NotAPlugin()
    """
    make_distribution(site, "omniline-oddchat", "thirdparty_odd", source, "oddchat")
    with pytest.raises(PluginError, match="is not a ChannelPlugin"):
        channel_plugin("oddchat")


def test_an_unknown_channel_type_lists_what_is_installed() -> None:
    with pytest.raises(
        PluginError, match=r"no channel plugin 'nope' is installed \(installed: .*webchat"
    ):
        channel_plugin("nope")
