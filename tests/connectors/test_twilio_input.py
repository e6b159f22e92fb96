"""The Twilio input channel in a real Sanic server on loopback, registered as Rasa registers it.

A stand-in for Rasa's agent answers through the message's output channel, whose replies go through Twilio's
REST client to a fake Messages API. Webhooks are signed with Twilio's own RequestValidator.
"""
from __future__ import annotations

import logging
import secrets
import socket
import uuid
from typing import Any, Optional

import httpx
import pytest
from rasa.core.channels.channel import UserMessage, register
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Sanic
from twilio.request_validator import RequestValidator

from connectors.senders.twilio import TwilioSettings
from connectors.twilio import TwilioInput
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

WHATSAPP_FROM = "whatsapp:+14155238886"
SMS_FROM = "+15005550006"
USER = "whatsapp:+919876543210"
SMS_USER = "+919876543210"
PUBLIC_URL = "https://sahayak.example.org/webhooks/twilio/webhook"

MENU = {"text": "Here is what I can do for you today:",
        "buttons": [{"title": "Change language", "payload": "/switch_language"},
                    {"title": "Talk to a person", "payload": "/request_human"}]}
RECEIPT_URL = "https://files.example.org/receipt.png"


class FakeAgent:
    """Stands in for Rasa's agent: records each message and answers through its output channel."""

    def __init__(self, tracker_store: Optional[InMemoryTrackerStore] = None) -> None:
        self.received: list[UserMessage] = []
        self.tracker_store = tracker_store

    async def handle_message(self, message: UserMessage) -> None:
        self.received.append(message)
        for reply in self.replies(message):
            await message.output_channel.send_response(message.sender_id, dict(reply))

    @staticmethod
    def replies(message: UserMessage) -> list[dict]:
        metadata = message.metadata or {}
        if metadata.get("media"):
            return [{"text": f"Thanks for the {metadata['media'][0]['content_type']}, here is your receipt.",
                     "image": RECEIPT_URL}]
        if metadata.get("location"):
            place = metadata["location"]
            return [{"text": f"Nearest office to {place['latitude']:.4f}, {place['longitude']:.4f}: Anna Salai."}]
        if message.text == "menu":
            return [MENU]
        if message.text == "long":
            return [{"text": "\n".join(f"Step {i}: " + " ".join(["details"] * 12) for i in range(40))}]
        return [{"text": f"You said: {message.text}"}]


class Channel:
    """A running webhook: ``post`` sends a Twilio request, signed unless told otherwise."""

    def __init__(self, channel: TwilioInput, agent: FakeAgent, url: str) -> None:
        self.channel, self.agent, self.url = channel, agent, url

    def sign(self, params: dict, url: Optional[str] = None, token: str = AUTH_TOKEN) -> str:
        return RequestValidator(token).compute_signature(url or self.url, params)

    async def post(self, params: dict, signature: Any = "sign", headers: Optional[dict] = None) -> httpx.Response:
        headers = dict(headers or {})
        if signature == "sign":
            signature = self.sign(params)
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        async with httpx.AsyncClient() as client:
            response = await client.post(self.url, data=params, headers=headers)
        await self.channel.drain()
        return response


def inbound(body: str = "hello", sender: str = USER, sid: Optional[str] = None, **extra: str) -> dict:
    """The parameters of Twilio's request for an incoming WhatsApp (or SMS) message."""
    sid = sid or "SM" + secrets.token_hex(16)
    to = WHATSAPP_FROM if sender.startswith("whatsapp:") else SMS_FROM
    params = {"SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid, "SmsStatus": "received", "Body": body,
              "To": to, "NumSegments": "1", "MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": sender,
              "ApiVersion": "2010-04-01"}
    if sender.startswith("whatsapp:"):
        params.update({"ProfileName": "Kavya", "WaId": sender.split("+")[-1], "ReferralNumMedia": "0"})
    else:  # SMS requests carry the sender's and our number's geography, often blank
        params.update({"FromCountry": "IN", "FromCity": "", "FromState": "", "FromZip": "",
                       "ToCountry": "US", "ToCity": "", "ToState": "CA", "ToZip": ""})
    return {**params, **extra}


