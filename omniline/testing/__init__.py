"""The testing kit: public API for testing bots, lines and plugins.

- :class:`VirtualClock`: time that moves only when the test moves it.
- :class:`FakeChannel`: an in-memory channel; :func:`fake_channel_plugin` plugs it into an app.
- :class:`Kit`: a whole line on a real database with a fake channel, plus scripted clients and
  operators (:class:`ScriptedClient`, :class:`ScriptedOperator`).
- :class:`TemporaryPostgres`: a throwaway PostgreSQL server from the installed binaries.
- ``omniline.testing.conformance``: suites for the store on each database, and for every CRM.
- The pytest plugin (``omniline.testing.pytest_plugin``) is registered through ``pytest11``.
"""

from omniline.testing.clock import VirtualClock
from omniline.testing.fake_channel import FakeChannel, fake_channel_plugin
from omniline.testing.kit import Kit, ScriptedClient, ScriptedOperator
from omniline.testing.postgres import TemporaryPostgres

__all__ = [
    "FakeChannel",
    "Kit",
    "ScriptedClient",
    "ScriptedOperator",
    "TemporaryPostgres",
    "VirtualClock",
    "fake_channel_plugin",
]
