"""Outbox delivery: notifications per second to a fake Telegram Bot API with 1 and 4 workers, on PostgreSQL.

    .venv/bin/python bench/outbox_throughput.py [--workers 1 4] [--messages 2000] [--users 200] [--batch 100|1]
        [--poll 0.05] [--rate MSGS_PER_S] [--timeout 600] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

A fresh database is created on the PostgreSQL server of --pg (CREATE DATABASE, dropped at the end) and migrated
with backend.db.migrate; --users users get a Telegram identity each (chat ids 10^9 + i, which the FakeTelegram
accepts). Then, for each worker count W, on a fresh batch (the previous batch's rows are deleted):
- --messages notifications of kind "bench" are queued with backend.notifications.outbox.enqueue, round robin over
  the users, --batch per transaction. Each has a ready, unique ``text`` ("Bench notification <run>-<i>: ...",
  so no catalogue rendering is involved); its enqueue time is when its transaction committed;
- W worker processes (``python -m backend.workers.outbox``, one delivery loop each) are started with
  TELEGRAM_BOT_TOKEN / TELEGRAM_API_BASE_URL pointing at a FakeTelegram in this process, DATABASE_URL at the
  bench database and OUTBOX_POLL_SECONDS=--poll (0.05 s by default instead of 1 s, so an idle worker notices new
  rows quickly; the caller's other TELEGRAM_*, OUTBOX_* and TWILIO_* variables are dropped), and run until
  every notification has reached the fake (then, after --settle s, they are stopped with SIGTERM).
A notification's delivery time is when the fake received its sendMessage (same clock as the enqueue times). The
fake's connections set TCP_NODELAY (bench/fake_telegram.py): the tests' fake would otherwise add a ~40 ms
Nagle/delayed-ACK stall to every send, which caps one worker near 15 msg/s.

"enq s" is how long queueing took (first to last commit). By default everything is queued first and the
workers start afterwards (a burst): "msg/s" is (delivered - 1) / (last delivery - first delivery), "start s"
how long the workers took from their launch to the first delivery, and the enqueue->delivery delay is mostly
waiting in the backlog (its p95 is about 0.95 x the drain time plus the start). With --rate R the workers start
first (and are waited for) and the notifications are queued at R per second (one per transaction unless
--batch says otherwise), so the delay is the pipeline's own as long as the workers keep up ("start s" is then
not measured).

The outbox sends a user's messages one after the other (in the order queued), so at most --users messages can
be in flight at once; keep --users well above 20 x W (a worker claims batches of 20, one per recipient).

Every notification must reach the fake exactly once (counted per chat and text), and every row must end "sent";
otherwise a loud error is printed and the exit status is 1. Results also go to bench/results/outbox_throughput.json.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Optional

from sqlalchemy import delete, func, select
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend.db import session_scope  # noqa: E402
from backend.models import ChannelIdentity, OutboxMessage, User  # noqa: E402
from backend.notifications.outbox import enqueue  # noqa: E402
from bench.common import ROOT, percentile  # noqa: E402
from bench.fake_telegram import BenchTelegram  # noqa: E402
from bench.servers import workdir  # noqa: E402
from tests.fakes.telegram import TOKEN, FakeTelegram  # noqa: E402
from tests.pg import temporary_database  # noqa: E402

CHAT_BASE = 10**9
STARTED_LINE = "Outbox worker started"


class RecordingTelegram(BenchTelegram):
    """The fake Bot API, which also keeps (chat id, text, time.time()) of every accepted sendMessage."""

    def __init__(self) -> None:
        super().__init__()
        self.deliveries: list[tuple[str, str, float]] = []
        self.arrived = threading.Condition()

    def reset(self) -> None:
        with self.arrived:
            self.deliveries = []
            self.requests.clear()

    def accepted(self, params: dict) -> None:
        with self.arrived:
            self.deliveries.append((str(params.get("chat_id")), params.get("text"), time.time()))
            self.arrived.notify_all()

    def wait_for(self, count: int, timeout: float, alive) -> bool:  # type: ignore[override]
        """Wait until ``count`` sendMessages arrived (True), ``timeout`` passed or ``alive()`` is false (False)."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.deliveries) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not alive():
                    return False
                self.arrived.wait(min(remaining, 0.5))
        return True


def bench_database(admin_url: str):
    """A fresh, migrated database on the server of ``admin_url``; dropped afterwards. Yields its URL."""
    return temporary_database(admin_url, "sahayak_bench")


