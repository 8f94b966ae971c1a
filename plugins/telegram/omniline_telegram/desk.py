"""The Telegram desk: operators work in one forum supergroup, a topic per dialog.

Two loops run side by side. One follows omniline's feed and writes what happens into the
dialogs' topics (opening a topic when a dialog first needs operators, announcing offers with
Accept / Skip buttons and editing them as they are answered). The other long-polls the desk bot's
updates and turns the operators' button presses and topic messages into the same operator actions
every desk uses (``host.dialogs``), so the dialog rules are omniline's own.

Both loops keep their place in the desk's durable state (the feed cursor, the ``getUpdates``
offset), moved only after what they read has been handled, so a restart neither loses nor repeats
anything beyond the one item in flight. With several worker processes both loops run in the one
that holds the desk's lease (``host.exclusive``), and start from the saved places when it is taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import TypeAlias, TypeVar

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramRetryAfter
from aiogram.methods import (
    AnswerCallbackQuery,
    CloseForumTopic,
    CreateForumTopic,
    EditMessageText,
    ReopenForumTopic,
    SendMessage,
)
from aiogram.methods.base import TelegramMethod
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from aiogram.utils.formatting import Text

from omniline.errors import DialogError, OmnilineError
from omniline.model import (
    Accepted,
    Closed,
    DialogEvent,
    DialogStatus,
    Direction,
    Offered,
    Reopened,
    Skipped,
    StoredMessage,
    Transferred,
    Visibility,
    Withdrawn,
)
from omniline.plugins import Desk, DeskHost, FeedCursor, FeedEvent, FeedPage, Plugin, PluginKind
from omniline_telegram.desk_commands import HELP, Command, UsageError, Verb, parse_command
from omniline_telegram.desk_settings import TelegramDeskSettings
from omniline_telegram.desk_texts import (
    ANSWER_LIMIT,
    client_name,
    earlier_messages,
    event_line,
    message_text,
    offer_announcement,
    outcome_line,
    rating_text,
    split_text,
    topic_name,
)
from omniline_telegram.inbound import attachments_of, update_model
from omniline_telegram.polling import RawUpdate, UpdatePoller
from omniline_telegram.session import token_safe_bot

log = logging.getLogger("omniline.console.telegram")

T = TypeVar("T")
FeedItem: TypeAlias = FeedEvent | StoredMessage

PAGE = 100
"""Feed items read at once."""
EARLIER = 50
"""Most earlier messages shown when a dialog's topic opens (its bot conversation, say)."""
RETRY_AFTER_ROUNDS = 5
"""Times a call waits out Telegram's flood control before giving up."""
OPENS_TOPIC = frozenset(
    {"handed_off", "queued", "offered", "accepted", "transferred", "invited", "pinned", "reopened"}
)
"""Events that show a dialog needs operators: its topic opens at the first of them. (A dialog the
bot handles alone gets no topic.)"""
TOPIC_GONE = ("thread not found", "TOPIC_DELETED", "TOPIC_ID_INVALID")
"""Telegram's words for a topic someone deleted: the dialog gets a new one."""
TOPIC_SHUT = "TOPIC_CLOSED"
GROUP_PROBLEMS = ("not enough rights", "chat not found", "not a forum", "CHAT_ADMIN_REQUIRED")
"""Refusals that no item can get past: the desk waits (and logs) until the group is fixed."""
ACCEPT, SKIP = "acc", "skip"
"""Callback data of the announcements' buttons: ``acc:<dialog id>``, ``skip:<dialog id>``."""
DESK_LEASE = "group"
"""The lease (``DeskHost.exclusive``) under which one worker process runs the desk's loops."""
STOP_GRACE = 10.0
"""Seconds a stop waits for the update being handled."""
REMEMBERED = 10_000
"""Dialogs whose topic (or lack of one) is kept in memory; beyond that the state is read again."""


class GroupUnusable(OmnilineError):
    """The desk cannot write in its group (not a forum, the bot lacks rights, wrong id...)."""


