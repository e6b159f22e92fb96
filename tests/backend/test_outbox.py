"""The notification outbox: enqueueing, rendering, retries, dead letters, ordering, leases, the admin API."""
from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from pathlib import Path
from typing import Iterable, Optional

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.api.app import create_app
from backend.config import ConfigError, load_settings
from backend.db import session_scope
from backend.models import AuditLog, ChannelIdentity, HumanRequest, OutboxMessage, User, utcnow
from backend.notifications import outbox
from backend.notifications.delivery import DeliveryError, OutboundMessage, Recipient, Sender
from backend.notifications.worker import INTERRUPTED, OutboxSettings, OutboxWorker
from backend.services import handoff, users, web_inbox
from bot.render import render_response
from tests.fakes.notifications import RecordingSender

ADMIN_KEY = "outbox-admin-key"


class Clock:
    """A clock that only moves when told to; it starts ahead of real time so new messages are due."""

    def __init__(self) -> None:
        self.now = utcnow() + timedelta(minutes=5)

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_worker(database_url: str, senders: Iterable[Sender], clock: Clock, **settings) -> OutboxWorker:
    values = dict(base_delay=10, max_delay=3600, lease=60, send_timeout=5, batch_size=10, poll_interval=0.05)
    values.update(settings)
    return OutboxWorker(
        {sender.channel: sender for sender in senders},
        database_url=database_url,
        settings=OutboxSettings(**values),
        clock=clock,
        random=lambda: 0.0,
    )


def drain(worker: OutboxWorker) -> int:
    return asyncio.run(worker.drain())


def add_user(session, channel: str = "telegram", address: str = "1001", language: Optional[str] = None) -> int:
    user = users.identify(session, channel, address)
    user.preferred_language = language
    session.flush()
    return user.id


def new_user(
    database_url: str, channel: str = "telegram", address: str = "1001", language: Optional[str] = None
) -> int:
    with session_scope(database_url) as session:
        return add_user(session, channel, address, language)


def enqueue_text(database_url: str, user_id: int, key: str, text: Optional[str] = None) -> int:
    with session_scope(database_url) as session:
        return outbox.enqueue(
            session, user_id=user_id, response=None, text=text or key, idempotency_key=key, kind="test"
        ).id


def message(database_url: str, key: str) -> OutboxMessage:
    with session_scope(database_url) as session:
        return outbox.find_by_key(session, key)


def statuses(database_url: str) -> dict[str, str]:
    with session_scope(database_url) as session:
        return {m.idempotency_key: m.status for m in outbox.list_messages(session, limit=1000)}


# --- enqueue --------------------------------------------------------------------------------------------

def test_enqueue_commits_and_rolls_back_with_the_change_that_caused_it(database_url: str) -> None:
    with pytest.raises(RuntimeError):
        with session_scope(database_url) as session:
            request = handoff.escalate(
                session, channel="telegram", channel_user_id="7", sender_id="7", language="hi", reason="asked",
                last_message="x",
            ).request
            outbox.enqueue(
                session, user_id=request.user_id, response="utter_handoff_with_agent",
                params={"reference": request.reference}, idempotency_key="handoff:1", kind="ticket_update",
            )
            raise RuntimeError("the change fails after the notification was queued")
    with session_scope(database_url) as session:
        assert session.execute(select(func.count(OutboxMessage.id))).scalar_one() == 0
        assert session.execute(select(func.count(HumanRequest.id))).scalar_one() == 0

    with session_scope(database_url) as session:
        request = handoff.escalate(
            session, channel="telegram", channel_user_id="7", sender_id="7", language="hi", reason="asked",
            last_message="x",
        ).request
        queued = outbox.enqueue(
            session, user_id=request.user_id, response="utter_handoff_with_agent",
            params={"reference": request.reference}, idempotency_key="handoff:1", kind="ticket_update",
        )
    stored = message(database_url, "handoff:1")
    assert stored.id == queued.id
    assert (stored.status, stored.attempts, stored.kind) == ("pending", 0, "ticket_update")
    assert stored.user_id == request.user_id
    assert (stored.response, stored.params, stored.text) == (
        "utter_handoff_with_agent", {"reference": request.reference}, None
    )
    assert stored.sent_at is None and stored.channel is None and stored.created_at.tzinfo is not None


