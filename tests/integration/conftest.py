"""The whole stack, started as a user starts it (`python -m bot run`), on free loopback ports.

Its database is a fresh SQLite file (``pg_stack``: a fresh PostgreSQL database), machine translation goes to a local LibreTranslate-speaking fake, and
the processes log to a temporary folder that is shown when something fails.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg2
import pytest

from tests.fakes.libretranslate import FakeLibreTranslate
from tests.fakes.telegram import TOKEN as TELEGRAM_TOKEN, FakeTelegram
from tests.fakes.twilio import ACCOUNT_SID as TWILIO_ACCOUNT_SID, AUTH_TOKEN as TWILIO_AUTH_TOKEN, FakeTwilio
from tests.pg import admin_connection, temporary_database

PG_ADMIN_URL = os.environ.get("SAHAYAK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 600


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pseudo_translation(text: str, source: str, target: str) -> str:
    return f"[{target}] {text}"


# Twilio: the channel sends through the fake Twilio API and checks signatures against a public URL, as behind
# a proxy (tests/integration/test_twilio.py signs for that URL and posts to Rasa on loopback).
TWILIO_PUBLIC_URL = "https://sahayak.example.org/webhooks/twilio/webhook"
TWILIO_WHATSAPP_FROM = "whatsapp:+14155238886"
TWILIO_SMS_FROM = "+15005550006"


def twilio_environment(twilio: FakeTwilio) -> dict[str, str]:
    return {"TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT_SID, "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
            "TWILIO_WHATSAPP_FROM": TWILIO_WHATSAPP_FROM, "TWILIO_SMS_FROM": TWILIO_SMS_FROM,
            "TWILIO_PUBLIC_URL": TWILIO_PUBLIC_URL, "TWILIO_API_BASE_URL": twilio.url, "TWILIO_TIMEOUT": "5"}


# Telegram: the channel sends through the fake Bot API; tests/integration/test_telegram.py posts updates to Rasa's
# webhook with this secret, as Telegram (or the poller) does.
TELEGRAM_WEBHOOK_SECRET = "integration-telegram-secret"


def telegram_environment(telegram: FakeTelegram) -> dict[str, str]:
    return {"TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN, "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_WEBHOOK_SECRET,
            "TELEGRAM_API_BASE_URL": telegram.url, "TELEGRAM_TIMEOUT": "5",
            # Webhook mode: the tests deliver updates to the webhook themselves, and the one poller test runs
            # its own poller (two pollers would compete for the same updates).
            "TELEGRAM_WEBHOOK_URL": "https://sahayak.example/webhooks/telegram/webhook"}


@dataclass
class Stack:
    rasa_url: str
    backend_url: str
    database_url: str
    translator: FakeLibreTranslate
    log_dir: Path
    twilio: FakeTwilio | None = None
    telegram: FakeTelegram | None = None

    def say(self, sender: str, message, timeout: float = 30) -> list[dict]:
        response = httpx.post(f"{self.rasa_url}/webhooks/rest/webhook",
                              json={"sender": sender, "message": message}, timeout=timeout)
        response.raise_for_status()
        return response.json()


@contextmanager
def running_stack(tmp: Path, database_url: str, extra_env: dict | None = None):
    """``python -m bot run`` on free ports with the fakes and ``database_url`` (and ``extra_env`` over the
    environment it builds); yields a :class:`Stack`."""
    ports = {"RASA_PORT": free_port(), "ACTION_PORT": free_port(), "BACKEND_PORT": free_port()}
    with FakeLibreTranslate(otherwise=pseudo_translation) as translator, FakeTwilio() as twilio, \
            FakeTelegram() as telegram:
        env = {
            **os.environ,
            **{name: str(port) for name, port in ports.items()},
            "DATABASE_URL": database_url,
            "TRANSLATION_PROVIDER": "libre",
            "LIBRETRANSLATE_URL": translator.url,
            "TRANSLATION_TIMEOUT": "5",
            "ADMIN_API_KEY": "integration-test-key",
            "SAHAYAK_LOG_DIR": str(tmp / "log"),
            "SUPPORT_HOURS": "",  # a person is always there, whatever a developer's .env says
            **twilio_environment(twilio),
            **telegram_environment(telegram),
            **(extra_env or {}),
        }
        output = (tmp / "supervisor.log").open("w")
        process = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_until_running(process, tmp / "supervisor.log", tmp / "log")
            yield Stack(f"http://127.0.0.1:{ports['RASA_PORT']}", f"http://127.0.0.1:{ports['BACKEND_PORT']}",
                        database_url, translator, tmp / "log", twilio=twilio, telegram=telegram)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stack")
    with running_stack(tmp, f"sqlite:///{tmp / 'sahayak.db'}") as running:
        yield running


@pytest.fixture(scope="session")
def pg_stack(tmp_path_factory):
    """The same stack on a fresh PostgreSQL database (the production path)."""
    try:
        admin_connection(PG_ADMIN_URL, timeout=3).close()
    except psycopg2.OperationalError as exc:
        if os.environ.get("SAHAYAK_TEST_POSTGRES") == "require":
            raise
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    tmp = tmp_path_factory.mktemp("pg-stack")
    with temporary_database(PG_ADMIN_URL, migrated=False) as url, running_stack(tmp, url) as running:
        yield running


def _wait_until_running(process: subprocess.Popen, output: Path, log_dir: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        text = output.read_text(errors="replace")
        if "Sahayak is running" in text:
            return
        if process.poll() is not None:
            logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in log_dir.glob("*.log"))
            pytest.fail(f"the stack stopped while starting:\n{text[-3000:]}\n{logs}")
        time.sleep(1)
    pytest.fail(f"the stack did not start within {STARTUP_TIMEOUT} s:\n{output.read_text(errors='replace')[-3000:]}")
