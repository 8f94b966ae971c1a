"""The embedded CRM passes the CRM conformance suite on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from pathlib import Path

import pytest

from omniline.crm import CRM
from omniline.crm.embedded import EmbeddedCrm
from omniline.store import open_store, upgrade
from omniline.store.sql_store import SqlStore
from omniline.testing import TemporaryPostgres, VirtualClock
from omniline.testing.conformance import CrmConformance

_databases = itertools.count(1)


class _Owned(EmbeddedCrm):
    """The embedded CRM with the store it runs on, closed together."""

    def __init__(self, store: SqlStore, clock: VirtualClock) -> None:
        super().__init__(store.crm, clock)
        self._store = store

    async def close(self) -> None:
        await self._store.close()


class TestEmbeddedCrmOnSqlite(CrmConformance):
    async def open_crm(self) -> CRM:
        folder = Path(tempfile.mkdtemp(prefix="omniline-crm-"))
        url = f"sqlite:///{folder / 'crm.db'}"
        await upgrade(url)
        clock = VirtualClock()
        return _Owned(await open_store(url, clock), clock)


class TestEmbeddedCrmOnPostgres(CrmConformance):
    @pytest.fixture(autouse=True)
    def _server(self, temporary_postgres: TemporaryPostgres) -> None:
        self.postgres = temporary_postgres

    async def open_crm(self) -> CRM:
        name = f"crm_{next(_databases)}"
        url = await asyncio.to_thread(self.postgres.create_database, name)
        await upgrade(url)
        clock = VirtualClock()
        return _Owned(await open_store(url, clock), clock)
