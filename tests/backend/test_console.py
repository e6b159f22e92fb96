"""The agent console over HTTP: login (hashing, lock-out, CSRF), sessions on every page and API, team
isolation, the translated conversation view, replies in the customer's language, the live feed, and the web
chat's long poll that delivers the replies."""
from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Iterator, Optional

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api import chat_cookie
from backend.api.app import create_app
from backend.db import session_scope
from backend.models import Agent, AgentSession, HumanRequest, OutboxMessage
from backend.notifications.worker import OutboxWorker
from backend.services import agents, handoff, web_inbox
from connectors.senders.webchat import WebchatSender
from tests.backend.test_api import SECRET, FakeRasa, make_settings
from tests.fakes.libretranslate import FakeLibreTranslate

PASSWORD = "correct horse battery"
SENDER = "web-customer-0123456789abcd"


@pytest.fixture
def translator() -> Iterator[FakeLibreTranslate]:
    with FakeLibreTranslate(otherwise=lambda q, source, target: f"[{target}] {q}") as fake:
        yield fake


@pytest.fixture
def rasa() -> Iterator[FakeRasa]:
    fake = FakeRasa()
    yield fake
    fake.close()


@pytest.fixture
def app(tmp_path: Path, sqlite_url: str, rasa: FakeRasa, translator: FakeLibreTranslate):
    settings = make_settings(tmp_path, sqlite_url, rasa.url, TRANSLATION_PROVIDER="libre",
                             LIBRETRANSLATE_URL=translator.url, RASA_TOKEN="rasa-secret-token")
    with session_scope(sqlite_url) as session:
        agents.create_agent(session, username="asha", display_name="Asha", password=PASSWORD,
                            teams=["customer-care"], language="en")
        agents.create_agent(session, username="ravi", display_name="Ravi", password=PASSWORD,
                            teams=["customer-care"], language="en")
        agents.create_agent(session, username="meena", display_name="Meena", password=PASSWORD,
                            teams=["billing"], language="ta")
    application = create_app(settings)
    application.state.test_database_url = sqlite_url
    return application


def client_for(app) -> TestClient:
    return TestClient(app, base_url="http://testserver")


def log_in(client: TestClient, username: str = "asha", password: str = PASSWORD) -> str:
    """Log in through the form; returns the CSRF token of the session."""
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.post("/console/login", data={"username": username, "password": password, "csrf_token": token},
                           follow_redirects=False)
    assert response.status_code == 303
    if response.headers["location"] != "/console":
        raise AssertionError(response.headers["location"])
    queue = client.get("/console")
    return re.search(r'data-csrf="([^"]+)"', queue.text).group(1)


def escalate(database_url: str, sender: str = SENDER, language: str = "hi", team_ticket: Optional[int] = None):
    with session_scope(database_url) as session:
        request = handoff.escalate(session, channel="rest", channel_user_id=sender, sender_id=sender, language=language,
                                   reason="asked", last_message="मुझे इंसान से बात करनी है").request
        return request.id


# --- authentication --------------------------------------------------------------------------------------------


def test_nothing_answers_without_a_session(app) -> None:
    chat_id = escalate(app.state.test_database_url)
    with client_for(app) as client:
        for page in ("/console", f"/console/chats/{chat_id}", "/console/dashboard"):
            response = client.get(page, follow_redirects=False)
            assert (response.status_code, response.headers["location"]) == (303, "/console/login")
        for path in ("/console/api/queue", f"/console/api/chats/{chat_id}", f"/console/api/chats/{chat_id}/messages",
                     "/console/api/dashboard", "/console/api/events"):
            assert client.get(path).status_code == 401, path
        for action in ("take", "reply", "note", "transfer", "return", "close"):
            assert client.post(f"/console/api/chats/{chat_id}/{action}", json={"text": "x"}).status_code == 401
        client.cookies.set("sahayak_console", "forged-token", path="/console")
        assert client.get("/console/api/queue").status_code == 401
    with session_scope(app.state.test_database_url) as session:
        assert session.get(HumanRequest, chat_id).agent_id is None


