"""omniline's pytest plugin, registered through the ``pytest11`` entry point ``omniline``.

Installing omniline makes these fixtures available to every test suite in the environment:

- ``virtual_clock``: a fresh :class:`~omniline.testing.clock.VirtualClock` per test.
- ``temporary_postgres``: one started :class:`~omniline.testing.postgres.TemporaryPostgres` per
  test session, stopped when the session ends. Tests that need it fail (they are not skipped) when
  the PostgreSQL server programs are missing.

Only synchronous fixtures live here, so the plugin loads even without pytest-asyncio. omniline
itself is imported when a fixture is first used, not when pytest starts, so test runs that use none
of these fixtures do not pay for importing it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from omniline.testing.clock import VirtualClock
    from omniline.testing.postgres import TemporaryPostgres

__all__ = ["temporary_postgres", "virtual_clock"]

# The conformance suites are test code shipped in the package: let pytest explain their failed
# asserts as it does in test modules. This must run before they are imported.
pytest.register_assert_rewrite("omniline.testing.conformance")


@pytest.fixture
def virtual_clock() -> VirtualClock:
    """A clock that stands still until the test moves it (``await virtual_clock.advance(s)``)."""
    from omniline.testing.clock import VirtualClock

    return VirtualClock()


@pytest.fixture(scope="session")
def temporary_postgres() -> Iterator[TemporaryPostgres]:
    """A private PostgreSQL server for the whole session; ``create_database`` gives fresh URLs."""
    from omniline.testing.postgres import TemporaryPostgres

    server = TemporaryPostgres()
    server.start()
    try:
        yield server
    finally:
        server.stop()
