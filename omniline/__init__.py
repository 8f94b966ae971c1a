"""omniline: a customer contact center over messengers.

One *line* gathers a business's channels (Telegram, VK, Viber, the web chat); every client message
becomes one event model, can be answered by the line's bot code, and is handed to a queue of human
operators.
"""

from omniline.app import Omniline
from omniline.config import Config, load_config
from omniline.engine.ports import (
    Capabilities,
    Channel,
    ChannelHost,
    Clock,
    Delivery,
    Receipt,
)
from omniline.errors import (
    ChannelError,
    ConfigError,
    DeliveryError,
    DialogConflict,
    DialogError,
    OmnilineError,
    PluginError,
    SchemaOutdatedError,
    StoreError,
    StoreUnavailable,
)
from omniline.model import (
    Attachment,
    AttachmentKind,
    Button,
    ChannelRef,
    ContactShare,
    Dialog,
    DialogStatus,
    Identity,
    InboundEvent,
    InboundMessage,
    Location,
    OutboundMessage,
    StoredMessage,
    Unsupported,
)
from omniline.pipeline import (
    AnyMessage,
    ButtonPressed,
    Command,
    Filter,
    MessageContext,
    Regex,
    Router,
    Text,
)
from omniline.pipeline.line import Line
from omniline.plugins import API_VERSION, ChannelPlugin
from omniline.store.sql_store import SqlStore as Store

__version__ = "0.1.0"

__all__ = [
    "API_VERSION",
    "AnyMessage",
    "Attachment",
    "AttachmentKind",
    "Button",
    "ButtonPressed",
    "Capabilities",
    "Channel",
    "ChannelError",
    "ChannelHost",
    "ChannelPlugin",
    "ChannelRef",
    "Clock",
    "Command",
    "Config",
    "ConfigError",
    "ContactShare",
    "Delivery",
    "DeliveryError",
    "Dialog",
    "DialogConflict",
    "DialogError",
    "DialogStatus",
    "Filter",
    "Identity",
    "InboundEvent",
    "InboundMessage",
    "Line",
    "Location",
    "MessageContext",
    "Omniline",
    "OmnilineError",
    "OutboundMessage",
    "PluginError",
    "Receipt",
    "Regex",
    "Router",
    "SchemaOutdatedError",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "StoredMessage",
    "Text",
    "Unsupported",
    "load_config",
]
