"""The Telegram input channel, served by Sanic on loopback as Rasa mounts it, with a stand-in for Rasa's agent and
the fake Bot API behind python-telegram-bot."""
from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest

from bot.catalogue import load_locale
from connectors.telegram import TelegramInput, TelegramOutput
from connectors.telegram_output import (
    MAX_CALLBACK_DATA_BYTES,
    SECRET_HEADER,
    CallbackPayloads,
    RetryPolicy,
    TelegramMessenger,
    TelegramSettings,
    telegram_length,
)
from tests.connectors.telegram_fixtures import (  # noqa: F401 - fixtures
    StubAgent,
    file_server,
    serve,
    telegram,
)
from tests.fakes.telegram import (
    TOKEN,
    callback_update,
    group_chat,
    location_update,
    photo_update,
    text_update,
    user,
)

SECRET = "test-webhook-secret_123"
WEBHOOK = "/webhooks/telegram/webhook"


def make_channel(telegram, database_url, sleeps=None, **settings) -> TelegramInput:
    """A channel on the fake API. Flood waits and backoffs are recorded in ``sleeps`` instead of slept."""
    values = {"token": TOKEN, "webhook_secret": SECRET, "api_base_url": telegram.url, "timeout": 1.0, **settings}
    config = TelegramSettings(**values)
    callbacks = CallbackPayloads()

    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    policy = RetryPolicy(max_flood_wait=config.max_flood_wait, server_error_backoff=0.01, sleep=sleep)
    return TelegramInput(config, database_url=database_url, callbacks=callbacks,
                         messenger_factory=lambda: TelegramMessenger(config.make_bot(), policy=policy,
                                                                     callbacks=callbacks, timeout=config.timeout))


async def post(base: str, update, secret=SECRET) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    body = update if isinstance(update, (bytes, str)) else json.dumps(update)
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(base + WEBHOOK, content=body, headers=headers)


@pytest.fixture
async def webhook(telegram, database_url, serve):
    """(base URL, agent) of a channel that echoes every message."""
    agent = StubAgent()
    return await serve(make_channel(telegram, database_url), agent), agent


async def test_a_text_message_reaches_rasa_with_telegram_metadata_and_the_reply_goes_back(webhook, telegram):
    base, agent = webhook
    update = text_update(1111111, "नमस्ते जी", language_code="hi")
    answer = await post(base, update)
    assert (answer.status_code, answer.json()) == (200, {"status": "processed"})
    (message,) = agent.messages
    assert (message.text, message.sender_id, message.input_channel) == ("नमस्ते जी", "1111111", "telegram")
    assert message.metadata["channel"] == "telegram"
    details = message.metadata["telegram"]
    assert details["update_id"] == update["update_id"]
    assert (details["chat_id"], details["chat_type"], details["kind"]) == (1111111, "private", "text")
    assert details["user"]["language_code"] == "hi"
    assert telegram.texts_to(1111111) == ["echo: नमस्ते जी"]


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET.upper(), SECRET + "x"])
async def test_a_wrong_or_missing_secret_gets_403_and_nothing_is_processed(webhook, telegram, secret):
    base, agent = webhook
    update = text_update(2222222, "hello")
    answer = await post(base, update, secret=secret)
    assert answer.status_code == 403
    assert agent.messages == [] and telegram.requests == []
    # the refused delivery did not use up the update: the genuine one is still processed
    assert (await post(base, update)).json() == {"status": "processed"}


async def test_without_a_token_the_webhook_answers_503_and_says_so(telegram, database_url, serve, monkeypatch):
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    channel = TelegramInput.from_credentials(None)
    agent = StubAgent()
    base = await serve(channel, agent)
    answer = await post(base, text_update(3333333, "hello"), secret="anything")
    assert answer.status_code == 503 and "TELEGRAM_BOT_TOKEN" in answer.json()["error"]
    assert agent.messages == [] and channel.get_output_channel() is None
    async with httpx.AsyncClient() as client:
        assert (await client.get(base + "/webhooks/telegram/")).json()["configured"] is False


def test_credentials_come_from_the_environment_unless_the_entry_sets_them(monkeypatch):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "1:env-token")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "env-secret")
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("TELEGRAM_ALLOW_GROUPS", "ignore")
    from_environment = TelegramInput.from_credentials(None).settings
    assert (from_environment.token, from_environment.secret, from_environment.api_base_url,
            from_environment.groups) == ("1:env-token", "env-secret", "http://127.0.0.1:9", "ignore")
    overridden = TelegramInput.from_credentials({"token": "2:entry-token", "allow_groups": True,
                                                 "webhook_secret": ""}).settings
    assert (overridden.token, overridden.secret, overridden.groups) == ("2:entry-token", "env-secret", "serve")


