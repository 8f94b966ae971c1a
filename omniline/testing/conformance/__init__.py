"""Conformance suites: the rules every implementation of a port keeps, as pytest test classes.

Subclass a suite in a test module with a ``Test`` prefix and implement its hooks; the suite's own
name has no such prefix, so pytest never collects it by itself.

- :class:`StoreConformance`: the store on a database (implement ``open_store(clock)``).
- :class:`ChannelConformance`: every ``Channel`` (implement ``open_channel(host)`` and the hooks
  that drive the platform side: ``client_writes``, ``redeliver_last``, ``received_texts``, and for
  webhook channels ``forged_request_status``).
- :class:`CrmConformance`: every ``CRM`` (implement ``open_crm()``).
"""

from omniline.testing.conformance.channel import (
    ChannelConformance,
    RecordingHost,
    RecordingSink,
    delivery_to,
)
from omniline.testing.conformance.crm import CrmConformance
from omniline.testing.conformance.store import StoreConformance

__all__ = [
    "ChannelConformance",
    "CrmConformance",
    "RecordingHost",
    "RecordingSink",
    "StoreConformance",
    "delivery_to",
]
