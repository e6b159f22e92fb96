"""The Telegram sender of the outbox worker, against the fake Bot API."""
from __future__ import annotations

import asyncio

import pytest

from backend.notifications.delivery import DeliveryError, OutboundMessage, Recipient, Sender
from connectors.senders.telegram import TelegramSender
from connectors.telegram_output import CallbackPayloads, TelegramSettings, telegram_length
from tests.connectors.telegram_fixtures import file_server, telegram  # noqa: F401 - fixtures
from tests.fakes.telegram import TOKEN

CHAT = 31337


def recipient(address=str(CHAT), channel="telegram") -> Recipient:
    return Recipient(user_id=1, channel=channel, address=address, language="ta", last_inbound_at=None)


def make_sender(telegram, **settings) -> TelegramSender:
    values = {"token": TOKEN, "api_base_url": telegram.url, "timeout": 1.0, **settings}
    return TelegramSender(TelegramSettings(**values), callbacks=CallbackPayloads(known=lambda: []))


def test_it_is_a_sender_and_exists_only_with_a_token(telegram):
    assert isinstance(make_sender(telegram), Sender) and make_sender(telegram).channel == "telegram"
    assert TelegramSender.from_environ({}) is None
    assert TelegramSender.from_environ({"TELEGRAM_BOT_TOKEN": TOKEN}).settings.token == TOKEN


async def test_text_buttons_image_and_document_arrive_in_order(telegram, file_server):
    file_server.files["/exports/stock.csv"] = ("text/csv", b"item,qty\n")
    message = OutboundMessage(
        idempotency_key="k1", text="உங்கள் ஆர்டர் தயார்", image="https://example.com/order.png",
        document=f"{file_server.url}/exports/stock.csv",
        buttons=({"title": "சரி", "payload": "/affirm"}, {"title": "உதவி", "payload": "/request_human"}),
    )
    await make_sender(telegram).send(recipient(), message)
    text, photo, document = telegram.sent_to(CHAT)
    assert (text["method"], photo["method"], document["method"]) == ("sendMessage", "sendPhoto", "sendDocument")
    assert text["params"]["text"] == "உங்கள் ஆர்டர் தயார்"
    assert text["params"]["reply_markup"]["inline_keyboard"] == [
        [{"text": "சரி", "callback_data": "/affirm"}], [{"text": "உதவி", "callback_data": "/request_human"}]]
    assert photo["params"]["photo"] == "https://example.com/order.png"
    assert document["files"]["document"]["data"] == b"item,qty\n"


async def test_a_long_text_goes_in_parts_with_the_buttons_on_the_last(telegram):
    message = OutboundMessage(idempotency_key="k2", text="नमस्ते दुनिया " * 800,
                              buttons=({"title": "OK", "payload": "/affirm"},))
    await make_sender(telegram).send(recipient(), message)
    sent = telegram.sent_to(CHAT)
    assert len(sent) == 3 and all(telegram_length(s["params"]["text"]) <= 4096 for s in sent)
    assert [("reply_markup" in s["params"]) for s in sent] == [False, False, True]


@pytest.mark.parametrize("setup, retry_after, permanent", [
    (lambda fake: fake.fail("sendMessage", 429, retry_after=17), 17, False),
    (lambda fake: fake.unknown_chats.add(CHAT), None, True),
    (lambda fake: fake.blocked_chats.add(CHAT), None, True),
    (lambda fake: fake.fail("sendMessage", 400, description="Bad Request: message text is empty"), None, True),
    (lambda fake: fake.fail("sendMessage", 500), None, False),
    (lambda fake: fake.fail("sendMessage", 502), None, False),
    (lambda fake: fake.fail("sendMessage", "hang"), None, False),
    (lambda fake: setattr(fake, "token", "999:another-token"), None, False),
], ids=["429", "chat-not-found", "blocked", "400", "500", "502", "timeout", "wrong-token"])
async def test_telegram_errors_become_delivery_errors_and_nothing_is_retried_here(
        telegram, setup, retry_after, permanent):
    telegram.hang_seconds = 2.5
    setup(telegram)
    with pytest.raises(DeliveryError) as raised:
        await make_sender(telegram).send(recipient(), OutboundMessage(idempotency_key="k3", text="hello"))
    assert (raised.value.retry_after, raised.value.permanent) == (retry_after, permanent)
    assert raised.value.reason
    assert len(telegram.calls("sendMessage")) == 1


async def test_an_unreachable_api_is_a_retryable_failure():
    sender = TelegramSender(TelegramSettings(token=TOKEN, api_base_url="http://127.0.0.1:9", timeout=1.0))
    with pytest.raises(DeliveryError) as raised:
        await sender.send(recipient(), OutboundMessage(idempotency_key="k4", text="hello"))
    assert (raised.value.retry_after, raised.value.permanent) == (None, False)


@pytest.mark.parametrize("status, permanent", [(404, True), (503, False)])
async def test_a_file_that_cannot_be_fetched_fails_as_its_server_says(telegram, file_server, status, permanent):
    url = f"{file_server.url}/missing.csv" if status == 404 else "http://127.0.0.1:9/export.csv"
    with pytest.raises(DeliveryError) as raised:
        await make_sender(telegram).send(recipient(), OutboundMessage(idempotency_key="k5", text="", document=url))
    assert raised.value.permanent is permanent


async def test_a_recipient_of_another_channel_or_without_chat_id_is_refused(telegram):
    sender = make_sender(telegram)
    for wrong in (recipient(channel="sms", address="+919800000000"), recipient(address=" ")):
        with pytest.raises(DeliveryError) as raised:
            await sender.send(wrong, OutboundMessage(idempotency_key="k6", text="hello"))
        assert raised.value.permanent
    assert telegram.requests == []


def test_one_sender_works_across_event_loops(telegram):
    sender = make_sender(telegram)
    for key in ("a", "b"):
        asyncio.run(sender.send(recipient(), OutboundMessage(idempotency_key=key, text=f"message {key}")))
    assert telegram.texts_to(CHAT) == ["message a", "message b"]
