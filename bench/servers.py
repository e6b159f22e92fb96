"""Start the servers the benchmarks measure: our stack (`python -m bot run`) and Rasa's moodbot."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping, Optional

from bench.common import ROOT


def rasa_env() -> dict[str, str]:
    """Environment for a Rasa process outside the repository (the moodbot): bot.rasa_cli must be importable."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, process: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} not ready after {timeout} s; see {log}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@contextmanager
def sahayak(workdir: Path, extra_env: Optional[Mapping[str, str]] = None) -> Iterator[str]:
    """Our whole stack on free ports with a fresh SQLite database; yields the Rasa URL.

    ``extra_env`` is added to the stack's environment (e.g. TELEGRAM_* pointing at a fake Bot API).
    """
    with sahayak_stack(workdir, extra_env) as urls:
        yield urls["rasa"]


@contextmanager
def sahayak_stack(workdir: Path, extra_env: Optional[Mapping[str, str]] = None) -> Iterator[dict[str, str]]:
    """Like :func:`sahayak`, yielding the URLs of Rasa, the backend and the database."""
    ports = {"RASA_PORT": free_port(), "ACTION_PORT": free_port(), "BACKEND_PORT": free_port()}
    database = f"sqlite:///{workdir / 'bench.db'}"
    env = {**os.environ, **{k: str(v) for k, v in ports.items()},
           "DATABASE_URL": database, "SAHAYAK_LOG_DIR": str(workdir / "log"),
           **(extra_env or {})}
    log = workdir / "sahayak.log"
    process = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, stdout=log.open("w"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 900
        while "Sahayak is running" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the stack did not start; see {log}")
            time.sleep(1)
        yield {"rasa": f"http://127.0.0.1:{ports['RASA_PORT']}",
               "backend": f"http://127.0.0.1:{ports['BACKEND_PORT']}", "database": database}
    finally:
        _stop(process)


def moodbot_project(workdir: Path) -> Path:
    """A bare `rasa init` project, trained (rasa init trains it)."""
    project = workdir / "moodbot"
    if not (project / "models").exists() or not any((project / "models").glob("*.tar.gz")):
        shutil.rmtree(project, ignore_errors=True)
        project.mkdir(parents=True)  # rasa init wants the folder to exist
        subprocess.run([sys.executable, "-m", "bot.rasa_cli", "init", "--no-prompt", "--init-dir", str(project)],
                       cwd=workdir, env=rasa_env(), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return project


@contextmanager
def moodbot(workdir: Path) -> Iterator[str]:
    project = moodbot_project(workdir)
    port = free_port()
    log = workdir / "moodbot.log"
    process = subprocess.Popen([sys.executable, "-m", "bot.rasa_cli", "run", "--enable-api", "--interface", "127.0.0.1",
                                "--port", str(port)], cwd=project, env=rasa_env(), stdout=log.open("w"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait(f"http://127.0.0.1:{port}/", process, 600, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


def workdir() -> Path:
    path = ROOT / "bench" / "results" / "work"
    path.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=path))
