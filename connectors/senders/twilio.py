"""WhatsApp and SMS through Twilio's Messages API, with Twilio's own REST client.

One logical message may become several Twilio messages: a body longer than ``MAX_BODY_CHARACTERS`` (Twilio's
limit) is split at paragraph, line or word boundaries, and buttons become numbered options at the end of the
text, which the user answers with the number (connectors/twilio.py resolves it).

WhatsApp lets a business write freely only within 24 hours of the user's last message (the customer-care
window). Outside it, :class:`TwilioSender` sends the approved template ``TWILIO_WHATSAPP_TEMPLATE_SID`` (a
Content SID whose variable ``{{1}}`` receives the text) or, when none is configured, falls back to an SMS to
the same number from ``TWILIO_SMS_FROM``.

Settings come from the environment (or a credentials entry, see :meth:`TwilioSettings.from_mapping`):
TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_WHATSAPP_FROM, TWILIO_SMS_FROM, TWILIO_WHATSAPP_TEMPLATE_SID,
TWILIO_PUBLIC_URL (used by the webhook only), TWILIO_API_BASE_URL (tests point it at a fake) and TWILIO_TIMEOUT.
"""
from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import httpx
from twilio.base.exceptions import TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from backend.notifications.delivery import DeliveryError, OutboundMessage, Recipient

logger = logging.getLogger(__name__)

MAX_BODY_CHARACTERS = 1600
WHATSAPP_PREFIX = "whatsapp:"
# WhatsApp's customer-care window, less a margin for clock skew and time in queues.
CUSTOMER_CARE_WINDOW = timedelta(hours=24) - timedelta(minutes=5)
DEFAULT_TIMEOUT = 10.0
MAX_TEMPLATE_VARIABLE_CHARACTERS = 1000
CHANNELS = ("whatsapp", "sms")

# Environment variable for each setting (the credentials entry uses the lower-case setting name).
ENVIRONMENT = {
    "account_sid": "TWILIO_ACCOUNT_SID",
    "auth_token": "TWILIO_AUTH_TOKEN",
    "whatsapp_from": "TWILIO_WHATSAPP_FROM",
    "sms_from": "TWILIO_SMS_FROM",
    "whatsapp_template_sid": "TWILIO_WHATSAPP_TEMPLATE_SID",
    "public_url": "TWILIO_PUBLIC_URL",
    "api_base_url": "TWILIO_API_BASE_URL",
    "timeout": "TWILIO_TIMEOUT",
}

# Twilio answers 4xx for requests that no retry can fix (21211 invalid "To" number, 21610 the user replied
# STOP, 21614 not a mobile number, 21408 region not enabled, ...); these 4xx are the exceptions.
RETRYABLE_CLIENT_STATUSES = {
    401: "Twilio refused the credentials (check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN)",
    408: "Twilio timed out reading the request",
    409: "Twilio reported a conflict",
    429: "Twilio is rate limiting this account",
}


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: Optional[str] = None
    auth_token: Optional[str] = field(default=None, repr=False)
    whatsapp_from: Optional[str] = None
    sms_from: Optional[str] = None
    whatsapp_template_sid: Optional[str] = None
    public_url: Optional[str] = None
    api_base_url: Optional[str] = None
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "TwilioSettings":
        """From a credentials entry: ``account_sid``, ``auth_token``, ... (blank values count as unset)."""
        cleaned: dict[str, Any] = {}
        for key in ENVIRONMENT:
            value = values.get(key)
            if value is not None and str(value).strip():
                cleaned[key] = str(value).strip()
        if "timeout" in cleaned:
            cleaned["timeout"] = _parse_timeout(cleaned["timeout"])
        if "whatsapp_from" in cleaned:
            cleaned["whatsapp_from"] = whatsapp_address(cleaned["whatsapp_from"])
        if "sms_from" in cleaned:
            cleaned["sms_from"] = phone_number(cleaned["sms_from"])
        return cls(**cleaned)

    @classmethod
    def from_environ(cls, environ: Optional[Mapping[str, str]] = None) -> "TwilioSettings":
        environ = os.environ if environ is None else environ
        return cls.from_mapping({key: environ.get(name) for key, name in ENVIRONMENT.items()})

    @property
    def configured(self) -> bool:
        """Enough to check webhook signatures and call the API."""
        return bool(self.account_sid and self.auth_token)

    def missing(self) -> list[str]:
        return [ENVIRONMENT[key] for key in ("account_sid", "auth_token") if not getattr(self, key)]

    def from_address(self, channel: str) -> Optional[str]:
        return self.whatsapp_from if channel == "whatsapp" else self.sms_from


