"""REST channel latency and throughput: Sahayak beside a bare `rasa init` moodbot, in one run.

    .venv/bin/python bench/rest_load.py [--levels 1 10 50] [--conversations-per-level 40] [--turns 4] [--unseen]

Both bots get the same greet-only conversation ("hello", "hi", "good morning", "hey there") from the same
number of concurrent users; the levels alternate between the bots so that both see the same machine.
``--unseen`` numbers every message of the run ("hello 1", "hi 2", ...) so that no text repeats: Sahayak's
cache of recent sentence embeddings never hits, and each message costs what a message never seen before does.
Results also go to bench/results/rest_load.json.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT  # noqa: E402
from bench.load import HEADER, run_load  # noqa: E402
from bench.servers import moodbot, sahayak, workdir  # noqa: E402

GREETINGS = ["hello", "hi", "good morning", "hey there"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--conversations-per-level", type=int, default=40)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--unseen", action="store_true", help="never send the same text twice")
    args = parser.parse_args()
    greetings = (GREETINGS * args.turns)[: args.turns]
    numbered = itertools.count(1)

    def script(index: int) -> list[str]:
        return [f"{text} {next(numbered)}" for text in greetings] if args.unseen else greetings
    work = workdir()
    results = []
    with moodbot(work) as mood_url, sahayak(work) as our_url:
        for url in (mood_url, our_url):  # warm-up: first messages load lazily initialised parts
            asyncio.run(run_load(url, script, 2, 4))
        print(HEADER)
        for level in args.levels:
            conversations = max(args.conversations_per_level, level * 2)
            for name, url in (("moodbot", mood_url), ("sahayak", our_url)):
                result = asyncio.run(run_load(url, script, level, conversations))
                print(result.row(name), flush=True)
                results.append({"bot": name, "concurrency": level, "messages": result.messages,
                                "failures": result.failures, "throughput": result.throughput,
                                "latencies_ms": result.latencies_ms})
    out = ROOT / "bench" / "results" / "rest_load.json"
    out.write_text(json.dumps(results))
    print(f"\nraw latencies: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
