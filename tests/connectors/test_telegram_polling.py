"""The Telegram poller: getUpdates from the fake Bot API, forwarded to a webhook receiver standing in for Rasa."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from telegram import Update

from connectors import telegram_polling
from connectors.telegram_output import SECRET_HEADER, make_bot
from connectors.telegram_polling import Backoff, RasaForwarder, TelegramPoller
from tests.connectors.telegram_fixtures import telegram  # noqa: F401 - fixture
from tests.fakes.telegram import TOKEN, callback_update, text_update
from tests.fakes.loopback import LoopbackServer

ROOT = Path(__file__).resolve().parents[2]
SECRET = "poller-secret"


class Receiver(LoopbackServer):
    """Stands in for Rasa's Telegram webhook: records each POST, answers with ``statuses`` in turn, then 200."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.posts.append({"path": self.path, "headers": dict(self.headers),
                                       "update": json.loads(body), "status": status})
                data = b'{"status": "processed"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        super().__init__(Handler)
        self.start()

    def accepted(self) -> list[dict]:
        return [p["update"] for p in self.posts if p["status"] == 200]


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def poller_for(telegram, forward, timeout=2.0, poll_timeout=1) -> TelegramPoller:
    async def sleep(seconds: float) -> None:  # backoffs and flood waits are recorded, not slept
        await asyncio.sleep(0)

    return TelegramPoller(make_bot(TOKEN, api_base_url=telegram.url, timeout=timeout), forward,
                          poll_timeout=poll_timeout, backoff=Backoff(0.5, 8), sleep=sleep)


def stopping_after(count: int, forwarded: list, poller_box: list, on_each=None):
    async def forward(body: str) -> None:
        forwarded.append(json.loads(body))
        if on_each:
            on_each(len(forwarded))
        if len(forwarded) >= count:
            poller_box[0].stop()
    return forward


async def test_it_deletes_the_webhook_then_forwards_updates_in_order_and_confirms_them(telegram):
    telegram.webhook = {"url": "https://old.example.com/hook"}
    queued = [telegram.push_update(text_update(1000 + n, f"message {n}")) for n in range(3)]
    queued.append(telegram.push_update(callback_update(1003, "/affirm")))
    forwarded, box = [], []
    box.append(poller_for(telegram, stopping_after(4, forwarded, box)))
    await asyncio.wait_for(box[0].run(), 30)

    assert [u["update_id"] for u in forwarded] == [u["update_id"] for u in queued]
    bot = make_bot(TOKEN)
    for sent, original in zip(forwarded, queued):  # what Rasa gets parses to the update Telegram sent
        assert Update.de_json(sent, bot).to_dict() == Update.de_json(original, bot).to_dict()
    methods = [r["method"] for r in telegram.requests]
    assert methods[0] == "deleteWebhook" and methods[1] == "getUpdates" and telegram.webhook is None
    first_poll = telegram.calls("getUpdates")[0]["params"]
    assert first_poll["timeout"] == 1 and first_poll["allowed_updates"] == [
        "message", "edited_message", "callback_query"]
    assert telegram.pending_updates == []  # confirmed when it stopped: a restart does not fetch them again


async def test_updates_are_forwarded_one_at_a_time_and_confirmed_only_once_forwarded(telegram):
    first = telegram.push_update(text_update(1500, "slow to process"))
    second = telegram.push_update(text_update(1501, "quick"))
    forwarded, running, box = [], [], []

    async def forward(body: str) -> None:
        update = json.loads(body)
        running.append(update["update_id"])
        assert len(running) == 1, "two updates forwarded at once"
        assert all((r["params"].get("offset") or 0) <= update["update_id"] for r in telegram.calls("getUpdates"))
        if update["update_id"] == first["update_id"]:
            await asyncio.sleep(0.3)  # Rasa busy with the first
        forwarded.append(update["update_id"])
        running.remove(update["update_id"])
        if len(forwarded) == 2:
            box[0].stop()

    box.append(poller_for(telegram, forward))
    await asyncio.wait_for(box[0].run(), 30)
    assert forwarded == [first["update_id"], second["update_id"]]


async def test_the_forwarder_sends_the_secret_and_an_update_rasa_could_not_take_is_retried_not_lost(
        telegram, receiver):
    receiver.statuses = [503, 500, 403]  # starting up, failing, a secret not yet in sync: all worth retrying
    update = telegram.push_update(text_update(2000, "hello"))
    forwarder = RasaForwarder(receiver.url, SECRET)
    box = []

    async def forward(body: str) -> None:
        await forwarder(body)
        box[0].stop()

    box.append(poller_for(telegram, forward))
    await asyncio.wait_for(box[0].run(), 30)
    await forwarder.aclose()
    assert [p["status"] for p in receiver.posts] == [503, 500, 403, 200]
    assert {p["update"]["update_id"] for p in receiver.posts} == {update["update_id"]}
    assert all(p["path"] == "/webhooks/telegram/webhook" for p in receiver.posts)
    assert all(p["headers"][SECRET_HEADER] == SECRET for p in receiver.posts)
    assert box[0].pauses == [0.5, 1.0, 2.0]
    assert box[0].offset == update["update_id"] + 1