@pytest.fixture
def twilio():
    with FakeTwilio() as fake:
        yield fake



def settings_for(twilio: FakeTwilio, **overrides: str) -> TwilioSettings:
    values = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "whatsapp_from": WHATSAPP_FROM,
              "sms_from": SMS_FROM, "api_base_url": twilio.url, "timeout": "2"}
    return TwilioSettings.from_mapping({**values, **overrides})


class Servers:
    def __init__(self) -> None:
        self.running: list = []

    async def start(self, channel: TwilioInput, agent: FakeAgent) -> Channel:
        app = Sanic(f"twilio-test-{uuid.uuid4().hex}")
        app.ctx.agent = agent
        register([channel], app, route="/webhooks/")
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
        await server.startup()
        await server.start_serving()
        self.running.append(server)
        port = sock.getsockname()[1]
        return Channel(channel, agent, f"http://127.0.0.1:{port}/webhooks/twilio/webhook")


@pytest.fixture
async def servers(monkeypatch):
    # Sanic rewrites its request handling code once per app unless in test mode, which fails for a second app.
    monkeypatch.setattr(Sanic, "test_mode", True)
    started = Servers()
    yield started
    for server in started.running:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def webhook(servers, twilio, database_url) -> Channel:
    return await servers.start(TwilioInput(settings_for(twilio), database_url=database_url), FakeAgent())


# -- receiving -------------------------------------------------------------------------------------------------

async def test_a_signed_whatsapp_message_reaches_the_bot_and_the_reply_goes_through_the_api(webhook, twilio):
    params = inbound("vanakkam")
    response = await webhook.post(params)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text.replace(" ", "").endswith("<Response/>"), "an empty TwiML answer: replies go by API"
    (message,) = webhook.agent.received
    assert (message.text, message.sender_id, message.input_channel) == ("vanakkam", USER, "whatsapp")
    assert message.message_id == params["MessageSid"]
    assert message.metadata["channel"] == "whatsapp"
    assert message.metadata["media"] == [] and message.metadata["location"] is None
    assert message.metadata["profile_name"] == "Kavya"
    (sent,) = twilio.messages
    assert (sent["to"], sent["from"], sent["body"]) == (USER, WHATSAPP_FROM, "You said: vanakkam")


async def test_sms_uses_the_same_webhook_and_its_own_number(webhook, twilio):
    response = await webhook.post(inbound("hello", sender=SMS_USER))
    assert response.status_code == 200, "blank parameters (ToCity=...) are part of the signature"
    (message,) = webhook.agent.received
    assert (message.sender_id, message.metadata["channel"], message.input_channel) == (SMS_USER, "sms", "sms")
    (sent,) = twilio.messages
    assert (sent["to"], sent["from"]) == (SMS_USER, SMS_FROM)


@pytest.mark.parametrize("case", ["missing", "wrong token", "tampered body", "other url", "garbage"])
async def test_a_bad_signature_is_refused_and_nothing_is_processed(webhook, twilio, case):
    params = inbound("transfer everything")
    signature = {
        "missing": None,
        "wrong token": webhook.sign(params, token="not-the-auth-token"),
        "tampered body": webhook.sign({**params, "Body": "hello"}),
        "other url": webhook.sign(params, url="https://attacker.example.org/webhooks/twilio/webhook"),
        "garbage": "bm90IGEgc2lnbmF0dXJl",
    }[case]
    response = await webhook.post(params, signature=signature)
    assert response.status_code == 403
    assert "X-Twilio-Signature" in response.text
    assert webhook.agent.received == [] and twilio.requests == []


