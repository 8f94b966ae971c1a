"""A Bitrix24 portal as omniline's CRM (the ``bitrix24`` CRM plugin).

Talks to the portal through an incoming webhook (``https://<portal>/rest/<user>/<code>/``):
finds clients by phone, email and messenger identity, reads their responsible manager, makes
leads (exactly once per ``origin_id``), reassigns them, appends new contacts and puts dialog
transcripts on the timeline. ``omniline_bitrix24.testing`` has a local fake portal.
"""

from __future__ import annotations

from omniline.plugins import CRM, Plugin, PluginKind
from omniline_bitrix24.crm import Bitrix24Crm
from omniline_bitrix24.errors import Bitrix24Error, Trouble
from omniline_bitrix24.settings import Bitrix24Settings

plugin: Plugin[Bitrix24Settings, CRM] = Plugin(
    kind=PluginKind.CRM,
    name="bitrix24",
    config_model=Bitrix24Settings,
    factory=Bitrix24Crm,
    description="Bitrix24 CRM (incoming webhook)",
)

__all__ = ["Bitrix24Crm", "Bitrix24Error", "Bitrix24Settings", "Trouble", "plugin"]
