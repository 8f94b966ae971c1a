"""A client as the account sees them: identities, contacts, CRM record, links and dialogs."""

from __future__ import annotations

import asyncio
import logging

from omniline.console import access
from omniline.console.endpoints import Call, not_found
from omniline.console.handlers.common import Context
from omniline.console.schemas import ClientView, UnmergeBody
from omniline.console.views import dialog_view
from omniline.crm import CrmError, CrmRecord
from omniline.model.account import Account
from omniline.store.console import DialogFilter

CRM_WAIT = 3.0
log = logging.getLogger("omniline.console")


class ClientEndpoints:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def _client_view(self, account: Account, client_id: int) -> ClientView:
        """The client, if the account sees one of their dialogs."""
        queries = self.ctx.queries
        visible = await self.ctx.access.visible_lines(account)
        dialogs = await queries.dialogs(
            DialogFilter(
                client_id=client_id,
                visible_lines=visible,
                operator_self=access.listed_as(account, visible),
            ),
            before=None,
            limit=100,
        )
        if not dialogs:
            raise not_found(f"client {client_id}")
        store = self.ctx.host.store
        people = await queries.people([d.id for d in dialogs])
        record_id = await store.clients.record(client_id)
        return ClientView(
            id=client_id,
            identities=await queries.identities(client_id),
            contacts=await store.clients.contact_values(client_id),
            crm_record=record_id,
            crm=await self._crm_record(record_id),
            links=await store.clients.links(client_id),
            dialogs=[dialog_view(d, people) for d in dialogs],
        )

    async def _crm_record(self, record_id: str | None) -> CrmRecord | None:
        """The record from the CRM, if it answers in time: a CRM that is down leaves the card
        without it, never fails it."""
        crm = self.ctx.host.crm
        if record_id is None or crm is None:
            return None
        try:
            async with asyncio.timeout(CRM_WAIT):
                return await crm.crm.get(record_id)
        except (TimeoutError, CrmError) as exc:
            log.warning("the CRM did not give record %s: %s", record_id, exc)
            return None

    async def client(self, call: Call) -> ClientView:
        return await self._client_view(call.account, call.path_int("client_id"))

    async def unmerge(self, call: Call) -> ClientView:
        client_id = call.path_int("client_id")
        await self._client_view(call.account, client_id)
        link_id = call.body_as(UnmergeBody).link_id
        store = self.ctx.host.store
        links = await store.clients.links(client_id)
        if not any(link.id == link_id for link in links):
            raise not_found(f"link {link_id} of client {client_id}")
        await store.clients.unmerge(link_id)
        return await self._client_view(call.account, client_id)
