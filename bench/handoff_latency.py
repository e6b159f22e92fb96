"""Handoff latency with many escalated chats at once (issue 5).

    .venv/bin/python bench/handoff_latency.py [--chats 20] [--agents 4] [--messages 10]

One stack (``python -m bot run``, fresh SQLite database, translation through the local LibreTranslate-speaking
fake). ``--chats`` web chat customers (each a cookie jar on the backend, as a browser) ask for a person at
once; ``--agents`` agents log in to the console, keep its live feed open (server-sent events) and take the
chats. Then every chat, concurrently, exchanges ``--messages`` rounds:

- customer to console: from the customer posting a message in the web chat to the agent's console having it
  (the feed's event arrived and the console fetched the message, as the page's script does);
- agent to customer: from the agent posting a reply to the customer's web chat receiving it (the page's long
  poll of its inbox returned it).

Prints p50/p95/max of both, and where the time goes: each leg split at the moment its row was written (the
customer's message for the agent; the reply in the web chat's inbox), from the rows' timestamps (taken as they
are written, just before their commit) and the wall clock of the load generator, on the same machine. Raw
figures go to bench/results/handoff_latency.json. Target: p95 under 500 ms.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, percentile  # noqa: E402
from bench.servers import sahayak_stack, workdir  # noqa: E402
from tests.fakes.libretranslate import FakeLibreTranslate  # noqa: E402

PASSWORD = "benchmark agent password"
ESCALATE = "I want to talk to a real person please"


def create_agents(database: str, count: int) -> list[str]:
    names = [f"agent{n}" for n in range(count)]
    for name in names:
        subprocess.run([sys.executable, "-m", "backend.agents", "create", "--username", name, "--name", name.title(),
                        "--team", "customer-care", "--password-stdin"], input=PASSWORD + "\n", text=True, check=True,
                       cwd=ROOT, env={**os.environ, "DATABASE_URL": database}, stdout=subprocess.DEVNULL)
    return names


async def log_in(client: httpx.AsyncClient, username: str) -> str:
    page = await client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    queue = await client.post("/console/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    return re.search(r'data-csrf="([^"]+)"', queue.text).group(1)


class Agent:
    """A console: the live feed open, fetching new messages of its chats as the page's script does."""

    def __init__(self, client: httpx.AsyncClient, csrf: str) -> None:
        self.client, self.csrf = client, csrf
        self.last_feed: dict[int, int] = {}
        self.waiting: dict[str, asyncio.Future] = {}  # message text -> when the console had it

    async def listen(self) -> None:
        async with self.client.stream("GET", "/console/api/events", timeout=None) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: ") and line != "data: {}":
                    event = json.loads(line[6:])
                    if event["chat_id"] in self.last_feed:
                        asyncio.create_task(self.fetch(event["chat_id"]))

    async def fetch(self, chat_id: int) -> None:
        response = await self.client.get(f"/console/api/chats/{chat_id}/messages",
                                         params={"after": self.last_feed[chat_id]})
        now = time.perf_counter()
        for entry in response.json()["entries"]:
            self.last_feed[chat_id] = max(self.last_feed[chat_id], entry["feed_id"] or 0)
            future = self.waiting.pop(entry["text"], None) if entry["kind"] == "customer" else None
            if future is not None and not future.done():
                future.set_result(now)

    async def take(self, chat_id: int) -> None:
        response = await self.client.post(f"/console/api/chats/{chat_id}/take", headers={"X-CSRF-Token": self.csrf})
        response.raise_for_status()
        self.last_feed[chat_id] = 0
        await self.fetch(chat_id)

    async def reply(self, chat_id: int, text: str) -> None:
        response = await self.client.post(f"/console/api/chats/{chat_id}/reply", json={"text": text},
                                          headers={"X-CSRF-Token": self.csrf})
        response.raise_for_status()


