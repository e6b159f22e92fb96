"""Sending to Telegram with python-telegram-bot's ``Bot``: what the channel, the poller and the sender share.

Nothing here imports Rasa, so the poller (connectors/telegram_polling.py) and the outbox sender
(connectors/senders/telegram.py) stay light. The Rasa output channel is ``connectors.telegram.TelegramOutput``.

- Text is plain (no parse mode: a catalogue text must never fail to parse) and split into messages of at most
  ``MAX_MESSAGE_LENGTH`` (4,096, counted as Telegram counts: UTF-16 code units) at paragraph, line or word
  boundaries, never inside a letter and its combining marks.
- Rasa buttons become an inline keyboard on the last part, one button per row. ``callback_data`` may hold 64
  bytes: a longer payload travels as a short key (:class:`CallbackPayloads`) that maps back to it.
- Images and documents are sent by URL, which Telegram fetches itself; a URL on this machine or a private
  network (a chart or CSV export served by the backend) is downloaded here and uploaded instead.
- Flood control: :func:`call_with_retries` waits the ``retry_after`` Telegram asks for, within a bounded total
  (``TELEGRAM_MAX_FLOOD_WAIT``), and retries a 5xx a couple of times. A timeout is not retried: the message
  may have arrived. The outbox sender waits for nothing and reports instead (its worker owns retries).

Settings (:class:`TelegramSettings`) come from the environment, and a credentials entry may override them:
TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET, TELEGRAM_API_BASE_URL (a local Bot API server, or a test fake),
TELEGRAM_ALLOW_GROUPS, TELEGRAM_WEBHOOK_URL, TELEGRAM_TIMEOUT and TELEGRAM_MAX_FLOOD_WAIT.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import unicodedata
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Awaitable, Callable, Dict, Iterable, Mapping, Optional, Sequence, TypeVar, Union
from urllib.parse import unquote, urlsplit

import httpx
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message
from telegram.constants import InlineKeyboardButtonLimit, MessageLimit
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.request import HTTPXRequest

logger = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.telegram.org"
MAX_MESSAGE_LENGTH = int(MessageLimit.MAX_TEXT_LENGTH)  # 4096
MAX_CAPTION_LENGTH = int(MessageLimit.CAPTION_LENGTH)  # 1024
MAX_CALLBACK_DATA_BYTES = int(InlineKeyboardButtonLimit.MAX_CALLBACK_DATA)  # 64
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024  # Telegram's limit for a document a bot uploads
MAX_PHOTO_UPLOAD_BYTES = 10 * 1024 * 1024  # larger images go as documents
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_FLOOD_WAIT = 60.0
SERVER_ERROR_RETRIES = 2
SERVER_ERROR_BACKOFF = 1.0
EMPTY_TEXT_WITH_BUTTONS = "👇"
# The updates Sahayak handles; setWebhook and getUpdates ask for these only.
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_PATH = "/webhooks/telegram/webhook"
_SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what Telegram accepts as secret_token

# How to read TELEGRAM_ALLOW_GROUPS: serve group chats, refuse them politely, or ignore them silently.
GROUP_POLICIES = {
    "true": "serve", "yes": "serve", "1": "serve", "on": "serve", "serve": "serve", "allow": "serve",
    "false": "refuse", "no": "refuse", "0": "refuse", "off": "refuse", "refuse": "refuse", "": "refuse",
    "ignore": "ignore", "silent": "ignore",
}

# Environment variable for each setting (the credentials entry uses the lower-case setting name).
ENVIRONMENT = {
    "token": "TELEGRAM_BOT_TOKEN",
    "webhook_secret": "TELEGRAM_WEBHOOK_SECRET",
    "api_base_url": "TELEGRAM_API_BASE_URL",
    "allow_groups": "TELEGRAM_ALLOW_GROUPS",
    "webhook_url": "TELEGRAM_WEBHOOK_URL",
    "timeout": "TELEGRAM_TIMEOUT",
    "max_flood_wait": "TELEGRAM_MAX_FLOOD_WAIT",
}

T = TypeVar("T")
ChatId = Union[int, str]


# -- settings -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TelegramSettings:
    token: Optional[str] = field(default=None, repr=False)
    webhook_secret: Optional[str] = field(default=None, repr=False)  # as configured; see ``secret``
    api_base_url: Optional[str] = None
    groups: str = "refuse"
    webhook_url: Optional[str] = None
    timeout: float = DEFAULT_TIMEOUT
    max_flood_wait: float = DEFAULT_MAX_FLOOD_WAIT

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> "TelegramSettings":
        return cls.from_mapping({name: environ.get(variable) for name, variable in ENVIRONMENT.items()})

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "TelegramSettings":
        """Settings from lower-case names (a credentials entry); blank values count as unset."""

        def text(name: str) -> Optional[str]:
            value = values.get(name)
            return str(value).strip() or None if value is not None else None

        groups_raw = text("allow_groups") or ""
        groups = GROUP_POLICIES.get(groups_raw.lower())
        if groups is None:
            logger.warning("TELEGRAM_ALLOW_GROUPS=%r is not one of true, false, ignore: refusing group chats.",
                           groups_raw)
            groups = "refuse"
        secret = text("webhook_secret")
        if secret and not _SECRET_PATTERN.match(secret):
            logger.warning("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters A-Z, a-z, 0-9, _ or -; "
                           "Telegram's setWebhook will refuse it.")
        return cls(
            token=text("token"),
            webhook_secret=secret,
            api_base_url=text("api_base_url"),
            groups=groups,
            webhook_url=text("webhook_url"),
            timeout=_positive(text("timeout"), DEFAULT_TIMEOUT, "TELEGRAM_TIMEOUT"),
            max_flood_wait=_positive(text("max_flood_wait"), DEFAULT_MAX_FLOOD_WAIT, "TELEGRAM_MAX_FLOOD_WAIT",
                                     allow_zero=True),
        )

    @property
    def configured(self) -> bool:
        return bool(self.token)

    @property
    def secret(self) -> Optional[str]:
        """The secret Telegram (or the poller) must send in ``X-Telegram-Bot-Api-Secret-Token``.

        TELEGRAM_WEBHOOK_SECRET when set; otherwise one derived from the bot token, so that with the token alone
        the webhook is still closed to anyone who does not know the token, and the poller, which knows it too,
        gets in without more configuration.
        """
        if self.webhook_secret:
            return self.webhook_secret
        if not self.token:
            return None
        return hmac.new(self.token.encode(), b"sahayak telegram webhook secret", hashlib.sha256).hexdigest()

    def make_bot(self) -> Bot:
        return make_bot(self.token or "", api_base_url=self.api_base_url, timeout=self.timeout)


def _positive(raw: Optional[str], default: float, name: str, allow_zero: bool = False) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value > 0 or (allow_zero and value == 0):
        return value
    logger.warning("%s=%r is not a positive number of seconds: using %s.", name, raw, default)
    return default


def make_bot(token: str, *, api_base_url: Optional[str] = None, timeout: float = DEFAULT_TIMEOUT,
             poll_timeout: float = 0.0) -> Bot:
    """A ``Bot`` talking to ``api_base_url`` (default Telegram's): a server root like ``http://host:8081``.

    PTB's own form (``.../bot``, or with ``{token}``) is accepted too. ``poll_timeout`` is added to the read
    timeout of getUpdates by PTB itself; the other requests use ``timeout`` throughout.
    """
    root = (api_base_url or DEFAULT_API_BASE_URL).rstrip("/")
    if "{token}" in root:
        base_url, file_url = root, root.replace("/bot{token}", "/file/bot{token}")
    else:
        if root.endswith("/bot"):
            root = root[: -len("/bot")]
        base_url, file_url = f"{root}/bot", f"{root}/file/bot"

    def request() -> HTTPXRequest:
        return HTTPXRequest(connection_pool_size=32, read_timeout=timeout, write_timeout=timeout,
                            connect_timeout=timeout, pool_timeout=timeout, media_write_timeout=max(timeout, 30.0))

    return Bot(token, base_url=base_url, base_file_url=file_url, request=request(), get_updates_request=request())


# -- text -----------------------------------------------------------------------------------------------------


def telegram_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_MESSAGE_LENGTH) -> list[str]:
    """``text`` in parts of at most ``limit`` Telegram characters, cut at a paragraph, line or word boundary
    when there is one in the second half of a part, and never between a letter and its combining marks."""
    parts: list[str] = []
    rest = text.strip()
    while telegram_length(rest) > limit:
        end = max(_prefix_fitting(rest, limit), 1)
        cut = _best_cut(rest, end)
        head, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if head:
            parts.append(head)
    if rest:
        parts.append(rest)
    return parts


def _prefix_fitting(text: str, limit: int) -> int:
    """The number of code points at the start of ``text`` that fit in ``limit`` UTF-16 units."""
    units = 0
    for index, character in enumerate(text):
        units += 2 if ord(character) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _best_cut(text: str, end: int) -> int:
    if end < len(text) and text[end].isspace():
        return end
    window = text[:end]
    half = end // 2
    for separator in ("\n\n", "\n"):
        position = window.rfind(separator)
        if position > half:
            return position + len(separator)
    space = max(window.rfind(" "), window.rfind("\t"), window.rfind("\u3000"))
    if space > half:
        return space + 1
    for separator in ("\n", " "):
        position = window.rfind(separator)
        if position > 0:
            return position + 1
    cut = end
    while cut > 1 and _joins_previous(text, cut):
        cut -= 1
    return cut if cut > 1 else end


def _joins_previous(text: str, index: int) -> bool:
    """True when ``text[index]`` belongs with the character before it (a combining mark, a joiner)."""
    character, previous = text[index], text[index - 1]
    return unicodedata.category(character).startswith("M") or character in "\u200c\u200d" or previous == "\u200d"


def chat_id_of(recipient: Any) -> ChatId:
    """A Rasa sender id (always a string) as Telegram's chat_id: an integer, or an @channelusername."""
    value = str(recipient).strip()
    return int(value) if re.fullmatch(r"-?\d+", value) else value


# -- buttons --------------------------------------------------------------------------------------------------


class CallbackPayloads:
    """Rasa button payloads as ``callback_data``, which Telegram limits to 64 bytes.

    A payload that fits travels as it is. A longer one travels as ``#k:`` and a hash of it; the key maps back
    through this process's memory of what it sent, then through every button payload of the catalogues
    (domain.yml and bot/locales/), which covers the buttons any process renders from them.
    """

    PREFIX = "#k:"

    def __init__(self, capacity: int = 10_000, known: Optional[Callable[[], Iterable[str]]] = None) -> None:
        self._keys: "OrderedDict[str, str]" = OrderedDict()
        self._capacity = capacity
        self._known = known if known is not None else catalogue_payloads
        self._catalogue: Optional[Dict[str, str]] = None

    @classmethod
    def key_of(cls, payload: str) -> str:
        digest = hashlib.sha256(payload.encode()).digest()
        return cls.PREFIX + base64.urlsafe_b64encode(digest).decode()[:24]

    def data_for(self, payload: str) -> str:
        if len(payload.encode()) <= MAX_CALLBACK_DATA_BYTES and not payload.startswith(self.PREFIX):
            return payload
        key = self.key_of(payload)
        self._keys[key] = payload
        self._keys.move_to_end(key)
        while len(self._keys) > self._capacity:
            self._keys.popitem(last=False)
        return key

    def payload_for(self, data: str) -> Optional[str]:
        """The payload behind ``callback_data``; None for a key this process cannot map back."""
        if not data.startswith(self.PREFIX):
            return data
        if data in self._keys:
            return self._keys[data]
        if self._catalogue is None:
            try:
                self._catalogue = {self.key_of(payload): payload for payload in self._known()}
            except Exception:  # noqa: BLE001 - a missing catalogue must not break the buttons that work
                logger.exception("Could not read the catalogues' button payloads")
                self._catalogue = {}
        return self._catalogue.get(data)


def catalogue_payloads() -> Iterable[str]:
    """Every button payload of every native catalogue, as Rasa renders it (``{{`` becomes ``{``)."""
    from bot.catalogue import load_locale
    from bot.languages import NATIVE_LANGUAGES

    for language in NATIVE_LANGUAGES:
        for variations in load_locale(language).values():
            for variation in variations or []:
                for button in variation.get("buttons") or []:
                    payload = button.get("payload")
                    if isinstance(payload, str):
                        yield payload.replace("{{", "{").replace("}}", "}")


callback_payloads = CallbackPayloads()


def inline_keyboard(buttons: Sequence[Mapping[str, Any]],
                    callbacks: CallbackPayloads = callback_payloads) -> Optional[InlineKeyboardMarkup]:
    """Rasa buttons (``{"title", "payload"}``, or ``{"title", "url"}``) as an inline keyboard, one per row."""
    rows = []
    for button in buttons or ():
        title = str(button.get("title") or button.get("payload") or "").strip()
        if not title:
            continue
        url = button.get("url")
        if url and (button.get("type") in (None, "web_url") or not button.get("payload")):
            rows.append([InlineKeyboardButton(title, url=str(url))])
            continue
        payload = str(button.get("payload") or title)
        rows.append([InlineKeyboardButton(title, callback_data=callbacks.data_for(payload))])
    return InlineKeyboardMarkup(rows) if rows else None


# -- flood control and retries --------------------------------------------------------------------------------


def retry_after_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB 22 warns that retry_after will become a timedelta
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class FloodWaitTooLong(Exception):
    """Telegram asked to wait longer than we may: the message was not sent."""

    def __init__(self, retry_after: float, waited: float) -> None:
        super().__init__(f"Telegram flood control asks to wait {retry_after:g} s more after {waited:g} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """How long one send may wait for flood control in total, and how often a 5xx is retried."""

    max_flood_wait: float = DEFAULT_MAX_FLOOD_WAIT
    server_error_retries: int = SERVER_ERROR_RETRIES
    server_error_backoff: float = SERVER_ERROR_BACKOFF
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep


NO_RETRIES = RetryPolicy(max_flood_wait=0.0, server_error_retries=0)


async def call_with_retries(policy: RetryPolicy, call: Callable[[], Awaitable[T]]) -> T:
    waited = 0.0
    failures = 0
    while True:
        try:
            return await call()
        except RetryAfter as error:
            delay = retry_after_seconds(error)
            if policy.max_flood_wait <= 0:
                raise
            if waited + delay > policy.max_flood_wait:
                raise FloodWaitTooLong(delay, waited) from error
            logger.warning("Telegram flood control: waiting %g s before retrying", delay)
            await policy.sleep(delay)
            waited += delay
        except (BadRequest, TimedOut):
            raise  # a 400 will not change; after a timeout the message may have arrived
        except NetworkError as error:  # 5xx, connection refused or reset
            failures += 1
            if failures > policy.server_error_retries:
                raise
            delay = policy.server_error_backoff * 2 ** (failures - 1)
            logger.warning("Telegram API error (%s): retrying in %g s", error, delay)
            await policy.sleep(delay)


# -- media ----------------------------------------------------------------------------------------------------


class MediaError(Exception):
    """A file to send could not be fetched. ``permanent``: fetching it again cannot help."""

    def __init__(self, reason: str, permanent: bool) -> None:
        super().__init__(reason)
        self.permanent = permanent


def is_private_url(url: str) -> bool:
    """True for a URL Telegram's servers cannot fetch: loopback, a private network, a local name."""
    host = (urlsplit(url).hostname or "").lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host or host.endswith((".localhost", ".local", ".internal", ".lan"))
    return address.is_private or address.is_loopback or address.is_link_local or address.is_unspecified


async def fetch_file(url: str, timeout: float, filename: Optional[str] = None,
                     max_bytes: int = MAX_DOWNLOAD_BYTES) -> InputFile:
    """Download ``url`` to upload it to Telegram."""
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
            async with client.stream("GET", url) as response:
                if response.status_code >= 400:
                    raise MediaError(f"GET {url} answered {response.status_code}", response.status_code < 500)
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise MediaError(f"{url} is larger than {max_bytes // (1024 * 1024)} MB", True)
                    chunks.append(chunk)
    except httpx.HTTPError as error:
        raise MediaError(f"GET {url} failed: {error!r}", False) from error
    name = filename or unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or "file"
    return InputFile(b"".join(chunks), filename=name)


# -- the messenger --------------------------------------------------------------------------------------------


class TelegramMessenger:
    """Sends text, buttons, photos, documents and locations to a chat, within a :class:`RetryPolicy`."""

    def __init__(self, bot: Bot, *, policy: RetryPolicy = RetryPolicy(),
                 callbacks: CallbackPayloads = callback_payloads, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.bot = bot
        self.policy = policy
        self.callbacks = callbacks
        self.timeout = timeout

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        return await call_with_retries(self.policy, call)

    async def text(self, chat_id: ChatId, text: str,
                   buttons: Sequence[Mapping[str, Any]] = ()) -> list[Message]:
        """``text`` in as many messages as it takes; the keyboard goes with the last one."""
        keyboard = inline_keyboard(buttons, self.callbacks)
        parts = split_text(text or "") or ([EMPTY_TEXT_WITH_BUTTONS] if keyboard else [])
        sent = []
        for index, part in enumerate(parts):
            markup = keyboard if index == len(parts) - 1 else None
            sent.append(await self._call(lambda: self.bot.send_message(chat_id, part, reply_markup=markup)))
        return sent

    async def photo(self, chat_id: ChatId, url: str, caption: Optional[str] = None,
                    buttons: Sequence[Mapping[str, Any]] = ()) -> list[Message]:
        """A photo; a caption longer than Telegram allows for one goes as a text message before it."""
        keyboard = inline_keyboard(buttons, self.callbacks)
        sent, caption = await self._long_caption(chat_id, caption)
        photo = await self._media(url)
        if isinstance(photo, InputFile) and len(photo.input_file_content) > MAX_PHOTO_UPLOAD_BYTES:
            sent.append(await self._call(lambda: self.bot.send_document(
                chat_id, photo, caption=caption, reply_markup=keyboard)))
            return sent
        sent.append(await self._call(lambda: self.bot.send_photo(chat_id, photo, caption=caption,
                                                                 reply_markup=keyboard)))
        return sent

    async def document(self, chat_id: ChatId, url: str, caption: Optional[str] = None,
                       filename: Optional[str] = None,
                       buttons: Sequence[Mapping[str, Any]] = ()) -> list[Message]:
        keyboard = inline_keyboard(buttons, self.callbacks)
        sent, caption = await self._long_caption(chat_id, caption)
        document = await self._media(url, filename)
        sent.append(await self._call(lambda: self.bot.send_document(chat_id, document, caption=caption,
                                                                    reply_markup=keyboard)))
        return sent

    async def location(self, chat_id: ChatId, latitude: float, longitude: float) -> Message:
        return await self._call(lambda: self.bot.send_location(chat_id, latitude=float(latitude),
                                                               longitude=float(longitude)))

    async def answer_callback(self, callback_query_id: str, text: Optional[str] = None,
                              alert: bool = False) -> bool:
        return await self._call(lambda: self.bot.answer_callback_query(callback_query_id, text=text,
                                                                       show_alert=alert))

    async def deliver(self, chat_id: ChatId, *, text: str = "", buttons: Sequence[Mapping[str, Any]] = (),
                      image: Optional[str] = None, document: Optional[str] = None) -> list[Message]:
        """One rendered message: the text with its buttons, then the image, then the document. Without text,
        the buttons go with the image."""
        sent: list[Message] = []
        if text and text.strip():
            sent += await self.text(chat_id, text, buttons)
            buttons = ()
        if image:
            sent += await self.photo(chat_id, image, buttons=buttons)
            buttons = ()
        if buttons:
            sent += await self.text(chat_id, "", buttons)
        if document:
            sent += await self.document(chat_id, document)
        return sent

    async def _long_caption(self, chat_id: ChatId, caption: Optional[str]) -> tuple[list[Message], Optional[str]]:
        caption = (caption or "").strip() or None
        if caption and telegram_length(caption) > MAX_CAPTION_LENGTH:
            return await self.text(chat_id, caption), None
        return [], caption

    async def _media(self, url: str, filename: Optional[str] = None) -> Union[str, InputFile]:
        """The URL itself when Telegram can fetch it, else the file, fetched here."""
        url = str(url).strip()
        if urlsplit(url).scheme not in ("http", "https"):
            raise MediaError(f"not an http(s) URL: {url[:200]!r}", True)
        if is_private_url(url):
            return await fetch_file(url, self.timeout, filename)
        return url

    async def close(self) -> None:
        await self.bot.shutdown()
        for request in self.bot._request:  # noqa: SLF001 - shutdown() skips them when initialize() never ran
            await request.shutdown()


class LoopLocalMessenger:
    """One :class:`TelegramMessenger` per event loop: PTB's HTTP client belongs to the loop that uses it, and a
    server or worker may run more than one loop in its life."""

    def __init__(self, factory: Callable[[], TelegramMessenger]) -> None:
        self._factory = factory
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._messenger: Optional[TelegramMessenger] = None

    def get(self) -> TelegramMessenger:
        loop = asyncio.get_running_loop()
        if self._messenger is None or self._loop is not loop:
            self._messenger, self._loop = self._factory(), loop
        return self._messenger

    async def close(self) -> None:
        if self._messenger is not None and self._loop is asyncio.get_running_loop():
            await self._messenger.close()
        self._messenger = self._loop = None


# -- logs -----------------------------------------------------------------------------------------------------


class RedactBotToken(logging.Filter):
    """httpx logs every request's URL at INFO, and a Bot API URL holds the bot token: log it masked."""

    TOKEN = re.compile(r"/bot\d+:[A-Za-z0-9_-]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/bot" in message:
            record.msg, record.args = self.TOKEN.sub("/bot<token>", message), ()
        return True


def redact_tokens_in_logs() -> None:
    for name in ("httpx", "httpcore", "telegram"):
        target = logging.getLogger(name)
        if not any(isinstance(existing, RedactBotToken) for existing in target.filters):
            target.addFilter(RedactBotToken())
