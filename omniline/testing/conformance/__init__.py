"""Conformance suites: the rules every implementation of a port keeps, as pytest test classes.

Subclass a suite in a test module with a ``Test`` prefix and implement its one factory method; the
suite's own name has no such prefix, so pytest never collects it by itself.

- :class:`StoreConformance`: every ``Store`` (implement ``open_store(clock)``).
"""

from omniline.testing.conformance.store import StoreConformance

__all__ = ["StoreConformance"]