async def test_an_update_rasa_rejects_as_malformed_is_skipped(telegram, receiver):
    receiver.statuses = [400]
    first = telegram.push_update(text_update(2100, "first"))
    second = telegram.push_update(text_update(2101, "second"))
    forwarder = RasaForwarder(receiver.url, SECRET)
    box = []

    async def forward(body: str) -> None:
        try:
            await forwarder(body)
        finally:
            if len(receiver.posts) == 2:
                box[0].stop()

    box.append(poller_for(telegram, forward))
    await asyncio.wait_for(box[0].run(), 30)
    await forwarder.aclose()
    assert [(p["update"]["update_id"], p["status"]) for p in receiver.posts] == [
        (first["update_id"], 400), (second["update_id"], 200)]


async def test_api_errors_are_waited_out_with_backoff_and_429_waits_its_retry_after(telegram):
    telegram.fail("deleteWebhook", 502)
    telegram.fail("getUpdates", 500, times=2)
    telegram.fail("getUpdates", 429, retry_after=4)
    telegram.push_update(text_update(3000, "still here"))
    forwarded, box = [], []
    box.append(poller_for(telegram, stopping_after(1, forwarded, box)))
    await asyncio.wait_for(box[0].run(), 30)
    assert [u["message"]["text"] for u in forwarded] == ["still here"]
    assert box[0].pauses == [0.5, 0.5, 1.0, 4]  # deleteWebhook; then getUpdates: 500, 500, 429
    assert [r["status"] for r in telegram.calls("getUpdates")][:4] == [500, 500, 429, 200]


async def test_a_hanging_api_times_out_and_polling_goes_on(telegram):
    telegram.hang_seconds = 2.0
    telegram.fail("getUpdates", "hang")
    telegram.push_update(text_update(3100, "after the hang"))
    forwarded, box = [], []
    box.append(poller_for(telegram, stopping_after(1, forwarded, box), timeout=0.3, poll_timeout=0))
    await asyncio.wait_for(box[0].run(), 30)
    assert [u["message"]["text"] for u in forwarded] == ["after the hang"]
    assert box[0].pauses == [0.5]


async def test_a_webhook_set_meanwhile_is_deleted_again(telegram):
    telegram.push_update(text_update(3200, "one"))

    def set_webhook_after_first(count: int) -> None:
        if count == 1:
            telegram.webhook = {"url": "https://someone.example.com/hook"}
            telegram.push_update(text_update(3200, "two"))

    forwarded, box = [], []
    box.append(poller_for(telegram, stopping_after(2, forwarded, box, on_each=set_webhook_after_first)))
    await asyncio.wait_for(box[0].run(), 30)
    assert [u["message"]["text"] for u in forwarded] == ["one", "two"]
    assert 409 in [r["status"] for r in telegram.calls("getUpdates")]
    assert len(telegram.calls("deleteWebhook")) == 2


async def test_stop_interrupts_a_long_poll(telegram):
    poller = poller_for(telegram, stopping_after(1, [], [None]), poll_timeout=30)
    task = asyncio.ensure_future(poller.run())
    while not telegram.calls("getUpdates"):
        await asyncio.sleep(0.02)
    poller.stop()
    await asyncio.wait_for(task, 10)  # not the 30 s of the long poll


def test_the_command_forwards_with_the_derived_secret_and_stops_cleanly_on_sigterm(telegram, receiver):
    update = telegram.push_update(text_update(4000, "hello from polling"))
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": telegram.url,
           "RASA_URL": receiver.url, "TELEGRAM_POLL_TIMEOUT": "30", "PYTHONUNBUFFERED": "1"}
    env.pop("TELEGRAM_WEBHOOK_SECRET", None)
    env.pop("TELEGRAM_WEBHOOK_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "connectors.telegram_polling"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        telegram.wait_for(lambda requests: any(r["method"] == "getUpdates"
                                               and r["params"].get("offset") == update["update_id"] + 1
                                               for r in requests), timeout=60)
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=20)[0].decode()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, output
    (post,) = receiver.posts
    assert post["update"]["message"]["text"] == "hello from polling"
    from connectors.telegram_output import TelegramSettings
    assert post["headers"][SECRET_HEADER] == TelegramSettings(token=TOKEN).secret  # what the channel expects
    assert TOKEN not in output and "Stopped polling Telegram" in output


@pytest.mark.parametrize("environ", [{}, {"TELEGRAM_BOT_TOKEN": TOKEN,
                                         "TELEGRAM_WEBHOOK_URL": "https://shop.example.com"}])
def test_the_command_refuses_to_run_without_a_token_or_in_webhook_mode(monkeypatch, capsys, environ):
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert telegram_polling.main([]) == telegram_polling.EXIT_CONFIGURATION
    assert "TELEGRAM_" in capsys.readouterr().err
