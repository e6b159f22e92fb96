"""Conversations with the real Rasa server, action server and backend, over the REST channel."""
from __future__ import annotations

import uuid

import httpx
import pytest

from backend.db import session_scope
from backend.services import users
from bot.catalogue import load_locale

pytestmark = pytest.mark.integration


def text_of(language: str, key: str) -> str:
    return load_locale(language)[key][0]["text"]


def new_sender(prefix: str = "it") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# (message, expected response) per native language, written as users of each language write.
CONVERSATIONS = {
    "en": [("hello there", "utter_greet"), ("what can you do for me?", "utter_menu"),
           ("are you a real person?", "utter_iamabot"), ("thanks a lot", "utter_you_are_welcome")],
    "hi": [("नमस्ते जी", "utter_greet"), ("आप क्या क्या कर सकते हैं?", "utter_menu"),
           ("क्या आप इंसान हैं या बॉट?", "utter_iamabot"), ("बहुत बहुत धन्यवाद", "utter_you_are_welcome")],
    "ta": [("வணக்கம் நண்பா", "utter_greet"), ("நீங்க என்ன என்ன செய்ய முடியும்?", "utter_menu"),
           ("நீங்க மனுஷனா இல்ல பாட்டா?", "utter_iamabot"), ("ரொம்ப நன்றி", "utter_you_are_welcome")],
    "es": [("hola buenas tardes", "utter_greet"), ("¿qué puedes hacer por mí?", "utter_menu"),
           ("¿eres una persona real o un bot?", "utter_iamabot"), ("muchas gracias", "utter_you_are_welcome")],
    "hi-Latn": [("namaste ji kaise ho", "utter_greet"), ("aap kya kya kar sakte ho?", "utter_menu"),
                ("kya aap insaan ho ya bot?", "utter_iamabot"), ("bahut bahut shukriya", "utter_you_are_welcome")],
    "ta-Latn": [("vanakkam nanba eppadi irukeenga", "utter_greet"), ("neenga enna ellam panna mudiyum?", "utter_menu"),
                ("neenga manushana illa bot ah?", "utter_iamabot"), ("romba nandri pa", "utter_you_are_welcome")],
}


@pytest.mark.parametrize("language", list(CONVERSATIONS))
def test_a_conversation_in_each_native_language_is_answered_in_that_language(stack, language):
    sender = new_sender(language)
    for message, response in CONVERSATIONS[language]:
        replies = stack.say(sender, message)
        assert [r.get("text") for r in replies] == [text_of(language, response)], message


def test_the_menu_offers_buttons_in_the_users_language(stack):
    (reply,) = stack.say(new_sender(), "मुझे बताइए आप क्या कर सकते हैं")
    assert [b["payload"] for b in reply["buttons"]] == ["/create_ticket", "/list_tickets", "/switch_language", "/request_human"]
    assert [b["title"] for b in reply["buttons"]] == [b["title"] for b in load_locale("hi")["utter_menu"][0]["buttons"]]


def test_a_chosen_language_holds_and_is_stored(stack):
    sender = new_sender()
    stack.say(sender, "hello")
    (switched,) = stack.say(sender, "/lang ta")
    assert switched["text"] == text_of("ta", "utter_language_switched")
    (thanks,) = stack.say(sender, "thank you so much")
    assert thanks["text"] == text_of("ta", "utter_you_are_welcome")
    with session_scope(stack.database_url) as session:
        profile = users.profile(session, "rest", sender)
    assert (profile.preferred_language, profile.language_explicit) == ("ta", True)


def test_a_language_button_switches_too(stack):
    sender = new_sender()
    (question,) = stack.say(sender, "I want to change the language")
    assert question["text"] == text_of("en", "utter_ask_language")
    payload = next(b["payload"] for b in question["buttons"] if b["title"] == "Español")
    (switched,) = stack.say(sender, payload)
    assert switched["text"] == text_of("es", "utter_language_switched")