def test_without_a_configured_secret_one_is_derived_from_the_token():
    first, same = TelegramSettings(token="1:abc"), TelegramSettings(token="1:abc")
    other = TelegramSettings(token="1:abd")
    assert first.secret == same.secret != other.secret
    assert first.secret and len(first.secret) == 64 and first.secret.isalnum()
    assert "abc" not in first.secret
    assert TelegramSettings(token="1:abc", webhook_secret="mine").secret == "mine"
    assert TelegramSettings().secret is None


async def test_the_same_update_delivered_twice_is_processed_once(webhook, telegram, database_url, serve):
    base, agent = webhook
    update = text_update(4444444, "hello")
    assert (await post(base, update)).json() == {"status": "processed"}
    assert (await post(base, update)).json() == {"status": "duplicate"}
    # another Rasa process (another channel on the same database) does not process it either
    other_agent = StubAgent()
    other = await serve(make_channel(telegram, database_url), other_agent)
    assert (await post(other, update)).json() == {"status": "duplicate"}
    assert [m.text for m in agent.messages] == ["hello"] and other_agent.messages == []
    assert telegram.texts_to(4444444) == ["echo: hello"]


async def test_concurrent_redeliveries_are_processed_once(webhook, telegram):
    base, agent = webhook
    update = text_update(4444445, "hello")
    answers = await asyncio.gather(*(post(base, update) for _ in range(6)))
    assert sorted(a.json()["status"] for a in answers) == ["duplicate"] * 5 + ["processed"]
    assert len(agent.messages) == 1 and telegram.texts_to(4444445) == ["echo: hello"]


@pytest.mark.parametrize("body", [b"not json", b'["a list"]', b"{}", b'{"update_id": "12"}',
                                  b'{"update_id": 5, "message": {"text": "no chat"}}'])
async def test_a_malformed_update_gets_a_400(webhook, body):
    base, agent = webhook
    answer = await post(base, body)
    assert answer.status_code == 400 and agent.messages == []


async def test_updates_that_are_not_conversations_are_acknowledged_and_ignored(webhook):
    base, agent = webhook
    channel_post = {"update_id": 987654, "channel_post": {"message_id": 1, "date": 1700000000, "text": "news",
                                                          "chat": {"id": -1001000, "type": "channel",
                                                                   "title": "News"}}}
    assert (await post(base, channel_post)).json() == {"status": "ignored"}
    assert agent.messages == []


@pytest.mark.parametrize("text", ["/start", "/help", "/lang ta", "/start@sahayak_test_bot", "/menu"])
async def test_commands_go_to_rasa_as_they_are(webhook, text):
    base, agent = webhook
    await post(base, text_update(5555555, text))
    (message,) = agent.messages
    assert message.text == text and message.metadata["telegram"]["kind"] == "command"


async def test_an_edited_message_is_processed_as_the_new_text(webhook, telegram):
    base, agent = webhook
    original = text_update(6666666, "helo")
    edited = text_update(6666666, "hello, I need help", edited=True)
    await post(base, original)
    assert (await post(base, edited)).json() == {"status": "processed"}
    assert [m.text for m in agent.messages] == ["helo", "hello, I need help"]
    assert agent.messages[1].metadata["telegram"]["edited"] is True
    assert "edited" not in agent.messages[0].metadata["telegram"]


