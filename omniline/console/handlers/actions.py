"""What operators do to a dialog: accept, skip, pin, close, reopen, transfer, invite, whisper,
reply, and make a CRM lead of its client.

Each endpoint reads the dialog once (:meth:`Context.dialog_for`, which checks the caller sees
it), asks the access rules who the caller acts as, and hands that same read to the dialogs
service, which decides on it and commits under the store's guard; only a dialog that moved
meanwhile is read again. The answer is the dialog as the action left it.
"""

from __future__ import annotations

from omniline.console import access
from omniline.console.endpoints import ApiError, Call
from omniline.console.handlers.common import Context, bad
from omniline.console.schemas import (
    DialogView,
    Empty,
    InviteBody,
    LeadView,
    ReplyBody,
    TransferBody,
    WhisperBody,
)
from omniline.crm import CrmError
from omniline.errors import OmnilineError
from omniline.model import Dialog, OutboundMessage


class ActionEndpoints:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def _acting(self, call: Call) -> tuple[Dialog, str]:
        dialog = await self.ctx.dialog_for(call.account, call.path_int("dialog_id"))
        return dialog, access.acting_operator(call.account)

    async def accept(self, call: Call) -> DialogView:
        dialog, me = await self._acting(call)
        await self.ctx.host.dialogs.accept(dialog.id, me, known=dialog)
        return await self.ctx.fresh_view(dialog.id)

    async def skip(self, call: Call) -> DialogView:
        dialog, me = await self._acting(call)
        await self.ctx.host.dialogs.skip(dialog.id, me, known=dialog)
        return await self.ctx.fresh_view(dialog.id)

    async def pin(self, call: Call) -> DialogView:
        dialog, me = await self._acting(call)
        await self.ctx.host.dialogs.pin(dialog.id, me, known=dialog)
        return await self.ctx.fresh_view(dialog.id)

    async def unpin(self, call: Call) -> DialogView:
        dialog, me = await self._acting(call)
        await self.ctx.host.dialogs.unpin(dialog.id, me, known=dialog)
        return await self.ctx.fresh_view(dialog.id)

    async def close(self, call: Call) -> DialogView:
        """An operator in the dialog closes it; a supervisor may close any dialog they see."""
        dialog = await self.ctx.dialog_for(call.account, call.path_int("dialog_id"))
        reason = call.body_as(Empty).reason
        actor = await self.ctx.access.closing_actor(call.account, dialog)
        await self.ctx.host.dialogs.close(dialog.id, actor=actor, reason=reason, known=dialog)
        return await self.ctx.fresh_view(dialog.id)

    async def reopen(self, call: Call) -> DialogView:
        dialog, me = await self._acting(call)
        await self.ctx.host.dialogs.reopen(dialog.id, me, known=dialog)
        return await self.ctx.fresh_view(dialog.id)

    async def transfer(self, call: Call) -> DialogView:
        """The holder hands the dialog on; a supervisor may move any dialog they see."""
        dialog = await self.ctx.dialog_for(call.account, call.path_int("dialog_id"))
        body = call.body_as(TransferBody)
        acting = access.transferring_operator(call.account, dialog)
        host = self.ctx.host
        if body.line_id is not None and body.line_id not in host.lines:
            raise bad("body.line_id", f"no line {body.line_id!r}")
        if body.operator_id is not None and body.operator_id not in host.operator_names:
            raise bad("body.operator_id", f"no operator {body.operator_id!r}")
        await host.dialogs.transfer(
            dialog.id, acting, to_operator=body.operator_id, to_line=body.line_id, known=dialog
        )
        return await self.ctx.fresh_view(dialog.id)

    async def invite(self, call: Call) -> DialogView:
        dialog, me = await self._acting(call)
        colleague = call.body_as(InviteBody).operator_id
        if colleague not in self.ctx.host.operator_names:
            raise bad("body.operator_id", f"no operator {colleague!r}")
        await self.ctx.host.dialogs.invite(dialog.id, me, colleague, known=dialog)
        return await self.ctx.fresh_view(dialog.id)

    async def whisper(self, call: Call) -> DialogView:
        dialog, me = await self._acting(call)
        text = call.body_as(WhisperBody).text
        await self.ctx.host.dialogs.whisper(dialog.id, me, text, known=dialog)
        return await self.ctx.fresh_view(dialog.id)

    async def reply(self, call: Call) -> DialogView:
        dialog, me = await self._acting(call)
        body = call.body_as(ReplyBody)
        message = OutboundMessage(
            text=body.text if body.text and body.text.strip() else None,
            attachments=tuple(body.attachments),
        )
        await self.ctx.host.dialogs.reply(dialog.id, me, message, known=dialog)
        return await self.ctx.fresh_view(dialog.id)

    async def lead(self, call: Call) -> LeadView:
        dialog = await self.ctx.dialog_for(call.account, call.path_int("dialog_id"))
        crm = self.ctx.host.crm
        if crm is None:
            raise ApiError(409, "conflict", "no CRM is connected (crm: {type: none})")
        try:
            record = await crm.create_lead(dialog.id)
        except CrmError as exc:
            raise ApiError(502, "crm_failed", f"the CRM refused the lead: {exc}") from None
        except OmnilineError as exc:  # nobody to reach: no phone or email given yet
            raise ApiError(409, "conflict", str(exc)) from None
        return LeadView(dialog=await self.ctx.fresh_view(dialog.id), record_id=record.id)
