"""WhatsApp and SMS through Twilio: Twilio's webhook in, Twilio's REST API out.

Twilio posts every message to ``POST /webhooks/twilio/webhook`` as a form (From, To, Body, MessageSid, NumMedia,
MediaUrl0, MediaContentType0, ..., Latitude, Longitude, Address, Label, ProfileName). The connector
- checks ``X-Twilio-Signature`` with Twilio's RequestValidator against the URL Twilio signed: behind a proxy
  that is ``TWILIO_PUBLIC_URL`` (the webhook URL set in Twilio's console, or its scheme and host), otherwise
  the URL of the request. A missing or wrong signature gets a 403 and nothing is processed;
- processes each MessageSid once (Twilio redelivers when it does not get an answer in time), through
  ``backend.services.inbound.first_delivery``;
- answers at once with an empty TwiML ``<Response/>`` and lets the bot answer in the background, through
  the REST client (connectors/senders/twilio.py): Twilio gives a webhook 15 seconds, the bot may need more.

The conversation is the From address ("whatsapp:+9198..." or "+9198..."); ``metadata`` carries ``channel``
("whatsapp" when From starts with "whatsapp:", else "sms"), ``media`` ([{"url", "content_type"}]) and
``location`` ({"latitude", "longitude", "address", "label"} or None). SMS uses the same connector; replies
leave from TWILIO_WHATSAPP_FROM or TWILIO_SMS_FROM (else from the number the user wrote to).

Buttons become numbered options ("1. Change language") and a reply that is just one of those numbers (in any
script's digits: "2", "२", "௨") or an option's title is turned into that button's payload. The options are
those of the last bot message to the address: kept in this process when it sent them, which is always the
freshest record (the tracker is saved only once the whole turn is processed), and otherwise (after a restart,
or when another Rasa process sent them) read from the conversation's tracker, which lives in the tracker
store every Rasa process shares. A table of our own would duplicate what the tracker already stores. (Options
in proactive notifications, sent by the outbox worker, are in neither: a number answering them is just text.)
A reply Twilio does not take is logged and the turn goes on.

Settings come from TWILIO_* in the environment (see connectors/senders/twilio.py); a credentials entry may
override them (account_sid, auth_token, whatsapp_from, sms_from, public_url, whatsapp_template_sid,
api_base_url, timeout), and an empty entry (``connectors.twilio.TwilioInput:``) uses the environment alone.
Without an account SID and auth token the webhook answers 503 and says so; Rasa still starts.
"""
from __future__ import annotations

import asyncio
import logging
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text
from urllib.parse import parse_qs, urlsplit

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.shared.core.events import BotUttered
from sanic import Blueprint, response
from sanic.exceptions import Forbidden, InvalidUsage, ServiceUnavailable
from sanic.request import Request, RequestParameters
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from backend.notifications.delivery import DeliveryError
from connectors.senders.twilio import (
    TwilioMessages,
    TwilioSettings,
    channel_of_address,
    numbered_options,
)

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
DEDUPLICATION_CHANNEL = "twilio"  # MessageSids are unique across WhatsApp and SMS
MAX_MEDIA = 10  # Twilio's limit per message
MAX_REMEMBERED = 10_000  # addresses whose last options are kept in memory
MAX_REMEMBERED_SIDS = 10_000


@dataclass(frozen=True)
class TwilioInbound:
    """What a Twilio webhook says about one incoming message."""

    sid: str
    sender: str
    to: str
    text: str
    channel: str
    media: List[Dict[Text, Text]] = field(default_factory=list)
    location: Optional[Dict[Text, Any]] = None
    profile_name: Optional[str] = None

    @classmethod
    def from_form(cls, form: RequestParameters) -> "TwilioInbound":
        sender = (form.get("From") or "").strip()
        if not sender:
            raise InvalidUsage('The "From" parameter is missing.')
        sid = (form.get("MessageSid") or form.get("SmsMessageSid") or "").strip()
        if not sid:
            raise InvalidUsage('The "MessageSid" parameter is missing.')
        return cls(
            sid=sid,
            sender=sender,
            to=(form.get("To") or "").strip(),
            text=form.get("Body") or "",
            channel=channel_of_address(sender),
            media=_media(form),
            location=_location(form),
            profile_name=form.get("ProfileName") or None,
        )

    def metadata(self) -> Dict[Text, Any]:
        return {"channel": self.channel, "media": self.media, "location": self.location,
                "message_sid": self.sid, "profile_name": self.profile_name}