def test_enqueue_with_a_known_key_returns_the_existing_message(database_url: str) -> None:
    with session_scope(database_url) as session:
        user_id = add_user(session)
        first = outbox.enqueue(session, user_id=user_id, response=None, text="one", idempotency_key="k", kind="a")
        again = outbox.enqueue(session, user_id=user_id, response=None, text="two", idempotency_key="k", kind="b")
        assert again.id == first.id
    with session_scope(database_url) as session:
        later = outbox.enqueue(session, user_id=user_id, response="utter_greet", idempotency_key="k", kind="c")
        assert (later.id, later.text, later.kind) == (first.id, "one", "a")
        assert session.execute(select(func.count(OutboxMessage.id))).scalar_one() == 1


def test_concurrent_enqueues_of_one_key_create_one_message(database_url: str, run_in_threads) -> None:
    with session_scope(database_url) as session:
        user_id = add_user(session)

    def enqueue(index: int) -> int:
        with session_scope(database_url) as session:
            return outbox.enqueue(
                session, user_id=user_id, response=None, text=f"from {index}", idempotency_key="alarm:9", kind="alarm"
            ).id

    assert len(set(run_in_threads(8, enqueue))) == 1
    with session_scope(database_url) as session:
        assert session.execute(select(func.count(OutboxMessage.id))).scalar_one() == 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"response": None, "text": None},
        {"response": "utter_greet", "text": "both"},
        {"response": None, "text": "   "},
        {"response": None, "text": "x", "params": {"a": 1}},
        {"response": "utter_greet", "params": ["not", "a", "dict"]},
        {"idempotency_key": ""},
        {"idempotency_key": "k" * 256},
        {"kind": ""},
        {"user_id": 999_999},
    ],
    ids=[
        "no-content", "both", "blank-text", "params-with-text", "params-list",
        "no-key", "long-key", "no-kind", "no-user",
    ],
)
def test_enqueue_rejects_invalid_messages(sqlite_url: str, overrides: dict) -> None:
    with session_scope(sqlite_url) as session:
        arguments = dict(user_id=add_user(session), response="utter_greet", idempotency_key="k", kind="test")
        arguments.update(overrides)
        with pytest.raises(ValueError):
            outbox.enqueue(session, **arguments)
        assert session.execute(select(func.count(OutboxMessage.id))).scalar_one() == 0


# --- delivery ---------------------------------------------------------------------------------------------

def test_rendered_in_the_recipients_language_on_their_latest_channel(database_url: str) -> None:
    clock = Clock()
    with session_scope(database_url) as session:
        kaveri = add_user(session, "telegram", "555", language="ta")
        session.add(ChannelIdentity(user_id=kaveri, channel="sms", channel_user_id="+919800000001"))
        session.flush()
        identities = {i.channel: i for i in session.execute(select(ChannelIdentity)).scalars()}
        identities["telegram"].last_seen_at = utcnow() - timedelta(days=2)
        identities["sms"].last_seen_at = sms_seen = utcnow() - timedelta(hours=1)
        anon = add_user(session, "telegram", "777")
        outbox.enqueue(
            session, user_id=kaveri, response="utter_handoff_with_agent", params={"reference": "H-000042"},
            idempotency_key="ticket:42", kind="ticket_update",
        )
        outbox.enqueue(
            session, user_id=anon, response=None, text="Stock is low", idempotency_key="stock:1", kind="low_stock"
        )
    telegram, sms = RecordingSender("telegram"), RecordingSender("sms")
    assert drain(make_worker(database_url, [telegram, sms], clock)) == 2

    [(recipient, sent)] = sms.sent
    expected = render_response("utter_handoff_with_agent", "ta", {"reference": "H-000042"})
    english = render_response("utter_handoff_with_agent", "en", {"reference": "H-000042"})
    assert sent.text == expected["text"] != english["text"]
    assert "H-000042" in sent.text
    assert (sent.idempotency_key, sent.response) == ("ticket:42", "utter_handoff_with_agent")
    assert sent.params == {"reference": "H-000042"}
    assert recipient == Recipient(
        user_id=kaveri, channel="sms", address="+919800000001", language="ta", last_inbound_at=sms_seen
    )
    [(anon_recipient, anon_sent)] = telegram.sent
    assert (anon_recipient.language, anon_recipient.address, anon_sent.text) == ("en", "777", "Stock is low")
    assert anon_sent == OutboundMessage(idempotency_key="stock:1", text="Stock is low")

    row = message(database_url, "ticket:42")
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
    assert (row.channel, row.address) == ("sms", "+919800000001")
    assert row.sent_at == clock.now and row.lease_until is None
    assert drain(make_worker(database_url, [telegram, sms], clock)) == 0, "sent messages are never sent again"
    assert (len(sms.sent), len(telegram.sent)) == (1, 1)


