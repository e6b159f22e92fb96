"""Cold start (process start to first answer) and resident memory of each process of the stack.

    .venv/bin/python bench/coldstart.py

Starts the backend, the action server and the Rasa server one at a time, as the supervisor does, and the bare
moodbot's Rasa server for comparison. "First answer" is the first successful request: /health for the backend
and the action server, a REST message for the Rasa servers. Memory is VmRSS after that answer (with children).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT  # noqa: E402
from bench.servers import free_port, moodbot_project, rasa_env, workdir  # noqa: E402
from bot.stack import StackConfig  # noqa: E402
from bot.supervisor import services  # noqa: E402
from bot.training import MODEL  # noqa: E402


def rss_mb(pid: int) -> float:
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def first_answer(url: str, body: dict | None, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = json.dumps(body).encode() if body else None
            request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                if response.status == 200 and (body is None or json.loads(response.read())):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


def measure(name: str, command: list[str], cwd: Path, env: dict, url: str, body: dict | None) -> None:
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        first_answer(url, body)
        seconds = time.monotonic() - started
        time.sleep(1)
        print(f"{name:16} {seconds:8.1f} s {rss_mb(process.pid):8.0f} MB", flush=True)
    finally:
        os.killpg(process.pid, 15)
        process.wait(60)


def main() -> None:
    work = workdir()
    os.environ.update({"RASA_PORT": str(free_port()), "ACTION_PORT": str(free_port()),
                       "BACKEND_PORT": str(free_port()), "DATABASE_URL": f"sqlite:///{work / 'cold.db'}"})
    subprocess.run([sys.executable, "-m", "bot", "prepare"], cwd=ROOT, check=True, env=os.environ)
    config = StackConfig.from_env()
    env = {**os.environ, **config.environment()}
    by_name = {service.name: service for service in services(config, MODEL, environ={})}
    backend, actions, rasa = by_name["backend"], by_name["actions"], by_name["rasa"]
    print(f"{'process':16} {'cold start':>10} {'RSS':>11}")
    measure("backend", backend.command, ROOT, env, backend.ready_url, None)
    measure("action server", actions.command, ROOT, {**env, **actions.env}, actions.ready_url, None)
    # The Rasa server needs the action server for a new conversation's session start.
    helper = subprocess.Popen(actions.command, cwd=ROOT, env={**env, **actions.env}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        first_answer(actions.ready_url, None)
        message = {"sender": "coldstart", "message": "hello"}
        measure("rasa (sahayak)", rasa.command, ROOT, env, f"{config.rasa_url}/webhooks/rest/webhook", message)
    finally:
        os.killpg(helper.pid, 15)
        helper.wait(60)
    project = moodbot_project(work)
    port = free_port()
    measure("rasa (moodbot)", [sys.executable, "-m", "bot.rasa_cli", "run", "--port", str(port), "--interface", "127.0.0.1"],
            project, rasa_env(), f"http://127.0.0.1:{port}/webhooks/rest/webhook", message)


if __name__ == "__main__":
    main()
