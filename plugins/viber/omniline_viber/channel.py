"""The Viber channel: signed webhooks in, ``send_message`` out.

viberbot builds the message bodies; the HTTP calls go through one aiohttp session per channel,
because viberbot's own sender uses a bare ``requests.post`` per call (blocking, no shared session,
the token in the body) and turns every HTTP error into an exception without the status or
``Retry-After``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict, deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import ValidationError

from omniline.errors import DeliveryError
from omniline.model import ChannelRef, Identity, InboundEvent, InboundMessage
from omniline.plugins import (
    BodyRefused,
    Capabilities,
    ChannelHost,
    Delivery,
    InboundSink,
    parse_json,
    read_body,
    signature_matches,
)
from omniline_viber.inbound import (
    SERVICE_EVENTS,
    IncomingMessage,
    NotACallback,
    callback_of,
    message_callback,
    parse_message,
    sender_profile,
)
from omniline_viber.outbound import bodies
from omniline_viber.settings import ViberSettings

log = logging.getLogger("omniline.channel.viber")

SIGNATURE_HEADER = "X-Viber-Content-Signature"
TOKEN_HEADER = "X-Viber-Auth-Token"
WEBHOOK_EVENTS = [
    "delivered",
    "seen",
    "failed",
    "subscribed",
    "unsubscribed",
    "conversation_started",
]
TRACKING_PREFIX = "omniline:buttons:"
HOUR = timedelta(hours=1)

# Viber's send_message status codes that no retry can fix: the message can never reach this user.
PERMANENT_STATUSES = {
    3: "badData",
    4: "missingData",
    5: "receiverNotRegistered",
    6: "receiverNotSubscribed",
    7: "publicAccountBlocked",
    8: "publicAccountNotFound",
    9: "publicAccountSuspended",
    11: "noSuitableDevice",
}
TOO_MANY_REQUESTS = 12
INVALID_URL = 1
INVALID_AUTH_TOKEN = 2


class ViberChannel:
    """One Viber bot account."""

    def __init__(self, ref: ChannelRef, settings: ViberSettings, host: ChannelHost) -> None:
        self._ref = ref
        self._settings = settings
        self._host = host
        self._token = settings.auth_token.get_secret_value()
        self._sink: InboundSink | None = None
        self._registering: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None
        # user id -> {payload: button text} of the last keyboard sent to them
        self._keyboards: OrderedDict[str, dict[str, str]] = OrderedDict()
        # user id -> when messages went to them since their last message (Viber's hourly limit)
        self._unanswered: OrderedDict[str, deque[datetime]] = OrderedDict()

    @property
    def ref(self) -> ChannelRef:
        return self._ref

    @property
    def capabilities(self) -> Capabilities:
        # Viber has one kind of buttons, the keyboard: it serves both kinds of omniline's buttons
        return Capabilities(
            max_text_length=self._settings.max_text_length,
            buttons=True,
            inline_buttons=True,
            attachments=True,
            per_chat_rate=self._settings.per_chat_rate,
            global_rate=self._settings.global_rate,
        )

    # --- life cycle -------------------------------------------------------------------------------

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                headers={TOKEN_HEADER: self._token},
                timeout=aiohttp.ClientTimeout(total=self._settings.request_timeout),
            )
        return self._http

    async def start(self, sink: InboundSink) -> None:
        self._session()
        self._sink = sink
        url = self._settings.webhook_url
        # Viber calls the URL back while set_webhook runs and refuses it unless answered 200: the
        # application listens before it starts channels, so this first attempt can pass. If it
        # fails all the same (Viber unreachable, a proxy not ready yet), keep trying.
        if url and not await self._set_webhook(url, attempt=1):
            self._registering = asyncio.create_task(
                self._keep_registering(url, self._host.clock.now()),
                name=f"omniline-viber-webhook-{self._ref.account}",
            )

    async def _keep_registering(self, url: str, failed_at: datetime) -> None:
        clock = self._host.clock
        # counted from the failure, not from when this task first runs
        due = failed_at + timedelta(seconds=self._retry_delay(1))
        attempt = 1
        while True:
            await clock.sleep(max((due - clock.now()).total_seconds(), 0.0))
            attempt += 1
            if await self._set_webhook(url, attempt=attempt):
                return
            due = clock.now() + timedelta(seconds=self._retry_delay(attempt))

    async def _set_webhook(self, url: str, *, attempt: int) -> bool:
        """One ``set_webhook`` call; True when it is over (registered, or no retry can help).
        Every failure is one log line that says why and what comes next."""
        body = {"url": url, "event_types": WEBHOOK_EVENTS, "send_name": True, "send_photo": True}
        try:
            answer = await self._call("set_webhook", body)
        except DeliveryError as error:
            status, reason = None, error.reason
        else:
            status = answer.get("status")
            reason = str(answer.get("status_message") or f"status {status}")
        if status == 0:
            if attempt > 1:
                log.info("%s: Viber took the webhook %s (attempt %d)", self._ref, url, attempt)
            return True
        if status == INVALID_URL:
            reason += (
                " (Viber could not reach the URL, or it did not answer Viber's check with 200)"
            )
        if status == INVALID_AUTH_TOKEN:
            log.error(
                "%s: Viber refused the webhook %s: %s; not retried: check auth_token",
                self._ref,
                url,
                reason,
            )
            return True
        log.warning(
            "%s: could not register the webhook %s with Viber (attempt %d): %s; next attempt in %g s",
            self._ref,
            url,
            attempt,
            reason,
            self._retry_delay(attempt),
        )
        return False

    def _retry_delay(self, failures: int) -> float:
        """The wait after the ``failures``-th failed attempt: doubling, up to the maximum."""
        s = self._settings
        return min(s.webhook_retry_delay * 2.0 ** min(failures - 1, 32), s.webhook_retry_max_delay)

    async def stop(self) -> None:
        self._sink = None
        registering, self._registering = self._registering, None
        if registering is not None:
            registering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await registering
        if self._http is not None:
            await self._http.close()
            self._http = None

    # --- receiving --------------------------------------------------------------------------------

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return [web.post("/webhook", self._webhook)]

    async def _webhook(self, request: web.Request) -> web.Response:
        try:
            raw = await read_body(request, self._settings.max_callback_bytes)
        except BodyRefused as refused:
            return refused.response()
        # the signature is over the bytes as they came: checked before anything reads them
        if not signature_matches(raw, self._token.encode(), request.headers.get(SIGNATURE_HEADER)):
            return web.Response(status=403, text="bad signature")
        try:
            event, update = callback_of(parse_json(raw))
            incoming = message_callback(update) if event == "message" else None
        except BodyRefused as refused:
            return refused.response()
        except NotACallback as error:
            return web.Response(status=400, text=f"not a Viber callback: {error}")
        if incoming is None:
            if event not in SERVICE_EVENTS:  # a newer Viber: acknowledged, or it retries
                log.info("%s: ignored a Viber %r callback", self._ref, event[:64])
            return web.json_response({})
        sink = self._sink
        if sink is None:
            return web.Response(status=503, text="not started")  # Viber retries
        try:
            inbound = self._event(incoming, update)
        except ValidationError as error:  # a shape none of Viber's references foresaw
            reason = "; ".join(str(e["msg"]) for e in error.errors()[:3])
            return web.Response(status=400, text=f"not a Viber callback: {reason}")
        try:
            await sink(inbound)
        except Exception:
            log.exception("%s: could not store Viber message %s", self._ref, inbound.event_id)
            return web.Response(status=500, text="not stored")  # Viber retries
        self._unanswered.pop(incoming.user_id, None)  # they answered: the hour restarts
        return web.json_response({})

    def _event(self, incoming: IncomingMessage, update: dict[str, Any]) -> InboundEvent:
        content = parse_message(incoming.message)
        if content.unsupported is not None:
            log.info(
                "%s: a Viber %r message is stored as unsupported",
                self._ref,
                content.unsupported.kind,
            )
        content = self._button_press(incoming.user_id, incoming.message, content)
        profile = sender_profile(incoming.sender)
        identity = Identity(
            channel=self._ref,
            external_id=incoming.user_id,
            display_name=profile.get("name", "")[:256] or None,
            profile=profile,
        )
        return InboundEvent(
            event_id=incoming.token,
            identity=identity,
            message=content,
            received_at=self._host.clock.now(),
            platform_message_id=incoming.token,
            raw=update,
        )

    def _button_press(
        self, user_id: str, message: dict[str, Any], content: InboundMessage
    ) -> InboundMessage:
        """A pressed keyboard button comes back as a text message whose text is the payload."""
        text = content.text
        if message.get("type") != "text" or text is None:
            return content
        known = self._keyboards.get(user_id, {})
        tracking = message.get("tracking_data")
        if text not in known and isinstance(tracking, str) and tracking.startswith(TRACKING_PREFIX):
            try:  # Viber echoes it, but the client's app may alter it: parsed with the depth limit
                payloads = parse_json(tracking[len(TRACKING_PREFIX) :])
            except BodyRefused:
                payloads = []
            if isinstance(payloads, list) and text in payloads:
                known = {text: text}
        if text not in known:
            return content
        return InboundMessage(text=known[text], button_payload=text)

    # --- sending ----------------------------------------------------------------------------------

    async def send(self, delivery: Delivery) -> str:
        user_id = delivery.recipient.external_id
        self._check_unanswered(user_id)
        message = delivery.message
        payloads = [button.payload for row in message.buttons for button in row]
        tracking = TRACKING_PREFIX + json.dumps(payloads) if payloads else None
        if tracking is not None and len(tracking) > 4096:  # Viber's limit for tracking_data
            tracking = None
        sender = {"name": self._settings.sender_name}
        if self._settings.sender_avatar:
            sender["avatar"] = self._settings.sender_avatar
        token = ""
        for body in bodies(message, receiver=user_id, sender=sender, tracking_data=tracking):
            token = await self._send_one(body)
            self._count_unanswered(user_id)
        if payloads:
            self._remember(
                self._keyboards,
                user_id,
                {button.payload: button.text for row in message.buttons for button in row},
            )
        return token

    async def _send_one(self, body: dict[str, Any]) -> str:
        data = json.dumps(body, ensure_ascii=False).encode()
        if len(data) > self._settings.max_request_bytes:
            raise DeliveryError(
                f"the message is {len(data)} bytes, over Viber's {self._settings.max_request_bytes}",
                permanent=True,
            )
        answer = await self._call("send_message", body, data=data)
        status = answer.get("status")
        reason = str(answer.get("status_message") or f"status {status}")
        if status == 0:
            return str(answer.get("message_token", ""))
        if status in PERMANENT_STATUSES:
            raise DeliveryError(f"viber: {reason}", permanent=True)
        if status == TOO_MANY_REQUESTS:
            raise DeliveryError(
                f"viber: {reason}", retry_after=self._settings.unanswered_retry_after
            )
        raise DeliveryError(f"viber: {reason}")

    async def _call(
        self, method: str, body: dict[str, Any], *, data: bytes | None = None
    ) -> dict[str, Any]:
        url = f"{self._settings.api_base_url.rstrip('/')}/{method}"
        payload = data if data is not None else json.dumps(body).encode()
        try:
            async with self._session().post(
                url, data=payload, headers={"Content-Type": "application/json"}
            ) as response:
                if response.status == 429:
                    raise DeliveryError(
                        "viber: too many requests",
                        retry_after=_seconds(response.headers.get("Retry-After")),
                    )
                if response.status >= 400:
                    raise DeliveryError(f"viber: HTTP {response.status} on {method}")
                answer = await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as error:
            raise DeliveryError(f"viber: {method} failed: {error!r}") from error
        if not isinstance(answer, dict):
            raise DeliveryError(f"viber: {method} answered {answer!r}")
        return answer

    # --- Viber's hourly limit of unanswered messages ------------------------------------------------

    def _check_unanswered(self, user_id: str) -> None:
        sent = self._unanswered.get(user_id)
        if not sent:
            return
        now = self._host.clock.now()
        while sent and sent[0] <= now - HOUR:
            sent.popleft()
        if len(sent) >= self._settings.max_unanswered_per_hour:
            wait = (sent[0] + HOUR - now).total_seconds()
            raise DeliveryError(
                f"viber: {len(sent)} messages to this user within an hour without a reply",
                retry_after=max(wait, 1.0),
            )

    def _count_unanswered(self, user_id: str) -> None:
        sent = self._unanswered.get(user_id) or deque()
        sent.append(self._host.clock.now())
        self._remember(self._unanswered, user_id, sent)

    def _remember(self, memory: OrderedDict[str, Any], key: str, value: Any) -> None:
        memory[key] = value
        memory.move_to_end(key)
        while len(memory) > self._settings.remembered_keyboards:
            memory.popitem(last=False)


def _seconds(value: str | None) -> float:
    try:
        return max(float(value), 0.0) if value is not None else 1.0
    except ValueError:
        return 1.0