def test_failures_back_off_exponentially_then_the_message_is_dead(database_url: str) -> None:
    clock = Clock()
    with session_scope(database_url) as session:
        user_id = add_user(session)
    enqueue_text(database_url, user_id, "alarm:1")
    sender = RecordingSender("telegram", fail=lambda r, m: DeliveryError("HTTP 502"))
    worker = make_worker(database_url, [sender], clock, max_attempts=4, base_delay=10, max_delay=25)

    for attempt, delay in [(1, 10), (2, 20), (3, 25)]:
        assert drain(worker) == 1
        row = message(database_url, "alarm:1")
        assert (row.status, row.attempts, row.last_error) == ("pending", attempt, "HTTP 502")
        assert row.next_attempt_at == clock.now + timedelta(seconds=delay)
        clock.advance(delay - 0.001)
        assert drain(worker) == 0, "not retried before it is due"
        clock.advance(0.001)
    assert drain(worker) == 1
    row = message(database_url, "alarm:1")
    assert (row.status, row.attempts) == ("dead", 4)
    assert row.last_error == "HTTP 502 (gave up after 4 attempts)"
    clock.advance(10_000)
    assert drain(worker) == 0
    assert sender.calls == 4 and sender.sent == []


def test_backoff_is_capped_and_jittered() -> None:
    settings = OutboxSettings(base_delay=2, max_delay=100, jitter=0.5)
    assert [settings.backoff(n, 0.0) for n in (1, 2, 3, 4, 7, 8, 500)] == [2, 4, 8, 16, 100, 100, 100]
    assert settings.backoff(3, 0.5) == 6
    assert 4 < settings.backoff(3, 0.999) < 4.01
    assert OutboxSettings(base_delay=2, jitter=0).backoff(3, 0.9) == 8


def test_retry_after_permanent_errors_and_sender_crashes(database_url: str) -> None:
    clock = Clock()
    with session_scope(database_url) as session:
        user_id = add_user(session)
    enqueue_text(database_url, user_id, "m1")
    errors = [
        DeliveryError("HTTP 429", retry_after=42),
        RuntimeError("sender bug"),
        DeliveryError("HTTP 400: chat not found", permanent=True),
    ]
    sender = RecordingSender("telegram", fail=lambda r, m: errors.pop(0))
    worker = make_worker(database_url, [sender], clock, base_delay=10)

    assert drain(worker) == 1
    row = message(database_url, "m1")
    assert (row.status, row.last_error) == ("pending", "HTTP 429")
    assert row.next_attempt_at == clock.now + timedelta(seconds=42)
    clock.advance(42)
    assert drain(worker) == 1
    row = message(database_url, "m1")
    assert (row.status, row.attempts, row.last_error) == ("pending", 2, "RuntimeError: sender bug")
    assert row.next_attempt_at == clock.now + timedelta(seconds=20)
    clock.advance(20)
    assert drain(worker) == 1
    row = message(database_url, "m1")
    assert (row.status, row.attempts, row.last_error) == ("dead", 3, "HTTP 400: chat not found")
    assert (row.channel, row.address) == ("telegram", "1001")


