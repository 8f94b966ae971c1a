"""The Bitrix24 CRM passes omniline's CRM conformance suite against the fake portal."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from omniline_bitrix24 import Bitrix24Crm
from omniline_bitrix24.testing import CrmTestHost, FakeBitrix24, fake_bitrix24

from omniline.plugins import CRM
from omniline.testing.conformance import CrmConformance


class TestBitrix24Crm(CrmConformance):
    @pytest_asyncio.fixture(autouse=True)
    async def fake_portal(self) -> AsyncIterator[FakeBitrix24]:
        async with fake_bitrix24() as portal:
            self.portal = portal
            yield portal

    async def open_crm(self) -> CRM:
        return Bitrix24Crm(self.portal.settings(), CrmTestHost())