def create_users(url: str, count: int) -> list[tuple[int, str]]:
    """``count`` users with a Telegram identity each: (user id, chat id)."""
    with session_scope(url) as session:
        users = [User(display_name=f"Bench user {i}", preferred_language="en") for i in range(count)]
        session.add_all(users)
        session.flush()
        session.add_all(ChannelIdentity(user_id=user.id, channel="telegram", channel_user_id=str(CHAT_BASE + i))
                        for i, user in enumerate(users))
        return [(user.id, str(CHAT_BASE + i)) for i, user in enumerate(users)]


def enqueue_all(url: str, users: list[tuple[int, str]], run: str, messages: int, batch: int,
                rate: Optional[float]) -> dict[tuple[str, str], float]:
    """Queue ``messages`` notifications, ``batch`` per transaction (paced at ``rate`` per second when given).
    Returns {(chat id, text): time the transaction committed}."""
    queued: dict[tuple[str, str], float] = {}
    started = time.monotonic()
    for first in range(0, messages, batch):
        if rate:
            delay = started + first / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        keys = []
        with session_scope(url) as session:
            for i in range(first, min(first + batch, messages)):
                user_id, chat = users[i % len(users)]
                text = f"Bench notification {run}-{i}: your order is ready for pickup."
                enqueue(session, user_id=user_id, response=None, text=text, kind="bench",
                        idempotency_key=f"bench-{run}-{i}")
                keys.append((chat, text))
        committed = time.time()
        queued.update((key, committed) for key in keys)
    return queued