def test_a_slow_sender_times_out_and_is_retried(sqlite_url: str) -> None:
    class Stuck:
        channel = "telegram"

        async def send(self, recipient, message):
            await asyncio.sleep(30)

    clock = Clock()
    enqueue_text(sqlite_url, new_user(sqlite_url), "slow")
    assert drain(make_worker(sqlite_url, [Stuck()], clock, send_timeout=0.2, lease=1)) == 1
    row = message(sqlite_url, "slow")
    assert (row.status, row.last_error) == ("pending", "the telegram sender did not finish within 0.2s")


def test_a_rendering_failure_is_retried(sqlite_url: str) -> None:
    def broken_render(response, language, params):
        raise RuntimeError("translation service down")

    clock = Clock()
    user_id = new_user(sqlite_url, "telegram", "9", language="fr")
    with session_scope(sqlite_url) as session:
        outbox.enqueue(session, user_id=user_id, response="utter_greet", idempotency_key="fr", kind="t")
    sender = RecordingSender("telegram")
    worker = make_worker(sqlite_url, [sender], clock, base_delay=5)
    worker.render = broken_render
    assert drain(worker) == 1
    row = message(sqlite_url, "fr")
    assert (row.status, row.last_error) == ("pending", "rendering failed: RuntimeError: translation service down")
    assert sender.calls == 0
    worker.render = lambda response, language, params: {"text": f"{response} in {language}", "buttons": []}
    clock.advance(5)
    assert drain(worker) == 1
    assert [m.text for _, m in sender.sent] == ["utter_greet in fr"]


def test_undeliverable_messages_are_dead_at_once(database_url: str) -> None:
    clock = Clock()
    with session_scope(database_url) as session:
        sms_user = add_user(session, "sms", "+911111")
        telegram_user = add_user(session, "telegram", "42")
        nowhere = User(display_name="no identity")
        session.add(nowhere)
        session.flush()
        outbox.enqueue(session, user_id=sms_user, response=None, text="hi", idempotency_key="sms", kind="t")
        outbox.enqueue(
            session, user_id=telegram_user, response="utter_no_such_thing", idempotency_key="unknown", kind="t"
        )
        outbox.enqueue(session, user_id=nowhere.id, response=None, text="hi", idempotency_key="nowhere", kind="t")
    telegram = RecordingSender("telegram")
    assert drain(make_worker(database_url, [telegram], clock)) == 3
    assert telegram.calls == 0
    rows = {key: message(database_url, key) for key in ("sms", "unknown", "nowhere")}
    assert {key: (row.status, row.attempts) for key, row in rows.items()} == {k: ("dead", 1) for k in rows}
    assert rows["sms"].last_error == "no sender for channel sms"
    assert (rows["sms"].channel, rows["sms"].address) == ("sms", "+911111")
    assert rows["unknown"].last_error == "unknown response 'utter_no_such_thing'"
    assert rows["nowhere"].last_error == f"user {rows['nowhere'].user_id} has no channel identity to reach them on"


def test_messages_reach_each_recipient_in_order(database_url: str) -> None:
    clock = Clock()
    with session_scope(database_url) as session:
        asha, ravi = add_user(session, "telegram", "1"), add_user(session, "telegram", "2")
    for n in range(1, 4):
        enqueue_text(database_url, asha, f"asha-{n}")
        enqueue_text(database_url, ravi, f"ravi-{n}")
    failed_once: set = set()

    def fail_asha_1_once(recipient, message):
        if message.idempotency_key == "asha-1" and "asha-1" not in failed_once:
            failed_once.add("asha-1")
            return DeliveryError("HTTP 503")
        return None

    sender = RecordingSender("telegram", fail=fail_asha_1_once)
    worker = make_worker(database_url, [sender], clock, base_delay=60)
    drain(worker)
    assert sender.keys == ["ravi-1", "ravi-2", "ravi-3"], "asha-2 and asha-3 wait for asha-1"
    assert statuses(database_url)["asha-3"] == "pending"
    clock.advance(60)
    drain(worker)
    assert [k for k in sender.keys if k.startswith("asha")] == ["asha-1", "asha-2", "asha-3"]


