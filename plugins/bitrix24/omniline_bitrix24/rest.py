"""The REST client of one portal's incoming webhook: pacing, retries and errors.

Every call to one portal, from every client in this process, takes a slot of one client-side
leaky bucket (``burst`` at once, then ``rate`` a second), so the portal's own bucket rarely
overflows. When it does (other applications share it), ``QUERY_LIMIT_EXCEEDED`` is retried with
back-off and jitter: the portal refused the call, so any call may be repeated. An
``OPERATION_TIME_LIMIT`` pauses that method until the portal's ``operating_reset_at``. Network
errors and server trouble leave the outcome unknown: only ``idempotent`` calls are repeated here;
for the others the caller checks what was done before trying again.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakValueDictionary

import aiohttp

from omniline.plugins import Clock, Throttle
from omniline_bitrix24 import phpquery
from omniline_bitrix24.answers import as_object
from omniline_bitrix24.errors import Bitrix24Error, Trouble, error_from
from omniline_bitrix24.settings import Bitrix24Settings

log = logging.getLogger("omniline.crm.bitrix24")

MAX_BATCH = 50
"""Commands in one ``batch`` call (Bitrix24's limit)."""
MAX_PAUSE = 600.0
"""The longest pause an ``operating_reset_at`` is believed for (the limit's window is 10 min)."""

Params = Mapping[str, Any]

_buckets: WeakValueDictionary[tuple[str, int, float, int], Throttle] = WeakValueDictionary()


def portal_bucket(portal: str, clock: Clock, rate: float, burst: int) -> Throttle:
    """The leaky bucket shared by all clients of ``portal`` in this process (on this clock)."""
    key = (portal.lower(), id(clock), rate, burst)
    bucket = _buckets.get(key)
    if bucket is None:
        bucket = _buckets[key] = Throttle(clock, rate=rate, burst=burst, max_keys=1)
    return bucket


@dataclass
class BatchAnswer:
    """What each command of a batch gave: its result, or its error."""

    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, Bitrix24Error] = field(default_factory=dict)


