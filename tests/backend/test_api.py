from __future__ import annotations

import json
import socket
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Callable, Iterator, List
from urllib.parse import unquote, urlsplit

import pytest
from fastapi.testclient import TestClient

from backend.api import chat_cookie
from backend.api.app import create_app
from backend.config import Settings, load_settings
from backend.db import session_scope
from backend.seed import load_demo_data
from backend.services import handoff
from tests.fakes.loopback import LoopbackServer

SECRET = "test-webchat-secret"
ADMIN_KEY = "admin-key-for-tests"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeRasa(LoopbackServer):
    """A tiny HTTP server standing in for Rasa's REST channel and the tracker part of its HTTP API."""

    def __init__(self) -> None:
        self.received: List[dict] = []
        self.reply: Callable[[dict], Any] = lambda body: [
            {"recipient_id": body["sender"], "text": f"echo: {body['message']}"}
        ]
        self.trackers: dict[str, list] = {}  # sender id -> events, for GET /conversations/<id>/tracker
        self.tracker_queries: List[str] = []
        self.appended: List[tuple[str, str, list]] = []  # (sender id, query, events) of POST .../tracker/events
        self.append_status = 200  # anything else: the events are refused
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path.startswith("/conversations/") and url.path.endswith("/tracker"):
                    sender = unquote(url.path[len("/conversations/"):-len("/tracker")])
                    fake.tracker_queries.append(url.query)
                    events = fake.trackers.get(sender, [])
                    self._send(200, json.dumps({"sender_id": sender, "events": events}).encode(), "application/json")
                    return
                self._send(200, b"Hello from Rasa: 3.6.21", "text/plain")

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if url.path.startswith("/conversations/") and url.path.endswith("/tracker/events"):
                    sender = unquote(url.path[len("/conversations/"):-len("/tracker/events")])
                    fake.appended.append((sender, url.query, body))
                    if fake.append_status == 200:
                        fake.trackers.setdefault(sender, []).extend(body)
                    self._send(fake.append_status, json.dumps({"sender_id": sender}).encode(), "application/json")
                    return
                if url.path != "/webhooks/rest/webhook":
                    self._send(404, b"{}", "application/json")
                    return
                fake.received.append(body)
                self._send(200, json.dumps(fake.reply(body)).encode(), "application/json")

            def _send(self, code: int, payload: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler)
        self.start()


@pytest.fixture
def rasa() -> Iterator[FakeRasa]:
    fake = FakeRasa()
    yield fake
    fake.close()


def make_settings(tmp_path: Path, database_url: str, rasa_url: str, **extra: str) -> Settings:
    env = {"DATABASE_URL": database_url, "RASA_URL": rasa_url, "WEBCHAT_SECRET": SECRET, **extra}
    return load_settings(environ=env, env_file=None, var_dir=tmp_path / "var")


@pytest.fixture
def client(tmp_path: Path, sqlite_url: str, rasa: FakeRasa) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, sqlite_url, rasa.url, ADMIN_API_KEY=ADMIN_KEY)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def offline_client(tmp_path: Path, sqlite_url: str) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, sqlite_url, f"http://127.0.0.1:{closed_port()}")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


# --- health -----------------------------------------------------------------

def test_health_all_ok(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "rasa": "ok"}


def test_health_rasa_down_is_still_200(offline_client: TestClient) -> None:
    response = offline_client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "rasa": "unreachable"}


def test_health_database_down_is_503(tmp_path: Path, rasa: FakeRasa) -> None:
    url = f"postgresql://postgres@127.0.0.1:{closed_port()}/sahayak"
    with TestClient(create_app(make_settings(tmp_path, url, rasa.url))) as test_client:
        response = test_client.get("/health")
    assert response.status_code == 503
    assert response.json()["database"] == "unavailable"
    assert response.json()["rasa"] == "ok"


def test_openapi_title(client: TestClient) -> None:
    assert client.get("/openapi.json").json()["info"]["title"] == "Sahayak backend"
    assert client.get("/docs").status_code == 200


# --- web chat page ------------------------------------------------------------