def test_a_dead_message_does_not_block_later_ones_and_can_be_retried(database_url: str) -> None:
    clock = Clock()
    with session_scope(database_url) as session:
        user_id = add_user(session)
    first = enqueue_text(database_url, user_id, "first")
    enqueue_text(database_url, user_id, "second")
    rejected = {"first"}
    sender = RecordingSender(
        "telegram",
        fail=lambda r, m: DeliveryError("HTTP 403: blocked", permanent=True) if m.idempotency_key in rejected else None,
    )
    worker = make_worker(database_url, [sender], clock)
    drain(worker)
    assert sender.keys == ["second"]
    assert statuses(database_url) == {"first": "dead", "second": "sent"}

    with session_scope(database_url) as session:
        retried = outbox.retry(session, first, actor="admin:test")
        assert (retried.status, retried.attempts, retried.last_error) == ("pending", 0, "HTTP 403: blocked")
        with pytest.raises(outbox.NotRetryable):
            outbox.retry(session, first, actor="admin:test")
        with pytest.raises(outbox.OutboxMessageNotFound):
            outbox.retry(session, 999_999, actor="admin:test")
    rejected.clear()
    drain(worker)
    assert sender.keys == ["second", "first"]
    row = message(database_url, "first")
    assert (row.status, row.attempts) == ("sent", 1)
    with session_scope(database_url) as session:
        audit = session.execute(select(AuditLog).where(AuditLog.action == "outbox.retried")).scalar_one()
    assert (audit.actor, audit.subject_id) == ("admin:test", str(first))


# --- web chat: delivered in the transaction -----------------------------------------------------------------

def web_inbox_texts(database_url: str, address: str) -> list[str]:
    with session_scope(database_url) as session:
        return [m.text for m in web_inbox.fetch(session, address)]


def test_a_web_chat_text_is_delivered_with_the_change_that_caused_it(database_url: str) -> None:
    clock = Clock()
    user_id = new_user(database_url, "rest", "web-abc")
    with pytest.raises(RuntimeError):
        with session_scope(database_url) as session:
            queued = outbox.enqueue(session, user_id=user_id, response=None, text="hello", idempotency_key="r1",
                                    kind="handoff")
            assert outbox.deliver_to_web_chat(session, queued)
            raise RuntimeError("the change fails after the reply was delivered")
    assert web_inbox_texts(database_url, "web-abc") == [] and statuses(database_url) == {}

    with session_scope(database_url) as session:
        queued = outbox.enqueue(session, user_id=user_id, response=None, text="hello", idempotency_key="r1",
                                kind="handoff")
        assert outbox.deliver_to_web_chat(session, queued)
        assert (queued.status, queued.attempts, queued.channel, queued.address) == ("sent", 1, "rest", "web-abc")
        assert not outbox.deliver_to_web_chat(session, queued), "once"
    assert web_inbox_texts(database_url, "web-abc") == ["hello"]
    sender = RecordingSender("rest")
    assert drain(make_worker(database_url, [sender], clock)) == 0 and sender.sent == []


def test_a_web_chat_text_waits_for_what_was_queued_before_it(database_url: str) -> None:
    clock = Clock()
    user_id = new_user(database_url, "rest", "web-abc")
    with session_scope(database_url) as session:
        outbox.enqueue(session, user_id=user_id, response="utter_handoff_agent_joined", params={"agent_name": "Asha"},
                       idempotency_key="joined", kind="handoff")
        queued = outbox.enqueue(session, user_id=user_id, response=None, text="hello", idempotency_key="r1",
                                kind="handoff")
        assert not outbox.deliver_to_web_chat(session, queued)
    assert statuses(database_url) == {"joined": "pending", "r1": "pending"}
    sender = RecordingSender("rest")
    drain(make_worker(database_url, [sender], clock))
    assert sender.keys == ["joined", "r1"]
    with session_scope(database_url) as session:  # nothing unfinished before it now
        queued = outbox.enqueue(session, user_id=user_id, response=None, text="and now?", idempotency_key="r2",
                                kind="handoff")
        assert outbox.deliver_to_web_chat(session, queued)