@pytest.mark.parametrize("public_url", [PUBLIC_URL, "https://sahayak.example.org"])
async def test_behind_a_proxy_the_signature_covers_the_public_url(servers, twilio, database_url, public_url):
    channel = TwilioInput(settings_for(twilio, public_url=public_url), database_url=database_url)
    webhook = await servers.start(channel, FakeAgent())
    params = inbound("hello")
    assert (await webhook.post(params, signature=webhook.sign(params))).status_code == 403, \
        "the loopback URL is not the one Twilio signed"
    assert (await webhook.post(params, signature=webhook.sign(params, url=PUBLIC_URL))).status_code == 200
    assert [m.text for m in webhook.agent.received] == ["hello"]


async def test_the_same_message_sid_is_processed_once(webhook, twilio, servers, database_url):
    params = inbound("hello")
    first, again = await webhook.post(params), await webhook.post(params)
    assert (first.status_code, again.status_code) == (200, 200), "Twilio must stop redelivering"
    assert len(webhook.agent.received) == 1 and len(twilio.messages) == 1
    # Another Rasa process (its own memory, the same database) does not process it either.
    other = await servers.start(TwilioInput(settings_for(twilio), database_url=database_url), FakeAgent())
    assert (await other.post(params, signature=other.sign(params))).status_code == 200
    assert other.agent.received == [] and len(twilio.messages) == 1


async def test_a_status_callback_is_acknowledged_and_ignored(webhook, twilio):
    params = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered", "SmsStatus": "delivered",
              "To": USER, "From": WHATSAPP_FROM, "AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01"}
    assert (await webhook.post(params)).status_code == 200
    assert webhook.agent.received == []


async def test_a_signed_request_without_from_is_a_bad_request(webhook):
    params = {k: v for k, v in inbound("hello").items() if k != "From"}
    assert (await webhook.post(params)).status_code == 400
    assert webhook.agent.received == []


# -- replying --------------------------------------------------------------------------------------------------

async def test_a_long_reply_is_split_at_1600_characters_in_order(webhook, twilio):
    await webhook.post(inbound("long"))
    (expected,) = FakeAgent.replies(UserMessage("long"))
    bodies = [m["body"] for m in twilio.messages]
    assert len(bodies) > 1 and all(len(b) <= 1600 for b in bodies)
    assert "\n".join(bodies) == expected["text"]
    assert all(m["to"] == USER for m in twilio.messages)


async def test_buttons_are_numbered_options_and_the_number_picks_the_button(webhook, twilio):
    await webhook.post(inbound("menu"))
    (menu,) = twilio.messages
    assert menu["body"] == "Here is what I can do for you today:\n\n1. Change language\n2. Talk to a person"
    await webhook.post(inbound(" 1 "))
    picked = webhook.agent.received[-1]
    assert picked.text == "/switch_language"
    assert picked.metadata["option"] == {"text": " 1 ", "title": "Change language", "payload": "/switch_language"}
    # The last message ("You said: /switch_language") offered nothing: a number is just a number again.
    await webhook.post(inbound("2"))
    assert webhook.agent.received[-1].text == "2"


async def test_options_answer_to_digits_of_any_script_titles_and_ignore_numbers_out_of_range(webhook):
    answers = {"२": "/request_human", "௧.": "/switch_language", "talk to a PERSON": "/request_human", "3": "3"}
    for answer, expected in answers.items():
        await webhook.post(inbound("menu"))
        await webhook.post(inbound(answer))
        assert webhook.agent.received[-1].text == expected, answer


async def test_options_are_per_address(webhook):
    await webhook.post(inbound("menu"))
    await webhook.post(inbound("1", sender="whatsapp:+919800000001"))
    assert webhook.agent.received[-1].text == "1"


async def test_after_a_restart_the_options_come_from_the_tracker(servers, twilio, database_url):
    domain = Domain.empty()
    store = InMemoryTrackerStore(domain)
    await store.save(DialogueStateTracker.from_events(USER, [
        ActionExecuted("action_listen"), UserUttered("menu"),
        BotUttered(MENU["text"], data={"buttons": MENU["buttons"]}), ActionExecuted("action_listen"),
    ]))
    await store.save(DialogueStateTracker.from_events(SMS_USER, [
        BotUttered(MENU["text"], data={"buttons": MENU["buttons"]}), BotUttered("Anything else?"),
    ]))
    webhook = await servers.start(TwilioInput(settings_for(twilio), database_url=database_url), FakeAgent(store))
    await webhook.post(inbound("2"))
    assert webhook.agent.received[-1].text == "/request_human"
    await webhook.post(inbound("2", sender=SMS_USER))
    assert webhook.agent.received[-1].text == "2", "the last bot message had no buttons"


