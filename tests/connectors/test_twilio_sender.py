"""The Twilio sender against a fake Messages API on loopback: what goes over the wire and how failures map."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from backend.notifications.delivery import DeliveryError, OutboundMessage, Recipient, Sender
from connectors.senders.twilio import (
    MAX_BODY_CHARACTERS,
    TwilioMessages,
    TwilioSender,
    TwilioSettings,
    numbered_options,
    senders_from_environ,
    split_text,
)
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
WHATSAPP_FROM = "whatsapp:+14155238886"
SMS_FROM = "+15005550006"
TEMPLATE_SID = "HX" + "ab" * 16
USER_NUMBER = "+919876543210"


@pytest.fixture
def twilio():
    with FakeTwilio(templates={TEMPLATE_SID: "You have a new message from Sahayak: {{1}}"}) as fake:
        yield fake


def settings_for(fake: FakeTwilio, **overrides) -> TwilioSettings:
    values = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "whatsapp_from": WHATSAPP_FROM,
              "sms_from": SMS_FROM, "api_base_url": fake.url, "timeout": "2"}
    return TwilioSettings.from_mapping({**values, **overrides})


def sender(fake: FakeTwilio, channel: str = "whatsapp", **overrides) -> TwilioSender:
    return TwilioSender(channel, settings_for(fake, **overrides), clock=lambda: NOW)


def recipient(channel: str = "whatsapp", last_inbound_at=NOW - timedelta(hours=1), language: str = "ta") -> Recipient:
    address = f"whatsapp:{USER_NUMBER}" if channel == "whatsapp" else USER_NUMBER
    return Recipient(user_id=7, channel=channel, address=address, language=language, last_inbound_at=last_inbound_at)


def message(text: str = "உங்கள் டிக்கெட் புதுப்பிக்கப்பட்டது", **fields) -> OutboundMessage:
    return OutboundMessage(idempotency_key="ticket-1-updated", text=text, **fields)


# -- text ------------------------------------------------------------------------------------------------------

def test_short_text_is_one_piece_and_long_text_splits_at_word_boundaries():
    assert split_text("  hello  ") == ["hello"]
    words = " ".join(f"word{i}" for i in range(600))  # about 4,700 characters
    pieces = split_text(words)
    assert len(pieces) == 3
    assert all(len(p) <= MAX_BODY_CHARACTERS for p in pieces)
    assert " ".join(pieces) == words, "nothing lost, no word cut"


def test_splitting_prefers_paragraphs_and_never_cuts_a_tamil_letter():
    paragraphs = ["அ" * 1000, "ஆ" * 1000]
    assert split_text("\n\n".join(paragraphs)) == paragraphs
    # No space at all: the cut must not separate the vowel sign "ி" from its consonant "க".
    text = "கி" * 1000
    pieces = split_text(text)
    assert "".join(pieces) == text
    assert all(len(p) <= MAX_BODY_CHARACTERS and not p.startswith("ி") for p in pieces)


def test_buttons_become_numbered_options():
    buttons = ({"title": "மொழியை மாற்று", "payload": "/switch_language"},
               {"title": "ஒருவரிடம் பேசு", "payload": "/request_human"})
    assert numbered_options("என்ன செய்யலாம்?", buttons) == "என்ன செய்யலாம்?\n\n1. மொழியை மாற்று\n2. ஒருவரிடம் பேசு"
    assert numbered_options("Hello", ()) == "Hello"


# -- sending ---------------------------------------------------------------------------------------------------

async def test_a_whatsapp_message_inside_the_window_is_a_session_message(twilio):
    whatsapp = sender(twilio)
    assert isinstance(whatsapp, Sender) and whatsapp.channel == "whatsapp"
    await whatsapp.send(recipient(), message(buttons=({"title": "Yes", "payload": "/affirm"},)))
    (request,) = twilio.requests
    assert request["path"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request["auth"] == (ACCOUNT_SID, AUTH_TOKEN)
    assert request["content_type"].startswith("application/x-www-form-urlencoded")
    assert (request["To"], request["From"]) == (f"whatsapp:{USER_NUMBER}", WHATSAPP_FROM)
    assert request["Body"] == "உங்கள் டிக்கெட் புதுப்பிக்கப்பட்டது\n\n1. Yes"
    assert "ContentSid" not in request


async def test_a_long_message_is_sent_in_pieces_of_at_most_1600_characters(twilio):
    text = "\n".join(f"Line {i}: " + "x" * 90 for i in range(40))  # 40 lines, about 3,900 characters
    await sender(twilio).send(recipient(), message(text))
    bodies = [r["Body"] for r in twilio.requests]
    assert len(bodies) == 3 and all(len(b) <= 1600 for b in bodies)
    assert "\n".join(bodies) == text
    assert len(twilio.messages) == 3, "the fake accepted every piece"


async def test_media_goes_by_url_with_the_first_piece(twilio):
    await sender(twilio).send(recipient(), message("Your receipt", image="https://files.example.org/r.png",
                                                   document="https://files.example.org/r.pdf"))
    (request,) = twilio.requests
    assert request["MediaUrl"] == ["https://files.example.org/r.png", "https://files.example.org/r.pdf"]
    assert twilio.messages[0]["num_media"] == "2"


async def test_outside_the_window_a_configured_template_is_used(twilio):
    whatsapp = sender(twilio, whatsapp_template_sid=TEMPLATE_SID)
    await whatsapp.send(recipient(last_inbound_at=NOW - timedelta(hours=25)), message("Line one\nline two"))
    (request,) = twilio.requests
    assert request["To"] == f"whatsapp:{USER_NUMBER}" and request["From"] == WHATSAPP_FROM
    assert request["ContentSid"] == TEMPLATE_SID and "Body" not in request
    assert json.loads(request["ContentVariables"]) == {"1": "Line one line two"}, "no new lines in a variable"
    assert twilio.messages[0]["body"] == "You have a new message from Sahayak: Line one line two"


@pytest.mark.parametrize("last_inbound_at", [None, NOW - timedelta(days=3)])
async def test_outside_the_window_without_a_template_it_falls_back_to_sms(twilio, last_inbound_at):
    await sender(twilio).send(recipient(last_inbound_at=last_inbound_at), message("Your ticket was updated"))
    (request,) = twilio.requests
    assert (request["To"], request["From"]) == (USER_NUMBER, SMS_FROM)
    assert request["Body"] == "Your ticket was updated"


async def test_a_window_just_open_still_allows_a_session_message_and_naive_times_are_utc(twilio):
    await sender(twilio).send(recipient(last_inbound_at=(NOW - timedelta(hours=23)).replace(tzinfo=None)), message())
    assert twilio.requests[0]["From"] == WHATSAPP_FROM


async def test_without_template_or_sms_number_a_closed_window_is_a_permanent_failure(twilio):
    whatsapp = TwilioSender("whatsapp", settings_for(twilio, sms_from=""), clock=lambda: NOW)
    with pytest.raises(DeliveryError) as error:
        await whatsapp.send(recipient(last_inbound_at=None), message())
    assert error.value.permanent and "TWILIO_WHATSAPP_TEMPLATE_SID" in error.value.reason
    assert twilio.requests == []


async def test_the_sms_sender_uses_its_own_number(twilio):
    sms = sender(twilio, channel="sms")
    await sms.send(recipient(channel="sms", last_inbound_at=None), message("Hello"))
    (request,) = twilio.requests
    assert (request["To"], request["From"], request["Body"]) == (USER_NUMBER, SMS_FROM, "Hello")


# -- failures --------------------------------------------------------------------------------------------------

async def test_a_server_error_is_retryable(twilio):
    twilio.mode = "error"
    with pytest.raises(DeliveryError) as error:
        await sender(twilio).send(recipient(), message())
    assert not error.value.permanent and "500" in error.value.reason


@pytest.mark.parametrize("retry_after, expected", [("7", 7.0), (None, None)])
async def test_rate_limiting_is_retryable_and_passes_retry_after_on(twilio, retry_after, expected):
    twilio.mode, twilio.retry_after = "rate_limited", retry_after
    with pytest.raises(DeliveryError) as error:
        await sender(twilio).send(recipient(), message())
    assert not error.value.permanent and error.value.retry_after == expected
    assert "20429" in error.value.reason


async def test_a_timeout_is_retryable(twilio):
    twilio.mode, twilio.hang_seconds = "hang", 1
    with pytest.raises(DeliveryError) as error:
        await sender(twilio, timeout="0.3").send(recipient(), message())
    assert not error.value.permanent and "did not answer" in error.value.reason


async def test_an_unreachable_api_is_retryable(twilio):
    with FakeTwilio() as gone:
        url = gone.url
    with pytest.raises(DeliveryError) as error:
        await sender(twilio, api_base_url=url).send(recipient(), message())
    assert not error.value.permanent and "could not reach Twilio" in error.value.reason


async def test_an_invalid_number_is_permanent(twilio):
    twilio.invalid_numbers.add(USER_NUMBER)
    with pytest.raises(DeliveryError) as error:
        await sender(twilio).send(recipient(), message())
    assert error.value.permanent and "21211" in error.value.reason
    assert twilio.messages == []


async def test_wrong_credentials_are_reported_but_retryable(twilio):
    with pytest.raises(DeliveryError) as error:
        await sender(twilio, auth_token="wrong").send(recipient(), message())
    assert not error.value.permanent and "TWILIO_AUTH_TOKEN" in error.value.reason


async def test_an_empty_message_is_not_sent(twilio):
    with pytest.raises(DeliveryError) as error:
        await sender(twilio).send(recipient(), message("  "))
    assert error.value.permanent and twilio.requests == []


# -- configuration ---------------------------------------------------------------------------------------------

def test_senders_from_environ_builds_only_the_configured_channels(twilio):
    base = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_BASE_URL": twilio.url}
    assert senders_from_environ({}) == {}
    assert senders_from_environ({**base, "TWILIO_WHATSAPP_FROM": "+14155238886"}).keys() == {"whatsapp"}
    both = senders_from_environ({**base, "TWILIO_WHATSAPP_FROM": "+14155238886", "TWILIO_SMS_FROM": SMS_FROM})
    assert both.keys() == {"whatsapp", "sms"}
    assert both["whatsapp"].settings.whatsapp_from == WHATSAPP_FROM, "the whatsapp: prefix is added"


def test_settings_reject_a_bad_timeout_and_need_credentials():
    with pytest.raises(ValueError, match="TWILIO_TIMEOUT"):
        TwilioSettings.from_environ({"TWILIO_TIMEOUT": "soon"})
    with pytest.raises(ValueError, match="TWILIO_ACCOUNT_SID"):
        TwilioMessages(TwilioSettings.from_environ({"TWILIO_AUTH_TOKEN": AUTH_TOKEN}))