class TelegramDesk:
    """One forum supergroup as the operators' desk."""

    def __init__(self, settings: TelegramDeskSettings, host: DeskHost) -> None:
        unknown = [o for o in settings.operators if o not in host.operator_names]
        if unknown:
            known = ", ".join(sorted(host.operator_names)) or "none"
            raise OmnilineError(
                f"operators: {', '.join(unknown)} not among the configured operators "
                f"(known: {known})"
            )
        missing = [line for line in settings.lines or () if line not in host.lines]
        if missing:
            raise OmnilineError(
                f"lines: no line {', '.join(missing)} (known: {', '.join(sorted(host.lines))})"
            )
        self._settings = settings
        self._host = host
        self._group = settings.group_id
        self._operator_of = {user: op for op, user in settings.operators.items()}
        self._bot: Bot | None = None
        self._running: asyncio.Task[None] | None = None
        self._poller: UpdatePoller | None = None
        self._username: str | None = None
        self._topics: dict[int, int | None] = {}
        """Dialog id -> its topic's thread id (None: known to have none)."""
        self._dialogs: dict[int, int] = {}
        """Thread id -> dialog id."""
        self._clients: dict[int, str] = {}
        self._quiet: set[int] = set()
        """Dialogs without a topic known to need none now (the bot's, closed ones, those of lines
        this desk does not show); their next event makes the desk look again."""
        self._echoes: Counter[tuple[int, str, str, str]] = Counter()
        """Messages this desk itself is storing for an operator who wrote them in a topic: the
        feed brings them back, and the topic has them already."""
        self.cursor = FeedCursor()
        """Where the desk is in the feed: everything up to it is shown."""

    @property
    def offset(self) -> int | None:
        """The next ``getUpdates`` offset: one past the last update handled."""
        return None if self._poller is None else self._poller.offset

    @property
    def bot(self) -> Bot:
        if self._bot is None:
            raise RuntimeError("the Telegram desk is not started")
        return self._bot

    # --- Desk -------------------------------------------------------------------------------------

    async def start(self) -> None:
        s = self._settings
        self._bot = token_safe_bot(s.token.get_secret_value(), s.api_base_url, s.request_timeout)
        # One group, one writer: with several worker processes, the one holding the desk's lease
        # runs both loops (the feed into the group, the group's updates), so nothing is shown
        # twice and getUpdates has one caller.
        self._running = asyncio.create_task(
            self._host.exclusive(DESK_LEASE, self._run), name="telegram-desk"
        )

    async def stop(self) -> None:
        running, self._running = self._running, None
        if running is not None:  # the update being handled finishes first (UpdatePoller.run)
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        if self._bot is not None:
            await self._bot.session.close()
            self._bot = None

    async def _run(self) -> None:
        """Both loops, while this process holds the desk's lease. Each time it is taken, the
        cursor and the offset are read afresh and what memory held is dropped: another process
        may have moved them, opened topics and answered offers meanwhile."""
        s = self._settings
        self._forget()
        self._echoes.clear()
        state = self._host.state
        saved = await state.get("cursor")
        if saved:
            self.cursor = FeedCursor.model_validate_json(saved)
        else:  # the first start: the group begins with what happens from now on
            self.cursor = await self._feed_end()
            await self._save_cursor()
            log.info("first start: following the feed from %s", self.cursor)
        offset = await state.get("offset")
        self._poller = UpdatePoller(
            self.bot,
            self._take,
            clock=self._host.clock,
            timeout=s.poll_timeout,
            request_timeout=s.request_timeout,
            retry_delay=s.retry_delay,
            offset=int(offset) if offset else None,
            log=log,
            name="telegram-desk-updates",
        )
        follow = asyncio.create_task(self._follow(), name="telegram-desk-feed")
        try:
            await self._poller.run(STOP_GRACE)
        finally:
            follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follow

    # --- the feed, into the group -----------------------------------------------------------------

    async def _follow(self) -> None:
        while True:
            try:
                more = await self._catch_up()
            except asyncio.CancelledError:
                raise
            except GroupUnusable as exc:  # a setup to fix, not a bug: no traceback
                log.error("%s; trying again in %s s", exc, self._settings.retry_delay)
                await self._host.clock.sleep(self._settings.retry_delay)
                continue
            except Exception:
                log.exception(
                    "the desk could not write in group %s; trying again in %s s",
                    self._group,
                    self._settings.retry_delay,
                )
                await self._host.clock.sleep(self._settings.retry_delay)
                continue
            if not more:
                await self._host.wait_for_news(at_most=self._settings.feed_interval)

    async def _catch_up(self) -> bool:
        """Show one page of the feed; True when more is waiting."""
        page = await self._host.feed(self.cursor, limit=PAGE)
        items, more = in_order(page, PAGE)
        saved = self.cursor
        for item in items:
            try:
                shown = await self._show(item)
            except TelegramBadRequest as exc:
                if any(p.casefold() in exc.message.casefold() for p in GROUP_PROBLEMS):
                    raise GroupUnusable(f"group {self._group}: {exc.message}") from exc
                log.warning("Telegram refused to show %s, left out: %s", describe(item), exc)
                shown = True
            self.cursor = advanced(self.cursor, item)
            if shown:  # it is in the group now: never again, even after a crash
                await self._save_cursor()
                saved = self.cursor
        if self.cursor != saved:
            await self._save_cursor()
        return more

    async def _feed_end(self) -> FeedCursor:
        return await self._host.feed_end()

    async def _save_cursor(self) -> None:
        await self._host.state.put("cursor", self.cursor.model_dump_json())

    async def _show(self, item: FeedItem) -> bool:
        """Write ``item`` in its dialog's topic; False when it has no place there."""
        if isinstance(item, FeedEvent):
            return await self._show_event(item.dialog_id, item.event)
        return await self._show_message(item)

    async def _show_message(self, message: StoredMessage) -> bool:
        if message.direction is Direction.OUT and message.author.startswith("operator:"):
            key = (message.dialog_id, message.author, message.visibility.value, message.text or "")
            if self._echoes[key] > 0:
                self._echoes[key] -= 1
                if not self._echoes[key]:
                    del self._echoes[key]
                return False  # written in the topic by the operator themselves
        dialog_id = message.dialog_id
        thread = await self._topic_of(dialog_id)
        if thread is None:
            if not await self._needs_operators(message):
                return False  # the bot's conversation: shown as earlier messages if a topic opens
            thread = await self._open_topic(dialog_id)
            if thread is None:
                return False
        await self._post(dialog_id, await self._message_text(message))
        return True

    async def _needs_operators(self, message: StoredMessage) -> bool:
        """Whether a message of a dialog without a topic calls for one: an operator's note, or
        any message of a dialog that is with operators (whose start the desk did not see)."""
        if message.visibility is Visibility.OPERATORS:
            return True
        if message.dialog_id in self._quiet:
            return False
        dialog = await self._host.store.dialogs.get(message.dialog_id)
        if dialog is None or dialog.status in (DialogStatus.BOT, DialogStatus.CLOSED):
            self._quiet.add(message.dialog_id)
            return False
        return True

    async def _message_text(self, message: StoredMessage) -> str:
        if message.direction is Direction.IN:
            return message_text(message, await self._client(message.dialog_id))
        return message_text(message, self._host.author_name(message.author))

    async def _show_event(self, dialog_id: int, event: DialogEvent) -> bool:
        self._quiet.discard(dialog_id)  # it may need operators now, or be on another line
        thread = await self._topic_of(dialog_id)
        if thread is None:
            if event.kind not in OPENS_TOPIC:
                return False
            thread = await self._open_topic(dialog_id)
            if thread is None:
                return False
        names = self._host.author_name
        match event:
            case Offered(operator_ids=operator_ids, parked=parked):
                await self._conclude(dialog_id, None)
                offered = [
                    (names(f"operator:{o}"), self._settings.operators.get(o)) for o in operator_ids
                ]
                await self._announce(
                    dialog_id, offer_announcement(offered, parked=parked), skip=len(offered) == 1
                )
            case Transferred():
                # The colleague's offer follows as its own event, with its announcement.
                await self._conclude(dialog_id, event)
                return await self._post_line(dialog_id, event)
            case Accepted() | Skipped() | Withdrawn():
                if not await self._conclude(dialog_id, event):
                    await self._post_line(dialog_id, event)
            case Closed():
                await self._conclude(dialog_id, event)
                await self._post_line(dialog_id, event)
                if self._settings.close_topics:
                    await self._shut(thread, close=True)
            case Reopened():
                if self._settings.close_topics:
                    await self._shut(thread, close=False)
                await self._post_line(dialog_id, event)
            case _:
                return await self._post_line(dialog_id, event)
        return True

    async def _post_line(self, dialog_id: int, event: DialogEvent) -> bool:
        names = {line.id: line.name for line in self._host.lines.values()}
        line = event_line(event, self._host.author_name, names)
        if line is None:
            return False
        await self._post(dialog_id, line)
        return True

    # --- topics -----------------------------------------------------------------------------------

    async def _topic_of(self, dialog_id: int) -> int | None:
        if dialog_id in self._topics:
            return self._topics[dialog_id]
        saved = await self._host.state.get(f"topic:{dialog_id}")
        thread = int(saved) if saved else None
        if len(self._topics) >= REMEMBERED:
            self._forget()
        self._topics[dialog_id] = thread
        if thread is not None:
            self._dialogs[thread] = dialog_id
        return thread

    def _forget(self) -> None:
        """Drop what memory holds of dialogs (the state keeps it), so it never grows unbounded."""
        self._topics.clear()
        self._dialogs.clear()
        self._clients.clear()
        self._quiet.clear()

    async def _dialog_in(self, thread: int) -> int | None:
        if thread in self._dialogs:
            return self._dialogs[thread]
        saved = await self._host.state.get(f"dialog:{thread}")
        if not saved:
            return None
        self._dialogs[thread] = int(saved)
        return int(saved)

    async def _open_topic(self, dialog_id: int) -> int | None:
        """A new topic for the dialog, with what was said in it before; None if this desk does
        not show the dialog's line."""
        dialog = await self._host.store.dialogs.get(dialog_id)
        if dialog is None:
            return None
        lines = self._settings.lines
        if lines is not None and dialog.line_id not in lines:
            self._quiet.add(dialog_id)
            return None
        try:
            topic = await self._call(
                CreateForumTopic(chat_id=self._group, name=topic_name(dialog.identity))
            )
        except TelegramBadRequest as exc:
            raise GroupUnusable(
                f"group {self._group}: no topic for a dialog: {exc.message}"
            ) from exc
        thread = topic.message_thread_id
        state = self._host.state
        await state.put(f"dialog:{thread}", str(dialog_id))
        await state.put(f"topic:{dialog_id}", str(thread))
        self._topics[dialog_id] = thread
        self._dialogs[thread] = dialog_id
        self._clients[dialog_id] = client_name(dialog.identity)
        log.info("dialog %s: topic %s opened in group %s", dialog_id, thread, self._group)
        earlier = await self._earlier(dialog_id)
        if earlier:
            await self._post(dialog_id, earlier_messages(earlier))
        return thread

    async def _earlier(self, dialog_id: int) -> list[str]:
        """The dialog's messages the feed went past before its topic opened."""
        texts: list[str] = []
        after = 0
        while True:
            batch = await self._host.store.dialogs.messages(
                dialog_id, after_id=after, limit=PAGE, with_internal=True
            )
            for message in batch:
                if message.id > self.cursor.message_id:
                    return texts[-EARLIER:]
                texts.append(await self._message_text(message))
            if len(batch) < PAGE:
                return texts[-EARLIER:]
            after = batch[-1].id

    async def _client(self, dialog_id: int) -> str:
        if dialog_id not in self._clients:
            dialog = await self._host.store.dialogs.get(dialog_id)
            self._clients[dialog_id] = client_name(dialog.identity) if dialog else "Client"
        return self._clients[dialog_id]

    async def _shut(self, thread: int, *, close: bool) -> None:
        method: CloseForumTopic | ReopenForumTopic
        if close:
            method = CloseForumTopic(chat_id=self._group, message_thread_id=thread)
        else:
            method = ReopenForumTopic(chat_id=self._group, message_thread_id=thread)
        try:
            await self._call(method)
        except TelegramBadRequest as exc:  # closed or open already (TOPIC_NOT_MODIFIED)
            log.info("topic %s was not %s: %s", thread, "closed" if close else "reopened", exc)

    # --- writing in the group ---------------------------------------------------------------------

    async def _call(self, method: TelegramMethod[T]) -> T:
        """Call the Bot API, waiting out Telegram's flood control as long as it asks."""
        for _ in range(RETRY_AFTER_ROUNDS):
            try:
                return await self.bot(method)
            except TelegramRetryAfter as exc:
                log.info("Telegram flood control: waiting %s s", exc.retry_after)
                await self._host.clock.sleep(exc.retry_after)
        return await self.bot(method)

    async def _post(
        self,
        dialog_id: int,
        text: str,
        *,
        entities: list[MessageEntity] | None = None,
        markup: InlineKeyboardMarkup | None = None,
    ) -> Message:
        pieces = [text] if entities else split_text(text)
        sent: Message | None = None
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            sent = await self._send(dialog_id, piece, entities, markup if last else None)
        assert sent is not None  # the texts written here are never empty
        return sent

    async def _send(
        self,
        dialog_id: int,
        text: str,
        entities: list[MessageEntity] | None,
        markup: InlineKeyboardMarkup | None,
    ) -> Message:
        """Send in the dialog's topic; a topic someone deleted is opened anew, a closed one is
        reopened."""
        for attempt in range(2):
            thread = self._topics.get(dialog_id)
            if thread is None:
                raise GroupUnusable(f"dialog {dialog_id} has no topic")
            method = SendMessage(
                chat_id=self._group,
                message_thread_id=thread,
                text=text,
                entities=entities,
                reply_markup=markup,
            )
            try:
                return await self._call(method)
            except TelegramBadRequest as exc:
                if attempt:
                    raise
                if TOPIC_SHUT in exc.message:
                    await self._shut(thread, close=False)
                elif any(gone in exc.message for gone in TOPIC_GONE):
                    log.warning(
                        "dialog %s: its topic %s is gone; opening another", dialog_id, thread
                    )
                    self._topics.pop(dialog_id, None)
                    self._dialogs.pop(thread, None)
                    if await self._open_topic(dialog_id) is None:
                        raise  # not shown here any more: left out
                else:
                    raise
        raise AssertionError("unreachable")

    async def _announce(self, dialog_id: int, text: Text, *, skip: bool) -> None:
        """Post an offer with its buttons; its outcome is written into it later."""
        kwargs = text.as_kwargs()
        plain: str = kwargs["text"]
        entities: list[MessageEntity] = kwargs["entities"]
        sent = await self._post(
            dialog_id, plain, entities=entities or None, markup=buttons(dialog_id, skip=skip)
        )
        record = {"message_id": sent.message_id, "text": plain, "skip": skip}
        await self._host.state.put(f"offer:{dialog_id}", json.dumps(record))

    async def _conclude(self, dialog_id: int, event: DialogEvent | None) -> bool:
        """Write the event's outcome into the dialog's open announcement (a withdrawal keeps it
        open; anything else ends it and takes its buttons away). False if none is open."""
        key = f"offer:{dialog_id}"
        saved = await self._host.state.get(key)
        if not saved:
            return False
        record = json.loads(saved)
        line = outcome_line(event, self._host.author_name) if event is not None else None
        text = f"{record['text']}\n{line}" if line else record["text"]
        still_open = isinstance(event, Withdrawn)
        markup = buttons(dialog_id, skip=record["skip"]) if still_open else None
        if line is not None or not still_open:
            try:
                await self._call(
                    EditMessageText(
                        chat_id=self._group,
                        message_id=record["message_id"],
                        text=text,
                        reply_markup=markup,
                    )
                )
            except TelegramBadRequest as exc:  # deleted, or not modified
                log.info("dialog %s: the announcement was not edited: %s", dialog_id, exc)
        record["text"] = text
        await self._host.state.put(key, json.dumps(record) if still_open else "")
        return True

    # --- updates from the group -------------------------------------------------------------------

    async def _take(self, raw: RawUpdate) -> None:
        if self._username is None:  # commands may name the bot: /accept@this_bot
            self._username = (await self.bot.me()).username
        update = update_model(raw)
        if update is None:
            log.info("update %s ignored: it is no update this desk can read", raw["update_id"])
        else:
            await self._handle(update, raw)
        # only now is the update done with: the poller confirms it to Telegram
        await self._host.state.put("offset", str(int(raw["update_id"]) + 1))

    async def _handle(self, update: Update, raw: RawUpdate) -> None:
        if update.callback_query is not None:
            await self._pressed(update.callback_query)
        elif update.message is not None:
            await self._written(update.message, raw["message"])

    async def _pressed(self, query: CallbackQuery) -> None:
        operator = self._operator_of.get(query.from_user.id)
        verb, _, number = (query.data or "").partition(":")
        if operator is None:
            log.info("a button pressed by Telegram user %s, who is no operator", query.from_user.id)
            await self._answer(query, "Only the desk's operators can do this.", alert=True)
            return
        if verb not in (ACCEPT, SKIP) or not number.isdigit():
            await self._answer(query, "This button does nothing here.", alert=False)
            return
        dialog_id = int(number)
        try:
            if verb == ACCEPT:
                await self._host.dialogs.accept(dialog_id, operator)
                text = f"Dialog {dialog_id} is yours."
            else:
                await self._host.dialogs.skip(dialog_id, operator)
                text = f"You passed dialog {dialog_id} on."
        except DialogError as exc:
            await self._answer(query, str(exc), alert=True)
            return
        await self._answer(query, text, alert=False)

    async def _answer(self, query: CallbackQuery, text: str, *, alert: bool) -> None:
        try:
            await self._call(
                AnswerCallbackQuery(
                    callback_query_id=query.id, text=text[:ANSWER_LIMIT], show_alert=alert
                )
            )
        except TelegramAPIError as exc:  # the press is handled; only the spinner stays
            log.info("answerCallbackQuery failed: %s", exc)

    async def _written(self, message: Message, raw: RawUpdate) -> None:
        """An operator's message in a topic (``raw``: as Telegram sent it, files included)."""
        user = message.from_user
        if message.chat.id != self._group or user is None or user.is_bot:
            return
        thread = message.message_thread_id if message.is_topic_message else None
        dialog_id = await self._dialog_in(thread) if thread is not None else None
        if thread is None or dialog_id is None:
            log.debug("message %s is in no dialog's topic: ignored", message.message_id)
            return
        operator = self._operator_of.get(user.id)
        if operator is None:
            log.info(
                "dialog %s: a message from Telegram user %s, who is no operator, ignored",
                dialog_id,
                user.id,
            )
            return
        text = message.text or message.caption
        try:
            if text:
                await self._act(dialog_id, operator, text, message, thread)
        except (DialogError, UsageError) as exc:
            await self._say(thread, str(exc), reply_to=message.message_id)
        if any(a.file_id for a in attachments_of(raw)):
            await self._say(
                thread,
                "Files are not passed on from here: only text reaches the client.",
                reply_to=message.message_id,
            )

    async def _act(
        self, dialog_id: int, operator: str, text: str, message: Message, thread: int
    ) -> None:
        dialogs = self._host.dialogs
        prefix = self._settings.whisper_prefix
        if text.startswith("/"):
            command = parse_command(text, self._username)
            if command is not None:
                await self._command(dialog_id, operator, command, message, thread)
        elif text.startswith(prefix):
            note = text[len(prefix) :].strip()
            with self._expecting(dialog_id, operator, Visibility.OPERATORS, note):
                await dialogs.whisper(dialog_id, operator, note)
        else:
            with self._expecting(dialog_id, operator, Visibility.CLIENT, text):
                await dialogs.reply(dialog_id, operator, text)

    @contextlib.contextmanager
    def _expecting(
        self, dialog_id: int, operator: str, visibility: Visibility, text: str
    ) -> Iterator[None]:
        """The message about to be stored is in the topic already: the feed need not show it.
        Counted before it is stored, as the feed may bring it back before the action returns."""
        key = (dialog_id, f"operator:{operator}", visibility.value, text)
        self._echoes[key] += 1
        try:
            yield
        except BaseException:
            self._echoes[key] -= 1
            if not self._echoes[key]:
                del self._echoes[key]
            raise

    async def _command(
        self, dialog_id: int, operator: str, command: Command, message: Message, thread: int
    ) -> None:
        dialogs = self._host.dialogs
        target = command.target or ""
        match command.verb:
            case Verb.ACCEPT:
                await dialogs.accept(dialog_id, operator)
            case Verb.SKIP:
                await dialogs.skip(dialog_id, operator)
            case Verb.TRANSFER if command.to_line:
                await dialogs.transfer(dialog_id, operator, to_line=target)
            case Verb.TRANSFER:
                await dialogs.transfer(dialog_id, operator, to_operator=target)
            case Verb.INVITE:
                await dialogs.invite(dialog_id, operator, target)
            case Verb.PIN:
                await dialogs.pin(dialog_id, operator)
            case Verb.UNPIN:
                await dialogs.unpin(dialog_id, operator)
            case Verb.CLOSE:
                actor = f"operator:{operator}"
                await dialogs.close(dialog_id, actor=actor, reason=command.reason)
            case Verb.REOPEN:
                await dialogs.reopen(dialog_id, operator)
            case Verb.RATING:
                dialog = await dialogs.get(dialog_id)
                await self._say(thread, rating_text(dialog), reply_to=message.message_id)
            case Verb.HELP:
                help_text = HELP.replace("{prefix}", self._settings.whisper_prefix)
                await self._say(thread, help_text, reply_to=message.message_id)

    async def _say(self, thread: int, text: str, *, reply_to: int) -> None:
        """Answer an operator in the topic, replying to their message."""
        try:
            await self._call(
                SendMessage(
                    chat_id=self._group,
                    message_thread_id=thread,
                    text=split_text(text)[0],
                    reply_parameters=ReplyParameters(
                        message_id=reply_to, allow_sending_without_reply=True
                    ),
                )
            )
        except TelegramAPIError as exc:
            log.warning("could not answer in topic %s: %s", thread, exc)