def test_webchat_page_is_self_contained(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = response.text
    assert 'dir="auto"' in page and ".dir = \"auto\"" in page
    assert "Type a message… / संदेश लिखें… / செய்தி… / Escribe…" in page
    assert "chat/messages" in page
    for external in ("http://", "https://", "//cdn", "<link"):
        assert external not in page


# --- chat proxy -----------------------------------------------------------------

def cookie_value(response: Any) -> str:
    header = response.headers["set-cookie"]
    assert header.startswith(f"{chat_cookie.COOKIE_NAME}=")
    return header.split(";")[0].split("=", 1)[1]


def test_chat_proxies_to_rasa_with_signed_sender(client: TestClient, rasa: FakeRasa) -> None:
    response = client.post("/chat/messages", json={"message": "नमस्ते"})
    assert response.status_code == 200
    set_cookie = response.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie
    chat_id = chat_cookie.verify(SECRET, cookie_value(response))
    assert chat_id is not None
    sender = f"web-{chat_id}"
    assert rasa.received == [{"sender": sender, "message": "नमस्ते"}]
    assert response.json() == [{"recipient_id": sender, "text": "echo: नमस्ते"}]

    again = client.post("/chat/messages", json={"message": "second"})
    assert again.status_code == 200
    assert "set-cookie" not in again.headers
    assert rasa.received[-1]["sender"] == sender


def test_rasa_reply_is_returned_as_is(client: TestClient, rasa: FakeRasa) -> None:
    reply = [
        {"recipient_id": "x", "text": "Choose", "buttons": [{"title": "हिन्दी", "payload": "/set_language{\"language\":\"hi\"}"}]},
        {"recipient_id": "x", "image": "https://example.org/a.png"},
    ]
    rasa.reply = lambda body: reply
    assert client.post("/chat/messages", json={"message": "hi"}).json() == reply


@pytest.mark.parametrize(
    "cookie",
    [
        "attacker-chosen-id-1234.bad-signature",
        "attacker-chosen-id-1234",
        chat_cookie.sign("some-other-secret", "attacker-chosen-id-1234"),
        "",
    ],
    ids=["bad-signature", "unsigned", "other-secret", "empty"],
)
def test_forged_cookie_gets_fresh_id(client: TestClient, rasa: FakeRasa, cookie: str) -> None:
    client.cookies.set(chat_cookie.COOKIE_NAME, cookie)
    response = client.post("/chat/messages", json={"message": "hello"})
    assert response.status_code == 200
    fresh = chat_cookie.verify(SECRET, cookie_value(response))
    assert fresh is not None and fresh != "attacker-chosen-id-1234"
    assert rasa.received[-1]["sender"] == f"web-{fresh}"


def test_valid_cookie_is_honoured(client: TestClient, rasa: FakeRasa) -> None:
    chat_id = chat_cookie.new_id()
    client.cookies.set(chat_cookie.COOKIE_NAME, chat_cookie.sign(SECRET, chat_id))
    response = client.post("/chat/messages", json={"message": "hello"})
    assert response.status_code == 200
    assert rasa.received[-1]["sender"] == f"web-{chat_id}"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"json": {}},
        {"json": {"message": 42}},
        {"json": {"message": None}},
        {"json": {"message": "   "}},
        {"json": ["hello"]},
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
    ],
    ids=["missing", "number", "null", "blank", "list", "malformed"],
)
def test_invalid_messages_are_422(client: TestClient, rasa: FakeRasa, kwargs: dict) -> None:
    assert client.post("/chat/messages", **kwargs).status_code == 422
    assert rasa.received == []


def test_too_long_message_is_413(client: TestClient, rasa: FakeRasa) -> None:
    assert client.post("/chat/messages", json={"message": "a" * 10_000}).status_code == 200
    response = client.post("/chat/messages", json={"message": "a" * 10_001})
    assert response.status_code == 413
    assert "at most 10,000 characters" in response.json()["detail"]
    huge = client.post("/chat/messages", json={"message": "ह" * 200_000})
    assert huge.status_code == 413
    assert len(rasa.received) == 1


