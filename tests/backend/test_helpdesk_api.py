"""The agent API for tickets and the knowledge base, the web chat inbox, and the helpdesk jobs worker."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api import chat_cookie
from backend.api.app import create_app
from backend.db import session_scope
from backend.models import AuditLog, OutboxMessage, Ticket, utcnow
from backend.notifications.delivery import OutboundMessage, Recipient
from backend.services import knowledge_base, tickets, users
from backend.workers import helpdesk
from connectors.senders.webchat import WebchatSender
from tests.backend.test_api import SECRET, make_settings

ADMIN_KEY = "admin-key-for-tests"
RAVI_KEY = "ravi-key-0123456789"
MEENA_KEY = "meena-key-0123456789"
RAVI = {"X-API-Key": RAVI_KEY}


@pytest.fixture
def api(tmp_path: Path, sqlite_url: str) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path, sqlite_url, "http://127.0.0.1:9", ADMIN_API_KEY=ADMIN_KEY,
        AGENT_API_KEYS=f"ravi={RAVI_KEY}, meena={MEENA_KEY}",
    )
    with session_scope(sqlite_url) as session:
        knowledge_base.load_seed_articles(session)
    client = TestClient(create_app(settings))
    client.database_url = sqlite_url  # type: ignore[attr-defined]
    with client:
        yield client


def new_ticket(database_url: str, who: str = "web-abcdefghijklmnopq", channel: str = "rest", **kwargs) -> Ticket:
    with session_scope(database_url) as session:
        user = users.identify(session, channel, who)
        arguments = dict(category="payment", description="Charged twice for SO-482913", language="hi")
        arguments.update(kwargs)
        ticket, _ = tickets.open_ticket(session, user=user, channel=channel, **arguments)
        return ticket


@pytest.mark.parametrize("path", ["/api/tickets", "/api/tickets/T-000001", "/api/kb/articles", "/api/kb/unanswered"])
def test_nothing_answers_without_a_valid_key(api: TestClient, path: str) -> None:
    new_ticket(api.database_url)
    assert api.get(path).status_code == 401
    assert api.get(path, headers={"X-API-Key": "wrong-key-0123456789"}).status_code == 401
    assert api.get(path, headers=RAVI).status_code == 200
    assert api.get(path, headers={"X-API-Key": ADMIN_KEY}).status_code == 200


def test_agent_keys_must_be_long_enough(tmp_path: Path, sqlite_url: str) -> None:
    from backend.config import ConfigError

    with pytest.raises(ConfigError) as error:
        make_settings(tmp_path, sqlite_url, "http://127.0.0.1:9", AGENT_API_KEYS="ravi=short")
    assert "short" not in str(error.value)  # the key itself is never echoed


def test_agents_list_filter_read_update_and_comment(api: TestClient) -> None:
    payment = new_ticket(api.database_url)
    delivery = new_ticket(api.database_url, who="web-qrstuvwxyzabcdefg", category="delivery",
                          description="Parcel not delivered")
    listed = api.get("/api/tickets", params={"status": "open", "team": "billing"}, headers=RAVI).json()
    assert [t["reference"] for t in listed] == [payment.reference]
    assert [t["reference"] for t in api.get("/api/tickets", params={"priority": "normal"}, headers=RAVI).json()] == [
        delivery.reference
    ]
    assert api.get("/api/tickets", params={"status": "archived"}, headers=RAVI).status_code == 422

    reply = api.post(f"/api/tickets/{payment.reference}/comments", json={"body": "Refund started"}, headers=RAVI)
    assert reply.status_code == 201 and reply.json()["author"] == "ravi"
    note = api.post(f"/api/tickets/{payment.id}/comments", json={"body": "bank ref 991", "internal": True}, headers=RAVI)
    assert note.status_code == 201
    detail = api.get(f"/api/tickets/{payment.reference}", headers=RAVI).json()
    assert detail["status"] == "in_progress" and detail["first_response_at"]
    assert [(c["body"], c["internal"]) for c in detail["comments"]] == [("Refund started", False), ("bank ref 991", True)]

    resolved = api.patch(f"/api/tickets/{payment.reference}", json={"status": "resolved", "assignee": "ravi"}, headers=RAVI)
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    assert api.patch(f"/api/tickets/{payment.reference}", json={"status": "closed"}, headers=RAVI).json()["closed_by"] == "agent"
    again = api.patch(f"/api/tickets/{payment.reference}", json={"status": "closed"}, headers=RAVI)
    assert again.status_code == 200  # already closed: nothing to do
    assert api.post(f"/api/tickets/{payment.reference}/comments", json={"body": "late"}, headers=RAVI).status_code == 409
    assert api.patch("/api/tickets/T-999999", json={"status": "closed"}, headers=RAVI).status_code == 404
    assert api.post(f"/api/tickets/{delivery.reference}/comments", json={"body": ""}, headers=RAVI).status_code == 422

    with session_scope(api.database_url) as session:
        sent = [m.response for m in session.execute(
            select(OutboxMessage).where(OutboxMessage.user_id == payment.user_id).order_by(OutboxMessage.id)
        ).scalars()]
        actors = set(session.execute(select(AuditLog.actor).where(AuditLog.subject_id == payment.reference)).scalars())
    assert sent == [
        "utter_notify_ticket_created", "utter_notify_ticket_in_progress", "utter_notify_ticket_comment",
        "utter_notify_ticket_resolved", "utter_notify_ticket_closed",
    ]
    assert "agent:ravi" in actors


def test_articles_are_edited_through_the_api_and_answer_at_once(api: TestClient) -> None:
    admin = {"X-API-Key": ADMIN_KEY}
    article = {
        "category": "orders",
        "texts": [
            {"language": "en", "title": "Do you gift wrap?", "body": "Yes, for ₹30 at checkout.",
             "keywords": ["gift wrap"], "questions": ["can you wrap my order as a birthday gift"]},
            {"language": "hi", "title": "क्या आप गिफ्ट पैक करते हैं?", "body": "हाँ, ₹30 में।", "keywords": ["गिफ्ट पैक"]},
        ],
    }
    assert api.put("/api/kb/articles/gift-wrap", json=article, headers=RAVI).status_code == 200
    stored = api.get("/api/kb/articles/gift-wrap", headers=admin).json()
    assert [t["language"] for t in stored["texts"]] == ["en", "hi"] and stored["published"] is True
    with session_scope(api.database_url) as session:
        answer = knowledge_base.answer(session, "can you gift wrap my birthday order?", language="hi")
    assert answer.slug == "gift-wrap" and answer.title == "क्या आप गिफ्ट पैक करते हैं?"
    bad = dict(article, texts=[article["texts"][0], article["texts"][0]])
    assert api.put("/api/kb/articles/gift-wrap", json=bad, headers=RAVI).status_code == 422
    assert api.put("/api/kb/articles/x", json=dict(article, texts=[]), headers=RAVI).status_code == 422
    assert api.get("/api/kb/articles/nope", headers=RAVI).status_code == 404
    assert len(api.get("/api/kb/articles", headers=RAVI).json()) == 15


def test_unanswered_questions_are_listed_for_the_team(api: TestClient) -> None:
    with session_scope(api.database_url) as session:
        knowledge_base.answer(session, "do you sell laptops", language="en")
    listed = api.get("/api/kb/unanswered", headers=RAVI).json()
    assert [(q["question"], q["outcome"]) for q in listed] == [("do you sell laptops", "unanswered")]


def test_the_web_chat_page_fetches_only_its_own_notifications(api: TestClient) -> None:
    import asyncio

    mine, theirs = "abcdefghijklmnopqr", "zyxwvutsrqponmlkji"
    sender = WebchatSender(api.database_url)
    for who, key in ((mine, "k1"), (theirs, "k2"), (mine, "k3")):
        recipient = Recipient(1, "rest", f"web-{who}", "hi", None)
        message = OutboundMessage(key, f"hello {who} {key}", ({"title": "5", "payload": "/rate_ticket"},))
        asyncio.run(sender.send(recipient, message))
        asyncio.run(sender.send(recipient, message))  # delivered twice: stored once
    api.cookies.set(chat_cookie.COOKIE_NAME, chat_cookie.sign(SECRET, mine))
    inbox = api.get("/chat/inbox").json()["messages"]
    assert [m["text"] for m in inbox] == [f"hello {mine} k1", f"hello {mine} k3"]
    assert inbox[0]["buttons"] == [{"title": "5", "payload": "/rate_ticket"}]
    assert api.get("/chat/inbox", params={"after": inbox[0]["id"]}).json()["messages"][0]["text"] == f"hello {mine} k3"
    api.cookies.set(chat_cookie.COOKIE_NAME, f"{mine}.forged")
    assert api.get("/chat/inbox").json() == {"messages": []}


def test_the_jobs_worker_escalates_and_closes(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, "http://127.0.0.1:9", TICKET_AUTO_CLOSE_DAYS="2")
    late = new_ticket(database_url, category="device", description="Watch strap broken")
    quiet = new_ticket(database_url, who="web-quietquietquiet1", category="product", description="Kurta torn")
    with session_scope(database_url) as session:
        for ticket_id, created in ((late.id, utcnow() - timedelta(hours=2)), (quiet.id, utcnow() - timedelta(days=5))):
            ticket = session.get(Ticket, ticket_id)
            ticket.first_response_due = created + timedelta(hours=1)
        ticket = session.get(Ticket, quiet.id)
        tickets.resolve(session, ticket, tickets.Actor("agent", "ravi"), utcnow() - timedelta(days=3), quiet_days=2)
        ticket.last_customer_activity_at = utcnow() - timedelta(days=3)
    assert helpdesk.run_once(settings) == (1, 1)
    assert helpdesk.run_once(settings) == (0, 0)
    with session_scope(database_url) as session:
        assert session.get(Ticket, late.id).priority == "urgent"
        assert session.get(Ticket, quiet.id).status == "closed"


def test_the_retail_api_needs_the_admin_key_and_keeps_the_ledger(api: TestClient) -> None:
    from backend.services import catalogue

    with session_scope(api.database_url) as session:
        catalogue.load_seed_catalogue(session)
    admin = {"X-API-Key": ADMIN_KEY}
    assert api.get("/api/retail/products").status_code == 401
    assert api.get("/api/retail/products", headers=RAVI).status_code == 401  # agents are not admins
    assert len(api.get("/api/retail/products", headers=admin).json()) == 30
    low = api.get("/api/retail/locations/ANNA-NAGAR/stock", params={"low": True}, headers=admin).json()
    assert {row["sku"] for row in low} == {"TOORDAL-1", "MILK-500", "WATCH-KID-PNK"}
    sale = {"sku": "SUGAR-1", "location": "ANNA-NAGAR", "kind": "sold", "quantity": 2, "idempotency_key": "pos-1"}
    first = api.post("/api/retail/movements", json=sale, headers=admin)
    assert first.status_code == 201 and first.json()["delta"] == -2
    assert api.post("/api/retail/movements", json=sale, headers=admin).json()["id"] == first.json()["id"]
    too_many = dict(sale, quantity=100_000, idempotency_key="pos-2")
    assert api.post("/api/retail/movements", json=too_many, headers=admin).status_code == 409
    assert api.post("/api/retail/movements", json=dict(sale, sku="NOPE"), headers=admin).status_code == 404
    ledger = api.get("/api/retail/movements", params={"sku": "SUGAR-1", "location": "ANNA-NAGAR"}, headers=admin).json()
    assert [m["delta"] for m in ledger][0] == -2 and sum(m["delta"] for m in ledger) == first.json()["balance_after"]
    moved = api.post("/api/retail/transfers", json={"sku": "SUGAR-1", "from_location": "WH-AMBATTUR",
                                                    "to_location": "ANNA-NAGAR", "quantity": 10}, headers=admin)
    assert moved.status_code == 201 and [m["delta"] for m in moved.json()] == [-10, 10]
    assert moved.json()[0]["transfer_id"] == moved.json()[1]["transfer_id"]
    assert api.post("/api/retail/transfers", json={"sku": "SUGAR-1", "from_location": "ANNA-NAGAR",
                                                   "to_location": "ANNA-NAGAR", "quantity": 1}, headers=admin).status_code == 422
    exported = api.get("/api/retail/catalogue.csv", headers=admin)
    assert exported.headers["content-type"].startswith("text/csv") and "RICE-BAS-5" in exported.text
    bad = api.post("/api/retail/catalogue.csv", content="sku,category,unit,price,name_en\n,x,y,-1,\n".encode(),
                   headers={**admin, "Content-Type": "text/csv"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["line"] == 2
    good = api.post("/api/retail/catalogue.csv", content=exported.content, headers={**admin, "Content-Type": "text/csv"})
    assert good.json() == {"imported": 30}
    with session_scope(api.database_url) as session:
        user_id = users.identify(session, "telegram", "7001").id
    linked = api.post("/api/retail/retailers", json={"user_id": user_id, "location": "T-NAGAR"}, headers=admin)
    assert linked.status_code == 200 and "T-NAGAR" in linked.json()["locations"] and linked.json()["role"] == "retailer"
    assert api.post("/api/retail/retailers", json={"user_id": 999, "location": "T-NAGAR"}, headers=admin).status_code == 404


def test_an_admin_invites_a_retailer_and_sees_the_code_once(api: TestClient) -> None:
    from backend.services import catalogue, retailers

    with session_scope(api.database_url) as session:
        catalogue.save_location(session, code="T-NAGAR", name="T. Nagar store", kind="store")
    admin = {"X-API-Key": ADMIN_KEY}
    body = {"location": "T-NAGAR", "display_name": "Meena", "channel": "whatsapp", "address": "whatsapp:+919800000001"}
    assert api.post("/api/retail/invites", json=body).status_code == 401
    created = api.post("/api/retail/invites", json=body, headers=admin)
    assert created.status_code == 201 and len(created.json()["code"]) == 6
    assert api.post("/api/retail/invites", json=dict(body, location="MARS"), headers=admin).status_code == 404
    assert api.post("/api/retail/invites", json=dict(body, channel="fax"), headers=admin).status_code == 422
    with session_scope(api.database_url) as session:
        result = retailers.redeem(session, channel="whatsapp", channel_user_id="whatsapp:+919800000001",
                                  code=created.json()["code"])
        assert result.location.code == "T-NAGAR" and result.user.display_name == "Meena"