class Bitrix24Rest:
    def __init__(
        self,
        settings: Bitrix24Settings,
        clock: Clock,
        *,
        session: aiohttp.ClientSession | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._bucket = portal_bucket(settings.portal, clock, settings.rate, settings.burst)
        self._session = session
        self._own_session = session is None
        self._jitter = jitter
        self._paused: dict[str, float] = {}

    async def call(self, method: str, params: Params | None = None, *, idempotent: bool) -> Any:
        """The ``result`` of ``method``. ``idempotent``: safe to repeat after an unknown outcome."""
        attempt = 0
        while True:
            attempt += 1
            await self._wait_while_paused(method)
            await self._take_slot()
            try:
                return await self._once(method, params or {})
            except Bitrix24Error as error:
                if error.trouble is Trouble.OPERATION_LIMIT:
                    self._pause(method, error.reset_at, attempt)
                retry = error.trouble in (Trouble.RATE_LIMIT, Trouble.OPERATION_LIMIT) or (
                    error.ambiguous and idempotent
                )
                if not retry:
                    raise
                delay = self.backoff(attempt)
                if attempt >= self._settings.max_attempts:
                    error.retry_after = self._paused_for(method) or delay
                    raise
                log.warning("Bitrix24 %s: %s; try %d again", method, error.trouble, attempt + 1)
                if error.trouble is not Trouble.OPERATION_LIMIT:
                    await self._clock.sleep(delay)

    async def batch(self, commands: Mapping[str, tuple[str, Params]]) -> BatchAnswer:
        """Run read-only ``commands`` (key -> method, params) in as few ``batch`` calls as fit.

        A command that hit a rate limit makes the whole batch run again (they are all reads).
        """
        answer = BatchAnswer()
        items = list(commands.items())
        for start in range(0, len(items), MAX_BATCH):
            part = await self._batch_part(dict(items[start : start + MAX_BATCH]))
            answer.results.update(part.results)
            answer.errors.update(part.errors)
        return answer

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before try ``attempt + 1``: doubling, capped, with jitter."""
        s = self._settings
        delay = min(s.max_delay, s.base_delay * 2.0 ** (attempt - 1))
        return delay * (0.5 + 0.5 * self._jitter())

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    # --- one batch ---------------------------------------------------------------------------

    async def _batch_part(self, part: dict[str, tuple[str, Params]]) -> BatchAnswer:
        attempt = 0
        while True:
            attempt += 1
            for method in dict.fromkeys(method for method, _ in part.values()):
                await self._wait_while_paused(method)
            cmd = {key: phpquery.command(method, params) for key, (method, params) in part.items()}
            raw = as_object(await self.call("batch", {"halt": 0, "cmd": cmd}, idempotent=True))
            answer = self._read_batch(part, raw)
            limited = [
                e
                for e in answer.errors.values()
                if e.trouble in (Trouble.RATE_LIMIT, Trouble.OPERATION_LIMIT)
            ]
            if not limited:
                return answer
            for error in limited:
                if error.trouble is Trouble.OPERATION_LIMIT:
                    self._pause(error.method, error.reset_at, attempt)
            delay = self.backoff(attempt)
            if attempt >= self._settings.max_attempts:
                first = limited[0]
                first.retry_after = self._paused_for(first.method) or delay
                raise first
            log.warning("Bitrix24 batch: %s; try %d again", limited[0].trouble, attempt + 1)
            if any(e.trouble is Trouble.RATE_LIMIT for e in limited):
                await self._clock.sleep(delay)

    def _read_batch(self, part: dict[str, tuple[str, Params]], raw: dict[str, Any]) -> BatchAnswer:
        results = as_object(raw.get("result"))
        errors = as_object(raw.get("result_error"))
        times = as_object(raw.get("result_time"))
        answer = BatchAnswer()
        for key, (method, _) in part.items():
            if key in errors:
                body = {**as_object(errors[key]), "time": times.get(key)}
                answer.errors[key] = self._error(method, body, None)
            elif key in results:
                answer.results[key] = results[key]
        return answer

    # --- one HTTP request --------------------------------------------------------------------

    async def _once(self, method: str, params: Params) -> Any:
        session = self._session
        if session is None:
            timeout = aiohttp.ClientTimeout(total=self._settings.timeout)
            session = self._session = aiohttp.ClientSession(timeout=timeout)
        url = f"{self._settings.root}{method}.json"
        try:
            async with session.post(
                url,
                data=json.dumps(params, ensure_ascii=False).encode(),
                headers={"Content-Type": "application/json", "Accept": "application/json"},
            ) as response:
                status = response.status
                raw = await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            said = self._redact(str(exc)) or "no answer"
            raise Bitrix24Error(
                f"Bitrix24 {self._settings.portal}: {method} failed: {type(exc).__name__}: {said}",
                method=method,
                trouble=Trouble.SERVER,
            ) from None
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            # A proxy's error page, or a portal that is not there: no Bitrix24 answer at all.
            trouble = Trouble.SERVER if status >= 500 or status in (408, 429) else Trouble.REJECTED
            hint = "" if trouble is Trouble.SERVER else ": check webhook_url"
            raise Bitrix24Error(
                f"Bitrix24 {self._settings.portal} answered {method} with HTTP {status} and no "
                f"Bitrix24 answer{hint}",
                method=method,
                trouble=trouble,
            )
        if "error" in body:
            raise self._error(method, body, status)
        if "result" not in body:
            raise self._error(method, {"error": "", "error_description": "no result"}, status)
        return body["result"]

    def _error(self, method: str, body: dict[str, Any], status: int | None) -> Bitrix24Error:
        error = error_from(
            method,
            body,
            status,
            portal=self._settings.portal,
            user=self._settings.webhook_user,
        )
        error.reason = self._redact(error.reason)
        error.args = (error.reason,)
        return error

    def _redact(self, text: str) -> str:
        return text.replace(self._settings.code, "***")

    # --- pacing ------------------------------------------------------------------------------

    async def _take_slot(self) -> None:
        while (wait := self._bucket.check("portal")) > 0:
            await self._clock.sleep(wait)

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _pause(self, method: str, reset_at: float | None, attempt: int) -> None:
        now = self._now()
        until = reset_at if reset_at is not None and reset_at > now else now + self.backoff(attempt)
        self._paused[method] = min(until, now + MAX_PAUSE)
        log.warning("Bitrix24 paused %s for %.1f s", method, self._paused[method] - now)

    def _paused_for(self, method: str) -> float | None:
        left = self._paused.get(method, 0.0) - self._now()
        return left if left > 0 else None

    async def _wait_while_paused(self, method: str) -> None:
        left = self._paused_for(method)
        if left is None:
            self._paused.pop(method, None)
            return
        if left > self._settings.max_delay:
            raise Bitrix24Error(
                f"Bitrix24 {self._settings.portal} has paused {method} for its operating-time "
                f"limit for {left:.0f} s more",
                method=method,
                trouble=Trouble.OPERATION_LIMIT,
                code="OPERATION_TIME_LIMIT",
                retry_after=left,
            )
        await self._clock.sleep(left)
        self._paused.pop(method, None)