def test_another_language_is_translated_both_ways_and_degrades_when_translation_fails(stack):
    question = "quels services pouvez-vous m'offrir dans cette application ?"
    stack.translator.translations[("fr", "en", question)] = "what services can you offer me in this app?"
    (menu,) = stack.say(new_sender(), question)
    english = load_locale("en")["utter_menu"][0]
    assert menu["text"] == f"[fr] {english['text']}"
    assert [b["title"] for b in menu["buttons"]] == [f"[fr] {b['title']}" for b in english["buttons"]]

    stack.translator.mode = "error"
    try:
        (notice,) = stack.say(new_sender(), "je voudrais parler avec quelqu'un de votre équipe aujourd'hui")
    finally:
        stack.translator.mode = "ok"
    assert notice["text"] == text_of("en", "utter_translation_unavailable")


@pytest.mark.parametrize(
    "message", ["", "   ", "help me please " * 700, "👍👍", "🙏", "hello नमस्ते வணக்கம் hola", "12345", "%%%???!!!"]
)
def test_odd_messages_get_a_sane_reply(stack, message):
    replies = stack.say(new_sender(), message)
    assert replies and all(r.get("text") for r in replies)


def test_an_empty_message_is_answered_as_such(stack):
    (reply,) = stack.say(new_sender(), "   ")
    assert reply["text"] == text_of("en", "utter_empty_message")


@pytest.mark.parametrize(
    "body", [b'{"sender": "x", "message": ', b"not json at all", b'["a", "list"]', b'{"sender": "x"}',
             b'{"sender": "x", "message": 42}', b'{"message": "hello"}']
)
def test_malformed_requests_get_a_4xx_not_a_crash(stack, body):
    response = httpx.post(f"{stack.rasa_url}/webhooks/rest/webhook", content=body,
                          headers={"Content-Type": "application/json"}, timeout=30)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])


def test_the_web_chat_page_talks_through_the_backend_with_its_own_sender(stack):
    with httpx.Client(base_url=stack.backend_url, timeout=30) as browser:
        assert "<html" in browser.get("/").text.lower()
        first = browser.post("/chat/messages", json={"message": "hello"})
        assert first.status_code == 200
        assert [r["text"] for r in first.json()] == [text_of("en", "utter_greet")]
        second = browser.post("/chat/messages", json={"message": "/lang hi"})
        assert second.json()[0]["recipient_id"] == first.json()[0]["recipient_id"]
        assert second.json()[0]["recipient_id"].startswith("web-")
    with httpx.Client(base_url=stack.backend_url, timeout=30) as stranger:
        other = stranger.post("/chat/messages", json={"message": "hello"})
        assert other.json()[0]["recipient_id"] != first.json()[0]["recipient_id"]


def test_rasa_parse_api_reports_language_and_intent(stack):
    parse = httpx.post(f"{stack.rasa_url}/model/parse", json={"text": "mujhe kisi insaan se baat karni hai"}).json()
    assert parse["intent"]["name"] == "request_human"
    assert parse["language"]["code"] == "hi-Latn"


def test_a_message_over_the_limit_gets_413(stack):
    response = httpx.post(f"{stack.rasa_url}/webhooks/rest/webhook",
                          json={"sender": new_sender(), "message": "x" * 25_000}, timeout=30)
    assert response.status_code == 413


def test_a_rest_client_cannot_claim_another_channel(stack):
    sender = new_sender()
    httpx.post(f"{stack.rasa_url}/webhooks/rest/webhook", timeout=30, json={
        "sender": sender, "message": "/lang ta", "input_channel": "telegram", "metadata": {"channel": "telegram"}})
    from backend.models import ChannelIdentity

    with session_scope(stack.database_url) as session:
        channels = {i.channel for i in session.query(ChannelIdentity).filter_by(channel_user_id=sender)}
    assert channels == {"rest"}


def test_one_word_messages_of_a_new_user_stay_in_the_language_they_started_in(stack):
    sender = new_sender()
    stack.say(sender, "vanakkam")
    (menu,) = stack.say(sender, "menu")
    assert menu["text"] == text_of("ta-Latn", "utter_menu")
