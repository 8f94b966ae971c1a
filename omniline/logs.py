"""How omniline writes its log: one line per record to standard error, in a human format (the
default) or as one JSON object per line (``--log-format json``)."""

from __future__ import annotations

import logging
import sys
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

from omniline.store.health import OutageFilter

LogFormat = Literal["human", "json"]

HUMAN = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str, log_format: LogFormat = "human") -> None:
    """Send omniline's log (and its libraries') to standard error at ``level``."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter(HUMAN))
    handler.addFilter(OutageFilter())  # a database outage is logged once, not per use
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