async def test_a_photo_round_trip(webhook, twilio):
    media = "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM1/Media/ME1"
    await webhook.post(inbound("", NumMedia="1", MediaUrl0=media, MediaContentType0="image/jpeg"))
    (message,) = webhook.agent.received
    assert message.metadata["media"] == [{"url": media, "content_type": "image/jpeg"}]
    (sent,) = twilio.messages
    assert sent["media_url"] == [RECEIPT_URL] and sent["num_media"] == "1"
    assert sent["body"] == "Thanks for the image/jpeg, here is your receipt."


async def test_a_location_round_trip(webhook, twilio):
    await webhook.post(inbound("", Latitude="13.0604", Longitude="80.2496", Address="Anna Salai, Chennai",
                               Label="Office"))
    (message,) = webhook.agent.received
    assert message.metadata["location"] == {"latitude": 13.0604, "longitude": 80.2496,
                                            "address": "Anna Salai, Chennai", "label": "Office"}
    assert twilio.messages[0]["body"] == "Nearest office to 13.0604, 80.2496: Anna Salai."


async def test_a_nonsense_location_is_refused(webhook):
    assert (await webhook.post(inbound("", Latitude="95", Longitude="80"))).status_code == 400
    assert webhook.agent.received == []


@pytest.mark.parametrize("mode", ["error", "rate_limited", "hang"])
async def test_when_twilio_fails_the_webhook_still_answers_and_the_failure_is_logged(servers, twilio, database_url,
                                                                                     caplog, mode):
    twilio.mode, twilio.hang_seconds = mode, 1
    channel = TwilioInput(settings_for(twilio, timeout="0.2"), database_url=database_url)
    webhook = await servers.start(channel, FakeAgent())
    with caplog.at_level(logging.ERROR, logger="connectors.twilio"):
        response = await webhook.post(inbound("hello"))
    assert response.status_code == 200
    assert len(webhook.agent.received) == 1 and twilio.messages == []
    assert "Twilio did not take a reply to whatsapp:+919876543210" in caplog.text
    twilio.mode = "ok"
    await webhook.post(inbound("again"))
    assert [m["body"] for m in twilio.messages] == ["You said: again"], "the channel recovers"


# -- configuration ---------------------------------------------------------------------------------------------

async def test_without_credentials_the_webhook_says_so(servers, twilio):
    webhook = await servers.start(TwilioInput(TwilioSettings()), FakeAgent())
    response = await webhook.post(inbound("hello"), signature="anything")
    assert response.status_code == 503
    assert "TWILIO_ACCOUNT_SID" in response.text and "TWILIO_AUTH_TOKEN" in response.text
    async with httpx.AsyncClient() as client:
        health = await client.get(webhook.url.rsplit("/", 1)[0] + "/")
    assert health.json() == {"status": "not configured"}
    assert webhook.agent.received == []


def test_credentials_come_from_the_environment_unless_the_entry_sets_them(monkeypatch):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("TWILIO_WHATSAPP_FROM", "+14155238886")
    monkeypatch.setenv("TWILIO_PUBLIC_URL", PUBLIC_URL)
    channel = TwilioInput.from_credentials(None)
    assert channel.settings.configured and channel.settings.public_url == PUBLIC_URL
    assert channel.settings.whatsapp_from == WHATSAPP_FROM
    assert TwilioInput.from_credentials({"sms_from": "+15550001111"}).settings.sms_from == "+15550001111"
    monkeypatch.delenv("TWILIO_AUTH_TOKEN")
    assert not TwilioInput.from_credentials({}).settings.configured
