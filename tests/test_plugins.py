"""Plugins are found through entry points; a broken one gives one clear error naming it."""

from __future__ import annotations

import pytest

from omniline import API_VERSION, PluginError
from omniline.plugins import channel_plugin, installed
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
