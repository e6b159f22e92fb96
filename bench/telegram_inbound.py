"""Telegram connector overhead: webhook-to-reply latency through Telegram against the REST channel, in one run.

    .venv/bin/python bench/telegram_inbound.py [--levels 1 10] [--conversations 40] [--turns 4] [--rounds 1]

One stack (`python -m bot run`) is started with the Telegram channel pointed at a FakeTelegram Bot API in this
process (TELEGRAM_API_BASE_URL) and in webhook mode (TELEGRAM_WEBHOOK_URL set, so no poller runs). At each
concurrency level N, N chats at a time each go through the greet-only script of bench/rest_load.py ("hello",
"hi", "good morning", "hey there"), max(--conversations, 2 N) conversations per level, through
- REST: POST /webhooks/rest/webhook; latency = the HTTP round trip (the replies are in the response);
- Telegram: a Bot API Update posted to /webhooks/telegram/webhook with the secret header; latency = from
  posting the update to the moment the fake Bot API received the bot's sendMessage for that chat. A turn is
  over when the webhook has answered and at least one sendMessage has arrived (whichever order the
  connector does them in); its latency is the arrival of the last sendMessage received by then.
"TG 200 p95" is the webhook's own round trip (how long Telegram waits for its 200; the turn, and so the
throughput, includes it). The connector answers the webhook after the replies went out, and Rasa sends them
during the turn, before it finishes it (next action, tracker saved), while the REST channel answers only at
the end; so the reply can reach Telegram sooner than the REST response comes back, and "200/REST" (TG 200 p95
/ REST p95) compares the whole turn. REST and Telegram alternate at each level (with --rounds > 1 the order
flips every round and the rounds are pooled). The fake runs in this process, so its request parsing counts on
the Telegram side; its connections set TCP_NODELAY (bench/fake_telegram.py: the tests' fake would otherwise
add a ~40 ms Nagle/delayed-ACK stall to every Bot API call). The issue's target: Telegram p95 / REST p95
below 1.10 at 10 chats.
Results also go to bench/results/telegram_inbound.json.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Optional

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, percentile  # noqa: E402
from bench.fake_telegram import BenchTelegram  # noqa: E402
from bench.load import HEADER, LoadResult, run_load  # noqa: E402
from bench.rest_load import GREETINGS  # noqa: E402
from bench.servers import sahayak, workdir  # noqa: E402
from tests.fakes.telegram import TOKEN, FakeTelegram, text_update  # noqa: E402

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET = "bench-telegram-secret"
REPLY_TIMEOUT = 120.0


class SignallingTelegram(BenchTelegram):
    """The fake Bot API, which also notes when each sendMessage arrived and wakes the chat's waiter."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[str, list[float]] = defaultdict(list)  # chat id -> perf_counter() of each sendMessage
        self._waiters: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}
        self._lock = threading.Lock()

    def watch(self, chat_id: int) -> asyncio.Event:
        """An event set (in the caller's loop) whenever a sendMessage to ``chat_id`` arrives."""
        event = asyncio.Event()
        with self._lock:
            self._waiters[str(chat_id)] = (asyncio.get_running_loop(), event)
        return event

    def unwatch(self, chat_id: int) -> None:
        with self._lock:
            self._waiters.pop(str(chat_id), None)
            self.arrivals.pop(str(chat_id), None)

    def accepted(self, params: dict) -> None:
        arrived = time.perf_counter()
        chat = str(params.get("chat_id"))
        with self._lock:
            self.arrivals[chat].append(arrived)
            waiter = self._waiters.get(chat)
        if waiter is not None:
            loop, event = waiter
            loop.call_soon_threadsafe(event.set)


_chat_ids = itertools.count(random.randint(10**9, 2 * 10**9 - 10**7))


async def _telegram_conversation(client: httpx.AsyncClient, url: str, fake: SignallingTelegram, script: list[str],
                                 latencies: list[float], failures: list[int], webhook: list[float]) -> None:
    chat = next(_chat_ids)
    event = fake.watch(chat)
    arrivals = fake.arrivals[str(chat)]
    try:
        for message in script:
            update = text_update(chat, message, language_code="en")
            before = len(arrivals)
            started = time.perf_counter()
            answered: list[float] = []

            async def deliver() -> httpx.Response:
                try:
                    return await client.post(url, json=update, headers={SECRET_HEADER: SECRET})
                finally:
                    answered.append(time.perf_counter())
                    event.set()

            post = asyncio.ensure_future(deliver())
            ok = True
            try:
                while not (post.done() and len(arrivals) > before):
                    event.clear()
                    if post.done() and len(arrivals) > before:
                        break
                    await asyncio.wait_for(event.wait(), REPLY_TIMEOUT - (time.perf_counter() - started))
                response = post.result()
                ok = response.status_code == 200 and response.json().get("status") == "processed"
                latency = (arrivals[-1] - started) * 1000
                webhook.append((answered[0] - started) * 1000)
            except (asyncio.TimeoutError, httpx.HTTPError, ValueError, AttributeError):
                ok = False
                latency = (time.perf_counter() - started) * 1000
                if not post.done():
                    post.cancel()
            latencies.append(latency)
            if not ok:
                failures.append(1)
    finally:
        fake.unwatch(chat)


