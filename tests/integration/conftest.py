"""The whole stack, started as a user starts it (`python -m bot run`), on free loopback ports.

Its database is a fresh SQLite file, machine translation goes to a local LibreTranslate-speaking fake, and
the processes log to a temporary folder that is shown when something fails.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fakes.libretranslate import FakeLibreTranslate

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 600


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pseudo_translation(text: str, source: str, target: str) -> str:
    return f"[{target}] {text}"


@dataclass
class Stack:
    rasa_url: str
    backend_url: str
    database_url: str
    translator: FakeLibreTranslate
    log_dir: Path

    def say(self, sender: str, message, timeout: float = 30) -> list[dict]:
        response = httpx.post(f"{self.rasa_url}/webhooks/rest/webhook",
                              json={"sender": sender, "message": message}, timeout=timeout)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stack")
    ports = {"RASA_PORT": free_port(), "ACTION_PORT": free_port(), "BACKEND_PORT": free_port()}
    database_url = f"sqlite:///{tmp / 'sahayak.db'}"
    with FakeLibreTranslate(otherwise=pseudo_translation) as translator:
        env = {
            **os.environ,
            **{name: str(port) for name, port in ports.items()},
            "DATABASE_URL": database_url,
            "TRANSLATION_PROVIDER": "libre",
            "LIBRETRANSLATE_URL": translator.url,
            "TRANSLATION_TIMEOUT": "5",
            "ADMIN_API_KEY": "integration-test-key",
            "SAHAYAK_LOG_DIR": str(tmp / "log"),
        }
        output = (tmp / "supervisor.log").open("w")
        process = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_until_running(process, tmp / "supervisor.log", tmp / "log")
            yield Stack(f"http://127.0.0.1:{ports['RASA_PORT']}", f"http://127.0.0.1:{ports['BACKEND_PORT']}",
                        database_url, translator, tmp / "log")
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


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
