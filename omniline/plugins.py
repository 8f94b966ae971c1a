"""Everything a plugin author needs, and how omniline finds plugins: entry points, one group per kind.

A plugin's entry point names a :class:`Plugin` of its group's kind (:class:`PluginKind`). It
declares its pydantic config model and the omniline plugin API version it was built for; omniline
refuses a plugin built for another version with an error naming the distribution.

Plugins import omniline only through its public modules: this one, ``omniline``,
``omniline.model``, ``omniline.errors`` and ``omniline.testing`` (with
``omniline.testing.conformance``).
"""

from __future__ import annotations

from pydantic import ValidationError

from omniline.channels.body import BodyRefused, parse_json, read_body, read_json
from omniline.channels.webhook import WebhookChannel, mount, secrets_match, signature_matches
from omniline.config.discovery import (
    Installed,
    channel_plugin,
    crm_plugin,
    desk_plugin,
    installed,
    load,
    middleware_plugin,
)
from omniline.config.loader import format_validation_error
from omniline.crm import CRM, CrmError, CrmHost, CrmRecord, LeadDraft, RecordKind
from omniline.engine.plugin import API_VERSION, ChannelPlugin, Plugin, PluginKind
from omniline.engine.ports import (
    Capabilities,
    Channel,
    ChannelHost,
    Clock,
    Delivery,
    Desk,
    FeedCursor,
    FeedEvent,
    FeedPage,
    InboundSink,
    Receipt,
)
from omniline.engine.ratelimit import Throttle
from omniline.errors import PluginError
from omniline.model import ChannelRef
from omniline.pipeline.middleware import Middleware, Next
from omniline.pipeline.plugin import MiddlewareHost, MiddlewarePlugin
from omniline.services.desk_plugins import DeskHost
from omniline.store.state import PluginState

__all__ = [
    "API_VERSION",
    "CRM",
    "BodyRefused",
    "Capabilities",
    "Channel",
    "ChannelHost",
    "ChannelPlugin",
    "ChannelRef",
    "Clock",
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
    "Installed",
    "LeadDraft",
    "Middleware",
    "MiddlewareHost",
    "MiddlewarePlugin",
    "Next",
    "Plugin",
    "PluginError",
    "PluginKind",
    "PluginState",
    "Receipt",
    "RecordKind",
    "Throttle",
    "ValidationError",
    "WebhookChannel",
    "channel_plugin",
    "crm_plugin",
    "desk_plugin",
    "format_validation_error",
    "installed",
    "load",
    "middleware_plugin",
    "mount",
    "parse_json",
    "read_body",
    "read_json",
    "secrets_match",
    "signature_matches",
]