def test_without_the_database_the_chat_still_reaches_rasa(tmp_path: Path, rasa: FakeRasa) -> None:
    # Whether an agent has the chat cannot be told: Rasa answers, as its handoff policy does without the database.
    url = f"postgresql://postgres@127.0.0.1:{closed_port()}/sahayak"
    with TestClient(create_app(make_settings(tmp_path, url, rasa.url))) as test_client:
        response = test_client.post("/chat/messages", json={"message": "hello"})
    assert response.status_code == 200 and response.json()[0]["text"] == "echo: hello"


def test_rasa_down_is_502(offline_client: TestClient) -> None:
    response = offline_client.post("/chat/messages", json={"message": "hello"})
    assert response.status_code == 502
    assert response.json() == {
        "detail": "The assistant is not reachable right now. Please try again in a moment."
    }
    assert chat_cookie.verify(SECRET, cookie_value(response)) is not None


@pytest.mark.parametrize("reply", [{"not": "a list"}, "oops"], ids=["object", "string"])
def test_rasa_garbage_is_502(client: TestClient, rasa: FakeRasa, reply: Any) -> None:
    rasa.reply = lambda body: reply
    assert client.post("/chat/messages", json={"message": "hello"}).status_code == 502


# --- admin API ----------------------------------------------------------------------

def test_admin_disabled_without_key(offline_client: TestClient) -> None:
    response = offline_client.get("/api/users", headers={"X-API-Key": "anything"})
    assert response.status_code == 503
    assert "ADMIN_API_KEY" in response.json()["detail"]


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}, {"X-API-Key": "ключ".encode("utf-8")}])
def test_admin_rejects_bad_key(client: TestClient, headers: dict) -> None:
    for path in ("/api/users", "/api/human-requests"):
        assert client.get(path, headers=headers).status_code == 401


def test_admin_lists_users_and_requests(client: TestClient, sqlite_url: str) -> None:
    with session_scope(sqlite_url) as session:
        load_demo_data(session)
        request = handoff.escalate(
            session, channel="sms", channel_user_id="+911234", sender_id="+911234", language="ta",
            reason="fallback", last_message="உதவி வேண்டும்",
        ).request
        closed = handoff.escalate(
            session, channel="sms", channel_user_id="+915678", sender_id="+915678", language=None,
            reason="asked", last_message="help",
        ).request
        closed.status = "closed"
    headers = {"X-API-Key": ADMIN_KEY}

    users = client.get("/api/users", headers=headers)
    assert users.status_code == 200
    by_name = {u["display_name"]: u for u in users.json()}
    asha = by_name["Asha (admin)"]
    assert asha["role"] == "admin"
    assert asha["identities"][0]["channel"] == "demo"
    assert {"id", "preferred_language", "language_explicit"} <= asha.keys()
    assert len(client.get("/api/users?limit=2", headers=headers).json()) == 2

    open_requests = client.get("/api/human-requests?status=open", headers=headers).json()
    assert len(open_requests) == 1
    item = open_requests[0]
    assert item["reference"] == request.reference
    assert (item["channel"], item["language"], item["reason"], item["last_message"]) == (
        "sms", "ta", "fallback", "உதவி வேண்டும்"
    )
    assert item["created_at"]
    assert len(client.get("/api/human-requests", headers=headers).json()) == 2
    assert client.get("/api/human-requests?status=bogus", headers=headers).status_code == 422


def test_admin_database_down_is_503(tmp_path: Path, rasa: FakeRasa) -> None:
    url = f"postgresql://postgres@127.0.0.1:{closed_port()}/sahayak"
    settings = make_settings(tmp_path, url, rasa.url, ADMIN_API_KEY=ADMIN_KEY)
    with TestClient(create_app(settings)) as test_client:
        response = test_client.get("/api/users", headers={"X-API-Key": ADMIN_KEY})
    assert response.status_code == 503
    assert "database" in response.json()["detail"]


# --- cookie signing ------------------------------------------------------------------

def test_cookie_sign_and_verify() -> None:
    chat_id = chat_cookie.new_id()
    value = chat_cookie.sign("k1", chat_id)
    assert chat_cookie.verify("k1", value) == chat_id
    assert chat_cookie.verify("k2", value) is None
    assert chat_cookie.verify("k1", value[:-1] + ("A" if value[-1] != "A" else "B")) is None
    assert chat_cookie.verify("k1", "short." + value.split(".")[1]) is None
    assert chat_cookie.verify("k1", None) is None