def test_only_texts_for_the_web_chat_are_delivered_in_the_transaction(database_url: str) -> None:
    telegram = new_user(database_url, "telegram", "1001")
    moved = new_user(database_url, "rest", "web-moved")
    with session_scope(database_url) as session:  # the same person wrote on Telegram since: that is where it goes
        session.add(ChannelIdentity(user_id=moved, channel="telegram", channel_user_id="2002",
                                    last_seen_at=utcnow() + timedelta(minutes=1)))
    with session_scope(database_url) as session:
        for user_id, key, text, response in ((telegram, "t1", "hello", None), (moved, "m1", "hello", None),
                                             (new_user(database_url, "rest", "web-x"), "x1", None, "utter_greet")):
            queued = outbox.enqueue(session, user_id=user_id, response=response, text=text, idempotency_key=key,
                                    kind="handoff")
            assert not outbox.deliver_to_web_chat(session, queued), key
    assert set(statuses(database_url).values()) == {"pending"}


# --- leases and crashed workers ---------------------------------------------------------------------------

def test_a_crashed_workers_messages_are_delivered_after_the_lease(database_url: str) -> None:
    clock = Clock()
    with session_scope(database_url) as session:
        user_id = add_user(session)
    for n in range(3):
        enqueue_text(database_url, user_id, f"m{n}")
    crashed = make_worker(database_url, [], clock, lease=30)
    [claim] = crashed.claim()  # then it "dies": never sends, never records anything
    assert claim.attempts == 1 and statuses(database_url)["m0"] == "sending"

    sender = RecordingSender("telegram")
    survivor = make_worker(database_url, [sender], clock, lease=30)
    assert drain(survivor) == 0, "a leased message is left alone, and it blocks the later ones"
    clock.advance(30)
    assert drain(survivor) == 3
    assert sender.keys == ["m0", "m1", "m2"]
    row = message(database_url, "m0")
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, INTERRUPTED)


def test_a_worker_that_lost_its_lease_does_not_send(database_url: str) -> None:
    clock = Clock()
    enqueue_text(database_url, new_user(database_url), "m")
    slow_sender, fast_sender = RecordingSender("telegram"), RecordingSender("telegram")
    slow = make_worker(database_url, [slow_sender], clock, lease=30)
    [claim] = slow.claim()
    clock.advance(31)
    assert drain(make_worker(database_url, [fast_sender], clock, lease=30)) == 1
    assert asyncio.run(slow.deliver(claim)) == "lost"
    assert (slow_sender.calls, fast_sender.keys) == (0, ["m"])
    assert message(database_url, "m").status == "sent"


def test_a_message_that_keeps_killing_its_worker_ends_up_dead(database_url: str) -> None:
    clock = Clock()
    enqueue_text(database_url, new_user(database_url), "poison")
    sender = RecordingSender("telegram")
    worker = make_worker(database_url, [sender], clock, lease=10, max_attempts=2)
    for _ in range(2):
        assert len(worker.claim()) == 1  # the worker dies while delivering it
        clock.advance(10)
    assert drain(worker) == 1
    row = message(database_url, "poison")
    assert (row.status, row.attempts) == ("dead", 3)
    assert row.last_error == f"{INTERRUPTED}; gave up after 2 attempts"
    assert sender.calls == 0


def test_stopping_hands_back_the_rest_of_the_batch(database_url: str) -> None:
    clock = Clock()
    for n in range(4):
        enqueue_text(database_url, new_user(database_url, "telegram", str(n)), f"m{n}")
    sender = RecordingSender("telegram")
    worker = make_worker(database_url, [sender], clock, batch_size=4)
    stop = asyncio.Event()
    assert asyncio.run(_run_once_stopped(worker, stop)) == 4
    assert sender.calls == 0
    with session_scope(database_url) as session:
        rows = outbox.list_messages(session)
    assert [(r.status, r.attempts, r.claim_token) for r in rows] == [("pending", 0, None)] * 4
    assert drain(worker) == 4 and len(sender.sent) == 4


async def _run_once_stopped(worker: OutboxWorker, stop: asyncio.Event) -> int:
    stop.set()
    return await worker.run_once(stop)


# --- several workers ------------------------------------------------------------------------------------------

