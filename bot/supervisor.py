"""Runs the backend, the action server and the Rasa server as one group.

Ctrl-C (or SIGTERM) stops all three. When one of them exits on its own, the supervisor says which, shows the end
of its log, stops the others and exits non-zero: a crash is reported, not hidden. Each process logs to
var/log/<name>.log.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from bot.stack import StackConfig

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = Path(os.environ.get("SAHAYAK_LOG_DIR") or ROOT / "var" / "log")


@dataclass
class Service:
    """A process of the stack; one without ``ready_url`` (a worker) is ready once it is running."""

    name: str
    command: list[str]
    ready_url: str | None
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def log_file(self) -> Path:
        return LOG_DIR / f"{self.name}.log"

    def start(self, base_env: dict[str, str]) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, env={**base_env, **self.env}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def is_ready(self) -> bool:
        if self.ready_url is None:
            return self.process is not None and self.process.poll() is None
        try:
            with urllib.request.urlopen(self.ready_url, timeout=1) as response:
                return response.status < 500
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def tail(self, lines: int = 20) -> str:
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        if not self.process or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def services(config: StackConfig, model: Path, environ: Mapping[str, str] = os.environ) -> list[Service]:
    python = sys.executable
    rasa = [python, "-m", "bot.rasa_cli", "run", "--enable-api", "--model", str(model), "--interface",
            config.rasa_host, "--port", str(config.rasa_port), "--endpoints", "endpoints.yml",
            "--credentials", "credentials.yml"]
    if config.rasa_token:
        rasa += ["--auth-token", config.rasa_token]
    group = [
        Service("backend", [python, "-m", "backend.api"], f"http://127.0.0.1:{config.backend_port}/health",
                env={"BACKEND_HOST": config.backend_host, "BACKEND_PORT": str(config.backend_port)}),
        Service("actions", [python, "-m", "rasa_sdk", "--actions", "actions", "--port", str(config.action_port)],
                f"http://127.0.0.1:{config.action_port}/health", env={"SANIC_HOST": "127.0.0.1"}),
        Service("rasa", rasa, f"{config.rasa_url}/"),
        Service("outbox", [python, "-m", "backend.workers.outbox"], None),
        Service("helpdesk-jobs", [python, "-m", "backend.workers.helpdesk"], None),
    ]
    if environ.get("TELEGRAM_BOT_TOKEN") and not environ.get("TELEGRAM_WEBHOOK_URL"):
        # No public HTTPS address for a webhook: fetch updates from Telegram and hand them to Rasa's webhook.
        group.append(Service("telegram-polling", [python, "-m", "connectors.telegram_polling"],
                             f"{config.rasa_url}/webhooks/telegram/"))
    return group


class Supervisor:
    def __init__(self, config: StackConfig, model: Path, out=print) -> None:
        self.config = config
        self.services = services(config, model)
        self.out = out
        self._stopping = False

    def run(self, ready_timeout: float = 300.0) -> int:
        env = {**os.environ, **self.config.environment(), "PYTHONUNBUFFERED": "1"}
        previous_handler = signal.signal(signal.SIGTERM, self._on_signal)
        try:
            for service in self.services:
                service.start(env)
                self.out(f"started {service.name} (pid {service.process.pid}, log {service.log_file})")
            failed = self._wait_until_ready(ready_timeout)
            if failed is not None:
                return failed
            self.out(f"\nSahayak is running. Chat with it at {self.config.chat_url}")
            self.out(f"  terminal chat: make chat   ·   Rasa API: {self.config.rasa_url}   ·   "
                     f"backend API docs: {self.config.chat_url}docs")
            self.out("Press Ctrl-C to stop.")
            return self._watch()
        except KeyboardInterrupt:
            self.out("\nstopping…")
            return 0
        finally:
            for service in reversed(self.services):
                service.stop()
            signal.signal(signal.SIGTERM, previous_handler)

    def _on_signal(self, *_: object) -> None:
        raise KeyboardInterrupt

    def _crashed(self) -> Service | None:
        return next((s for s in self.services if s.process and s.process.poll() is not None), None)

    def _report(self, service: Service) -> int:
        code = service.process.returncode
        self.out(f"\n{service.name} exited with code {code}. The end of {service.log_file}:")
        self.out(service.tail())
        return code or 1

    def _wait_until_ready(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        pending = list(self.services)
        while pending:
            crashed = self._crashed()
            if crashed:
                return self._report(crashed)
            pending = [s for s in pending if not s.is_ready()]
            if time.monotonic() > deadline:
                self.out(f"not ready after {timeout:.0f} s: {', '.join(s.name for s in pending)}")
                return 1
            time.sleep(0.5)
        return None

    def _watch(self) -> int:
        while True:
            crashed = self._crashed()
            if crashed:
                return self._report(crashed)
            time.sleep(1)