async def run_telegram_load(rasa_url: str, fake: SignallingTelegram, script: list[str], concurrency: int,
                            conversations: int) -> tuple[LoadResult, list[float]]:
    """``conversations`` Telegram chats following ``script``, at most ``concurrency`` at a time; the result and the
    webhook's own round trips (ms; how long Telegram waits for the 200)."""
    url = f"{rasa_url}/webhooks/telegram/webhook"
    latencies: list[float] = []
    failures: list[int] = []
    webhook: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=REPLY_TIMEOUT, limits=limits) as client:
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate:
                await _telegram_conversation(client, url, fake, script, latencies, failures, webhook)

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(conversations)))
        seconds = time.perf_counter() - started
    return LoadResult(concurrency, len(latencies), len(failures), seconds, latencies), webhook


async def _rest(url: str, script: list[str], level: int, conversations: int) -> tuple[LoadResult, list[float]]:
    result = await run_load(url, script, level, conversations)
    return result, result.latencies_ms


def telegram_environment(fake: FakeTelegram) -> dict[str, str]:
    return {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": SECRET, "TELEGRAM_API_BASE_URL": fake.url,
            # webhook mode: this script posts the updates; no poller competes for them
            "TELEGRAM_WEBHOOK_URL": "https://sahayak.example/webhooks/telegram/webhook"}


def _pooled(results: list[dict], channel: str, level: int) -> Optional[dict[str, Any]]:
    runs = [r for r in results if r["channel"] == channel and r["concurrency"] == level]
    if not runs:
        return None
    latencies = [x for r in runs for x in r["latencies_ms"]]
    webhook = [x for r in runs for x in r["webhook_ms"]]
    seconds = sum(r["seconds"] for r in runs)
    return {"messages": len(latencies), "failures": sum(r["failures"] for r in runs),
            "throughput": len(latencies) / seconds if seconds else 0.0,
            "p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "p99": percentile(latencies, 99),
            "webhook_p95": percentile(webhook, 95)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--conversations", type=int, default=40, help="conversations per level and channel "
                        "(at least 2 x the level)")
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1, help="REST/Telegram pairs per level, order flipped "
                        "every round, pooled")
    args = parser.parse_args()
    script = (GREETINGS * args.turns)[: args.turns]
    work = workdir()
    results: list[dict] = []
    with SignallingTelegram() as fake, sahayak(work, telegram_environment(fake)) as url:
        channels = {"rest": lambda level, n: _rest(url, script, level, n),
                    "telegram": lambda level, n: run_telegram_load(url, fake, script, level, n)}
        for name, run in channels.items():  # warm-up: first messages load lazily initialised parts
            warm, _ = asyncio.run(run(2, 4))
            if warm.failures:
                raise SystemExit(f"warm-up over {name} failed ({warm.failures} of {warm.messages} turns); "
                                 f"see the logs in {work}")
        print(HEADER)
        for level in args.levels:
            conversations = max(args.conversations, level * 2)
            for round_ in range(args.rounds):
                order = ("rest", "telegram") if round_ % 2 == 0 else ("telegram", "rest")
                for name in order:
                    result, webhook_ms = asyncio.run(channels[name](level, conversations))
                    print(result.row(name), flush=True)
                    results.append({"channel": name, "concurrency": level, "round": round_,
                                    "conversations": conversations, "messages": result.messages,
                                    "failures": result.failures, "seconds": result.seconds,
                                    "throughput": result.throughput, "latencies_ms": result.latencies_ms,
                                    "webhook_ms": webhook_ms})
    print(f"\n{'conc':>4} {'REST p95':>9} {'TG p95':>9} {'TG/REST p95':>12} {'REST msg/s':>11} {'TG msg/s':>9} "
          f"{'TG 200 p95':>11} {'200/REST':>9}  verdict (target < 1.10)")
    summary = []
    for level in args.levels:
        rest, telegram = _pooled(results, "rest", level), _pooled(results, "telegram", level)
        ratio = telegram["p95"] / rest["p95"] if rest["p95"] else float("nan")
        webhook_ratio = telegram["webhook_p95"] / rest["p95"] if rest["p95"] else float("nan")
        failed = rest["failures"] + telegram["failures"]
        verdict = "FAILURES" if failed else ("ok" if ratio < 1.10 else "over")
        print(f"{level:4d} {rest['p95']:9.0f} {telegram['p95']:9.0f} {ratio:12.2f} {rest['throughput']:11.1f} "
              f"{telegram['throughput']:9.1f} {telegram['webhook_p95']:11.0f} {webhook_ratio:9.2f}  {verdict}")
        summary.append({"concurrency": level, "rest": rest, "telegram": telegram, "p95_ratio": ratio,
                        "webhook_p95_ratio": webhook_ratio})
    out = ROOT / "bench" / "results" / "telegram_inbound.json"
    out.write_text(json.dumps({"settings": vars(args), "summary": summary, "runs": results}))
    print(f"\nraw latencies: {out.relative_to(ROOT)}")
    if any(r["failures"] for r in results):
        print(f"\n!!! SOME TURNS FAILED: see the logs in {work}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
