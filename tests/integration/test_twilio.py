"""WhatsApp and SMS end to end: signed Twilio webhooks to the real stack, replies through the fake Twilio API."""
from __future__ import annotations

import secrets

import httpx
import pytest
from twilio.request_validator import RequestValidator

from backend.db import session_scope
from backend.models import ChannelIdentity
from backend.services import users
from bot.catalogue import load_locale
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN
from tests.integration.conftest import TWILIO_PUBLIC_URL, TWILIO_SMS_FROM, TWILIO_WHATSAPP_FROM

pytestmark = pytest.mark.integration


def text_of(language: str, key: str) -> str:
    return load_locale(language)[key][0]["text"]


def with_options(language: str, key: str) -> str:
    response = load_locale(language)[key][0]
    options = "\n".join(f"{n}. {b['title']}" for n, b in enumerate(response["buttons"], start=1))
    return f"{response['text']}\n\n{options}"


def new_number() -> str:
    return "+9198" + "".join(secrets.choice("0123456789") for _ in range(8))


def inbound(sender: str, body: str, sid: str | None = None) -> dict:
    sid = sid or "SM" + secrets.token_hex(16)
    to = TWILIO_WHATSAPP_FROM if sender.startswith("whatsapp:") else TWILIO_SMS_FROM
    return {"SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid, "SmsStatus": "received", "Body": body,
            "To": to, "NumSegments": "1", "MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": sender,
            "ApiVersion": "2010-04-01"}


def deliver(stack, params: dict, signed: bool = True) -> httpx.Response:
    """Posts to Rasa on loopback what Twilio signed for the public URL, as a proxy in front of Rasa passes it on."""
    headers = {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(TWILIO_PUBLIC_URL, params)}
    response = httpx.post(f"{stack.rasa_url}/webhooks/twilio/webhook", data=params,
                          headers=headers if signed else {}, timeout=30)
    return response


def test_a_whatsapp_conversation_in_tamil_with_numbered_options(stack):
    user = f"whatsapp:{new_number()}"
    greeting = inbound(user, "வணக்கம் நண்பா")
    answered = deliver(stack, greeting)
    assert answered.status_code == 200 and "<Response" in answered.text
    assert deliver(stack, greeting).status_code == 200, "Twilio delivers the same message again"
    deliver(stack, inbound(user, "நீங்க என்ன என்ன செய்ய முடியும்?"))
    hello, menu = stack.twilio.wait_for_messages(user, 2)
    assert (hello["from"], hello["body"]) == (TWILIO_WHATSAPP_FROM, text_of("ta", "utter_greet"))
    assert menu["body"] == with_options("ta", "utter_menu"), "the repeated greeting was not answered twice"

    deliver(stack, inbound(user, "3"))  # 3. மொழியை மாற்று
    question = stack.twilio.wait_for_messages(user, 3)[-1]
    assert question["body"] == with_options("ta", "utter_ask_language")

    deliver(stack, inbound(user, "4"))  # 4. Español
    switched = stack.twilio.wait_for_messages(user, 4)[-1]
    assert switched["body"] == text_of("es", "utter_language_switched")

    with session_scope(stack.database_url) as session:
        profile = users.profile(session, "whatsapp", user)
        channels = {i.channel for i in session.query(ChannelIdentity).filter_by(channel_user_id=user)}
    assert channels == {"whatsapp"}
    assert (profile.preferred_language, profile.language_explicit) == ("es", True)


def test_an_sms_in_hindi_is_answered_by_sms_in_hindi(stack):
    user = new_number()
    assert deliver(stack, inbound(user, "नमस्ते जी")).status_code == 200
    (reply,) = stack.twilio.wait_for_messages(user, 1)
    assert (reply["from"], reply["body"]) == (TWILIO_SMS_FROM, text_of("hi", "utter_greet"))


def test_an_unsigned_webhook_is_refused(stack):
    user = f"whatsapp:{new_number()}"
    response = deliver(stack, inbound(user, "hello"), signed=False)
    assert response.status_code == 403
    with session_scope(stack.database_url) as session:
        assert session.query(ChannelIdentity).filter_by(channel_user_id=user).count() == 0
    assert stack.twilio.messages_to(user) == []
