"""Concurrent conversations against a Rasa REST webhook: latency per message and throughput."""
from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

import httpx

from bench.common import percentile


@dataclass
class LoadResult:
    concurrency: int
    messages: int
    failures: int
    seconds: float
    latencies_ms: list[float]

    @property
    def throughput(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    def row(self, name: str) -> str:
        return (f"{name:10} {self.concurrency:4d} {self.messages:6d} {self.failures:4d} {self.throughput:8.1f} "
                f"{percentile(self.latencies_ms, 50):8.0f} {percentile(self.latencies_ms, 95):8.0f} "
                f"{percentile(self.latencies_ms, 99):8.0f}")


HEADER = f"{'bot':10} {'conc':>4} {'msgs':>6} {'fail':>4} {'msg/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"


Check = Callable[[list], bool]
Script = Union[Sequence[str], Callable[[int], Sequence[str]]]


async def _conversation(client: httpx.AsyncClient, url: str, sender: str, script: Sequence[str],
                        latencies: list[float], failures: list[int], check: Optional[Check]) -> None:
    for message in script:
        started = time.perf_counter()
        try:
            response = await client.post(url, json={"sender": sender, "message": message})
            replies = response.json() if response.status_code == 200 else []
            ok = bool(replies) and (check is None or check(replies))
        except (httpx.HTTPError, ValueError):
            ok = False
        latencies.append((time.perf_counter() - started) * 1000)
        if not ok:
            failures.append(1)


async def run_load(
    rasa_url: str,
    script: Script,
    concurrency: int,
    conversations: int,
    *,
    senders: Optional[Sequence[str]] = None,
    check: Optional[Check] = None,
) -> LoadResult:
    """``conversations`` conversations following ``script``, at most ``concurrency`` at a time. ``senders``
    gives their sender ids (one conversation each) instead of new random ones; a reply list for which
    ``check`` is false counts as a failure. ``script`` may be a function of the conversation's index, for
    conversations that must not repeat each other's messages."""
    if senders is None:
        senders = [f"bench-{uuid.uuid4().hex[:12]}" for _ in range(conversations)]
    url = f"{rasa_url}/webhooks/rest/webhook"
    latencies: list[float] = []
    failures: list[int] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int, sender: str) -> None:
            turns = script(index) if callable(script) else script
            async with gate:
                await _conversation(client, url, sender, turns, latencies, failures, check)

        started = time.perf_counter()
        await asyncio.gather(*(one(index, sender) for index, sender in enumerate(senders)))
        seconds = time.perf_counter() - started
    return LoadResult(concurrency, len(latencies), len(failures), seconds, latencies)
