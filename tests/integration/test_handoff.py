"""Handoff through the whole stack: the web chat, Rasa with the HandoffPolicy, the action server, the console
API, the outbox worker and the web chat inbox. (tests/browser drives the same in a real browser, in Hindi.)"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from contextlib import closing

import httpx
import pytest

from backend.db import session_scope
from backend.models import HandoffMessage, HumanRequest
from bot.catalogue import load_locale
from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration

PASSWORD = "integration agent password"


def text_of(language: str, key: str) -> str:
    return load_locale(language)[key][0]["text"]


def pattern_of(language: str, key: str, **known: str) -> re.Pattern:
    """The response as a regular expression: placeholders given are literal, the others any number."""
    parts = re.split(r"(\{\w+\})", text_of(language, key))
    regex = "".join(
        re.escape(known[p[1:-1]]) if p[1:-1] in known else r"\d+" if p.startswith("{") and p.endswith("}") else re.escape(p)
        for p in parts
    )
    return re.compile(f"^{regex}$")


@pytest.fixture(scope="module")
def agent(stack) -> str:
    username = f"agent{uuid.uuid4().hex[:6]}"
    result = subprocess.run(
        [sys.executable, "-m", "backend.agents", "create", "--username", username, "--name", "Kavya",
         "--team", "customer-care", "--language", "en", "--password-stdin"],
        input=PASSWORD + "\n", capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "DATABASE_URL": stack.database_url}, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    return username


def console(stack, username: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=stack.backend_url, timeout=30, follow_redirects=True)
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    queue = client.post("/console/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert queue.url.path == "/console"
    return client, re.search(r'data-csrf="([^"]+)"', queue.text).group(1)


def chat_sender(browser: httpx.Client) -> str:
    return "web-" + browser.cookies["sahayak_chat"].split(".")[0]


def inbox_texts(browser: httpx.Client, after: int, count: int) -> tuple[list[str], int]:
    """Wait (long poll) until ``count`` more messages reached the web chat's inbox."""
    texts: list[str] = []
    for _ in range(10):
        messages = browser.get(f"/chat/inbox?after={after}&wait=10").json()["messages"]
        texts += [m["text"] for m in messages]
        after = messages[-1]["id"] if messages else after
        if len(texts) >= count:
            break
    return texts, after


def test_a_person_takes_over_the_web_chat_and_hands_it_back(stack, agent) -> None:
    with httpx.Client(base_url=stack.backend_url, timeout=60) as browser:
        queued = browser.post("/chat/messages", json={"message": "I want to talk to a real person"}).json()
        sender = chat_sender(browser)
        with session_scope(stack.database_url) as session:
            chat = session.query(HumanRequest).filter_by(sender_id=sender, status="open").one()
            chat_id, ticket = chat.id, chat.ticket.reference
            assert (chat.team, chat.reason, chat.channel) == ("customer-care", "asked", "rest")
        assert [pattern_of("en", "utter_handoff_queued", reference=ticket).match(m["text"]) is not None
                for m in queued] == [True]

        # In agent mode the bot says nothing; the message reaches the agent and stays in Rasa's tracker.
        assert browser.post("/chat/messages", json={"message": "hello, is anyone there?"}).json() == []
        assert browser.post("/chat/messages", json={"message": "menu"}).json() == []
        # The web chat relayed them itself (no bot turn) and put the turn in Rasa's tracker under the same ids.
        tracker = httpx.get(f"{stack.rasa_url}/conversations/{sender}/tracker", timeout=30).json()
        with session_scope(stack.database_url) as session:
            relayed = [(m.text, m.external_id)
                       for m in session.query(HandoffMessage).filter_by(request_id=chat_id, kind="customer")]
        assert [text for text, _ in relayed] == ["hello, is anyone there?", "menu"]
        turns = [e.get("message_id") or e.get("name") for e in tracker["events"]
                 if e["event"] == "user" or (e["event"] == "action" and e["name"] != "action_session_start")]
        assert turns[-6:] == [relayed[0][1], "action_relay_to_agent", "action_listen",
                              relayed[1][1], "action_relay_to_agent", "action_listen"]

        kavya, csrf = console(stack, agent)
        with closing(kavya):
            waiting = {item["id"]: item for item in kavya.get("/console/api/queue").json()["items"]}
            assert waiting[chat_id]["status"] == "waiting" and waiting[chat_id]["ticket"] == ticket
            assert kavya.post(f"/console/api/chats/{chat_id}/take", headers={"X-CSRF-Token": csrf}).status_code == 200
            view = kavya.get(f"/console/api/chats/{chat_id}").json()
            assert view["tracker_available"]
            customer_turns = [e["text"] for e in view["entries"] if e["kind"] == "customer"]
            assert customer_turns[-2:] == ["hello, is anyone there?", "menu"]
            assert "I want to talk to a real person" in customer_turns
            assert any(e["kind"] == "bot" for e in view["entries"])

            after = 0
            joined, after = inbox_texts(browser, after, 1)
            assert joined == [text_of("en", "utter_handoff_agent_joined").format(agent_name="Kavya")]
            kavya.post(f"/console/api/chats/{chat_id}/reply", json={"text": "Hi, I'm looking at your order now."},
                       headers={"X-CSRF-Token": csrf}).raise_for_status()
            reply, after = inbox_texts(browser, after, 1)
            assert reply == ["Hi, I'm looking at your order now."]
            kavya.post(f"/console/api/chats/{chat_id}/return", headers={"X-CSRF-Token": csrf}).raise_for_status()
            back, after = inbox_texts(browser, after, 1)
            assert back == [text_of("en", "utter_handoff_returned")]

        # The bot answers again.
        (greeting,) = browser.post("/chat/messages", json={"message": "hello"}).json()
        assert greeting["text"] == text_of("en", "utter_greet")


def test_two_misses_in_a_row_bring_in_a_person(stack) -> None:
    sender = f"it-{uuid.uuid4().hex[:10]}"
    (first,) = stack.say(sender, "what will the weather be in Chennai tomorrow")
    assert first["text"] == text_of("en", "utter_rephrase")
    assert [b["payload"] for b in first["buttons"]] == ["/ask_help", "/switch_language", "/request_human"]
    sorry, queued = stack.say(sender, "who won the cricket match yesterday")
    assert sorry["text"] == text_of("en", "utter_handoff_not_understood")
    with session_scope(stack.database_url) as session:
        chat = session.query(HumanRequest).filter_by(sender_id=sender).one()
        assert (chat.reason, chat.status, chat.last_message) == ("fallback", "open", "who won the cricket match yesterday")
        ticket = chat.ticket.reference
        assert "who won the cricket match yesterday" in chat.ticket.description
    assert pattern_of("en", "utter_handoff_queued", reference=ticket).match(queued["text"])
    assert stack.say(sender, "I want to talk to a human") == []
    listed = httpx.get(f"{stack.backend_url}/api/human-requests?status=open", headers={"X-API-Key": "integration-test-key"})
    assert any(item["ticket"] == ticket for item in listed.json())


def test_hindi_escalation_is_answered_in_hindi(stack) -> None:
    sender = f"it-{uuid.uuid4().hex[:10]}"
    replies = stack.say(sender, "मुझे किसी इंसान से बात करनी है")
    with session_scope(stack.database_url) as session:
        chat = session.query(HumanRequest).filter_by(sender_id=sender).one()
        ticket, language = chat.ticket.reference, chat.language
    assert language == "hi"
    assert [pattern_of("hi", "utter_handoff_queued", reference=ticket).match(r["text"]) is not None
            for r in replies] == [True]
