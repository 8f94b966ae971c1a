"""Runs stored inbound events through the middleware chain, one dialog at a time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from omniline import metrics
from omniline.engine.ports import Capabilities, Clock, Delivery, Receipt
from omniline.errors import DialogConflict
from omniline.log_context import log_context
from omniline.model import ChannelRef, Dialog, InboundEvent
from omniline.pipeline.builtins import BUILTINS
from omniline.pipeline.context import MessageContext
from omniline.pipeline.line import Line
from omniline.pipeline.middleware import MiddlewareChain
from omniline.pipeline.serializer import KeyedSerializer
from omniline.store.dialogs import OutOfTurn
from omniline.store.sql_store import SqlStore

log = logging.getLogger("omniline.pipeline")

MAX_CONFLICT_RETRIES = 3
TURN_POLL = (0.005, 0.05)
"""Seconds between two looks at an earlier event an event waits for: the first, and the most."""


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
        in_turn: bool | None = None,
        takeover_after: float = 10.0,
    ) -> None:
        """``in_turn``: whether an event waits for the events of its dialog stored before it that
        other processes are running (by default on PostgreSQL, where several processes may share
        the database; within one process the serializer keeps the order). ``takeover_after``:
        seconds an event waits for an earlier one that makes no progress (its process died, or
        its run failed) before it runs that event here itself."""
        self._store = store
        self._lines = lines
        self._clock = clock
        self._capabilities = capabilities
        self._deliver = deliver
        self.serializer = serializer or KeyedSerializer()
        self.middlewares = middlewares or MiddlewareChain(dict(BUILTINS))
        self._in_flight: set[int] = set()
        self._in_turn = store.dialect_name == "postgresql" if in_turn is None else in_turn
        self._takeover_after = takeover_after
        self._taken_over: set[int] = set()
        """Events queued here that an event after them already ran (took over)."""

    def submit(self, event: InboundEvent, receipt: Receipt, line_id: str) -> None:
        """Queue a stored event for its dialog's turn (once: an event already queued is skipped)."""
        if receipt.inbox_id in self._in_flight:
            return
        self._in_flight.add(receipt.inbox_id)
        self.serializer.submit(receipt.dialog_id, lambda: self._guarded(event, receipt, line_id))

    async def _guarded(self, event: InboundEvent, receipt: Receipt, line_id: str) -> None:
        if receipt.inbox_id in self._taken_over:
            self._taken_over.discard(receipt.inbox_id)
            self._in_flight.discard(receipt.inbox_id)
            return
        channel, dialog_id = event.identity.channel, receipt.dialog_id
        with log_context(fresh=True, dialog_id=dialog_id, line_id=line_id, channel=channel):
            try:
                await self._run(event, receipt, line_id, in_turn=self._in_turn)
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

    async def _run(
        self, event: InboundEvent, receipt: Receipt, line_id: str, *, in_turn: bool
    ) -> None:
        line = self._lines.get(line_id)
        if line is None:
            log.error(
                "event %s belongs to unknown line %r; kept unprocessed", receipt.inbox_id, line_id
            )
            return
        dialog: Dialog | None = receipt.dialog
        conflicts = 0
        while conflicts < MAX_CONFLICT_RETRIES:
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
                    in_turn=in_turn,
                )
            except DialogConflict:
                conflicts += 1
                dialog = None  # someone acted on the dialog meanwhile: decide again, afresh
                continue
            except OutOfTurn as waiting:
                # An earlier event of the dialog is still being run (by another process): wait
                # for it, then decide again on the dialog as it left it. If it makes no progress,
                # run it here first; then this event goes on whatever became of it, so an earlier
                # event that cannot be processed does not hold this one up for ever.
                dialog = None
                if not await self._await_turn(waiting):
                    await self._take_over(waiting)
                    in_turn = False
                continue
            self._deliver(deliveries)
            waited = (self._clock.now() - event.received_at).total_seconds()
            metrics.PIPELINE_LATENCY.of(line_id).observe(max(waited, 0.0))
            log.debug("event %s processed: %d to send", receipt.inbox_id, len(deliveries))
            return
        log.error("event %s: the dialog kept changing; left for recovery", receipt.inbox_id)

    async def _await_turn(self, waiting: OutOfTurn) -> bool:
        """Wait until no event of the dialog stored before this one is still to process; False
        once the first of them has stayed the same for ``takeover_after`` seconds."""
        loop = asyncio.get_running_loop()
        blocking = waiting.earlier_id
        since = loop.time()
        pause = TURN_POLL[0]
        while True:
            if blocking in self._in_flight:
                return False  # queued in this process, behind this very event: it never comes
            if loop.time() - since >= self._takeover_after:
                return False
            await asyncio.sleep(pause)
            pause = min(pause * 2, TURN_POLL[1])
            first = await self._store.inbox.earlier_pending(waiting.dialog_id, waiting.inbox_id)
            if first is None:
                return True
            if first != blocking:  # the earlier events are moving on: give the next its time
                blocking, since = first, loop.time()

    async def _take_over(self, waiting: OutOfTurn) -> None:
        """Run here, oldest first, the dialog's events stored before ``waiting.inbox_id`` that
        are still to process. The store claims each as it applies it, so an event that its own
        process finishes meanwhile is applied once."""
        earlier = await self._store.inbox.pending_of_dialog(
            waiting.dialog_id, before_id=waiting.inbox_id
        )
        for item in earlier:
            inbox_id = item.receipt.inbox_id
            log.warning(
                "event %s of dialog %s waited for event %s; running it here",
                waiting.inbox_id,
                waiting.dialog_id,
                inbox_id,
            )
            queued = inbox_id in self._in_flight
            if queued:
                self._taken_over.add(inbox_id)
            else:
                self._in_flight.add(inbox_id)  # so that recovery does not queue it meanwhile
            try:
                await self._run(item.event, item.receipt, item.line_id, in_turn=False)
            except Exception:
                log.exception(
                    "event %s could not be processed; it stays stored and is tried again by "
                    "recovery",
                    inbox_id,
                )
            finally:
                if not queued:
                    self._in_flight.discard(inbox_id)