def _media(form: RequestParameters) -> List[Dict[Text, Text]]:
    try:
        count = min(int(form.get("NumMedia") or 0), MAX_MEDIA)
    except ValueError:
        raise InvalidUsage('"NumMedia" must be a number.') from None
    media = []
    for index in range(count):
        url = form.get(f"MediaUrl{index}")
        if url:
            media.append({"url": url, "content_type": form.get(f"MediaContentType{index}") or ""})
    return media


def _location(form: RequestParameters) -> Optional[Dict[Text, Any]]:
    if not form.get("Latitude") or not form.get("Longitude"):
        return None
    try:
        latitude, longitude = float(form.get("Latitude")), float(form.get("Longitude"))
    except ValueError:
        raise InvalidUsage('"Latitude" and "Longitude" must be numbers.') from None
    if not (math.isfinite(latitude) and math.isfinite(longitude) and abs(latitude) <= 90 and abs(longitude) <= 180):
        raise InvalidUsage('"Latitude" and "Longitude" are out of range.')
    return {"latitude": latitude, "longitude": longitude,
            "address": form.get("Address") or None, "label": form.get("Label") or None}


def chosen_option(text: str, buttons: List[Dict[Text, Any]]) -> Optional[Dict[Text, Any]]:
    """The button a reply picks: its number ("2", "2.", "२") or its title, else None."""
    answer = (text or "").strip()
    number = answer.rstrip(".)").strip()
    if number.isdecimal():
        index = int(number)
        return buttons[index - 1] if 1 <= index <= len(buttons) else None
    folded = answer.casefold()
    return next((b for b in buttons if folded and (b.get("title") or "").strip().casefold() == folded), None)


class RememberedOptions:
    """The buttons of the last message sent to each address by this process (a bounded LRU map)."""

    def __init__(self, size: int = MAX_REMEMBERED) -> None:
        self._options: "OrderedDict[str, List[Dict[Text, Any]]]" = OrderedDict()
        self._size = size

    def remember(self, address: str, buttons: List[Dict[Text, Any]]) -> None:
        """An empty list is remembered too: the last message offered nothing to pick."""
        self._options[address] = [dict(b) for b in buttons]
        self._options.move_to_end(address)
        while len(self._options) > self._size:
            self._options.popitem(last=False)

    def get(self, address: str) -> Optional[List[Dict[Text, Any]]]:
        return self._options.get(address)


class TwilioOutput(OutputChannel):
    """Sends the bot's messages to one address through Twilio's REST API."""

    @classmethod
    def name(cls) -> Text:
        return "twilio"

    def __init__(self, messages: TwilioMessages, from_address: str, options: RememberedOptions) -> None:
        self.messages = messages
        self.from_address = from_address
        self.options = options

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        buttons = list(message.get("buttons") or message.get("quick_replies") or [])
        text = numbered_options(message.get("text") or "", buttons)
        media = [url for url in (message.get("image"), message.get("attachment"))
                 if isinstance(url, str) and url.startswith(("https://", "http://"))]
        if not text and not media:
            logger.debug("Nothing Twilio can send in %s", sorted(message))
            return
        self.options.remember(recipient_id, buttons)
        try:
            await self.messages.send(recipient_id, self.from_address, text, media)
        except DeliveryError as exc:
            # The turn goes on (the conversation stays consistent, later replies are still tried); the user
            # writes again when nothing arrives.
            logger.error("Twilio did not take a reply to %s: %s", recipient_id, exc.reason)

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})

    async def send_text_with_buttons(self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]],
                                     **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text, "buttons": buttons})

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"image": image})

    async def send_attachment(self, recipient_id: Text, attachment: Text, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"attachment": attachment})


class TwilioInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "twilio"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        """TWILIO_* from the environment, overridden by whatever the credentials entry sets."""
        environment = TwilioSettings.from_environ().__dict__
        return cls(TwilioSettings.from_mapping({**environment, **(credentials or {})}))

    def __init__(
        self,
        settings: TwilioSettings,
        database_url: Optional[str] = None,
        messages: Optional[TwilioMessages] = None,
    ) -> None:
        self.settings = settings
        self.database_url = database_url
        self.messages = messages or (TwilioMessages(settings) if settings.configured else None)
        self.options = RememberedOptions()
        self._seen_sids: "OrderedDict[str, None]" = OrderedDict()
        self._tasks: set[asyncio.Task] = set()
        if not settings.configured:
            logger.warning("The Twilio channel is not configured (%s not set): its webhook answers 503.",
                           ", ".join(settings.missing()))

    # -- the webhook ------------------------------------------------------------------------------------------

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        twilio_webhook = Blueprint("twilio_webhook", __name__)

        @twilio_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> response.HTTPResponse:
            return response.json({"status": "ok" if self.settings.configured else "not configured"})

        @twilio_webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> response.HTTPResponse:
            if not self.settings.configured:
                raise ServiceUnavailable(
                    f"The Twilio channel is not configured: set {' and '.join(self.settings.missing())}."
                )
            form = _form(request)
            if not self._signed_by_twilio(request, form):
                logger.warning("Rejected a Twilio webhook with a missing or wrong %s", SIGNATURE_HEADER)
                raise Forbidden(f"Missing or invalid {SIGNATURE_HEADER}.")
            if not _is_form(request):
                raise InvalidUsage("Twilio webhooks are application/x-www-form-urlencoded.")
            status = form.get("MessageStatus") or form.get("SmsStatus")
            if status and status != "received":
                return _twiml()  # a status callback: nothing for the bot
            inbound = TwilioInbound.from_form(form)
            if not await self._first_delivery(inbound.sid):
                logger.info("Twilio delivered %s again: already processed", inbound.sid)
                return _twiml()
            agent = getattr(request.app.ctx, "agent", None)
            self._start(self._process(inbound, on_new_message, agent))
            return _twiml()

        return twilio_webhook

    def _signed_url(self, request: Request) -> str:
        if not self.settings.public_url:
            return request.url
        url = self.settings.public_url
        if urlsplit(url).path in ("", "/"):
            url = url.rstrip("/") + request.path
        if request.query_string and "?" not in url:
            url += "?" + request.query_string
        return url

    def _signed_by_twilio(self, request: Request, form: RequestParameters) -> bool:
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            return False
        return RequestValidator(self.settings.auth_token).validate(self._signed_url(request), form, signature)

    async def _first_delivery(self, sid: str) -> bool:
        """Only the first delivery of a MessageSid is processed. The database is the record every process
        shares; while it is unreachable, this process's own memory of recent SIDs has to do."""
        if sid in self._seen_sids:
            return False
        self._seen_sids[sid] = None
        while len(self._seen_sids) > MAX_REMEMBERED_SIDS:
            self._seen_sids.popitem(last=False)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, self._first_delivery_in_database, sid)
        except Exception:  # noqa: BLE001 - losing a message is worse than answering it twice
            logger.exception("Could not record Twilio message %s in the database; processing it anyway", sid)
            return True

    def _first_delivery_in_database(self, sid: str) -> bool:
        from backend.db import session_scope
        from backend.services.inbound import first_delivery

        with session_scope(self.database_url) as session:
            return first_delivery(session, DEDUPLICATION_CHANNEL, sid)

    def _start(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every message received so far is answered (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- the conversation -------------------------------------------------------------------------------------

    async def _process(self, inbound: TwilioInbound, on_new_message: Callable[[UserMessage], Awaitable[Any]],
                       agent: Any) -> None:
        try:
            text, metadata = inbound.text, inbound.metadata()
            buttons = await self._last_options(inbound.sender, agent)
            option = chosen_option(text, buttons) if buttons else None
            if option is not None:
                metadata["option"] = {"text": text, "title": option.get("title"), "payload": option.get("payload")}
                text = option.get("payload") or option.get("title") or text
            output = TwilioOutput(self.messages, self.settings.from_address(inbound.channel) or inbound.to,
                                  self.options)
            await on_new_message(UserMessage(text, output, inbound.sender, input_channel=inbound.channel,
                                             message_id=inbound.sid, metadata=metadata))
        except Exception:  # noqa: BLE001 - a background task has nobody else to report to
            logger.exception("Failed to process Twilio message %s from %s", inbound.sid, inbound.sender)

    async def _last_options(self, address: str, agent: Any) -> List[Dict[Text, Any]]:
        remembered = self.options.get(address)
        if remembered is not None:
            return remembered
        tracker_store = getattr(agent, "tracker_store", None)
        if tracker_store is None:
            return []
        try:
            tracker = await tracker_store.retrieve(address)
        except Exception:  # noqa: BLE001 - then the reply is taken as it is
            logger.exception("Could not read the conversation of %s to resolve a numbered option", address)
            return []
        if tracker is None:
            return []
        last = next((e for e in reversed(tracker.events) if isinstance(e, BotUttered)), None)
        return list((last.data or {}).get("buttons") or []) if last else []


def _form(request: Request) -> RequestParameters:
    """The form as Twilio signed it: Sanic's ``request.form`` drops blank values (ToCity=, ...)."""
    if not _is_form(request):
        return RequestParameters()
    try:
        body = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidUsage("The form is not UTF-8.") from None
    return RequestParameters(parse_qs(body, keep_blank_values=True))


def _is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")


def _twiml() -> response.HTTPResponse:
    return response.text(MessagingResponse().to_xml(), content_type="text/xml")