def _parse_timeout(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 300:  # also rejects NaN
        raise ValueError(f"TWILIO_TIMEOUT must be a number of seconds between 0 and 300, got {raw!r}")
    return value


def whatsapp_address(address: str) -> str:
    address = address.strip()
    return address if address.startswith(WHATSAPP_PREFIX) else WHATSAPP_PREFIX + address


def phone_number(address: str) -> str:
    address = address.strip()
    return address[len(WHATSAPP_PREFIX):] if address.startswith(WHATSAPP_PREFIX) else address


def channel_of_address(address: str) -> str:
    return "whatsapp" if address.startswith(WHATSAPP_PREFIX) else "sms"


# -- Text ------------------------------------------------------------------------------------------------------

def numbered_options(text: str, buttons: Iterable[Mapping[str, Any]]) -> str:
    """The text followed by the buttons as "1. Title" lines, so that the user can answer with a number."""
    lines = [f"{number}. {button.get('title') or button.get('payload') or ''}".rstrip()
             for number, button in enumerate(buttons, start=1)]
    return "\n\n".join(part for part in ((text or "").strip(), "\n".join(lines)) if part)


def split_text(text: str, limit: int = MAX_BODY_CHARACTERS) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at a paragraph, line or word boundary when there is one in
    the second half of the piece, else between two characters that do not form one letter (Indic vowel signs
    and viramas stay with their consonant)."""
    text = (text or "").strip()
    pieces: list[str] = []
    while len(text) > limit:
        for separator in ("\n\n", "\n", " "):
            cut = text.rfind(separator, 0, limit + 1)
            if cut >= limit // 2:
                break
        else:
            cut = limit
            while cut > limit // 2 and _joins_previous(text[cut]):
                cut -= 1
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


def _joins_previous(character: str) -> bool:
    return unicodedata.category(character).startswith("M") or character in "\u200c\u200d"


def _template_variable(text: str) -> str:
    # WhatsApp rejects template variables with new lines, tabs or more than four consecutive spaces.
    flat = re.sub(r"\s+", " ", text).strip()
    if len(flat) > MAX_TEMPLATE_VARIABLE_CHARACTERS:
        flat = flat[: MAX_TEMPLATE_VARIABLE_CHARACTERS - 1].rstrip() + "…"
    return flat


# -- The REST client -------------------------------------------------------------------------------------------

# The headers of the last response in this task: Twilio's exceptions do not carry them (Retry-After).
_last_response_headers: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "twilio_last_response_headers", default={}
)


class HttpxTwilioClient(AsyncHttpClient):
    """Twilio's asynchronous HTTP client interface on httpx, one connection per request.

    A client per request is never bound to another event loop (Rasa's Sanic loop, the outbox worker's, each
    test's) and never left unclosed when a request times out.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(logger, is_async=True, timeout=timeout)

    async def request(
        self,
        method: str,
        uri: str,
        params: Optional[dict[str, object]] = None,
        data: Optional[dict[str, object]] = None,
        headers: Optional[dict[str, str]] = None,
        auth: Optional[tuple[str, str]] = None,
        timeout: Optional[float] = None,
        allow_redirects: bool = False,
    ) -> Response:
        async with httpx.AsyncClient(timeout=timeout or self.timeout, follow_redirects=allow_redirects) as client:
            response = await client.request(method, uri, params=params, data=data, headers=headers, auth=auth)
        _last_response_headers.set(response.headers)
        return Response(response.status_code, response.text, response.headers)


class TwilioMessages:
    """Sends messages through ``client.messages.create_async``, raising :class:`DeliveryError` on failure."""

    def __init__(self, settings: TwilioSettings, client: Optional[Client] = None) -> None:
        if not settings.configured:
            raise ValueError(f"Twilio is not configured: set {' and '.join(settings.missing())}")
        self.settings = settings
        self.client = client or Client(
            settings.account_sid, settings.auth_token, http_client=HttpxTwilioClient(settings.timeout)
        )
        if settings.api_base_url:
            # Every resource of the 2010-04-01 API (Messages included) is relative to this domain's base URL.
            self.client.api.base_url = settings.api_base_url.rstrip("/")

    async def create(self, **params: Any) -> str:
        """One Twilio message; returns its SID."""
        _last_response_headers.set({})
        try:
            message = await self.client.messages.create_async(**params)
        except TwilioRestException as exc:
            raise _delivery_error(exc, _last_response_headers.get()) from exc
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"Twilio did not answer within {self.settings.timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(f"could not reach Twilio: {exc!r}") from exc
        logger.debug("Twilio accepted %s for %s", message.sid, params.get("to"))
        return message.sid

    async def send(self, to: str, from_: str, text: str, media: Sequence[str] = ()) -> list[str]:
        """The text in as many messages as it takes; the media go with the first one."""
        pieces = split_text(text)
        if not pieces and not media:
            return []
        sids = []
        for index, piece in enumerate(pieces or [""]):
            params: dict[str, Any] = {"to": to, "from_": from_}
            if piece:
                params["body"] = piece
            if index == 0 and media:
                params["media_url"] = list(media)
            sids.append(await self.create(**params))
        return sids

    async def send_template(self, to: str, from_: str, content_sid: str, variables: Mapping[str, str]) -> str:
        return await self.create(
            to=to, from_=from_, content_sid=content_sid, content_variables=json.dumps(dict(variables), ensure_ascii=False)
        )


def _delivery_error(exc: TwilioRestException, headers: Mapping[str, str]) -> DeliveryError:
    # TwilioRestException.msg is "Unable to create record: <Twilio's message>".
    reason = f"Twilio answered {exc.status} (error {exc.code}): {exc.msg}"
    if exc.status in RETRYABLE_CLIENT_STATUSES:
        return DeliveryError(f"{RETRYABLE_CLIENT_STATUSES[exc.status]}. {reason}", retry_after=_retry_after(headers))
    if exc.status >= 500:
        return DeliveryError(reason, retry_after=_retry_after(headers))
    return DeliveryError(reason, permanent=True)


def _retry_after(headers: Mapping[str, str]) -> Optional[float]:
    raw = headers.get("Retry-After") or headers.get("retry-after")
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None  # an HTTP date: let the outbox use its own back-off
    return value if value is not None and value >= 0 else None


# -- The Sender ------------------------------------------------------------------------------------------------

def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def window_open(last_inbound_at: Optional[datetime], now: datetime) -> bool:
    if last_inbound_at is None:
        return False
    if last_inbound_at.tzinfo is None:
        last_inbound_at = last_inbound_at.replace(tzinfo=timezone.utc)
    return now - last_inbound_at < CUSTOMER_CARE_WINDOW


class TwilioSender:
    """The notification Sender for the "whatsapp" or "sms" channel (see backend.notifications.delivery)."""

    def __init__(
        self,
        channel: str,
        settings: TwilioSettings,
        messages: Optional[TwilioMessages] = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if channel not in CHANNELS:
            raise ValueError(f"TwilioSender sends on {' or '.join(CHANNELS)}, not {channel!r}")
        if not settings.from_address(channel):
            raise ValueError(f"TwilioSender for {channel} needs {ENVIRONMENT[channel + '_from']}")
        self.channel = channel
        self.settings = settings
        self.messages = messages or TwilioMessages(settings)
        self.clock = clock

    async def send(self, recipient: Recipient, message: OutboundMessage) -> None:
        text = numbered_options(message.text, message.buttons)
        media = [url for url in (message.image, message.document) if url]
        if not text and not media:
            raise DeliveryError("the message has no text and no media", permanent=True)
        if self.channel == "sms":
            await self.messages.send(phone_number(recipient.address), self.settings.sms_from, text, media)
            return
        to = whatsapp_address(recipient.address)
        if window_open(recipient.last_inbound_at, self.clock()):
            await self.messages.send(to, self.settings.whatsapp_from, text, media)
        elif self.settings.whatsapp_template_sid:
            await self.messages.send_template(
                to, self.settings.whatsapp_from, self.settings.whatsapp_template_sid, {"1": _template_variable(text)}
            )
        elif self.settings.sms_from:
            logger.info("WhatsApp window closed for user %s and no template configured: sending an SMS instead",
                        recipient.user_id)
            await self.messages.send(phone_number(recipient.address), self.settings.sms_from, text, media)
        else:
            raise DeliveryError(
                "the WhatsApp customer-care window (24 h since the user's last message) is closed and neither "
                "TWILIO_WHATSAPP_TEMPLATE_SID nor TWILIO_SMS_FROM is configured",
                permanent=True,
            )


def senders_from_environ(environ: Optional[Mapping[str, str]] = None) -> dict[str, TwilioSender]:
    """The configured Twilio senders, by channel: "whatsapp" needs TWILIO_WHATSAPP_FROM, "sms" TWILIO_SMS_FROM."""
    settings = TwilioSettings.from_environ(environ)
    if not settings.configured:
        return {}
    messages = TwilioMessages(settings)
    return {
        channel: TwilioSender(channel, settings, messages)
        for channel in CHANNELS
        if settings.from_address(channel)
    }