class Customer:
    """A web chat page: posts messages, and long-polls its inbox."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.after = 0
        self.waiting: dict[str, asyncio.Future] = {}

    async def listen(self) -> None:
        while True:
            response = await self.client.get("/chat/inbox", params={"after": self.after, "wait": 25}, timeout=40)
            now = time.perf_counter()
            for message in response.json()["messages"]:
                self.after = message["id"]
                future = self.waiting.pop(message["text"], None)
                if future is not None and not future.done():
                    future.set_result(now)


async def converse(customer: Customer, agent: Agent, chat_id: int, number: int, rounds: int,
                   inbound: list[float], outbound: list[float], posts: dict[str, list[float]],
                   legs: list[tuple[str, str, float, float]]) -> None:
    """``legs``: (direction, text, wall clock when posted, wall clock when the other side had it)."""
    loop = asyncio.get_running_loop()
    for index in range(rounds):
        await asyncio.sleep(random.uniform(0.2, 1.0))
        text = f"customer {number} message {index}: where is my parcel?"
        seen = agent.waiting[text] = loop.create_future()
        started, posted_at = time.perf_counter(), time.time()
        await customer.client.post("/chat/messages", json={"message": text})
        posts["customer"].append((time.perf_counter() - started) * 1000)
        took = await asyncio.wait_for(seen, 30) - started
        inbound.append(took * 1000)
        legs.append(("in", text, posted_at, posted_at + took))
        await asyncio.sleep(random.uniform(0.2, 1.0))
        reply = f"agent reply {index} to customer {number}: it arrives today"
        delivered = customer.waiting[reply] = loop.create_future()
        started, posted_at = time.perf_counter(), time.time()
        await agent.reply(chat_id, reply)
        posts["agent"].append((time.perf_counter() - started) * 1000)
        took = await asyncio.wait_for(delivered, 30) - started
        outbound.append(took * 1000)
        legs.append(("out", reply, posted_at, posted_at + took))


def split_legs(database: str, legs: list[tuple[str, str, float, float]]) -> dict[str, list[float]]:
    """Each leg in two at the moment its row was written: before (the POST's work up to the row) and after (the
    row's way to the other side)."""
    from backend.db import session_scope
    from backend.models import HandoffMessage, WebInboxMessage

    with session_scope(database) as session:
        relayed = {m.text: m.created_at.timestamp() for m in session.query(HandoffMessage).filter_by(kind="customer")}
        inbox = [(m.text, m.created_at.timestamp()) for m in session.query(WebInboxMessage)]
    parts: dict[str, list[float]] = {"customer's POST -> row for the agent": [], "that row -> console": [],
                                     "agent's POST -> row in the web inbox": [], "that row -> web chat": []}
    for direction, text, posted_at, arrived_at in legs:
        if direction == "in":
            written, names = relayed.get(text), ("customer's POST -> row for the agent", "that row -> console")
        else:  # the customer's copy may be translated: "[hi] agent reply ..."
            written = next((at for stored, at in inbox if stored.endswith(text)), None)
            names = ("agent's POST -> row in the web inbox", "that row -> web chat")
        if written is not None:
            parts[names[0]].append((written - posted_at) * 1000)
            parts[names[1]].append((arrived_at - written) * 1000)
    return parts


async def run(backend: str, agent_names: list[str], chats: int, rounds: int) -> tuple:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    customers = [Customer(httpx.AsyncClient(base_url=backend, timeout=60, limits=limits)) for _ in range(chats)]
    agents = []
    for name in agent_names:
        client = httpx.AsyncClient(base_url=backend, timeout=60, follow_redirects=True, limits=limits)
        agents.append(Agent(client, await log_in(client, name)))
    listeners = [asyncio.create_task(a.listen()) for a in agents]
    await asyncio.gather(*(c.client.post("/chat/messages", json={"message": ESCALATE}) for c in customers))
    listeners += [asyncio.create_task(c.listen()) for c in customers]
    chat_ids = [item["id"] for item in (await agents[0].client.get("/console/api/queue")).json()["items"]]
    if len(chat_ids) != chats:
        raise SystemExit(f"expected {chats} waiting chats, found {len(chat_ids)}")
    # The queue does not say which browser is which: match each chat to its customer by cookie.
    from backend.db import session_scope
    from backend.models import HumanRequest

    senders = {}
    with session_scope(os.environ["BENCH_DATABASE_URL"]) as session:
        for chat in session.query(HumanRequest).filter(HumanRequest.id.in_(chat_ids)):
            senders[chat.sender_id] = chat.id
    pairs = []
    for number, customer in enumerate(customers):
        sender = "web-" + customer.client.cookies["sahayak_chat"].split(".")[0]
        agent = agents[number % len(agents)]
        await agent.take(senders[sender])
        pairs.append((customer, agent, senders[sender], number))
    await asyncio.sleep(1.0)  # the "joined" notices reach the chats
    inbound: list[float] = []
    outbound: list[float] = []
    posts: dict[str, list[float]] = {"customer": [], "agent": []}
    legs: list[tuple[str, str, float, float]] = []
    await asyncio.gather(*(converse(c, a, chat_id, n, rounds, inbound, outbound, posts, legs)
                           for c, a, chat_id, n in pairs))
    for task in listeners:
        task.cancel()
    for client in [c.client for c in customers] + [a.client for a in agents]:
        await client.aclose()
    return inbound, outbound, posts, legs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--messages", type=int, default=10)
    args = parser.parse_args()
    work = workdir()
    with FakeLibreTranslate(otherwise=lambda q, source, target: f"[{target}] {q}") as translator:
        extra = {"TRANSLATION_PROVIDER": "libre", "LIBRETRANSLATE_URL": translator.url, "SUPPORT_HOURS": ""}
        with sahayak_stack(work, extra) as urls:
            os.environ["BENCH_DATABASE_URL"] = urls["database"]
            names = create_agents(urls["database"], args.agents)
            inbound, outbound, posts, legs = asyncio.run(run(urls["backend"], names, args.chats, args.messages))
            parts = split_legs(urls["database"], legs)
    print(f"{args.chats} escalated chats at once, {args.agents} agents, {args.messages} rounds each")
    for label, values in (("customer message -> agent console", inbound), ("agent reply -> web chat", outbound),
                          ("  of which the customer's POST", posts["customer"]),
                          ("  of which the agent's POST", posts["agent"])):
        print(f"  {label:34} n={len(values):4d}  p50 {percentile(values, 50):6.0f} ms  "
              f"p95 {percentile(values, 95):6.0f} ms  max {max(values):6.0f} ms")
    print("where the time goes (each leg split where its row is written):")
    for label, values in parts.items():
        if values:
            print(f"  {label:38} n={len(values):4d}  p50 {percentile(values, 50):6.0f} ms  "
                  f"p95 {percentile(values, 95):6.0f} ms")
    out = ROOT / "bench" / "results" / "handoff_latency.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"chats": args.chats, "agents": args.agents, "inbound_ms": inbound,
                               "outbound_ms": outbound, "split_ms": parts}))


if __name__ == "__main__":
    main()