def test_login_sets_a_strict_http_only_session_and_stores_only_hashes(app) -> None:
    with client_for(app) as client:
        page = client.get("/console/login")
        assert "Content-Security-Policy" in page.headers and 'id="login-form"' in page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        response = client.post("/console/login", data={"username": "ASHA ", "password": PASSWORD, "csrf_token": token},
                               follow_redirects=False)
        assert response.headers["location"] == "/console"
        cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("sahayak_console="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        session_token = cookie.split(";")[0].split("=", 1)[1]
        assert client.get("/console").status_code == 200
    with session_scope(app.state.test_database_url) as session:
        agent = agents.find(session, "asha")
        assert agent.password_hash.startswith("$argon2id$") and PASSWORD not in agent.password_hash
        stored = session.execute(select(AgentSession.token_hash)).scalars().all()
        assert stored and session_token not in stored


def test_login_needs_its_csrf_token(app) -> None:
    with client_for(app) as client:
        client.get("/console/login")
        for token in ("", "made-up"):
            response = client.post("/console/login", data={"username": "asha", "password": PASSWORD, "csrf_token": token},
                                   follow_redirects=False)
            assert response.headers["location"] == "/console/login?error=csrf"
            assert "sahayak_console=" not in response.headers.get("set-cookie", "")
    # A cross-site form cannot read our login page, so it has no cookie to match either.
    with client_for(app) as other:
        response = other.post("/console/login", data={"username": "asha", "password": PASSWORD, "csrf_token": "x"},
                              follow_redirects=False)
        assert response.headers["location"] == "/console/login?error=csrf"


def test_wrong_passwords_lock_the_account_even_for_the_right_one(app) -> None:
    with client_for(app) as client:
        for _ in range(agents.MAX_FAILED_LOGINS - 1):
            with pytest.raises(AssertionError, match="error=invalid"):
                log_in(client, password="wrong password!")
        with pytest.raises(AssertionError, match="error=locked"):
            log_in(client, password="wrong password!")
        with pytest.raises(AssertionError, match="error=locked"):
            log_in(client)
        page = client.get("/console/login?error=locked")
        assert 'id="login-error"' in page.text and "locked" in page.text
        # An unknown name is told exactly what a wrong password is told.
        with pytest.raises(AssertionError, match="error=invalid"):
            log_in(client, username="nobody")
        # Others are not locked out with asha.
        assert log_in(client, username="ravi")


def test_api_changes_need_the_sessions_csrf_token(app) -> None:
    chat_id = escalate(app.state.test_database_url)
    with client_for(app) as client:
        csrf = log_in(client)
        assert client.post(f"/console/api/chats/{chat_id}/take").status_code == 403
        assert client.post(f"/console/api/chats/{chat_id}/take", headers={"X-CSRF-Token": "guess"}).status_code == 403
        assert client.post(f"/console/api/chats/{chat_id}/take", headers={"X-CSRF-Token": csrf}).status_code == 200
        # Logging out needs it too, and ends the session.
        assert client.post("/console/logout", data={"csrf_token": "nope"}).status_code == 403
        assert client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
        assert client.get("/console/api/queue").status_code == 401


def test_agents_see_only_their_teams_chats(app) -> None:
    chat_id = escalate(app.state.test_database_url)
    with client_for(app) as client:
        csrf = log_in(client, "meena")
        assert client.get("/console/api/queue").json() == {"items": []}
        assert client.get(f"/console/api/chats/{chat_id}").status_code == 404
        assert client.get(f"/console/api/chats/{chat_id}/messages").status_code == 404
        assert client.get(f"/console/api/chats/999999").status_code == 404
        assert client.post(f"/console/api/chats/{chat_id}/take", headers={"X-CSRF-Token": csrf}).status_code == 404
        assert f'data-handoff-id="{chat_id}"' not in client.get("/console").text
        assert client.get(f"/console/chats/{chat_id}").status_code == 404


# --- working a chat ------------------------------------------------------------------------------------------------


def test_queue_take_view_reply_and_return(app, rasa: FakeRasa) -> None:
    database_url = app.state.test_database_url
    rasa.trackers[SENDER] = [
        {"event": "action", "name": "action_listen", "timestamp": 1.0},
        {"event": "user", "text": "मेरा ऑर्डर नहीं आया", "timestamp": 2.0, "message_id": "m1",
         "parse_data": {"language": {"code": "hi", "reliable": True}}},
        {"event": "bot", "text": "माफ़ कीजिए, मैं किसी व्यक्ति को बुला रहा हूँ।", "timestamp": 3.0},
    ]
    chat_id = escalate(database_url)
    with session_scope(database_url) as session:
        handoff.relay_customer_message(session, sender_id=SENDER, text="जल्दी कीजिए", language="hi", external_id="m2")
    with client_for(app) as asha, client_for(app) as ravi:
        csrf = log_in(asha)
        ravi_csrf = log_in(ravi, "ravi")
        [item] = asha.get("/console/api/queue").json()["items"]
        assert (item["id"], item["language"], item["channel"], item["status"], item["position"]) == (
            chat_id, "hi", "rest", "waiting", 1)
        assert item["ticket"].startswith("T-")
        page = asha.get("/console").text
        assert f'data-handoff-id="{chat_id}" data-language="hi" data-channel="rest"' in page

        assert asha.post(f"/console/api/chats/{chat_id}/take", headers={"X-CSRF-Token": csrf}).status_code == 200
        taken = ravi.post(f"/console/api/chats/{chat_id}/take", headers={"X-CSRF-Token": ravi_csrf})
        assert taken.status_code == 409 and taken.json()["detail"]["code"] == "taken"

        view = asha.get(f"/console/api/chats/{chat_id}").json()
        assert view["tracker_available"] is True and view["translation_note"] is None
        customer = [e for e in view["entries"] if e["kind"] == "customer"]
        assert [(e["text"], e["translation"]) for e in customer] == [
            ("मेरा ऑर्डर नहीं आया", "[en] मेरा ऑर्डर नहीं आया"), ("जल्दी कीजिए", "[en] जल्दी कीजिए")]
        bot = [e for e in view["entries"] if e["kind"] == "bot"]
        assert bot[0]["translation"] == "[en] माफ़ कीजिए, मैं किसी व्यक्ति को बुला रहा हूँ।"
        assert rasa.tracker_queries and "token=rasa-secret-token" in rasa.tracker_queries[-1]
        html = asha.get(f"/console/chats/{chat_id}").text
        assert 'class="translation"' in html and "[en] मेरा ऑर्डर नहीं आया" in html and 'id="reply-text"' in html

        reply = asha.post(f"/console/api/chats/{chat_id}/reply", json={"text": "Your order arrives today."},
                          headers={"X-CSRF-Token": csrf})
        assert reply.status_code == 200
        entry = reply.json()["entry"]
        assert (entry["text"], entry["translation"], entry["translation_language"]) == (
            "Your order arrives today.", "[hi] Your order arrives today.", "hi")
        assert asha.post(f"/console/api/chats/{chat_id}/reply", json={"text": "   "},
                         headers={"X-CSRF-Token": csrf}).status_code == 422
        assert asha.post(f"/console/api/chats/{chat_id}/reply", json={"text": 5},
                         headers={"X-CSRF-Token": csrf}).status_code == 422

        back = asha.post(f"/console/api/chats/{chat_id}/return", headers={"X-CSRF-Token": csrf})
        assert back.json()["chat"]["status"] == "ended"
        assert asha.get("/console/api/queue").json() == {"items": []}
    with session_scope(database_url) as session:
        sent = [(m.response, m.text) for m in session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars()]
        assert sent == [("utter_handoff_agent_joined", None), (None, "[hi] Your order arrives today."),
                        ("utter_handoff_returned", None)]


def test_without_rasa_the_console_still_shows_the_customers_messages(app, rasa: FakeRasa) -> None:
    rasa.close()
    chat_id = escalate(app.state.test_database_url)
    with session_scope(app.state.test_database_url) as session:
        handoff.relay_customer_message(session, sender_id=SENDER, text="हेलो?", language="hi", external_id="m9")
    with client_for(app) as client:
        log_in(client)
        view = client.get(f"/console/api/chats/{chat_id}").json()
        assert view["tracker_available"] is False
        assert [e["text"] for e in view["entries"] if e["kind"] == "customer"] == ["हेलो?"]
        assert "cannot be read right now" in client.get(f"/console/chats/{chat_id}").text


def test_without_translation_the_console_says_so_and_sends_as_written(app, translator: FakeLibreTranslate) -> None:
    translator.mode = "error"
    chat_id = escalate(app.state.test_database_url)
    with session_scope(app.state.test_database_url) as session:
        handoff.relay_customer_message(session, sender_id=SENDER, text="कोई है?", language="hi", external_id="m3")
    with client_for(app) as client:
        csrf = log_in(client)
        client.post(f"/console/api/chats/{chat_id}/take", headers={"X-CSRF-Token": csrf})
        view = client.get(f"/console/api/chats/{chat_id}").json()
        assert "unavailable" in view["translation_note"]
        page = client.get(f"/console/chats/{chat_id}").text
        assert re.search(r'<p id="translation-status" role="status" >\s*Machine translation is unavailable', page)
        reply = client.post(f"/console/api/chats/{chat_id}/reply", json={"text": "Checking now"},
                            headers={"X-CSRF-Token": csrf}).json()
        assert reply["entry"]["translation"] is None and "sent as written" in reply["translation_note"]
    with session_scope(app.state.test_database_url) as session:
        assert session.execute(select(OutboxMessage.text).where(OutboxMessage.text.isnot(None))).scalar_one() == "Checking now"


def test_dashboard_and_transfer(app) -> None:
    chat_id = escalate(app.state.test_database_url)
    with client_for(app) as asha, client_for(app) as meena:
        csrf = log_in(asha)
        meena_csrf = log_in(meena, "meena")
        assert asha.get("/console/api/dashboard").json()["waiting_now"] == 1
        assert 'data-metric="waiting_now">1<' in asha.get("/console/dashboard").text
        asha.post(f"/console/api/chats/{chat_id}/take", headers={"X-CSRF-Token": csrf})
        moved = asha.post(f"/console/api/chats/{chat_id}/transfer", json={"team": "billing"}, headers={"X-CSRF-Token": csrf})
        assert moved.status_code == 200 and moved.json()["chat"]["team"] == "billing"
        assert [i["id"] for i in meena.get("/console/api/queue").json()["items"]] == [chat_id]
        assert asha.get(f"/console/api/chats/{chat_id}").status_code == 404  # no longer her team's
        meena.post(f"/console/api/chats/{chat_id}/take", headers={"X-CSRF-Token": meena_csrf})
        closed = meena.post(f"/console/api/chats/{chat_id}/close", headers={"X-CSRF-Token": meena_csrf})
        assert closed.json()["chat"]["outcome"] == "closed"


# --- live updates (a real server: the test client waits for a response to end, and a stream never does) ---------


@pytest.fixture
def server(app) -> Iterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", ws="none")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running.started, "the test server did not start"
    port = running.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(10)


def live_client(base_url: str, username: Optional[str] = None) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=30, follow_redirects=True)
    if username:
        page = client.get("/console/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        response = client.post("/console/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
        assert response.url.path == "/console", response.url
    return client


def read_events(client: httpx.Client, count: int, ready: threading.Event, seconds: float = 20.0) -> list[dict]:
    """The first ``count`` handoff events of the console's stream, or what came within ``seconds``. ``ready`` is
    set once the stream is open: events from before that moment are not the stream's to send."""
    events: list[dict] = []
    deadline = time.monotonic() + seconds
    with client.stream("GET", "/console/api/events", timeout=httpx.Timeout(seconds, read=seconds)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            ready.set()
            if line.startswith("data: ") and line != "data: {}":
                events.append(json.loads(line[6:]))
            if len(events) >= count or time.monotonic() > deadline:
                break
    return events


def test_the_live_feed_tells_each_agent_about_their_teams_chats_only(app, server: str) -> None:
    database_url = app.state.test_database_url

    def produce() -> None:
        with session_scope(database_url) as session:
            request = handoff.escalate(session, channel="rest", channel_user_id="web-billing-000000001",
                                       sender_id="web-billing-000000001", language="es", reason="asked",
                                       last_message="hola").request
            request.team = "billing"
        with session_scope(database_url) as session:
            handoff.relay_customer_message(session, sender_id="web-billing-000000001", text="¿hay alguien?",
                                           language="es")
        escalate(database_url, sender="web-other-customer-00001", language="ta")

    with closing(live_client(server, "asha")) as asha, closing(live_client(server, "meena")) as meena:
        results: dict[str, list] = {}
        ready = {"asha": threading.Event(), "meena": threading.Event()}
        readers = [
            threading.Thread(target=lambda: results.__setitem__("asha", read_events(asha, 1, ready["asha"]))),
            threading.Thread(target=lambda: results.__setitem__("meena", read_events(meena, 2, ready["meena"]))),
        ]
        for reader in readers:
            reader.start()
        assert all(event.wait(20) for event in ready.values()), "the event streams did not open"
        produce()
        for reader in readers:
            reader.join(30)
    with session_scope(database_url) as session:
        billing = handoff.open_for_sender(session, "web-billing-000000001").id
        other = handoff.open_for_sender(session, "web-other-customer-00001").id
    # The billing chat's events go to billing only (its team when they are read), the other chat's to customer-care.
    assert [(e["chat_id"], e["kind"]) for e in results["meena"]] == [(billing, "system"), (billing, "customer")]
    assert [(e["chat_id"], e["kind"]) for e in results["asha"]] == [(other, "system")]


def test_the_web_chat_long_poll_returns_as_soon_as_a_reply_is_delivered(app, server: str) -> None:
    database_url = app.state.test_database_url
    chat_id = chat_cookie.new_id()
    with closing(live_client(server)) as browser:
        browser.cookies.set(chat_cookie.COOKIE_NAME, chat_cookie.sign(SECRET, chat_id))
        assert browser.get("/chat/inbox?wait=0.3").json() == {"messages": []}

        def deliver() -> None:
            time.sleep(0.5)
            with session_scope(database_url) as session:
                web_inbox.deliver(session, address=f"web-{chat_id}", idempotency_key="reply:1",
                                  text="[hi] Your order arrives today.", buttons=[])

        threading.Thread(target=deliver, daemon=True).start()
        # Held open, and answered by the delivery: at the end of the wait it would answer an empty list.
        messages = browser.get("/chat/inbox?wait=20").json()["messages"]
        assert [m["text"] for m in messages] == ["[hi] Your order arrives today."]
        assert browser.get(f"/chat/inbox?after={messages[0]['id']}&wait=0.2").json() == {"messages": []}
        assert browser.get("/chat/inbox?wait=31").status_code == 422


# --- the web chat while a person has it ---------------------------------------------------------------------------


def customer_messages(session, handoff_id: int) -> list:
    return [m for m in handoff.messages(session, session.get(HumanRequest, handoff_id)) if m.kind == "customer"]


def web_chat(database_url: str) -> tuple[str, str, int]:
    """A web chat in agent mode: its cookie's chat id, its sender id in Rasa, and its handoff."""
    chat_id = chat_cookie.new_id()
    return chat_id, f"web-{chat_id}", escalate(database_url, sender=f"web-{chat_id}")


def test_in_agent_mode_a_web_chat_message_reaches_the_console_without_a_bot_turn(
    app, server: str, rasa: FakeRasa,
) -> None:
    database_url = app.state.test_database_url
    chat_id, sender, handoff_id = web_chat(database_url)
    with closing(live_client(server, "asha")) as asha, closing(live_client(server)) as browser:
        browser.cookies.set(chat_cookie.COOKIE_NAME, chat_cookie.sign(SECRET, chat_id))
        ready, events = threading.Event(), []
        reader = threading.Thread(target=lambda: events.extend(read_events(asha, 1, ready)))
        reader.start()
        assert ready.wait(20), "the event stream did not open"
        sent = browser.post("/chat/messages", json={"message": "मेरा ऑर्डर कहाँ है?"})
        reader.join(30)
        assert (sent.status_code, sent.json()) == (200, [])  # the bot says nothing
        assert [(e["chat_id"], e["kind"]) for e in events] == [(handoff_id, "customer")]
        assert rasa.received == []  # no bot turn
        with session_scope(database_url) as session:
            [message] = customer_messages(session, handoff_id)
            assert (message.text, message.language) == ("मेरा ऑर्डर कहाँ है?", "hi")  # the chat's language

        # Rasa's tracker has the turn its handoff policy would have made, under the same message id.
        [(appended_to, query, appended)] = rasa.appended
        assert appended_to == sender and "token=rasa-secret-token" in query
        user, featurization, relay, listen = appended
        assert (user["event"], user["text"], user["message_id"]) == ("user", "मेरा ऑर्डर कहाँ है?", message.external_id)
        assert user["parse_data"]["message_id"] == message.external_id and user["input_channel"] == "rest"
        assert featurization == {"event": "user_featurization", "use_text_for_featurization": False}
        assert [(relay["event"], relay["name"]), (listen["event"], listen["name"])] == [
            ("action", "action_relay_to_agent"), ("action", "action_listen")]
        # ... so the console shows the message once.
        view = asha.get(f"/console/api/chats/{handoff_id}").json()
        assert view["tracker_available"]
        assert [e["text"] for e in view["entries"] if e["kind"] == "customer"] == ["मेरा ऑर्डर कहाँ है?"]


@pytest.mark.parametrize("failure", ["unreachable", "refused"])
def test_in_agent_mode_the_message_reaches_the_agent_when_rasa_cannot_take_it(
    app, rasa: FakeRasa, failure: str, caplog: pytest.LogCaptureFixture,
) -> None:
    database_url = app.state.test_database_url
    chat_id, _, handoff_id = web_chat(database_url)
    if failure == "unreachable":
        rasa.close()
    else:
        rasa.append_status = 500
    with client_for(app) as browser:
        browser.cookies.set(chat_cookie.COOKIE_NAME, chat_cookie.sign(SECRET, chat_id))
        sent = browser.post("/chat/messages", json={"message": "hello, anyone there?"})
    assert (sent.status_code, sent.json()) == (200, [])
    with session_scope(database_url) as session:
        assert [m.text for m in customer_messages(session, handoff_id)] == ["hello, anyone there?"]
    assert "missing from Rasa's tracker" in caplog.text and "anyone there" not in caplog.text


def test_once_the_chat_is_back_with_the_bot_messages_go_to_rasa_again(app, rasa: FakeRasa) -> None:
    database_url = app.state.test_database_url
    chat_id, sender, handoff_id = web_chat(database_url)
    with session_scope(database_url) as session:
        asha = agents.find(session, "asha")
        handoff.take(session, handoff_id, asha)
        handoff.return_to_bot(session, handoff_id, asha)
    with client_for(app) as browser:
        browser.cookies.set(chat_cookie.COOKIE_NAME, chat_cookie.sign(SECRET, chat_id))
        sent = browser.post("/chat/messages", json={"message": "hello again"})
    assert sent.json() == [{"recipient_id": sender, "text": "echo: hello again"}]
    assert rasa.received == [{"sender": sender, "message": "hello again"}] and rasa.appended == []
    with session_scope(database_url) as session:
        assert customer_messages(session, handoff_id) == []


def test_an_agents_reply_is_in_the_web_chat_when_it_is_sent(app, server: str) -> None:
    database_url = app.state.test_database_url
    chat_id, sender, handoff_id = web_chat(database_url)
    with closing(live_client(server, "asha")) as asha, closing(live_client(server)) as browser:
        browser.cookies.set(chat_cookie.COOKIE_NAME, chat_cookie.sign(SECRET, chat_id))
        csrf = re.search(r'data-csrf="([^"]+)"', asha.get("/console").text).group(1)
        asha.post(f"/console/api/chats/{handoff_id}/take", headers={"X-CSRF-Token": csrf}).raise_for_status()
        # The outbox worker delivers "Asha joined" (a catalogue response, rendered in the customer's language)...
        worker = OutboxWorker({"rest": WebchatSender(database_url)}, database_url=database_url)
        assert asyncio.run(worker.drain()) == 1
        joined = browser.get("/chat/inbox").json()["messages"]
        # ... and the reply needs no worker: it is in the web inbox once the agent's request has committed.
        asha.post(f"/console/api/chats/{handoff_id}/reply", json={"text": "Your order arrives today."},
                  headers={"X-CSRF-Token": csrf}).raise_for_status()
        messages = browser.get(f"/chat/inbox?after={joined[-1]['id']}&wait=20").json()["messages"]
        assert [m["text"] for m in messages] == ["[hi] Your order arrives today."]
    with session_scope(database_url) as session:
        assert [m.status for m in session.execute(select(OutboxMessage)).scalars()] == ["sent", "sent"]
