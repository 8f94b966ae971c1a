"""The public surface is curated: everything in ``__all__`` exists, and nothing is exported twice."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = [
    "omniline",
    "omniline.model",
    "omniline.pipeline",
    "omniline.plugins",
    "omniline.testing",
    "omniline.store",
]


@pytest.mark.parametrize("name", PUBLIC)
def test_all_names_exist_and_are_unique(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported))
    assert sorted(exported) == sorted(n for n in exported if hasattr(module, n))


def test_the_top_level_names_the_main_things() -> None:
    import omniline

    for name in ("Omniline", "Router", "MessageContext", "Channel", "Store", "OmnilineError"):
        assert name in omniline.__all__


def test_the_plugins_module_has_what_a_plugin_author_needs() -> None:
    """Plugins import omniline's public modules only; this one carries the plugin side."""
    import omniline.plugins

    needed = {
        "API_VERSION",
        "CRM",
        "Capabilities",
        "Channel",
        "ChannelHost",
        "CrmError",
        "CrmHost",
        "CrmRecord",
        "Delivery",
        "Desk",
        "DeskHost",
        "FeedCursor",
        "FeedEvent",
        "FeedPage",
        "InboundSink",
        "LeadDraft",
        "MiddlewareHost",
        "Plugin",
        "PluginKind",
        "RecordKind",
        "Throttle",
        "format_validation_error",
        "installed",
        "load",
        "mount",
        "secrets_match",
        "signature_matches",
    }
    assert needed <= set(omniline.plugins.__all__)
