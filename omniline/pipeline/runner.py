"""Runs stored inbound events through the middleware chain, one dialog at a time."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from omniline.engine.ports import Capabilities, Clock, Delivery, Receipt
from omniline.errors import DialogConflict
from omniline.log_context import log_context
from omniline.model import ChannelRef, Dialog, InboundEvent
from omniline.pipeline.builtins import BUILTINS
from omniline.pipeline.context import MessageContext
from omniline.pipeline.line import Line
from omniline.pipeline.middleware import MiddlewareChain
from omniline.pipeline.serializer import KeyedSerializer
from omniline.store.sql_store import SqlStore

log = logging.getLogger("omniline.pipeline")

MAX_CONFLICT_RETRIES = 3


class Pipeline:
    """The inbound half of omniline. ``submit`` returns at once; the work is serialized by dialog."""

    def __init__(
        self,
        store: SqlStore,
        lines: Mapping[str, Line],
        *,
        clock: Clock,
        capabilities: Callable[[ChannelRef], Capabilities],
        deliver: Callable[[list[Delivery]], None],
        serializer: KeyedSerializer | None = None,
        middlewares: MiddlewareChain | None = None,
    ) -> None:
        self._store = store
        self._lines = lines
        self._clock = clock
        self._capabilities = capabilities
        self._deliver = deliver
        self.serializer = serializer or KeyedSerializer()
        self.middlewares = middlewares or MiddlewareChain(dict(BUILTINS))
        self._in_flight: set[int] = set()

    def submit(self, event: InboundEvent, receipt: Receipt, line_id: str) -> None:
        """Queue a stored event for its dialog's turn (once: an event already queued is skipped)."""
        if receipt.inbox_id in self._in_flight:
            return
        self._in_flight.add(receipt.inbox_id)
        self.serializer.submit(receipt.dialog_id, lambda: self._guarded(event, receipt, line_id))

    async def _guarded(self, event: InboundEvent, receipt: Receipt, line_id: str) -> None:
        channel, dialog_id = event.identity.channel, receipt.dialog_id
        with log_context(fresh=True, dialog_id=dialog_id, line_id=line_id, channel=channel):
            try:
                await self._run(event, receipt, line_id)
            except Exception:
                log.exception(
                    "event %s could not be processed; it stays stored and is tried again by "
                    "recovery",
                    receipt.inbox_id,
                )
            finally:
                self._in_flight.discard(receipt.inbox_id)

    async def recover(self, *, before: datetime) -> int:
        """Submit every stored event received before ``before`` whose run never finished (after a
        crash, or a failure of the database meanwhile), oldest first, skipping events queued in
        this process. Returns how many were submitted."""
        count = 0
        after_id = 0  # a cursor: an event left pending again (unknown line...) is not re-read
        while True:
            pending = await self._store.inbox.pending(before=before, after_id=after_id, limit=500)
            for item in pending:
                if item.receipt.inbox_id not in self._in_flight:
                    self.submit(item.event, item.receipt, item.line_id)
                    count += 1
            await self.serializer.join()
            if len(pending) < 500:
                return count
            after_id = pending[-1].receipt.inbox_id

    async def _run(self, event: InboundEvent, receipt: Receipt, line_id: str) -> None:
        line = self._lines.get(line_id)
        if line is None:
            log.error(
                "event %s belongs to unknown line %r; kept unprocessed", receipt.inbox_id, line_id
            )
            return
        dialog: Dialog | None = receipt.dialog
        for _ in range(MAX_CONFLICT_RETRIES):
            if dialog is None:
                dialog = await self._store.dialogs.get(receipt.dialog_id)
                if dialog is None:
                    log.error("dialog %s of event %s is gone", receipt.dialog_id, receipt.inbox_id)
                    return
            ctx = MessageContext(
                event=event,
                receipt=receipt,
                line=line,
                dialog=dialog,
                capabilities=self._capabilities(event.identity.channel),
                now=self._clock.now(),
            )
            await self.middlewares(event, ctx)
            error = ctx.state.get("error")
            try:
                deliveries = await self._store.dialogs.apply(
                    dialog.id,
                    ctx.actions,
                    inbox_id=receipt.inbox_id,
                    inbox_error=str(error) if error is not None else None,
                    guard=dialog.status,
                    known=dialog,
                )
            except DialogConflict:
                dialog = None  # someone acted on the dialog meanwhile: decide again, afresh
                continue
            self._deliver(deliveries)
            log.debug("event %s processed: %d to send", receipt.inbox_id, len(deliveries))
            return
        log.error("event %s: the dialog kept changing; left for recovery", receipt.inbox_id)