def test_concurrent_claims_never_overlap(database_url: str, run_in_threads) -> None:
    clock = Clock()
    for n in range(40):
        enqueue_text(database_url, new_user(database_url, "telegram", str(n)), f"m{n}")
    barrier = threading.Barrier(4, timeout=30)

    def claim(_: int) -> list[int]:
        worker = make_worker(database_url, [], clock, batch_size=15)
        barrier.wait()
        return [c.id for c in worker.claim()]

    claimed = [ids for ids in run_in_threads(4, claim)]
    flat = [i for ids in claimed for i in ids]
    assert len(flat) == len(set(flat)), f"a message was claimed twice: {claimed}"
    leftover = [c.id for c in make_worker(database_url, [], clock, batch_size=40).claim()]
    assert sorted(flat + leftover) == sorted(set(flat + leftover)) and len(flat + leftover) == 40


def test_four_workers_deliver_every_message_exactly_once_in_order(database_url: str, run_in_threads) -> None:
    clock = Clock()
    keys: dict[int, list[str]] = {}
    with session_scope(database_url) as session:
        user_ids = [add_user(session, "telegram", f"user-{u}") for u in range(6)]
    for n in range(8):
        for user_id in user_ids:
            keys.setdefault(user_id, []).append(f"u{user_id}-{n}")
            enqueue_text(database_url, user_id, keys[user_id][-1])
    failed: set = set()
    lock = threading.Lock()

    def flaky(recipient, message):  # every third message fails once, retryable at once
        with lock:
            key = message.idempotency_key
            if int(key.rsplit("-", 1)[1]) % 3 == 0 and key not in failed:
                failed.add(key)
                return DeliveryError("HTTP 503", retry_after=0)
        return None

    sender = RecordingSender("telegram", fail=flaky, delay=0.004)

    def work(_: int) -> int:
        return drain(make_worker(database_url, [sender], clock, batch_size=3))

    run_in_threads(4, work)
    delivered = sender.keys
    assert sorted(delivered) == sorted(k for ks in keys.values() for k in ks), "each message exactly once"
    for user_id, expected in keys.items():
        assert [k for k in delivered if k.startswith(f"u{user_id}-")] == expected
    assert set(statuses(database_url).values()) == {"sent"}


def test_run_serves_with_several_loops_until_stopped(database_url: str) -> None:
    clock = Clock()
    with session_scope(database_url) as session:
        user_ids = [add_user(session, "telegram", f"user-{u}") for u in range(5)]
    for n in range(4):
        for user_id in user_ids:
            enqueue_text(database_url, user_id, f"u{user_id}-{n}")
    sender = RecordingSender("telegram", delay=0.002)
    worker = make_worker(database_url, [sender], clock, batch_size=2)

    async def serve() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop=stop, concurrency=4))
        for _ in range(1000):
            if len(sender.sent) == 20:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, timeout=10)

    asyncio.run(serve())
    assert sorted(sender.keys) == sorted(f"u{u}-{n}" for u in user_ids for n in range(4))
    for user_id in user_ids:
        assert [k for k in sender.keys if k.startswith(f"u{user_id}-")] == [f"u{user_id}-{n}" for n in range(4)]


# --- settings ------------------------------------------------------------------------------------------------

def test_settings_from_the_environment() -> None:
    settings = OutboxSettings.from_environ(
        {"OUTBOX_MAX_ATTEMPTS": "3", "OUTBOX_BASE_DELAY_SECONDS": "0.5", "OUTBOX_LEASE_SECONDS": "9",
         "OUTBOX_SEND_TIMEOUT_SECONDS": "4", "OUTBOX_BATCH_SIZE": "7", "OUTBOX_POLL_SECONDS": "2",
         "OUTBOX_MAX_DELAY_SECONDS": "60"},
        default_language="hi",
    )
    assert (settings.max_attempts, settings.base_delay, settings.lease, settings.send_timeout) == (3, 0.5, 9, 4)
    assert (settings.batch_size, settings.poll_interval, settings.max_delay) == (7, 2, 60)
    assert settings.default_language == "hi"
    assert OutboxSettings.from_environ({}) == OutboxSettings()
    assert OutboxSettings().max_attempts == 8
    with pytest.raises(ConfigError) as error:
        OutboxSettings.from_environ({"OUTBOX_MAX_ATTEMPTS": "many", "OUTBOX_LEASE_SECONDS": "soon"})
    assert len(error.value.problems) == 2
    with pytest.raises(ConfigError) as error:
        OutboxSettings.from_environ(
            {"OUTBOX_LEASE_SECONDS": "10", "OUTBOX_SEND_TIMEOUT_SECONDS": "10", "OUTBOX_BATCH_SIZE": "0"}
        )
    assert any("OUTBOX_SEND_TIMEOUT_SECONDS" in p and "shorter" in p for p in error.value.problems)
    assert any("OUTBOX_BATCH_SIZE" in p for p in error.value.problems)


