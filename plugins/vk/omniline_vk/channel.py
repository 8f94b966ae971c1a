"""The VK channel: a community's messages over the Callback API or Bots Long Poll."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import Sequence
from typing import Any

import requests  # type: ignore[import-untyped,unused-ignore]
from aiohttp import web
from pydantic import ValidationError
from vk_api.keyboard import VkKeyboard  # type: ignore[import-untyped]

from omniline import (
    Attachment,
    AttachmentKind,
    Capabilities,
    ChannelHost,
    ChannelRef,
    Delivery,
    DeliveryError,
    Identity,
    InboundEvent,
)
from omniline.model import OutboundMessage
from omniline.plugins import BodyRefused, InboundSink, read_json, secrets_match
from omniline_vk import inbound
from omniline_vk.api import ApiError, ApiHttpError, VkClient, error_code, error_message, http_status
from omniline_vk.config import VkSettings

TS_KEY = "long_poll_ts"
"""Where the Long Poll offset is saved, so a restart goes on from the last stored update."""
POLL_LEASE = "long_poll"
"""The lease (``ChannelHost.exclusive``) under which one worker process runs the Long Poll."""
SALT_KEY = "random_id_salt"
"""Where the random salt of ``random_id`` is kept: made once per database."""
NOT_RUNNING_RETRY = 1.0
"""Seconds before a delivery handed over before the channel started (or after it stopped) is
tried again."""

log = logging.getLogger("omniline.channel.vk")

PERMANENT_CODES = frozenset({7, 15, 100, 900, 901, 902, 911, 912, 914, 917, 925, 936, 945, 946})
"""Errors no retry fixes: the user blocked or never allowed the community's messages, the chat is
gone, the message itself is refused."""


def random_id(salt: str, delivery: Delivery) -> int:
    """``messages.send``'s dedup id: the same for every retry of one delivery, so VK drops a
    repeated send; different from any other database's, whose salt differs, so VK never drops a
    new message for a ``random_id`` it saw from the community before. The recipient and the
    content are mixed in too, so a database restored from a backup (same salt, its message ids
    handed out again) rarely repeats one either. A positive int32, never 0."""
    material = "\n".join(
        (
            salt,
            delivery.delivery_key,
            delivery.recipient.external_id,
            delivery.message.model_dump_json(exclude_defaults=True),
        )
    )
    value = int.from_bytes(hashlib.sha256(material.encode()).digest()[:4], "big") & 0x7FFFFFFF
    return value or 1


class VkChannel:
    def __init__(self, ref: ChannelRef, settings: VkSettings, host: ChannelHost) -> None:
        self._ref = ref
        self._settings = settings
        self._host = host
        self._sink: InboundSink | None = None
        self._client: VkClient | None = None
        self._poller: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._names: dict[str, str | None] = {}
        self._salt: str | None = None

    @property
    def ref(self) -> ChannelRef:
        return self._ref

    @property
    def capabilities(self) -> Capabilities:
        s = self._settings
        return Capabilities(
            max_text_length=s.max_text_length,
            per_chat_rate=s.per_chat_rate,
            global_rate=s.global_rate,
        )

    # --- life cycle -------------------------------------------------------------------------------

    async def start(self, sink: InboundSink) -> None:
        """Ready to send and receive. The sink is set last: until then an event that calls in is
        answered 503 with ``Retry-After`` and VK delivers it again (omniline serves HTTP only
        after every channel started, so this is for an application mounted elsewhere)."""
        s = self._settings
        self._client = VkClient(
            token=s.token.get_secret_value(),
            api_base_url=s.api_base_url,
            api_version=s.api_version,
            timeout=s.request_timeout,
        )
        try:
            self._salt = await self._random_id_salt()
        except BaseException:  # the database is not there: leave nothing open
            self._client.close()
            self._client = None
            raise
        self._sink = sink
        if s.mode == "polling":
            # With several worker processes only the one holding the lease polls (each would get
            # every event); every one of them sends.
            self._poller = asyncio.create_task(
                self._host.exclusive(POLL_LEASE, self._poll), name=f"vk-poll-{self._ref.account}"
            )

    async def stop(self) -> None:
        self._sink = None
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        for task in list(self._background):
            task.cancel()
        if self._client is not None:
            self._client.close()
            self._client = None

    async def _random_id_salt(self) -> str:
        """This database's salt for ``random_id``, made on the first start. Read back after
        saving, so that of two processes making one at the same moment both mostly end up with
        the one saved last (one that read back before the other saved keeps its own until it
        restarts: a retry it takes over from the other may then be shown twice)."""
        salt = await self._host.load_state(SALT_KEY)
        if salt:
            return salt
        await self._host.save_state(SALT_KEY, secrets.token_hex(16))
        saved = await self._host.load_state(SALT_KEY)
        return saved or secrets.token_hex(16)

    # --- receiving --------------------------------------------------------------------------------

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return [web.post("/webhook", self._webhook)]

    async def _webhook(self, request: web.Request) -> web.Response:
        """The Callback API. An authentic request is answered ``ok`` once its update is stored
        (or ignored); nothing in a body, however malformed, gets a traceback."""
        s = self._settings
        if s.mode != "webhook":  # nothing to confirm, no secret to check: VK is not to call here
            return web.Response(status=404, text="this VK account polls (Bots Long Poll)")
        try:
            update = await read_json(
                request, max_bytes=s.max_body_bytes, max_depth=s.max_json_depth
            )
        except BodyRefused as exc:
            return exc.response()
        if not isinstance(update, dict):
            return web.Response(status=400, text="the body is not a JSON object")
        if update.get("group_id") != s.group_id:
            return web.Response(status=403, text="not this community's group_id")
        if update.get("type") == "confirmation":
            return web.Response(text=s.confirmation or "")  # needs nothing started
        expected = s.secret.get_secret_value() if s.secret is not None else ""
        given = update.get("secret")
        if not expected or not secrets_match(given if isinstance(given, str) else None, expected):
            return web.Response(status=403, text="wrong secret")
        sink = self._sink
        if sink is None or self._client is None:  # not started yet, or stopping: VK retries
            return web.Response(
                status=503, text="not ready", headers={"Retry-After": str(NOT_RUNNING_RETRY)}
            )
        try:
            await self._ingest(sink, update)
        except Exception:
            log.exception("could not store VK update %s", inbound.update_id(update))
            return web.Response(status=500, text="could not store the update")
        return web.Response(text="ok")

    async def _ingest(self, sink: InboundSink, update: dict[str, Any]) -> None:
        """Hand one update to the sink; returns only once it is stored (or ignored)."""
        kind = update.get("type")
        read = inbound.read(update)
        if isinstance(read, inbound.Ignored):
            (log.debug if read.quiet else log.info)(
                "VK %s %s ignored: %s", read.kind, inbound.update_id(update), read.reason
            )
            return
        name = await self._name(read.peer)
        fields: dict[str, Any] = {
            "event_id": inbound.update_id(update),
            "identity": Identity(channel=self._ref, external_id=read.peer, display_name=name),
            "message": read.message,
            "received_at": self._host.clock.now(),
            "platform_message_id": read.platform_message_id,
        }
        raw = {k: v for k, v in update.items() if k != "secret"}  # never store the secret
        try:
            event = InboundEvent(**fields, raw=raw)
        except ValidationError:  # a Long Poll update nesting deeper than a stored raw can hold
            log.warning(
                "VK update %s stored without its raw payload (too deep)", fields["event_id"]
            )
            event = InboundEvent(**fields)
        receipt = await sink(event)
        if kind == "message_event" and not receipt.duplicate:
            self._spawn(self._answer_callback(update))

    async def _name(self, peer: str) -> str | None:
        """The client's name from ``users.get`` (best effort, cached; not for group chats)."""
        if not self._settings.fetch_profiles or self._client is None:
            return None
        if not 0 < int(peer) < 2_000_000_000:  # a group chat, or a community: no users.get
            return None
        if peer not in self._names:
            try:
                users = await self._client.call("users.get", user_ids=peer)
                user = users[0] if users else {}
                name = f"{user.get('first_name', '')} {user.get('last_name', '')}".strip()
                self._names[peer] = name[:256] or None
            except Exception as exc:  # the message matters more than the name
                log.warning("users.get failed for %s: %s", peer, exc)
                return None
        return self._names[peer]

    async def _answer_callback(self, update: dict[str, Any]) -> None:
        """Stop the spinner on a pressed callback button."""
        obj = update.get("object") or {}
        if self._client is None:
            return
        try:
            await self._client.call(
                "messages.sendMessageEventAnswer",
                event_id=obj.get("event_id"),
                user_id=obj.get("user_id"),
                peer_id=obj.get("peer_id"),
            )
        except Exception as exc:
            log.warning("messages.sendMessageEventAnswer failed: %s", exc)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _poll(self) -> None:
        """Bots Long Poll, while this process holds the lease. ``ts`` moves past an answer only
        after all its updates are stored, and is read afresh each time the lease is taken: the
        process that held it before may have moved it."""
        s = self._settings
        server: dict[str, Any] | None = None
        while self._client is not None:
            client = self._client
            try:
                if server is None:
                    server = dict(
                        await client.call("groups.getLongPollServer", group_id=s.group_id)
                    )
                    saved = await self._host.load_state(TS_KEY)
                    if saved is not None:
                        server["ts"] = saved  # go on from the last stored update, not from now
                answer = await client.get_json(
                    str(server["server"]),
                    {
                        "act": "a_check",
                        "key": server["key"],
                        "ts": server["ts"],
                        "wait": s.long_poll_wait,
                    },
                    limit=s.long_poll_wait + 10,
                )
                failed = answer.get("failed")
                if failed == 1:
                    server["ts"] = answer["ts"]  # history lost: go on from where VK says
                    await self._host.save_state(TS_KEY, str(server["ts"]))
                elif failed in (2, 3):
                    fresh = await client.call("groups.getLongPollServer", group_id=s.group_id)
                    server["key"] = fresh["key"]
                    if failed == 3:
                        server["ts"] = fresh["ts"]
                elif failed is not None:
                    raise RuntimeError(f"long poll failed: {answer}")
                else:
                    sink = self._sink
                    if sink is None:
                        return  # stopping: this batch is not stored, so its ts is not saved
                    for update in answer.get("updates") or ():
                        if isinstance(update, dict):
                            await self._ingest(sink, update)
                        else:
                            log.info("VK long poll: ignored an update that is not an object")
                    server["ts"] = answer["ts"]
                    if answer.get("updates"):
                        await self._host.save_state(TS_KEY, str(server["ts"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("VK long poll: %s; trying again in %s s", exc, s.poll_retry_pause)
                await self._host.clock.sleep(s.poll_retry_pause)

    # --- sending ----------------------------------------------------------------------------------

    async def send(self, delivery: Delivery) -> str:
        client, salt = self._client, self._salt
        if client is None or salt is None:  # handed over before start (the recovery sweep runs
            # before channels start) or after stop: the outbox tries again, nothing is lost
            raise DeliveryError("the VK channel is not running", retry_after=NOT_RUNNING_RETRY)
        peer = delivery.recipient.external_id
        message = delivery.message
        values: dict[str, Any] = {
            "peer_id": int(peer),
            "random_id": random_id(salt, delivery),
            "message": message.text or "",
        }
        stickers = [a for a in message.attachments if a.kind is AttachmentKind.STICKER]
        files = [a for a in message.attachments if a.kind is not AttachmentKind.STICKER]
        if stickers and (stickers[0].file_id or "").isdigit():
            values["sticker_id"] = int(stickers[0].file_id or 0)  # VK sends one sticker alone
        else:
            files = list(message.attachments)
        try:
            attachments = [await self._attachment(client, peer, a) for a in files]
            if attachments:
                values["attachment"] = ",".join(attachments)
            if message.buttons:
                values["keyboard"] = keyboard(message)
            result = await client.call("messages.send", **values)
        except ApiError as exc:
            raise self._delivery_error(exc) from exc
        except ApiHttpError as exc:
            status, retry_after = http_status(exc)
            raise DeliveryError(
                f"VK answered HTTP {status}",
                retry_after=_seconds(retry_after),
            ) from exc
        except requests.RequestException as exc:
            raise DeliveryError(f"VK unreachable: {type(exc).__name__}") from exc
        return str(result)

    def _delivery_error(self, exc: Exception) -> DeliveryError:
        s = self._settings
        code = error_code(exc)
        reason = f"VK error {code}: {error_message(exc)}"
        if code == 6:
            return DeliveryError(reason, retry_after=s.rate_limit_retry_after)
        if code == 9:
            return DeliveryError(reason, retry_after=s.flood_retry_after)
        if code == 29:
            return DeliveryError(reason, retry_after=s.quota_retry_after)
        return DeliveryError(reason, permanent=code in PERMANENT_CODES)

    async def _attachment(self, client: VkClient, peer: str, attachment: Attachment) -> str:
        """A VK attachment string: a file id we got from VK, or the file uploaded from its URL."""
        if attachment.file_id and attachment.kind is not AttachmentKind.STICKER:
            return attachment.file_id
        if not attachment.url:
            raise DeliveryError("an attachment without a file id or URL", permanent=True)
        content = await client.download(attachment.url)
        name = attachment.name or attachment.url.rsplit("/", 1)[-1] or "file"
        if attachment.kind is AttachmentKind.IMAGE:
            server = await client.call("photos.getMessagesUploadServer", peer_id=int(peer))
            uploaded = await client.upload(server["upload_url"], "photo", name, content)
            photo = (await client.call("photos.saveMessagesPhoto", **uploaded))[0]
            return inbound_ref("photo", photo)
        doc_type = "audio_message" if attachment.kind is AttachmentKind.VOICE else "doc"
        server = await client.call("docs.getMessagesUploadServer", type=doc_type, peer_id=int(peer))
        uploaded = await client.upload(server["upload_url"], "file", name, content)
        saved = await client.call("docs.save", file=uploaded["file"], title=name)
        kind = saved.get("type", "doc")
        return inbound_ref(kind, saved[kind])


def inbound_ref(kind: str, item: dict[str, Any]) -> str:
    ref = f"{kind}{item['owner_id']}_{item['id']}"
    return f"{ref}_{item['access_key']}" if item.get("access_key") else ref


def keyboard(message: OutboundMessage) -> str:
    """Inline messages get callback buttons under the message, others a one-time keyboard."""
    board = VkKeyboard(one_time=not message.inline, inline=message.inline)
    for i, row in enumerate(message.buttons):
        if i:
            board.add_line()
        for button in row:
            label = button.text if len(button.text) <= 40 else button.text[:39] + "…"
            payload = {"p": button.payload}
            if message.inline:
                board.add_callback_button(label, payload=payload)
            else:
                board.add_button(label, payload=payload)
    return str(board.get_keyboard())


def _seconds(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None
