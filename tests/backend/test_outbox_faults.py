"""Fault injection for the outbox: a notification API that fails and recovers, and a worker process that is
killed in the middle of a batch. Every notification must arrive exactly once, in order per recipient."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Callable

import pytest
from fastapi.testclient import TestClient

from backend.api.app import create_app
from backend.config import load_settings
from backend.db import session_scope
from backend.models import utcnow
from backend.notifications import outbox
from backend.notifications.worker import INTERRUPTED, OutboxSettings, OutboxWorker
from backend.services import users
from backend.workers import outbox as outbox_command
from bot.catalogue import load_locale
from tests.fakes.notifications import FakeNotificationApi, http_senders

REPO_ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "outbox-faults-admin-key"
RECIPIENTS = [("telegram", "5001", "ta"), ("whatsapp", "whatsapp:+919800000002", "hi"), ("sms", "+919800000003", None)]


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def queue_notifications(database_url: str, per_recipient: int, prefix: str) -> dict[int, list[str]]:
    """``per_recipient`` messages for each of three users on three channels; their keys, by user id."""
    keys: dict[int, list[str]] = {}
    with session_scope(database_url) as session:
        user_ids = []
        for channel, address, language in RECIPIENTS:
            user = users.identify(session, channel, address)
            user.preferred_language = language
            user_ids.append(user.id)
    for n in range(per_recipient):
        for user_id in user_ids:
            key = f"{prefix}:{user_id}:{n}"
            with session_scope(database_url) as session:  # one transaction per event, like the real callers
                outbox.enqueue(
                    session, user_id=user_id, response="utter_handoff_with_agent",
                    params={"reference": f"H-{user_id:03d}{n:03d}"}, idempotency_key=key, kind="ticket_update",
                )
            keys.setdefault(user_id, []).append(key)
    return keys


def assert_exactly_once_in_order(delivered: list[str], keys: dict[int, list[str]]) -> None:
    counts = Counter(delivered)
    assert {k: c for k, c in counts.items() if c != 1} == {}, "delivered more than once"
    assert set(counts) == {k for ks in keys.values() for k in ks}, "something was lost"
    for user_id, expected in keys.items():
        assert [k for k in delivered if k in set(expected)] == expected, f"user {user_id} got them out of order"


def all_statuses(database_url: str) -> Counter:
    with session_scope(database_url) as session:
        return Counter(m.status for m in outbox.list_messages(session, limit=1000))


def test_api_failing_then_recovering_delivers_everything_once_in_order(database_url: str) -> None:
    keys = queue_notifications(database_url, per_recipient=4, prefix="recover")
    clock = Clock()
    settings = OutboxSettings(base_delay=1, max_delay=8, max_attempts=8, lease=10, send_timeout=5, batch_size=3)
    with FakeNotificationApi(fail_first=7) as api:
        worker = OutboxWorker(http_senders(api.url), database_url=database_url, settings=settings, clock=clock)
        for _ in range(30):
            asyncio.run(worker.drain())
            if all_statuses(database_url)["sent"] == 12:
                break
            clock.advance(8)
        assert_exactly_once_in_order(api.keys, keys)
        assert api.requests == 12 + 7
        assert all_statuses(database_url) == Counter(sent=12)
        by_key = {body["idempotency_key"]: body for body in api.deliveries}
    tamil = by_key[keys[min(keys)][0]]
    assert (tamil["channel"], tamil["to"], tamil["language"]) == ("telegram", "5001", "ta")
    before_reference = load_locale("ta")["utter_handoff_with_agent"][0]["text"].split("{reference}")[0]
    assert "H-" in tamil["text"] and tamil["text"].startswith(before_reference)


def test_dead_letters_show_in_the_api_and_are_retried(database_url: str, tmp_path: Path) -> None:
    keys = queue_notifications(database_url, per_recipient=3, prefix="dead")
    whatsapp_user = sorted(keys)[1]
    rejected, limited = keys[whatsapp_user][0], keys[whatsapp_user][1]
    clock = Clock()
    settings = OutboxSettings(base_delay=1, lease=10, send_timeout=5)
    app_settings = load_settings(
        environ={"DATABASE_URL": database_url, "WEBCHAT_SECRET": "s", "ADMIN_API_KEY": ADMIN_KEY},
        env_file=None, var_dir=tmp_path / "var",
    )
    with FakeNotificationApi(reject=[rejected], rate_limit=[limited], retry_after=120) as api, \
            TestClient(create_app(app_settings)) as client:
        client.headers["X-API-Key"] = ADMIN_KEY
        worker = OutboxWorker(http_senders(api.url), database_url=database_url, settings=settings, clock=clock)
        asyncio.run(worker.drain())
        with session_scope(database_url) as session:
            limited_row = outbox.find_by_key(session, limited)
        assert (limited_row.status, limited_row.last_error) == ("pending", "HTTP 429")
        assert limited_row.next_attempt_at == clock.now + timedelta(seconds=120)
        clock.advance(120)
        asyncio.run(worker.drain())

        dead = client.get("/api/outbox", params={"status": "dead"}).json()
        assert [(m["idempotency_key"], m["last_error"], m["channel"]) for m in dead] == [
            (rejected, "HTTP 400: chat not found", "whatsapp")
        ]
        assert rejected not in api.keys
        api.reject.clear()
        assert client.post(f"/api/outbox/{dead[0]['id']}/retry").json()["status"] == "pending"
        asyncio.run(worker.drain())
        assert client.get("/api/outbox", params={"status": "dead"}).json() == []
        assert len(client.get("/api/outbox", params={"status": "sent"}).json()) == 9
        delivered = api.keys
    assert Counter(delivered) == Counter(k for ks in keys.values() for k in ks)
    # The dead one was retried after the later ones had gone out: only it is out of order.
    first, second, third = keys[whatsapp_user]
    assert [k for k in delivered if k in keys[whatsapp_user]] == [second, third, first]


# --- a worker process killed in the middle of a batch ------------------------------------------------------

def start_worker(api: FakeNotificationApi, database_url: str, log_path: Path, *args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "WEBCHAT_SECRET": "outbox-test",
        "OUTBOX_LEASE_SECONDS": "3",
        "OUTBOX_SEND_TIMEOUT_SECONDS": "2",
        "OUTBOX_BATCH_SIZE": "3",
        "OUTBOX_POLL_SECONDS": "0.1",
        "OUTBOX_BASE_DELAY_SECONDS": "0.2",
        "TRANSLATION_PROVIDER": "none",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.outbox_worker", api.url, *args],
        cwd=REPO_ROOT, env=env, stdout=log_path.open("ab"), stderr=subprocess.STDOUT,
    )


def wait_for(condition: Callable[[], bool], timeout: float, what: str, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; worker log:\n{log_path.read_text(errors='replace')}")
        time.sleep(0.02)


def test_a_worker_killed_mid_batch_loses_nothing_and_duplicates_nothing(database_url: str, tmp_path: Path) -> None:
    keys = queue_notifications(database_url, per_recipient=4, prefix="kill")
    log_path = tmp_path / "worker.log"
    # Batch 1 is the first message of each recipient (requests 1-3); batch 2 starts with request 4 and is
    # held at request 5, in the middle of the batch, with its third message claimed but not yet sent.
    with FakeNotificationApi(hold_request=5) as api:
        first = start_worker(api, database_url, log_path)
        try:
            wait_for(api.held.is_set, 60, "the held request", log_path)
            held_key = api.held_body["idempotency_key"]
            assert held_key not in api.keys and len(api.keys) == 4
            first.send_signal(signal.SIGKILL)
            assert first.wait(timeout=10) == -signal.SIGKILL
        finally:
            if first.poll() is None:
                first.kill()
        with session_scope(database_url) as session:
            assert outbox.find_by_key(session, held_key).status == "sending"
        assert all_statuses(database_url) == Counter(sent=4, sending=2, pending=6)

        second = start_worker(api, database_url, log_path, "--concurrency", "2")
        try:
            wait_for(lambda: len(api.keys) >= 12, 60, "every notification", log_path)
            wait_for(lambda: all_statuses(database_url)["sent"] == 12, 10, "every row marked sent", log_path)
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=20) == 0, log_path.read_text(errors="replace")
        finally:
            if second.poll() is None:
                second.kill()
        time.sleep(0.3)  # a duplicate would have arrived by now
        delivered = api.keys
    assert_exactly_once_in_order(delivered, keys)
    with session_scope(database_url) as session:
        held = outbox.find_by_key(session, held_key)
    assert (held.status, held.attempts, held.last_error) == ("sent", 2, INTERRUPTED)


# --- the command line ----------------------------------------------------------------------------------------

def run_command(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "backend.workers.outbox", *args],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "DATABASE_URL": database_url, "WEBCHAT_SECRET": "outbox-test", **env},
    )


def test_command_once_exits_when_nothing_is_due(sqlite_url: str) -> None:
    done = run_command(sqlite_url, "--once", "--concurrency", "2")
    assert done.returncode == 0, done.stderr
    assert "nothing else is due" in done.stderr


def test_command_reports_bad_settings(sqlite_url: str) -> None:
    done = run_command(sqlite_url, "--once", OUTBOX_MAX_ATTEMPTS="lots")
    assert done.returncode == 2
    assert "OUTBOX_MAX_ATTEMPTS must be a whole number" in done.stderr
    assert run_command(sqlite_url, "--concurrency", "0").returncode == 2


def test_without_connectors_senders_there_are_no_senders(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    monkeypatch.setitem(sys.modules, "connectors.senders", None)  # makes the import fail as if it were missing
    with caplog.at_level(logging.WARNING, logger="backend.workers.outbox"):
        assert outbox_command.load_senders() == {}
    assert "connectors.senders.build_senders does not exist yet" in caplog.text


def test_the_fake_telegram_api_failing_then_recovering_gets_every_notification_once_in_order(
    database_url: str,
) -> None:
    """The real chain: outbox worker, TelegramSender (python-telegram-bot) and the fake Bot API."""
    from connectors.senders.telegram import TelegramSender
    from tests.fakes.telegram import TOKEN, FakeTelegram

    chats = ["7001", "7002"]
    with session_scope(database_url) as session:
        user_ids = [users.identify(session, "telegram", chat).id for chat in chats]
    expected = {chat: [f"update {chat}-{n}" for n in range(4)] for chat in chats}
    for n in range(4):
        for user_id, chat in zip(user_ids, chats):
            with session_scope(database_url) as session:
                outbox.enqueue(session, user_id=user_id, response=None, text=expected[chat][n],
                               idempotency_key=f"tg:{chat}:{n}", kind="ticket_update")
    clock = Clock()
    settings = OutboxSettings(base_delay=1, max_delay=8, max_attempts=8, lease=10, send_timeout=5, batch_size=3)
    with FakeTelegram() as telegram:
        telegram.fail("sendMessage", 500, times=5)
        sender = TelegramSender.from_environ({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": telegram.url})
        worker = OutboxWorker({"telegram": sender}, database_url=database_url, settings=settings, clock=clock)

        async def deliver_until_done() -> None:  # one event loop: python-telegram-bot's client belongs to it
            for _ in range(40):
                await worker.drain()
                if all_statuses(database_url)["sent"] == 8:
                    return
                clock.advance(8)

        asyncio.run(deliver_until_done())
        assert len(telegram.calls("sendMessage")) == 8 + 5, "5 failures, then each notification once"
        for chat in chats:
            assert telegram.texts_to(chat) == expected[chat]
    assert all_statuses(database_url) == Counter(sent=8)
