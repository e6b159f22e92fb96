"""Telegram end to end: updates posted to the real Rasa server's webhook (as Telegram or the poller posts them), the
real bot and actions answering through the fake Bot API."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys

import httpx
import pytest

from backend.db import session_scope
from backend.services import users
from bot.catalogue import load_locale
from tests.fakes.telegram import TOKEN, callback_update, photo_update, text_update
from tests.integration.conftest import ROOT, TELEGRAM_WEBHOOK_SECRET

pytestmark = pytest.mark.integration

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def text_of(language: str, key: str) -> str:
    return load_locale(language)[key][0]["text"]


def new_chat() -> int:
    return random.randint(10**9, 2 * 10**9)


def deliver(stack, update: dict, secret: str | None = TELEGRAM_WEBHOOK_SECRET) -> httpx.Response:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    return httpx.post(f"{stack.rasa_url}/webhooks/telegram/webhook", json=update, headers=headers, timeout=60)


@pytest.mark.parametrize("language, message", [("hi", "नमस्ते जी"), ("ta", "வணக்கம் நண்பா"),
                                               ("es", "hola buenas tardes")])
def test_a_message_is_answered_through_the_bot_api_in_the_users_language(stack, language, message):
    chat = new_chat()
    answer = deliver(stack, text_update(chat, message, language_code=language))
    assert (answer.status_code, answer.json()) == (200, {"status": "processed"})
    assert stack.telegram.texts_to(chat) == [text_of(language, "utter_greet")]


@pytest.mark.parametrize("secret", [None, "wrong", TELEGRAM_WEBHOOK_SECRET + "-"])
def test_a_wrong_or_missing_secret_is_refused_and_the_bot_says_nothing(stack, secret):
    chat = new_chat()
    assert deliver(stack, text_update(chat, "hello there"), secret=secret).status_code == 403
    assert stack.telegram.sent_to(chat) == []


def test_the_same_update_delivered_twice_is_answered_once(stack):
    chat = new_chat()
    update = text_update(chat, "thanks a lot")
    assert deliver(stack, update).json() == {"status": "processed"}
    assert deliver(stack, update).json() == {"status": "duplicate"}
    assert stack.telegram.texts_to(chat) == [text_of("en", "utter_you_are_welcome")]


def test_menu_buttons_arrive_as_an_inline_keyboard_and_presses_continue_the_conversation(stack):
    chat = new_chat()
    deliver(stack, text_update(chat, "मुझे बताइए आप क्या कर सकते हैं", language_code="hi"))
    (menu,) = stack.telegram.sent_to(chat)
    hindi_menu = load_locale("hi")["utter_menu"][0]
    assert menu["params"]["text"] == hindi_menu["text"]
    keyboard = [row[0] for row in menu["params"]["reply_markup"]["inline_keyboard"]]
    assert [b["text"] for b in keyboard] == [b["title"] for b in hindi_menu["buttons"]]
    assert [b["callback_data"] for b in keyboard] == ["/create_ticket", "/list_tickets", "/switch_language", "/request_human"]

    press = callback_update(chat, "/switch_language", keyboard_message=menu["result"], language_code="hi")
    assert deliver(stack, press).json() == {"status": "processed"}
    assert press["callback_query"]["id"] in [r["params"]["callback_query_id"]
                                             for r in stack.telegram.calls("answerCallbackQuery")]
    question = stack.telegram.sent_to(chat)[-1]
    assert question["params"]["text"] == text_of("hi", "utter_ask_language")
    languages = {row[0]["text"]: row[0] for row in question["params"]["reply_markup"]["inline_keyboard"]}
    assert len(languages) == 6

    tamil = languages["தமிழ்"]
    deliver(stack, callback_update(chat, tamil["callback_data"], keyboard_message=question["result"]))
    assert stack.telegram.texts_to(chat)[-1] == text_of("ta", "utter_language_switched")
    with session_scope(stack.database_url) as session:
        profile = users.profile(session, "telegram", str(chat))
    assert (profile.preferred_language, profile.language_explicit) == ("ta", True)


def test_telegram_commands_start_and_lang(stack):
    chat = new_chat()
    deliver(stack, text_update(chat, "/start"))
    deliver(stack, text_update(chat, "/lang es"))
    deliver(stack, text_update(chat, "thank you so much"))
    assert stack.telegram.texts_to(chat) == [text_of("en", "utter_greet"), text_of("es", "utter_language_switched"),
                                             text_of("es", "utter_you_are_welcome")]


def test_a_photo_is_understood_by_its_caption(stack):
    chat = new_chat()
    assert deliver(stack, photo_update(chat, caption="hello there")).json() == {"status": "processed"}
    assert stack.telegram.texts_to(chat) == [text_of("en", "utter_greet")]


def test_the_poller_brings_updates_to_the_bot_and_stops_on_sigterm(stack):
    chat = new_chat()
    update = stack.telegram.push_update(text_update(chat, "hola buenas tardes", language_code="es"))
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_WEBHOOK_SECRET,
           "TELEGRAM_API_BASE_URL": stack.telegram.url, "RASA_URL": stack.rasa_url, "PYTHONUNBUFFERED": "1"}
    env.pop("TELEGRAM_WEBHOOK_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "connectors.telegram_polling"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # answered, and confirmed to Telegram: the poller asked for the updates after it
        stack.telegram.wait_for(lambda requests: stack.telegram.texts_to(chat) and any(
            r["method"] == "getUpdates" and (r["params"].get("offset") or 0) > update["update_id"]
            for r in requests), timeout=60)
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, output
    assert stack.telegram.texts_to(chat) == [text_of("es", "utter_greet")]
    assert update["update_id"] not in [u["update_id"] for u in stack.telegram.pending_updates]
