"""The supervisor with small stand-in services: readiness, crash reports, stopping everything."""
import socket
import sys
import threading
from pathlib import Path

import pytest

import bot.supervisor as supervisor_module
from bot.stack import StackConfig
from bot.supervisor import Service, Supervisor


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_server(port):
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


@pytest.fixture
def supervisor(tmp_path, monkeypatch):
    monkeypatch.setattr(supervisor_module, "LOG_DIR", tmp_path)
    config = StackConfig("127.0.0.1", free_port(), free_port(), "127.0.0.1", free_port(), None)
    lines = []
    sup = Supervisor(config, Path("unused"), out=lines.append)
    sup.lines = lines
    return sup


def test_a_service_that_crashes_while_starting_is_reported_and_the_others_stopped(supervisor):
    port = free_port()
    healthy = Service("healthy", http_server(port), f"http://127.0.0.1:{port}/")
    crashing = Service("crashing", [sys.executable, "-c", "import sys; print('boom: no database'); sys.exit(3)"],
                       "http://127.0.0.1:9/")
    supervisor.services = [healthy, crashing]
    assert supervisor.run(ready_timeout=60) == 3
    report = "\n".join(supervisor.lines)
    assert "crashing exited with code 3" in report and "boom: no database" in report
    assert healthy.process.poll() is not None, "the healthy service was stopped too"


def test_a_crash_after_start_is_reported(supervisor, tmp_path):
    port = free_port()
    flag = tmp_path / "die"
    script = (f"import http.server, os, threading, time, sys\n"
              f"s = http.server.HTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler)\n"
              f"threading.Thread(target=s.serve_forever, daemon=True).start()\n"
              f"while not os.path.exists({str(flag)!r}): time.sleep(0.1)\n"
              f"print('lost the database'); sys.exit(7)\n")
    service = Service("worker", [sys.executable, "-c", script], f"http://127.0.0.1:{port}/")
    supervisor.services = [service]
    threading.Timer(3, flag.touch).start()
    assert supervisor.run(ready_timeout=60) == 7
    assert any("Sahayak is running" in line for line in supervisor.lines)
    assert "lost the database" in "\n".join(supervisor.lines)


def test_interrupt_stops_every_service(supervisor):
    ports = [free_port(), free_port()]
    services = [Service(f"s{i}", http_server(p), f"http://127.0.0.1:{p}/") for i, p in enumerate(ports)]
    supervisor.services = services

    def interrupt_when_running():
        while not any("Sahayak is running" in line for line in supervisor.lines):
            threading.Event().wait(0.1)
        supervisor_module.os.kill(supervisor_module.os.getpid(), supervisor_module.signal.SIGTERM)

    threading.Thread(target=interrupt_when_running, daemon=True).start()
    assert supervisor.run(ready_timeout=60) == 0
    assert all(s.process.poll() is not None for s in services)


def test_the_telegram_poller_runs_only_with_a_token_and_no_public_webhook():
    from bot.supervisor import services

    config = StackConfig("127.0.0.1", 5005, 5055, "127.0.0.1", 8000, None)
    names = lambda environ: [s.name for s in services(config, Path("m.tar.gz"), environ)]  # noqa: E731
    assert names({}) == ["backend", "actions", "rasa", "outbox", "helpdesk-jobs"]
    assert "telegram-polling" in names({"TELEGRAM_BOT_TOKEN": "1:a"})
    assert "telegram-polling" not in names({"TELEGRAM_BOT_TOKEN": "1:a", "TELEGRAM_WEBHOOK_URL": "https://x/y"})
