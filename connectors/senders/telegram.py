"""Telegram for the outbox worker: one rendered message to one chat, through python-telegram-bot's ``Bot``.

The recipient's address is the chat id (as the Telegram channel records it). The text goes first, split at
4,096 characters, with the buttons as an inline keyboard on its last part; then the image, then the document
(connectors/telegram_output.py does the sending, as it does for the conversation's replies).

The sender retries nothing and waits for nothing: the worker owns retries. What Telegram says becomes a
:class:`DeliveryError`:
- 429 (flood control): ``retry_after`` is Telegram's ``parameters.retry_after``;
- 400 (chat not found, a message Telegram cannot take), 403 (blocked by the user, user deactivated, the bot
  may not write first), a group that became a supergroup (new chat id), a file URL that answers 4xx:
  ``permanent``;
- 5xx, timeouts, connection failures, 409, a rejected token (fixable by configuration): retryable.
A message in several parts that fails half way is sent again whole when retried: Telegram has no idempotency
key, so the parts that went out may repeat.

Settings: TELEGRAM_BOT_TOKEN (no token, no sender: :meth:`TelegramSender.from_environ` returns None),
TELEGRAM_API_BASE_URL, TELEGRAM_TIMEOUT.
"""
from __future__ import annotations

import logging
import os
from typing import Mapping, Optional

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from backend.notifications.delivery import DeliveryError, OutboundMessage, Recipient
from connectors.telegram_output import (
    NO_RETRIES,
    CallbackPayloads,
    LoopLocalMessenger,
    MediaError,
    TelegramMessenger,
    TelegramSettings,
    callback_payloads,
    chat_id_of,
    redact_tokens_in_logs,
    retry_after_seconds,
)

logger = logging.getLogger(__name__)


class TelegramSender:
    channel = "telegram"

    def __init__(self, settings: TelegramSettings, *, callbacks: CallbackPayloads = callback_payloads) -> None:
        if not settings.configured:
            raise ValueError("TelegramSender needs a bot token (TELEGRAM_BOT_TOKEN)")
        self.settings = settings
        self._messengers = LoopLocalMessenger(lambda: TelegramMessenger(
            settings.make_bot(), policy=NO_RETRIES, callbacks=callbacks, timeout=settings.timeout))
        redact_tokens_in_logs()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> Optional["TelegramSender"]:
        """The sender, or None when TELEGRAM_BOT_TOKEN is not set."""
        settings = TelegramSettings.from_environ(environ)
        return cls(settings) if settings.configured else None

    async def send(self, recipient: Recipient, message: OutboundMessage) -> None:
        if recipient.channel != self.channel:
            raise DeliveryError(f"{recipient.channel!r} recipient given to the Telegram sender", permanent=True)
        if not str(recipient.address or "").strip():
            raise DeliveryError("the recipient has no Telegram chat id", permanent=True)
        try:
            await self._messengers.get().deliver(
                chat_id_of(recipient.address), text=message.text or "", buttons=message.buttons,
                image=message.image, document=message.document,
            )
        except (TelegramError, MediaError) as error:
            raise delivery_error(error) from error

    async def aclose(self) -> None:
        await self._messengers.close()


def delivery_error(error: Exception) -> DeliveryError:
    """What the outbox worker should make of a Telegram error."""
    if isinstance(error, RetryAfter):
        seconds = retry_after_seconds(error)
        return DeliveryError(f"Telegram flood control: retry in {seconds:g} s", retry_after=seconds)
    if isinstance(error, MediaError):
        return DeliveryError(f"file not available: {error}", permanent=error.permanent)
    if isinstance(error, ChatMigrated):
        return DeliveryError(f"the group is now the supergroup {error.new_chat_id}", permanent=True)
    if isinstance(error, Forbidden):
        return DeliveryError(f"Telegram refused: {error.message}", permanent=True)
    if isinstance(error, BadRequest):
        return DeliveryError(f"Telegram rejected the message: {error.message}", permanent=True)
    if isinstance(error, InvalidToken):
        return DeliveryError(f"Telegram rejected the bot token ({error.message}): check TELEGRAM_BOT_TOKEN")
    if isinstance(error, TimedOut):
        return DeliveryError("Telegram did not answer in time")
    if isinstance(error, NetworkError):
        return DeliveryError(f"Telegram unavailable: {error.message}")
    return DeliveryError(f"Telegram error: {error}")
