"""The outbox worker: sends stored outbound messages with retries, back-off and rate limits.

Every message is in the database before anything is sent. Deliveries to one recipient go out in
order, one at a time; different recipients are sent concurrently. A failure the platform calls
permanent marks the message failed at once; any other failure is retried with exponential back-off
and jitter (never sooner than the platform's ``retry_after``) until ``max_attempts``, then failed with
the last reason. Rows claimed by a process that died are claimed again once their lease runs out.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from datetime import timedelta

from omniline import metrics
from omniline.engine.clock import first_of
from omniline.engine.ports import Channel, Clock, Delivery, OutboxResult
from omniline.engine.ratelimit import RateLimiter
from omniline.errors import DeliveryError
from omniline.log_context import log_context
from omniline.model import ChannelRef
from omniline.pipeline.serializer import KeyedSerializer
from omniline.store.sql_store import SqlStore

log = logging.getLogger("omniline.outbox")


class Outbox:
    def __init__(
        self,
        store: SqlStore,
        channels: Mapping[ChannelRef, Channel],
        *,
        clock: Clock,
        max_attempts: int = 10,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        lease: float = 60.0,
        poll_interval: float = 1.0,
        batch: int = 200,
    ) -> None:
        self._store = store
        self._channels = channels
        self._clock = clock
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.lease = lease
        self.poll_interval = poll_interval
        self._batch = batch
        self._senders = KeyedSerializer()
        self._limiters: dict[ChannelRef, RateLimiter] = {}
        self._pacing: set[tuple[ChannelRef, str]] = set()
        self._held: dict[tuple[ChannelRef, str], tuple[int, OutboxResult]] = {}
        """Chats whose delivery failed and waits for a retry: (its outbox id, its retry)."""
        self._queued: set[int] = set()
        self._results: list[OutboxResult] = []
        self._recorder: asyncio.Future[None] | None = None
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()

    def push(self, deliveries: list[Delivery]) -> None:
        """Send deliveries that were just stored and leased to this process."""
        for delivery in deliveries:
            if delivery.outbox_id in self._queued:
                continue  # queued here already (its lease ran out while it waited its turn)
            self._queued.add(delivery.outbox_id)
            key = (delivery.recipient.channel, delivery.recipient.external_id)
            self._senders.submit(key, lambda d=delivery: self._send(d))  # type: ignore[misc]

    def _limiter(self, ref: ChannelRef, channel: Channel) -> RateLimiter:
        limiter = self._limiters.get(ref)
        if limiter is None:
            caps = channel.capabilities
            limiter = RateLimiter(self._clock, caps.global_rate, caps.per_chat_rate)
            self._limiters[ref] = limiter
        return limiter

    async def _send(self, delivery: Delivery) -> None:
        operator = delivery.author.partition("operator:")[2] or None  # bot, system: no operator
        with log_context(
            fresh=True,
            dialog_id=delivery.dialog_id,
            channel=delivery.recipient.channel,
            operator_id=operator,
        ):
            try:
                await self._deliver(delivery)
            finally:
                self._queued.discard(delivery.outbox_id)

    async def _deliver(self, delivery: Delivery) -> None:
        ref = delivery.recipient.channel
        channel = self._channels.get(ref)
        if channel is None:
            # Another worker on this database may have it (during a rolling change of the config):
            # left for later like any passing failure, failed only after max_attempts.
            result = self._failure(
                delivery, f"channel {ref} is not configured in this process", False, None
            )
        elif (held := self._held_back(ref, delivery)) is not None:
            result = held
        elif self._stopping.is_set():
            result = self._left_for_next_start(delivery)
        else:
            chat = delivery.recipient.external_id
            wait = self._limiter(ref, channel).reserve(chat)
            if wait > 0:
                self._pacing.add((ref, chat))
                try:
                    await first_of(self._clock.sleep(wait), self._stopping.wait())
                finally:
                    self._pacing.discard((ref, chat))
            if self._stopping.is_set():
                result = self._left_for_next_start(delivery)
            else:
                result = await self._attempt(channel, delivery)
                metrics.OUTBOX_DELIVERIES.of(ref.type, ref.account, result.outcome).inc()
            if result.outcome == "retry":
                self._held[(ref, chat)] = (delivery.outbox_id, result)
        self._record(result)

    def _left_for_next_start(self, delivery: Delivery) -> OutboxResult:
        """Stopping: a delivery not yet attempted is handed back, due at once, so the next start
        sends it without waiting for its lease to run out."""
        return OutboxResult(
            outbox_id=delivery.outbox_id,
            outcome="retry",
            error="not sent before the process stopped",
            next_attempt_at=self._clock.now(),
        )

    def _held_back(self, ref: ChannelRef, delivery: Delivery) -> OutboxResult | None:
        """Keep a chat's messages in order: while an earlier one waits for its retry, a later one
        waits with it (and is retried after it, since due rows are claimed oldest first)."""
        key = (ref, delivery.recipient.external_id)
        held = self._held.get(key)
        if held is None:
            return None
        failed_id, retry = held
        if delivery.outbox_id <= failed_id or self._clock.now() >= (
            retry.next_attempt_at or self._clock.now()
        ):
            del self._held[key]  # the failed one is being retried now, or this is it
            return None
        return OutboxResult(
            outbox_id=delivery.outbox_id,
            outcome="retry",
            error=f"waits for an earlier message to this chat: {retry.error}",
            next_attempt_at=retry.next_attempt_at,
        )

    def _record(self, result: OutboxResult) -> None:
        """Outcomes are written in batches, by one task: one transaction for many sends."""
        self._results.append(result)
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.ensure_future(self._write_results())

    async def _write_results(self) -> None:
        while self._results:
            batch, self._results = self._results, []
            try:
                await self._store.outbox.finish(batch)
            except Exception:  # the leases run out and the rows are sent again: at least once
                log.exception("could not record the outcome of %d outbox rows", len(batch))

    async def _attempt(self, channel: Channel, delivery: Delivery) -> OutboxResult:
        try:
            platform_id = await channel.send(delivery)
        except DeliveryError as exc:
            log.info("sending outbox row %s failed: %s", delivery.outbox_id, exc.reason)
            return self._failure(delivery, exc.reason, exc.permanent, exc.retry_after)
        except Exception as exc:
            log.warning("sending outbox row %s failed: %r", delivery.outbox_id, exc, exc_info=True)
            return self._failure(delivery, f"{type(exc).__name__}: {exc}", False, None)
        log.debug("outbox row %s sent (attempt %d)", delivery.outbox_id, delivery.attempt)
        return OutboxResult(
            outbox_id=delivery.outbox_id, outcome="sent", platform_message_id=platform_id
        )

    def _failure(
        self, delivery: Delivery, reason: str, permanent: bool, retry_after: float | None
    ) -> OutboxResult:
        if permanent:
            return OutboxResult(outbox_id=delivery.outbox_id, outcome="failed", error=reason)
        if delivery.attempt >= self.max_attempts:
            return OutboxResult(
                outbox_id=delivery.outbox_id,
                outcome="failed",
                error=f"gave up after {delivery.attempt} attempts: {reason}",
            )
        delay = self.backoff(delivery.attempt)
        if retry_after is not None:
            delay = max(delay, retry_after)
        self._wake.set()
        return OutboxResult(
            outbox_id=delivery.outbox_id,
            outcome="retry",
            error=reason,
            next_attempt_at=self._clock.now() + timedelta(seconds=delay),
        )

    def backoff(self, attempt: int) -> float:
        """Seconds before attempt ``attempt + 1``: exponential and capped; the upper half of the
        interval is random, so many failing deliveries do not all come back at once."""
        ceiling: float = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    async def run_due(self) -> int:
        """Claim and send every delivery that is due (retries, and leftovers of a restart)."""
        now = self._clock.now()
        for key, (_, retry) in list(self._held.items()):  # forget holds whose time has come
            if retry.next_attempt_at is None or retry.next_attempt_at <= now:
                del self._held[key]
        total = 0
        while True:
            due = await self._store.outbox.claim(
                now=self._clock.now(), lease=self.lease, limit=self._batch
            )
            self.push(due)
            total += len(due)
            if len(due) < self._batch:
                return total

    async def run(self) -> None:
        """Poll for due deliveries until ``stop``."""
        while not self._stopping.is_set():
            try:
                await self.run_due()
            except Exception:
                log.exception("outbox poll failed; trying again")
            self._wake.clear()
            await first_of(
                self._clock.sleep(self.poll_interval), self._wake.wait(), self._stopping.wait()
            )

    async def idle(self) -> None:
        """Wait until every delivery handed to this worker has been attempted and its outcome
        recorded."""
        await self._senders.join()
        await self._recorded()

    async def _recorded(self) -> None:
        while self._recorder is not None and not self._recorder.done():
            await self._recorder

    async def settled(self) -> None:
        """Wait until every delivery handed over has been attempted or waits for its rate-limit
        slot (with a virtual clock, those wait until the test moves time)."""
        # Polled: pacing sleeps belong to the clock, and a test's virtual clock wakes nobody here.
        while not set(self._senders.keys()) <= self._pacing:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        await self._recorded()

    async def stop(self) -> None:
        """Stop polling and let sends in flight finish; deliveries still waiting for their turn or
        their rate-limit slot are handed back to the store, due at once, for the next start."""
        self._stopping.set()
        await self._senders.join()
        await self._recorded()