async def test_a_long_reply_is_split_at_4096_on_word_boundaries_in_order(telegram, database_url, serve):
    paragraph = " ".join(["வணக்கம்", "नमस्ते", "hello", "🙏"] * 300)
    long_text = "\n\n".join([paragraph] * 4)
    agent = StubAgent(lambda message: [{"text": long_text}])
    base = await serve(make_channel(telegram, database_url), agent)
    await post(base, text_update(7777777, "menu"))
    parts = telegram.texts_to(7777777)
    assert len(parts) > 2 and all(telegram_length(part) <= 4096 for part in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(long_text.split())
    words = set(long_text.split())
    assert all(part.split()[0] in words and part.split()[-1] in words for part in parts)


async def test_buttons_arrive_as_an_inline_keyboard_and_a_press_continues_the_conversation(
        telegram, database_url, serve):
    long_payload = '/switch_language{"language": "ta-Latn", "source": "menu", "note": "a payload over 64 bytes"}'
    buttons = [{"title": "Change language", "payload": "/switch_language"},
               {"title": "Tamil (Latin letters)", "payload": long_payload}]
    agent = StubAgent(lambda m: [{"text": "Pick one", "buttons": buttons}] if m.text == "menu"
                      else [{"text": f"you chose {m.text}"}])
    base = await serve(make_channel(telegram, database_url), agent)
    await post(base, text_update(8888888, "menu"))
    (sent,) = telegram.sent_to(8888888)
    keyboard = sent["params"]["reply_markup"]["inline_keyboard"]
    assert [row[0]["text"] for row in keyboard] == ["Change language", "Tamil (Latin letters)"]
    assert keyboard[0][0]["callback_data"] == "/switch_language"
    assert len(keyboard[1][0]["callback_data"].encode()) <= MAX_CALLBACK_DATA_BYTES

    press = callback_update(8888888, keyboard[1][0]["callback_data"], keyboard_message=sent["result"])
    assert (await post(base, press)).json() == {"status": "processed"}
    (answered,) = telegram.calls("answerCallbackQuery")
    assert answered["params"]["callback_query_id"] == press["callback_query"]["id"]
    pressed = agent.messages[-1]
    assert (pressed.text, pressed.sender_id) == (long_payload, "8888888")
    assert pressed.metadata["telegram"]["kind"] == "button"
    assert pressed.metadata["telegram"]["button"] == "Tamil (Latin letters)"
    assert telegram.texts_to(8888888)[-1] == f"you chose {long_payload}"


async def test_a_button_key_nobody_knows_is_answered_as_expired_and_not_processed(webhook, telegram):
    base, agent = webhook
    press = callback_update(8888889, CallbackPayloads.PREFIX + "unknownkey", language_code="es")
    assert (await post(base, press)).json() == {"status": "ignored"}
    (answered,) = telegram.calls("answerCallbackQuery")
    assert answered["params"]["text"] == load_locale("es")["utter_button_expired"][0]["text"]
    assert answered["params"]["show_alert"] is True
    assert agent.messages == []


def test_a_catalogue_payload_sent_as_a_key_maps_back_in_a_process_that_did_not_send_it():
    payload = '/switch_language{"language": "hi-Latn"}'  # a button of utter_ask_language, as Rasa renders it
    fresh = CallbackPayloads()
    assert fresh.payload_for(CallbackPayloads.key_of(payload)) == payload
    assert fresh.payload_for(CallbackPayloads.key_of(payload + " never sent")) is None


async def test_a_photo_round_trip(telegram, database_url, serve, file_server):
    file_server.files["/charts/sales.png"] = ("image/png", b"\x89PNG\r\n\x1a\n-chart-")
    agent = StubAgent(lambda m: [{"text": "Here is your chart", "image": f"{file_server.url}/charts/sales.png"},
                                 {"image": "https://example.com/stock/rice.jpg"}])
    base = await serve(make_channel(telegram, database_url), agent)
    update = photo_update(1212121, caption="my receipt")
    await post(base, update)
    (message,) = agent.messages
    assert message.text == "my receipt" and message.metadata["telegram"]["kind"] == "photo"
    assert message.metadata["telegram"]["photo"]["file_id"] == "AgACAgQAAxkBAAIBZ2X0large"
    text, chart, remote = telegram.sent_to(1212121)
    assert (text["method"], chart["method"], remote["method"]) == ("sendMessage", "sendPhoto", "sendPhoto")
    # a chart on this machine is uploaded (Telegram could not fetch it); a public image goes by URL
    assert chart["files"]["photo"]["data"] == b"\x89PNG\r\n\x1a\n-chart-"
    assert chart["files"]["photo"]["filename"] == "sales.png"
    assert remote["params"]["photo"] == "https://example.com/stock/rice.jpg" and not remote["files"]


async def test_a_location_round_trip(telegram, database_url, serve):
    agent = StubAgent(lambda m: [{"text": "The nearest shop:"},
                                 {"custom": {"location": {"latitude": 13.0827, "longitude": 80.2707}}}])
    base = await serve(make_channel(telegram, database_url), agent)
    await post(base, location_update(1313131, 12.9716, 77.5946))
    (message,) = agent.messages
    assert message.text == "" and message.metadata["telegram"]["kind"] == "location"
    assert message.metadata["telegram"]["location"] == {"latitude": 12.9716, "longitude": 77.5946}
    text, location = telegram.sent_to(1313131)
    assert location["method"] == "sendLocation"
    assert (location["params"]["latitude"], location["params"]["longitude"]) == (13.0827, 80.2707)


async def test_a_csv_export_is_sent_as_a_document(telegram, database_url, serve, file_server):
    file_server.files["/exports/stock.csv"] = ("text/csv", b"item,qty\nrice,12\n")
    agent = StubAgent(lambda m: [{"attachment": f"{file_server.url}/exports/stock.csv"}])
    base = await serve(make_channel(telegram, database_url), agent)
    await post(base, text_update(1414141, "export my stock"))
    (document,) = telegram.sent_to(1414141)
    assert document["method"] == "sendDocument"
    assert document["files"]["document"]["data"] == b"item,qty\nrice,12\n"
    assert document["files"]["document"]["filename"] == "stock.csv"


@pytest.mark.parametrize("policy, processed, replies", [
    ("refuse", 0, [load_locale("hi")["utter_group_refused"][0]["text"]]),
    ("ignore", 0, []),
    ("serve", 2, ["echo: /help@sahayak_test_bot", "echo: hello everyone"]),
])
async def test_group_chats_are_refused_once_ignored_or_served_as_configured(
        telegram, database_url, serve, policy, processed, replies):
    agent = StubAgent()
    base = await serve(make_channel(telegram, database_url, groups=policy), agent)
    group = group_chat(-1001500000001)
    for text in ("/help@sahayak_test_bot", "hello everyone"):
        update = text_update(-1001500000001, text, chat=group, sender=user(4242, language_code="hi"))
        assert (await post(base, update)).status_code == 200
    assert len(agent.messages) == processed
    assert telegram.texts_to(-1001500000001) == replies
    if processed:
        assert agent.messages[0].sender_id == "-1001500000001"


async def test_flood_control_is_waited_out_and_the_reply_is_not_dropped(telegram, database_url, serve):
    sleeps: list[float] = []
    agent = StubAgent()
    base = await serve(make_channel(telegram, database_url, sleeps), agent)
    telegram.fail("sendMessage", 429, retry_after=7)
    assert (await post(base, text_update(1515151, "hello"))).status_code == 200
    assert [r["status"] for r in telegram.calls("sendMessage")] == [429, 200]
    assert sleeps == [7] and telegram.texts_to(1515151) == ["echo: hello"]


async def test_a_flood_wait_beyond_the_bound_is_logged_and_the_webhook_still_answers(
        telegram, database_url, serve, caplog):
    sleeps: list[float] = []
    base = await serve(make_channel(telegram, database_url, sleeps, max_flood_wait=30), StubAgent())
    telegram.fail("sendMessage", 429, retry_after=120)
    with caplog.at_level(logging.ERROR, logger="connectors.telegram"):
        assert (await post(base, text_update(1616161, "hello"))).status_code == 200
    assert sleeps == [] and telegram.texts_to(1616161) == []
    assert any("1616161" in r.getMessage() and "120" in r.getMessage() for r in caplog.records)


async def test_server_errors_are_retried_and_a_blocked_user_or_a_timeout_does_not_fail_the_webhook(
        telegram, database_url, serve, caplog):
    sleeps: list[float] = []
    base = await serve(make_channel(telegram, database_url, sleeps), StubAgent())
    telegram.fail("sendMessage", 500, times=2)
    await post(base, text_update(1717171, "hello"))
    assert [r["status"] for r in telegram.calls("sendMessage")] == [500, 500, 200]
    assert len(sleeps) == 2

    telegram.blocked_chats.add(1717172)
    with caplog.at_level(logging.ERROR, logger="connectors.telegram"):
        assert (await post(base, text_update(1717172, "hello"))).json() == {"status": "processed"}
    assert any("blocked" in r.getMessage() for r in caplog.records)

    telegram.hang_seconds = 3
    telegram.fail("sendMessage", "hang")
    before = len(telegram.calls("sendMessage"))
    assert (await post(base, text_update(1717173, "hello"))).status_code == 200
    assert len(telegram.calls("sendMessage")) == before + 1  # a timeout is not retried: it may have arrived


async def test_webhook_mode_sets_the_webhook_with_the_secret_when_the_server_starts(
        telegram, database_url, serve):
    channel = make_channel(telegram, database_url, webhook_url="https://shop.example.com")
    base = await serve(channel, StubAgent())
    assert telegram.webhook == {"url": "https://shop.example.com/webhooks/telegram/webhook",
                                "secret_token": SECRET,
                                "allowed_updates": ["message", "edited_message", "callback_query"]}
    async with httpx.AsyncClient() as client:
        assert (await client.get(base + "/webhooks/telegram/")).json() == {
            "status": "ok", "configured": True, "mode": "webhook"}


async def test_the_output_channel_is_available_to_rasa_for_messages_it_starts(telegram, database_url):
    channel = make_channel(telegram, database_url)
    output = channel.get_output_channel()
    assert isinstance(output, TelegramOutput) and output.name() == "telegram"
    await output.send_response("1818181", {"text": "Your order is ready",
                                           "buttons": [{"title": "OK", "payload": "/affirm"}]})
    (sent,) = telegram.sent_to(1818181)
    assert sent["params"]["reply_markup"]["inline_keyboard"] == [[{"text": "OK", "callback_data": "/affirm"}]]
