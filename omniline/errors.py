"""The exception tree of omniline.

Everything omniline raises on purpose derives from :class:`OmnilineError`, so an application can catch
one type at its edge. The subclasses are few and each names a kind of problem a caller can act on.
"""

from __future__ import annotations


class OmnilineError(Exception):
    """Root of every error omniline raises on purpose."""


class ConfigError(OmnilineError):
    """The configuration is invalid. The message names the file, the key path and what was expected."""


class PluginError(OmnilineError):
    """A plugin could not be loaded or does not fit this omniline. The message names the distribution."""


class StoreError(OmnilineError):
    """The database cannot be used as it is (unreachable, or its schema is not the one expected)."""


class SchemaOutdatedError(StoreError):
    """The database schema is older (or newer) than this omniline. Run ``omniline db upgrade``."""


class StoreUnavailable(StoreError):
    """The database cannot be reached right now (stopped, restarting, out of reach): what was asked
    was not done. Try again shortly; an HTTP edge answers 503 so that the caller does."""


class DialogError(OmnilineError):
    """An action does not fit the dialog's current state (for example, replying to a closed dialog)."""


class DialogConflict(DialogError):
    """The dialog changed while an action was being decided; deciding again with fresh state works."""


class IllegalTransition(DialogError):
    """The dialog's lifecycle has no such move (``omniline.engine.lifecycle.TRANSITIONS``): the
    action does not fit the dialog's status, or code built a status change by hand."""


class OperatorBusy(DialogError):
    """The operator cannot take one more dialog: they are at their capacity."""


class ChannelError(OmnilineError):
    """A channel could not do what was asked of it."""


class DeliveryError(ChannelError):
    """Sending one outbound message failed.

    ``permanent`` marks failures that no retry can fix (the user blocked the bot, the chat is gone):
    the outbox marks the message failed with ``reason`` at once. Otherwise the outbox retries with
    back-off, waiting at least ``retry_after`` seconds when the platform said how long.
    """

    def __init__(
        self, reason: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


__all__ = [
    "ChannelError",
    "ConfigError",
    "DeliveryError",
    "DialogConflict",
    "DialogError",
    "IllegalTransition",
    "OmnilineError",
    "OperatorBusy",
    "PluginError",
    "SchemaOutdatedError",
    "StoreError",
    "StoreUnavailable",
]
