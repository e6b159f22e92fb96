"""`python -m connectors.telegram_polling`: Telegram for a retailer without a public HTTPS address.

It deletes the bot's webhook (Telegram serves getUpdates only to a bot without one), then long-polls getUpdates
and forwards each update, as Telegram would post it, to the Rasa webhook (``RASA_URL`` +
``/webhooks/telegram/webhook``) with the ``X-Telegram-Bot-Api-Secret-Token`` header. An update is confirmed to
Telegram (by asking for the next offset) only once Rasa took it, so an update Rasa could not take is forwarded
again later; the webhook's duplicate check makes a second delivery harmless. Updates are forwarded one at a
time, in order: Rasa answers the webhook once the bot has answered the user.

Errors are waited out, never fatal: a 429 waits its ``retry_after``; a 5xx, a timeout, a refused connection,
a 409 (another poller, or a webhook set meanwhile, which is deleted again), a rejected token, and Rasa being
down or answering 403/5xx wait with exponential backoff up to ``MAX_BACKOFF`` seconds. An update Rasa rejects
as malformed (400) is skipped. SIGTERM or SIGINT stops it at once, even in the middle of a long poll; it exits 0.

Environment: TELEGRAM_BOT_TOKEN (required), TELEGRAM_WEBHOOK_SECRET (as the Rasa server has it; both derive the
same secret from the token when it is unset), TELEGRAM_API_BASE_URL, TELEGRAM_TIMEOUT, TELEGRAM_POLL_TIMEOUT
(long-poll seconds, default 30) and RASA_URL (default http://127.0.0.1:5005). It refuses to run (exit 2) without
a token, or with TELEGRAM_WEBHOOK_URL set: then Telegram posts the updates itself.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from typing import Any, Awaitable, Callable, Optional, TypeVar

import httpx
from telegram import Bot, Update
from telegram.error import Conflict, InvalidToken, RetryAfter, TelegramError

from connectors.telegram_output import (
    ALLOWED_UPDATES,
    SECRET_HEADER,
    WEBHOOK_PATH,
    TelegramSettings,
    redact_tokens_in_logs,
    retry_after_seconds,
)

logger = logging.getLogger("connectors.telegram_polling")

DEFAULT_RASA_URL = "http://127.0.0.1:5005"
DEFAULT_POLL_TIMEOUT = 30
INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 60.0
# Rasa answers the webhook once the bot has answered, which may include waiting out Telegram's flood control.
FORWARD_TIMEOUT = 180.0
EXIT_CONFIGURATION = 2

T = TypeVar("T")


class Stopped(Exception):
    """The poller was asked to stop."""


class ForwardError(Exception):
    """Rasa did not take an update. ``retry``: it may later (down, 5xx, wrong secret); else skip the update."""

    def __init__(self, reason: str, retry: bool) -> None:
        super().__init__(reason)
        self.retry = retry


class Backoff:
    def __init__(self, initial: float = INITIAL_BACKOFF, maximum: float = MAX_BACKOFF) -> None:
        self.initial, self.maximum = initial, maximum
        self._next = initial

    def next(self) -> float:
        delay, self._next = self._next, min(self._next * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self._next = self.initial


class RasaForwarder:
    """Posts an update to the Rasa webhook as Telegram would."""

    def __init__(self, rasa_url: str, secret: str, *, timeout: float = FORWARD_TIMEOUT,
                 client: Optional[httpx.AsyncClient] = None) -> None:
        self.url = rasa_url.rstrip("/") + WEBHOOK_PATH
        self._headers = {SECRET_HEADER: secret, "Content-Type": "application/json"}
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=10.0))

    async def __call__(self, body: str) -> None:
        try:
            answer = await self._client.post(self.url, content=body.encode(), headers=self._headers)
        except httpx.HTTPError as error:
            raise ForwardError(f"{self.url} is unreachable: {error!r}", retry=True) from error
        if answer.is_success:
            return
        detail = f"{self.url} answered {answer.status_code}: {answer.text[:200]}"
        if answer.status_code == 403:
            detail += " (the poller and the Rasa server disagree on TELEGRAM_WEBHOOK_SECRET or the token)"
        raise ForwardError(detail, retry=answer.status_code not in (400, 413, 422))

    async def aclose(self) -> None:
        await self._client.aclose()


class TelegramPoller:
    def __init__(
        self,
        bot: Bot,
        forward: Callable[[str], Awaitable[Any]],
        *,
        poll_timeout: int = DEFAULT_POLL_TIMEOUT,
        limit: int = 100,
        backoff: Optional[Backoff] = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.bot = bot
        self.forward = forward
        self.poll_timeout = poll_timeout
        self.limit = limit
        self.backoff = backoff or Backoff()
        self.sleep = sleep
        self.offset: Optional[int] = None
        self.pauses: list[float] = []  # every wait, in seconds: for logs and tests
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self, stop: Optional[asyncio.Event] = None) -> None:
        """Poll and forward until ``stop`` is set (or :meth:`stop` is called)."""
        if stop is not None:
            self._stop = stop
        try:
            await self._delete_webhook()
            logger.info("Polling Telegram for updates")
            while True:
                updates = await self._next_updates()
                for update in updates:
                    await self._forward(update)
                    self.offset = update.update_id + 1
        except Stopped:
            pass
        finally:
            await self._confirm()
        logger.info("Stopped polling Telegram")

    async def _delete_webhook(self) -> None:
        while True:
            try:
                await self._interruptible(self.bot.delete_webhook(drop_pending_updates=False))
                self.backoff.reset()
                return
            except TelegramError as error:
                await self._after_api_error("deleteWebhook", error)

    async def _next_updates(self) -> tuple[Update, ...]:
        while True:
            try:
                updates = await self._interruptible(self.bot.get_updates(
                    offset=self.offset, limit=self.limit, timeout=self.poll_timeout,
                    allowed_updates=list(ALLOWED_UPDATES)))
                self.backoff.reset()
                return tuple(updates)
            except Conflict as error:
                if "webhook" in str(error).lower():
                    logger.warning("Telegram: a webhook was set meanwhile; deleting it to go on polling")
                    await self._delete_webhook()
                    continue
                await self._after_api_error("getUpdates", error)
            except TelegramError as error:
                await self._after_api_error("getUpdates", error)

    async def _after_api_error(self, method: str, error: TelegramError) -> None:
        if isinstance(error, RetryAfter):
            delay = retry_after_seconds(error)
            logger.warning("Telegram flood control on %s: waiting %g s", method, delay)
        elif isinstance(error, InvalidToken):
            delay = self.backoff.maximum
            logger.error("Telegram rejected the bot token on %s (%s): check TELEGRAM_BOT_TOKEN. Retrying in %g s",
                         method, error, delay)
        else:
            delay = self.backoff.next()
            logger.warning("Telegram %s failed (%s: %s): retrying in %g s", method, type(error).__name__, error,
                           delay)
        await self._pause(delay)

    async def _forward(self, update: Update) -> None:
        body = update.to_json()
        backoff = Backoff(self.backoff.initial, self.backoff.maximum)
        while True:
            try:
                await self._interruptible(self.forward(body))
                return
            except ForwardError as error:
                if not error.retry:
                    logger.error("Rasa refused Telegram update %s, skipping it: %s", update.update_id, error)
                    return
                delay = backoff.next()
                logger.warning("Could not forward Telegram update %s (%s): retrying in %g s", update.update_id,
                               error, delay)
                await self._pause(delay)

    async def _confirm(self) -> None:
        """Tell Telegram which updates were forwarded, so that a restart does not fetch them again."""
        if self.offset is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.bot.get_updates(offset=self.offset, limit=1, timeout=0), timeout=5)

    async def _pause(self, delay: float) -> None:
        self.pauses.append(delay)
        await self._interruptible(self.sleep(delay))

    async def _interruptible(self, work: Awaitable[T]) -> T:
        if self._stop.is_set():
            _discard(work)
            raise Stopped
        task = asyncio.ensure_future(work)
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise Stopped


def _discard(work: Awaitable[Any]) -> None:
    if asyncio.iscoroutine(work):
        work.close()


async def serve(settings: TelegramSettings, rasa_url: str, poll_timeout: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    bot = settings.make_bot()
    forwarder = RasaForwarder(rasa_url, settings.secret or "")
    logger.info("Forwarding Telegram updates to %s", forwarder.url)
    try:
        await TelegramPoller(bot, forwarder, poll_timeout=poll_timeout).run(stop)
    finally:
        await forwarder.aclose()
        for request in bot._request:  # noqa: SLF001 - Bot.shutdown() skips them unless initialize() ran
            await request.shutdown()
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    redact_tokens_in_logs()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per long poll says nothing
    settings = TelegramSettings.from_environ()
    if not settings.configured:
        print("TELEGRAM_BOT_TOKEN is not set: there is no Telegram bot to poll for.", file=sys.stderr)
        return EXIT_CONFIGURATION
    if settings.webhook_url:
        print(f"TELEGRAM_WEBHOOK_URL is set ({settings.webhook_url}): Telegram posts updates to the webhook, "
              "and polling would delete it. Unset it to poll instead.", file=sys.stderr)
        return EXIT_CONFIGURATION
    raw_timeout = os.environ.get("TELEGRAM_POLL_TIMEOUT", str(DEFAULT_POLL_TIMEOUT))
    poll_timeout = int(raw_timeout) if raw_timeout.isdigit() else DEFAULT_POLL_TIMEOUT
    rasa_url = os.environ.get("RASA_URL") or DEFAULT_RASA_URL
    return asyncio.run(serve(settings, rasa_url, poll_timeout))


if __name__ == "__main__":
    sys.exit(main())