def start_workers(url: str, fake: FakeTelegram, count: int, poll: float, log_dir: Path) -> list[subprocess.Popen]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("TWILIO_", "TELEGRAM_", "OUTBOX_"))}
    env.update({"DATABASE_URL": url, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": fake.url,
                "OUTBOX_POLL_SECONDS": str(poll), "PYTHONUNBUFFERED": "1"})
    processes = []
    for index in range(count):
        log = (log_dir / f"outbox-{count}w-{index}.log").open("w")
        processes.append(subprocess.Popen([sys.executable, "-m", "backend.workers.outbox"], cwd=ROOT, env=env,
                                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    return processes


def wait_started(processes: list[subprocess.Popen], log_dir: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    for index, process in enumerate(processes):
        log = log_dir / f"outbox-{len(processes)}w-{index}.log"
        while STARTED_LINE not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"outbox worker {index} did not start; see {log}")
            time.sleep(0.05)


def stop_workers(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def check(queued: dict[tuple[str, str], float], deliveries: list[tuple[str, str, float]],
          statuses: dict[str, int]) -> list[str]:
    """What is wrong with the run: notifications lost, delivered twice or unknown, rows not "sent"."""
    counts = Counter((chat, text) for chat, text, _ in deliveries)
    problems = []
    missing = [key for key in queued if key not in counts]
    twice = {key: n for key, n in counts.items() if n > 1}
    unknown = [key for key in counts if key not in queued]
    if missing:
        problems.append(f"{len(missing)} notification(s) never reached Telegram, e.g. {missing[:3]}")
    if twice:
        problems.append(f"{len(twice)} notification(s) delivered more than once, e.g. {list(twice.items())[:3]}")
    if unknown:
        problems.append(f"{len(unknown)} message(s) that were never queued reached Telegram, e.g. {unknown[:3]}")
    if set(statuses) != {"sent"} or statuses.get("sent") != len(queued):
        problems.append(f"outbox rows by status: {statuses} (expected {len(queued)} sent)")
    return problems


def run(url: str, fake: RecordingTelegram, users: list[tuple[int, str]], workers: int, args: argparse.Namespace,
        log_dir: Path) -> dict:
    with session_scope(url) as session:  # a fresh batch
        session.execute(delete(OutboxMessage))
    fake.reset()
    run_id = f"{workers}w{secrets.token_hex(3)}"
    processes: list[subprocess.Popen] = []
    try:
        if args.rate:
            launched = time.time()
            processes = start_workers(url, fake, workers, args.poll, log_dir)
            wait_started(processes, log_dir)
            queued = enqueue_all(url, users, run_id, args.messages, args.batch, args.rate)
        else:
            queued = enqueue_all(url, users, run_id, args.messages, args.batch, None)
            launched = time.time()
            processes = start_workers(url, fake, workers, args.poll, log_dir)
        complete = fake.wait_for(len(queued), args.timeout, lambda: any(p.poll() is None for p in processes))
        time.sleep(args.settle)  # let a late duplicate show up before counting
    finally:
        stop_workers(processes)
    with session_scope(url) as session:
        statuses = dict(session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
                        .all())
    with fake.arrived:
        deliveries = list(fake.deliveries)
    first_copy: dict[tuple[str, str], float] = {}
    for chat, text, at in deliveries:
        first_copy.setdefault((chat, text), at)
    delays = [(first_copy[key] - at) * 1000 for key, at in queued.items() if key in first_copy]
    times = sorted(first_copy.values())
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    problems = check(queued, deliveries, statuses)
    if not complete:
        problems.insert(0, f"only {len(deliveries)} of {len(queued)} sendMessages arrived within {args.timeout} s "
                           f"(or every worker exited); see {log_dir}")
    return {"workers": workers, "mode": "paced" if args.rate else "burst", "queued": len(queued),
            "delivered": len(first_copy), "sendmessages": len(deliveries),
            "throughput": (len(times) - 1) / span if span else 0.0,
            "start_s": (times[0] - launched) if times and not args.rate else float("nan"),
            "enqueue_s": max(queued.values()) - min(queued.values()) if queued else 0.0,
            "delay_p50_ms": percentile(delays, 50), "delay_p95_ms": percentile(delays, 95),
            "delay_p99_ms": percentile(delays, 99), "statuses": statuses, "problems": problems,
            "delays_ms": delays}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4], help="worker process counts, in turn")
    parser.add_argument("--messages", type=int, default=2000, help="notifications per worker count")
    parser.add_argument("--users", type=int, default=200, help="recipients (round robin)")
    parser.add_argument("--batch", type=int, default=None, help="notifications per enqueue transaction (default "
                        "100; 1 with --rate)")
    parser.add_argument("--poll", type=float, default=0.05, help="OUTBOX_POLL_SECONDS of the workers")
    parser.add_argument("--rate", type=float, default=None, help="start the workers first and queue at this many "
                        "notifications per second (default: queue all, then start the workers)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for every delivery")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds to keep the workers after the last "
                        "delivery, so a duplicate would be seen")
    parser.add_argument("--pg", default=os.environ.get("SAHAYAK_BENCH_PG_URL",
                                                        "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="an existing database on the server to create the bench database on")
    args = parser.parse_args()
    if args.batch is None:
        args.batch = 1 if args.rate else 100
    log_dir = workdir()
    results = []
    with RecordingTelegram() as fake, bench_database(args.pg) as url:
        users = create_users(url, args.users)
        mode = f"paced at {args.rate:g}/s" if args.rate else "burst: all queued, then the workers start"
        print(f"{args.messages} notifications (ready text) to {args.users} Telegram users, {mode}; "
              f"OUTBOX_POLL_SECONDS={args.poll:g}; PostgreSQL {make_url(url).render_as_string()}")
        print(f"{'workers':>7} {'queued':>6} {'sent':>6} {'enq s':>6} {'start s':>7} {'msg/s':>7} "
              f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  check")
        for workers in args.workers:
            result = run(url, fake, users, workers, args, log_dir)
            results.append(result)
            print(f"{workers:7d} {result['queued']:6d} {result['delivered']:6d} {result['enqueue_s']:6.1f} "
                  f"{result['start_s']:7.2f} {result['throughput']:7.1f} {result['delay_p50_ms']:8.0f} "
                  f"{result['delay_p95_ms']:8.0f} {result['delay_p99_ms']:8.0f}  "
                  f"{'FAILED' if result['problems'] else 'exactly once'}", flush=True)
    out = ROOT / "bench" / "results" / "outbox_throughput.json"
    out.write_text(json.dumps({"settings": vars(args), "runs": results}))
    print(f"\nraw delays: {out.relative_to(ROOT)}; worker logs: {log_dir.relative_to(ROOT)}")
    failed = [r for r in results if r["problems"]]
    for result in failed:
        print("\n" + "!" * 100, file=sys.stderr)
        print(f"!!! DELIVERY CHECK FAILED with {result['workers']} worker(s):", file=sys.stderr)
        for problem in result["problems"]:
            print(f"!!!   {problem}", file=sys.stderr)
        print("!" * 100, file=sys.stderr)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