def buttons(dialog_id: int, *, skip: bool) -> InlineKeyboardMarkup:
    row = [InlineKeyboardButton(text="Accept", callback_data=f"{ACCEPT}:{dialog_id}")]
    if skip:
        row.append(InlineKeyboardButton(text="Skip", callback_data=f"{SKIP}:{dialog_id}"))
    return InlineKeyboardMarkup(inline_keyboard=[row])


def in_order(page: FeedPage, limit: int) -> tuple[list[FeedItem], bool]:
    """The page's events and messages as one sequence in time, each kind kept in its own order;
    and whether more is waiting. At one moment (one transaction, mostly) a client's message comes
    before the events, and the answers after them: "closed", then the rating question. When one
    kind filled the page, the other is taken only up to its last moment, so that nothing later is
    shown before what the next page brings."""
    events, messages = list(page.events), list(page.messages)
    full = len(events) >= limit or len(messages) >= limit
    ends = []
    if len(events) >= limit:
        ends.append(events[-1].event.at)
    if len(messages) >= limit:
        ends.append(messages[-1].created_at)
    if ends:
        end = min(ends)
        events = prefix_until(events, lambda e: e.event.at <= end)
        messages = prefix_until(messages, lambda m: m.created_at <= end)

    def first(message: StoredMessage, event: FeedEvent) -> bool:
        rank = 0 if message.direction is Direction.IN else 2
        return (message.created_at, rank) < (event.event.at, 1)

    merged: list[FeedItem] = []
    i = j = 0
    while i < len(events) or j < len(messages):
        if j < len(messages) and (i >= len(events) or first(messages[j], events[i])):
            merged.append(messages[j])
            j += 1
        else:
            merged.append(events[i])
            i += 1
    return merged, full


def prefix_until(items: Sequence[T], keep: Callable[[T], bool]) -> list[T]:
    taken: list[T] = []
    for item in items:
        if not keep(item):
            break
        taken.append(item)
    return taken


def advanced(cursor: FeedCursor, item: FeedItem) -> FeedCursor:
    if isinstance(item, FeedEvent):
        return cursor.model_copy(update={"event_id": item.id})
    return cursor.model_copy(update={"message_id": item.id})


def describe(item: FeedItem) -> str:
    if isinstance(item, FeedEvent):
        return f"event {item.id} ({item.event.kind}) of dialog {item.dialog_id}"
    return f"message {item.id} of dialog {item.dialog_id}"


plugin: Plugin[TelegramDeskSettings, Desk] = Plugin(
    kind=PluginKind.DESK,
    name="telegram",
    config_model=TelegramDeskSettings,
    factory=TelegramDesk,
    description="Operators work in a Telegram forum supergroup: a topic per dialog",
)

__all__ = ["TelegramDesk", "TelegramDeskSettings", "plugin"]
