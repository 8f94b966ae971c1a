"""The Viber channel: signed webhooks in, ``send_message`` out.

viberbot builds the message bodies; the HTTP calls go through one aiohttp session per channel,
because viberbot's own sender uses a bare ``requests.post`` per call (blocking, no shared session,
the token in the body) and turns every HTTP error into an exception without the status or
``Retry-After``.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict, deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from omniline.errors import DeliveryError
from omniline.model import ChannelRef, Identity, InboundEvent, InboundMessage
from omniline.plugins import Capabilities, ChannelHost, Delivery, InboundSink, signature_matches
from omniline_viber.inbound import parse_message, sender_profile
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


class ViberChannel:
    """One Viber bot account."""

    def __init__(self, ref: ChannelRef, settings: ViberSettings, host: ChannelHost) -> None:
        self._ref = ref
        self._settings = settings
        self._host = host
        self._token = settings.auth_token.get_secret_value()
        self._sink: InboundSink | None = None
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
        # Viber checks the webhook with a signed call while set_webhook runs: answered even now
        self._sink = sink
        if self._settings.webhook_url:
            await self._set_webhook(self._settings.webhook_url)

    async def _set_webhook(self, url: str) -> None:
        body = {"url": url, "event_types": WEBHOOK_EVENTS, "send_name": True, "send_photo": True}
        try:
            answer = await self._call("set_webhook", body)
        except DeliveryError as error:
            log.error("%s: could not register the webhook %s: %s", self._ref, url, error.reason)
            return
        if answer.get("status") != 0:
            reason = answer.get("status_message")
            log.error("%s: Viber refused the webhook %s: %s", self._ref, url, reason)

    async def stop(self) -> None:
        self._sink = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    # --- receiving --------------------------------------------------------------------------------

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return [web.post("/webhook", self._webhook)]

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.read()
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature_matches(body, self._token.encode(), signature):
            return web.Response(status=403, text="bad signature")
        try:
            update = json.loads(body)
        except ValueError:
            return web.Response(status=400, text="not JSON")
        if not isinstance(update, dict):
            return web.Response(status=400, text="not a JSON object")
        if update.get("event") != "message":
            # subscribed, conversation_started, unsubscribed, delivered, seen, failed, webhook:
            # nothing to store, but Viber wants its 200 (the webhook check comes before start)
            return web.json_response({})
        sink = self._sink
        if sink is None:
            return web.Response(status=503, text="not started")  # Viber retries
        event = self._event(update)
        if event is None:
            return web.json_response({})
        try:
            await sink(event)
        except Exception:
            log.exception("%s: could not store Viber message %s", self._ref, event.event_id)
            return web.Response(status=500, text="not stored")  # Viber retries
        self._unanswered.pop(event.identity.external_id, None)  # they answered: the hour restarts
        return web.json_response({})

    def _event(self, update: dict[str, Any]) -> InboundEvent | None:
        sender = update.get("sender")
        message = update.get("message")
        token = update.get("message_token")
        if not isinstance(sender, dict) or not isinstance(message, dict) or token is None:
            log.warning("%s: a Viber message without sender, message or token", self._ref)
            return None
        user_id = str(sender.get("id") or "")
        if not user_id:
            return None
        content = parse_message(message)
        if content is None:
            log.info("%s: ignored a Viber %r message", self._ref, message.get("type"))
            return None
        content = self._button_press(user_id, message, content)
        profile = sender_profile(sender)
        identity = Identity(
            channel=self._ref,
            external_id=user_id,
            display_name=profile.get("name", "")[:256] or None,
            profile=profile,
        )
        return InboundEvent(
            event_id=str(token),
            identity=identity,
            message=content,
            received_at=self._host.clock.now(),
            platform_message_id=str(token),
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
            try:
                payloads = json.loads(tracking[len(TRACKING_PREFIX) :])
            except ValueError:
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
