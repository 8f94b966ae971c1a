"""The public surface is curated: ``__all__`` is exactly what each public module holds (as httpx
checks its own), everything in it exists, and nothing is exported twice."""

from __future__ import annotations
import __future__

import importlib
from types import ModuleType

import pytest

PUBLIC = [
    "omniline",
    "omniline.errors",
    "omniline.model",
    "omniline.pipeline",
    "omniline.plugins",
    "omniline.testing",
    "omniline.testing.conformance",
    "omniline.store",
]


def public_members(module: ModuleType) -> set[str]:
    """The names a reader of the module sees: not private, not a submodule, not the
    ``from __future__`` feature every module imports."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, ModuleType)
        and not isinstance(value, __future__._Feature)
    }


@pytest.mark.parametrize("name", PUBLIC)
def test_all_is_exactly_what_the_module_holds(name: str) -> None:
    module = importlib.import_module(name)
    assert set(module.__all__) == public_members(module)


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
