"""Stock lookups end to end through the REST channel, beside the foundation's greet-only conversation.

    .venv/bin/python bench/stock_load.py [--concurrency 10] [--conversations 40] [--rounds 2]

One stack (``python -m bot run``, fresh SQLite database with the demo chain). Each lookup conversation is a
retailer of the Anna Nagar store (linked directly in the database before it starts) asking four stock
questions that go through product matching and the stock service; each greet conversation is four greetings.
The two alternate for ``--rounds`` rounds at the same concurrency. Every lookup reply must be a stock answer
(a line with the store's name), or it counts as a failure. Raw latencies: bench/results/stock_load.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, percentile  # noqa: E402
from bench.load import run_load  # noqa: E402
from bench.servers import sahayak, workdir  # noqa: E402

GREETINGS = ["hello", "hi", "good morning", "hey there"]
LOOKUPS = ["how many basmati bags at anna nagar?", "sugar stock at anna nagar", "how much ghee do we have",
           "is the pink kid watch in stock at anna nagar"]


def link_retailers(database: Path, count: int) -> list[str]:
    from sqlalchemy import select

    from backend.db import session_scope
    from backend.models import Location
    from backend.services import stock, users

    senders = [f"bench-retailer-{uuid.uuid4().hex[:10]}" for _ in range(count)]
    with session_scope(f"sqlite:///{database}") as session:
        store = session.execute(select(Location).where(Location.code == "ANNA-NAGAR")).scalar_one()
        for sender in senders:
            stock.link_retailer(session, users.identify(session, "rest", sender), store, actor="bench")
    return senders


def names_the_store(replies: list) -> bool:
    return "Anna Nagar" in " ".join(r.get("text", "") for r in replies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = workdir()
    results = {"greet": [], "stock lookup": []}
    failures = {"greet": 0, "stock lookup": 0}
    with sahayak(work) as url:
        retailers = link_retailers(work / "bench.db", args.conversations * args.rounds + 2)
        asyncio.run(run_load(url, LOOKUPS, 2, 2, senders=retailers[:2]))  # warm-up
        asyncio.run(run_load(url, GREETINGS, 2, 2))
        for round_ in range(args.rounds):
            batch = retailers[2 + round_ * args.conversations: 2 + (round_ + 1) * args.conversations]
            for name, script, senders, check in (("greet", GREETINGS, None, None),
                                                 ("stock lookup", LOOKUPS, batch, names_the_store)):
                result = asyncio.run(run_load(url, script, args.concurrency, args.conversations,
                                              senders=senders, check=check))
                results[name] += result.latencies_ms
                failures[name] += result.failures
    print(f"{args.concurrency} concurrent conversations, {args.rounds} rounds:")
    for name, latencies in results.items():
        print(f"  {name:13} messages {len(latencies):5d}  failures {failures[name]:3d}  "
              f"p50 {percentile(latencies, 50):6.0f} ms  p95 {percentile(latencies, 95):6.0f} ms  "
              f"p99 {percentile(latencies, 99):6.0f} ms")
    out = ROOT / "bench" / "results" / "stock_load.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"concurrency": args.concurrency, "latencies_ms": results, "failures": failures}))


if __name__ == "__main__":
    main()
