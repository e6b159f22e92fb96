"""Ticket creation end to end through the REST channel, beside the foundation's greet-only conversation.

    .venv/bin/python bench/ticket_load.py [--concurrency 10] [--conversations 40] [--rounds 2]

One stack (``python -m bot run``, fresh SQLite database). Each ticket conversation is the form's happy path
("I want to file a complaint", "delivery", a description, "skip", "yes": five messages, the last one
creating the ticket through the action server and the backend); each greet conversation is four greetings.
The two alternate for ``--rounds`` rounds at the same concurrency, so both see the same machine. Afterwards
the tickets in the database are counted: every ticket conversation must have created exactly one.
Raw latencies go to bench/results/ticket_load.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, percentile  # noqa: E402
from bench.load import HEADER, run_load  # noqa: E402
from bench.servers import sahayak, workdir  # noqa: E402

GREETINGS = ["hello", "hi", "good morning", "hey there"]
TICKET = ["I want to file a complaint", "delivery", "my parcel was marked delivered but never arrived", "skip", "yes"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = workdir()
    database = work / "bench.db"
    database.unlink(missing_ok=True)
    results: dict[str, list[float]] = {"greet": [], "ticket": []}
    failures = {"greet": 0, "ticket": 0}
    with sahayak(work) as url:
        asyncio.run(run_load(url, GREETINGS, 2, 4))  # warm-up
        asyncio.run(run_load(url, TICKET, 2, 2))
        print(HEADER)
        for _ in range(args.rounds):
            for name, script in (("greet", GREETINGS), ("ticket", TICKET)):
                result = asyncio.run(run_load(url, script, args.concurrency, args.conversations))
                print(result.row(name), flush=True)
                results[name] += result.latencies_ms
                failures[name] += result.failures
        tickets = _count_tickets(f"sqlite:///{database}")
    expected = 2 + args.rounds * args.conversations
    print(f"\nall rounds at {args.concurrency} concurrent conversations:")
    for name, latencies in results.items():
        print(f"  {name:7} messages {len(latencies):5d}  failures {failures[name]:3d}  "
              f"p50 {percentile(latencies, 50):6.0f} ms  p95 {percentile(latencies, 95):6.0f} ms  "
              f"p99 {percentile(latencies, 99):6.0f} ms")
    print(f"  tickets in the database: {tickets} (expected {expected})")
    out = ROOT / "bench" / "results" / "ticket_load.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"concurrency": args.concurrency, "latencies_ms": results, "tickets": tickets,
                               "expected_tickets": expected}))
    if tickets != expected:
        sys.exit(f"expected {expected} tickets, found {tickets}")


def _count_tickets(url: str) -> int:
    from sqlalchemy import func, select

    from backend.db import session_scope
    from backend.models import Ticket

    with session_scope(url) as session:
        return session.execute(select(func.count(Ticket.id))).scalar_one()


if __name__ == "__main__":
    main()
