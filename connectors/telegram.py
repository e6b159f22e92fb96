"""Telegram: updates in at ``POST /webhooks/telegram/webhook``, replies out through the Bot API.

Telegram posts each update there itself (webhook mode, when TELEGRAM_WEBHOOK_URL gives this server's public
HTTPS address: the channel calls setWebhook when Rasa starts), or the poller forwards them
(``python -m connectors.telegram_polling``, for a retailer without a public address: the default). Either way
the connector
- checks ``X-Telegram-Bot-Api-Secret-Token`` in constant time: a wrong or missing token gets a 403 and nothing
  is processed. The secret is TELEGRAM_WEBHOOK_SECRET, or one derived from the bot token when that is unset
  (see ``TelegramSettings.secret``), so the token alone is enough and the webhook is never open;
- parses the update with python-telegram-bot's ``Update`` and processes each ``update_id`` once (Telegram
  redelivers an update until it gets a 2xx), through ``backend.services.inbound.first_delivery``;
- passes text, a photo's or document's caption, or an edited message's new text to Rasa, with the rest in
  ``metadata["telegram"]`` (update_id, chat_id, chat_type, message_id, kind, user, edited, photo, document,
  location, callback_query_id, button). A button press (callback query) is answered at once, so that the
  user's client stops waiting, and its payload continues the conversation. ``/start``, ``/help`` and
  ``/lang xx`` go to Rasa as they are: the NLU pipeline (bot/nlu/intent_overrides.py) knows them;
- serves private chats. Group chats get a short polite refusal, at most once an hour per group
  (TELEGRAM_ALLOW_GROUPS=false, the default), are ignored (``ignore``) or served like private chats (``true``);
- answers the webhook once the bot has answered the user: the replies went out in order, and a slow turn
  only means that Telegram's redelivery meets the duplicate check.

The conversation (Rasa's sender id) is the chat id. ``metadata["channel"]`` is always ``telegram``.
Without TELEGRAM_BOT_TOKEN the webhook answers 503 and says so; Rasa still starts.

Replies (:class:`TelegramOutput`) go through connectors/telegram_output.py: long texts split at 4,096
characters, buttons as inline keyboards, images, documents, locations, and flood control respected.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
from collections import OrderedDict
from typing import Any, Awaitable, Callable, Dict, Iterable, Mapping, Optional, Text

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from telegram import CallbackQuery, Chat, Message, Update, User
from telegram.constants import ChatType
from telegram.error import TelegramError

from connectors.telegram_output import (
    ALLOWED_UPDATES,
    ENVIRONMENT,
    SECRET_HEADER,
    WEBHOOK_PATH,
    CallbackPayloads,
    FloodWaitTooLong,
    LoopLocalMessenger,
    MediaError,
    RetryPolicy,
    TelegramMessenger,
    TelegramSettings,
    callback_payloads,
    chat_id_of,
    redact_tokens_in_logs,
)

logger = logging.getLogger(__name__)

DEDUPLICATION_CHANNEL = "telegram"
MAX_REMEMBERED_UPDATES = 10_000
GROUP_REFUSAL_INTERVAL = 3600.0  # seconds between two refusals in the same group
NOT_CONFIGURED = "The Telegram channel is not configured: set TELEGRAM_BOT_TOKEN (see .env.example)."
WRONG_SECRET = f"Missing or wrong {SECRET_HEADER}."

# Said by the connector itself, outside any conversation, in the language of the user's Telegram app.
def notice(key: str, language_code: Optional[str]) -> str:
    """A notice of the channel itself (``utter_<key>`` in the catalogues) in the language Telegram reports for
    the user's app, when Sahayak speaks it natively; English otherwise."""
    from bot.languages import is_native
    from bot.render import render_response

    language = (language_code or "").split("-")[0].lower()
    return render_response(f"utter_{key}", language if is_native(language) else "en")["text"]