# --- admin API ------------------------------------------------------------------------------------------------

@pytest.fixture
def admin(tmp_path: Path, sqlite_url: str):
    settings = load_settings(
        environ={"DATABASE_URL": sqlite_url, "WEBCHAT_SECRET": "s", "ADMIN_API_KEY": ADMIN_KEY},
        env_file=None,
        var_dir=tmp_path / "var",
    )
    with TestClient(create_app(settings)) as client:
        client.headers["X-API-Key"] = ADMIN_KEY
        yield client


def test_admin_api_lists_dead_letters_and_retries_them(admin: TestClient, sqlite_url: str) -> None:
    clock = Clock()
    with session_scope(sqlite_url) as session:
        user_id = add_user(session, "sms", "+919000000000", language="hi")
    ids = {key: enqueue_text(sqlite_url, user_id, key) for key in ("a", "b", "c", "d")}
    invalid = DeliveryError("HTTP 400: invalid number", permanent=True)
    sender = RecordingSender("sms", fail=lambda r, m: invalid if m.text in ("a", "c") else None)
    drain(make_worker(sqlite_url, [sender], clock))
    enqueue_text(sqlite_url, user_id, "e")

    dead = admin.get("/api/outbox?status=dead")
    assert dead.status_code == 200
    assert [(m["id"], m["status"], m["last_error"]) for m in dead.json()] == [
        (ids["a"], "dead", "HTTP 400: invalid number"), (ids["c"], "dead", "HTTP 400: invalid number")
    ]
    item = dead.json()[0]
    assert (item["idempotency_key"], item["kind"], item["text"], item["attempts"]) == ("a", "test", "a", 1)
    assert item["user_id"] == user_id
    assert (item["channel"], item["address"], item["sent_at"]) == ("sms", "+919000000000", None)
    assert [m["idempotency_key"] for m in admin.get("/api/outbox?status=sent").json()] == ["b", "d"]
    assert [m["idempotency_key"] for m in admin.get("/api/outbox?status=pending").json()] == ["e"]
    assert [m["idempotency_key"] for m in admin.get("/api/outbox?limit=2&offset=1").json()] == ["b", "c"]
    assert admin.get("/api/outbox?status=lost").status_code == 422
    assert admin.get("/api/outbox?limit=0").status_code == 422

    retried = admin.post(f"/api/outbox/{ids['a']}/retry")
    assert retried.status_code == 200
    assert (retried.json()["status"], retried.json()["attempts"]) == ("pending", 0)
    assert admin.post(f"/api/outbox/{ids['a']}/retry").status_code == 409
    assert admin.post(f"/api/outbox/{ids['b']}/retry").status_code == 409
    assert admin.post("/api/outbox/999999/retry").status_code == 404
    assert [m["id"] for m in admin.get("/api/outbox?status=dead").json()] == [ids["c"]]

    sender.fail = None
    drain(make_worker(sqlite_url, [sender], clock))
    assert sender.keys == ["b", "d", "a", "e"]
    assert [m["idempotency_key"] for m in admin.get("/api/outbox?status=sent").json()] == ["a", "b", "d", "e"]


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}])
def test_admin_api_needs_the_key(admin: TestClient, headers: dict) -> None:
    admin.headers.pop("X-API-Key")
    assert admin.get("/api/outbox", headers=headers).status_code == 401
    assert admin.post("/api/outbox/1/retry", headers=headers).status_code == 401