class TelegramOutput(OutputChannel):
    """Rasa's replies to one Telegram chat. Telegram errors are logged, not raised: a reply that cannot be
    delivered (blocked by the user, flood wait beyond TELEGRAM_MAX_FLOOD_WAIT) must not cost the conversation
    its turn, which Rasa saves only after every reply went out."""

    def __init__(self, messenger: TelegramMessenger) -> None:
        self.messenger = messenger

    @classmethod
    def name(cls) -> Text:
        return "telegram"

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self._safely(recipient_id, "text", self.messenger.text(chat_id_of(recipient_id), text))

    async def send_text_with_buttons(self, recipient_id: Text, text: Text, buttons: list, **kwargs: Any) -> None:
        await self._safely(recipient_id, "buttons",
                           self.messenger.text(chat_id_of(recipient_id), text or "", buttons))

    async def send_quick_replies(self, recipient_id: Text, text: Text, quick_replies: list, **kwargs: Any) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies)

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        await self._safely(recipient_id, "image", self.messenger.photo(chat_id_of(recipient_id), image))

    async def send_attachment(self, recipient_id: Text, attachment: Any, **kwargs: Any) -> None:
        """A document: a URL, or ``{"url"|"payload": {"src"|"url"}, "caption", "filename"}``."""
        url, caption, filename = _document_fields(attachment)
        if not url:
            logger.warning("Telegram: an attachment without a URL was not sent to %s: %r", recipient_id, attachment)
            return
        await self._safely(recipient_id, "document",
                           self.messenger.document(chat_id_of(recipient_id), url, caption, filename))

    async def send_elements(self, recipient_id: Text, elements: Iterable[Dict[Text, Any]], **kwargs: Any) -> None:
        for element in elements:
            text = "\n".join(part for part in (element.get("title"), element.get("subtitle")) if part)
            if element.get("image_url"):
                await self.send_image_url(recipient_id, element["image_url"])
            await self.send_text_with_buttons(recipient_id, text, element.get("buttons") or [])

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        """``{"location": {"latitude", "longitude"}}``, ``{"photo": url, "caption"}`` or
        ``{"document": url, "caption", "filename"}``; anything else is logged and not sent."""
        chat_id = chat_id_of(recipient_id)
        message = json_message or {}
        location = message.get("location") if isinstance(message.get("location"), dict) else None
        if location is None and {"latitude", "longitude"} <= set(message):
            location = message
        if location is not None:
            await self._safely(recipient_id, "location", self.messenger.location(
                chat_id, location["latitude"], location["longitude"]))
        elif message.get("photo"):
            await self._safely(recipient_id, "photo", self.messenger.photo(
                chat_id, message["photo"], message.get("caption"), message.get("buttons") or ()))
        elif message.get("document"):
            await self._safely(recipient_id, "document", self.messenger.document(
                chat_id, message["document"], message.get("caption"), message.get("filename")))
        else:
            logger.warning("Telegram: custom message with nothing Telegram can show, not sent to %s: %s",
                           recipient_id, sorted(message))

    async def _safely(self, recipient_id: Text, what: str, sending: Awaitable[Any]) -> None:
        try:
            await sending
        except (TelegramError, FloodWaitTooLong, MediaError) as error:
            logger.error("Telegram: could not send a %s to chat %s: %s", what, recipient_id, error)


def _document_fields(attachment: Any) -> tuple[Optional[str], Optional[str], Optional[str]]:
    if isinstance(attachment, str):
        return attachment, None, None
    if not isinstance(attachment, dict):
        return None, None, None
    payload = attachment.get("payload") if isinstance(attachment.get("payload"), dict) else {}
    url = attachment.get("url") or attachment.get("document") or payload.get("src") or payload.get("url")
    return url, attachment.get("caption") or payload.get("title"), attachment.get("filename")


class TelegramInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "telegram"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        """TELEGRAM_* from the environment, overridden by whatever the credentials entry sets (token,
        webhook_secret, api_base_url, allow_groups, webhook_url, timeout, max_flood_wait)."""
        environment = {name: os.environ.get(variable) for name, variable in ENVIRONMENT.items()}
        overrides = {name: value for name, value in (credentials or {}).items() if value not in (None, "")}
        return cls(TelegramSettings.from_mapping({**environment, **overrides}))

    def __init__(
        self,
        settings: Optional[TelegramSettings] = None,
        *,
        database_url: Optional[str] = None,
        callbacks: CallbackPayloads = callback_payloads,
        messenger_factory: Optional[Callable[[], TelegramMessenger]] = None,
        group_refusal_interval: float = GROUP_REFUSAL_INTERVAL,
    ) -> None:
        self.settings = settings or TelegramSettings.from_environ()
        self.database_url = database_url
        self.callbacks = callbacks
        self.group_refusal_interval = group_refusal_interval
        self._messengers = LoopLocalMessenger(messenger_factory or self._new_messenger)
        self._seen_updates: "OrderedDict[int, None]" = OrderedDict()
        self._refused_groups: "OrderedDict[int, float]" = OrderedDict()
        redact_tokens_in_logs()
        if not self.settings.configured:
            logger.warning("The Telegram channel is not configured (TELEGRAM_BOT_TOKEN not set): "
                           "its webhook answers 503.")

    def _new_messenger(self) -> TelegramMessenger:
        policy = RetryPolicy(max_flood_wait=self.settings.max_flood_wait)
        return TelegramMessenger(self.settings.make_bot(), policy=policy, callbacks=self.callbacks,
                                 timeout=self.settings.timeout)

    def get_output_channel(self) -> Optional[OutputChannel]:
        if not self.settings.configured:
            return None
        return TelegramOutput(self._messengers.get())

    def get_metadata(self, request: Request) -> Optional[Dict[Text, Any]]:
        return {"channel": self.name()}

    # -- the webhook ------------------------------------------------------------------------------------------

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        telegram_webhook = Blueprint("telegram_webhook", __name__)

        @telegram_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            mode = "webhook" if self.settings.webhook_url else "polling"
            return response.json({"status": "ok", "configured": self.settings.configured, "mode": mode})

        @telegram_webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.settings.configured:
                return response.json({"error": NOT_CONFIGURED}, status=503)
            if not self._authentic(request):
                logger.warning("Refused a Telegram webhook request from %s: %s", request.ip, WRONG_SECRET)
                return response.json({"error": WRONG_SECRET}, status=403)
            update = self._parse(request)
            if update is None:
                return response.json({"error": "The body must be a Telegram Update object (JSON)."}, status=400)
            if not await self._first_delivery(update.update_id):
                logger.info("Telegram delivered update %s again: already processed", update.update_id)
                return response.json({"status": "duplicate"})
            status = await self._handle(update, on_new_message)
            return response.json({"status": status})

        @telegram_webhook.listener("after_server_start")
        async def register_webhook(*_: Any) -> None:
            await self._register_webhook()

        @telegram_webhook.listener("before_server_stop")
        async def close(*_: Any) -> None:
            await self._messengers.close()

        return telegram_webhook

    def _authentic(self, request: Request) -> bool:
        given = request.headers.get(SECRET_HEADER) or ""
        expected = self.settings.secret or ""
        return bool(given) and hmac.compare_digest(given.encode(), expected.encode())

    def _parse(self, request: Request) -> Optional[Update]:
        try:
            data = json.loads(request.body or b"")
        except ValueError:
            return None
        update_id = data.get("update_id") if isinstance(data, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            return None
        try:
            return Update.de_json(data, self._messengers.get().bot)
        except Exception:  # noqa: BLE001 - PTB raises TypeError, KeyError, ValueError on malformed objects
            logger.warning("Telegram update %s could not be parsed", update_id, exc_info=True)
            return None

    async def _first_delivery(self, update_id: int) -> bool:
        """Only the first delivery of an update_id is processed. The database is the record every process
        shares; while it is unreachable, this process's own memory of recent updates has to do."""
        if update_id in self._seen_updates:
            return False
        self._seen_updates[update_id] = None
        while len(self._seen_updates) > MAX_REMEMBERED_UPDATES:
            self._seen_updates.popitem(last=False)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, self._first_delivery_in_database, update_id)
        except Exception:  # noqa: BLE001 - losing a message is worse than answering it twice
            logger.exception("Could not record Telegram update %s in the database; processing it anyway",
                             update_id)
            return True

    def _first_delivery_in_database(self, update_id: int) -> bool:
        from backend.db import session_scope
        from backend.services.inbound import first_delivery

        with session_scope(self.database_url) as session:
            return first_delivery(session, DEDUPLICATION_CHANNEL, str(update_id))

    async def _register_webhook(self) -> None:
        if not self.settings.configured:
            return
        if not self.settings.webhook_url:
            logger.info("Telegram: TELEGRAM_WEBHOOK_URL is not set, so updates come through the poller "
                        "(python -m connectors.telegram_polling).")
            return
        url = self.settings.webhook_url
        if url.rstrip("/").count("/") <= 2:  # only scheme and host: add our path
            url = url.rstrip("/") + WEBHOOK_PATH
        try:
            await self._messengers.get().bot.set_webhook(url, secret_token=self.settings.secret,
                                                         allowed_updates=list(ALLOWED_UPDATES))
            logger.info("Telegram: webhook set to %s", url)
        except TelegramError as error:
            logger.error("Telegram: could not set the webhook to %s: %s", url, error)

    # -- updates ----------------------------------------------------------------------------------------------

    async def _handle(self, update: Update, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> str:
        messenger = self._messengers.get()
        if update.callback_query is not None:
            return await self._button_pressed(update, update.callback_query, messenger, on_new_message)
        message = update.message or update.edited_message
        if message is None:
            return "ignored"  # channel posts, inline queries and the like: not a conversation
        if not self._serves(message.chat):
            return await self._refuse(message.chat, message.from_user, messenger)
        text = message.text or message.caption or ""
        metadata = _metadata(update, message, message.from_user)
        await self._process(on_new_message, messenger, text, message.chat.id, metadata, update.update_id)
        return "processed"

    async def _button_pressed(self, update: Update, query: CallbackQuery, messenger: TelegramMessenger,
                              on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> str:
        payload = self.callbacks.payload_for(query.data) if query.data else None
        message = query.message
        language = query.from_user.language_code if query.from_user else None
        if payload is None or message is None:
            await self._answer(messenger, query, notice("button_expired", language))
            return "ignored"
        await self._answer(messenger, query)
        if not self._serves(message.chat):
            return await self._refuse(message.chat, query.from_user, messenger)
        metadata = _metadata(update, message, query.from_user)
        metadata["telegram"].update(kind="button", callback_query_id=query.id)
        title = _button_title(message, query.data)
        if title:
            metadata["telegram"]["button"] = title
        await self._process(on_new_message, messenger, payload, message.chat.id, metadata, update.update_id)
        return "processed"

    async def _answer(self, messenger: TelegramMessenger, query: CallbackQuery, text: Optional[str] = None) -> None:
        try:
            await messenger.answer_callback(query.id, text=text, alert=bool(text))
        except (TelegramError, FloodWaitTooLong) as error:  # e.g. "query is too old": carry on regardless
            logger.warning("Telegram: could not answer callback query %s: %s", query.id, error)

    def _serves(self, chat: Chat) -> bool:
        return chat.type == ChatType.PRIVATE or self.settings.groups == "serve"

    async def _refuse(self, chat: Chat, user: Optional[User], messenger: TelegramMessenger) -> str:
        if self.settings.groups == "ignore":
            return "ignored"
        now = time.monotonic()
        last = self._refused_groups.get(chat.id)
        if last is not None and now - last < self.group_refusal_interval:
            return "ignored"
        self._refused_groups[chat.id] = now
        self._refused_groups.move_to_end(chat.id)
        while len(self._refused_groups) > MAX_REMEMBERED_UPDATES:
            self._refused_groups.popitem(last=False)
        text = notice("group_refused", user.language_code if user else None)
        try:
            await messenger.text(chat.id, text)
        except (TelegramError, FloodWaitTooLong) as error:
            logger.warning("Telegram: could not tell group %s that groups are not served: %s", chat.id, error)
        return "refused"

    async def _process(self, on_new_message: Callable[[UserMessage], Awaitable[Any]],
                       messenger: TelegramMessenger, text: str, chat_id: int, metadata: Dict[Text, Any],
                       update_id: int) -> None:
        user_message = UserMessage(
            text,
            TelegramOutput(messenger),
            str(chat_id),
            input_channel=self.name(),
            message_id=f"telegram-{update_id}",
            metadata=metadata,
        )
        try:
            await on_new_message(user_message)
        except Exception:  # noqa: BLE001 - Telegram must get its 200, or it redelivers the update for hours
            logger.exception("Telegram update %s (chat %s) could not be processed", update_id, chat_id)


def _metadata(update: Update, message: Message, user: Optional[User]) -> Dict[Text, Any]:
    telegram: Dict[Text, Any] = {
        "update_id": update.update_id,
        "chat_id": message.chat.id,
        "chat_type": str(message.chat.type),
        "message_id": message.message_id,
        "kind": _kind(message),
    }
    if update.edited_message is not None:
        telegram["edited"] = True
    if user is not None:
        telegram["user"] = _without_none({
            "id": user.id, "first_name": user.first_name, "last_name": user.last_name,
            "username": user.username, "language_code": user.language_code,
        })
    if getattr(message, "photo", None):
        largest = max(message.photo, key=lambda size: size.width * size.height)
        telegram["photo"] = _without_none({
            "file_id": largest.file_id, "file_unique_id": largest.file_unique_id,
            "width": largest.width, "height": largest.height, "file_size": largest.file_size,
        })
    if getattr(message, "document", None):
        document = message.document
        telegram["document"] = _without_none({
            "file_id": document.file_id, "file_unique_id": document.file_unique_id,
            "file_name": document.file_name, "mime_type": document.mime_type, "file_size": document.file_size,
        })
    if getattr(message, "location", None):
        location = message.location
        telegram["location"] = _without_none({
            "latitude": location.latitude, "longitude": location.longitude,
            "horizontal_accuracy": location.horizontal_accuracy,
        })
    return {"channel": "telegram", "telegram": telegram}


def _kind(message: Message) -> str:
    if getattr(message, "text", None):
        return "command" if message.text.startswith("/") else "text"
    for kind in ("photo", "document", "location", "contact", "voice", "audio", "video", "sticker"):
        if getattr(message, kind, None):
            return kind
    return "other"


def _button_title(message: Message, data: Optional[str]) -> Optional[str]:
    markup = getattr(message, "reply_markup", None)
    for row in getattr(markup, "inline_keyboard", None) or ():
        for button in row:
            if button.callback_data == data:
                return button.text
    return None


def _without_none(values: Mapping[str, Any]) -> Dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
