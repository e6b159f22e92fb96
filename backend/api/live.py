"""Live updates for long-polling and server-sent events, from append-only tables other processes write to.

The action server records customer messages for agents and the outbox worker fills web chat inboxes, each in
its own process, so the backend cannot be told directly. One task per backend process polls the newest id of
each watched table every ``interval`` seconds (one cheap indexed query per table, however many browsers wait)
and wakes the requests waiting on it; each then reads only its own rows.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db import session_scope
from backend.models import HandoffMessage, WebInboxMessage

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.05

SOURCES: dict[str, Callable[[Session], int]] = {
    "handoff": lambda s: s.execute(select(func.max(HandoffMessage.id))).scalar_one() or 0,
    "web_inbox": lambda s: s.execute(select(func.max(WebInboxMessage.id))).scalar_one() or 0,
}


class ChangeWatcher:
    def __init__(self, database_url: str, interval: float = POLL_INTERVAL) -> None:
        self.database_url = database_url
        self.interval = interval
        self.latest: dict[str, int] = {}
        self._changed = asyncio.Condition()
        self._task: Optional[asyncio.Task] = None

    async def wait(self, source: str, seen: int, timeout: float) -> int:
        """Wait until ``source``'s newest id is above ``seen``, or ``timeout`` seconds; return the newest id."""
        self._start()
        if source not in self.latest:
            await self._poll()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._changed:
            while self.latest.get(source, 0) <= seen:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except asyncio.TimeoutError:
                    break
        return self.latest.get(source, 0)

    async def current(self, source: str) -> int:
        self._start()
        if source not in self.latest:
            await self._poll()
        return self.latest.get(source, 0)

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping anyway
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self._poll()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the database may be back at the next tick
                log.warning("Live updates: polling failed: %s", exc)
                await asyncio.sleep(1.0)
            await asyncio.sleep(self.interval)

    async def _poll(self) -> None:
        latest = await asyncio.to_thread(self._read)
        if latest != {k: self.latest.get(k) for k in latest}:
            async with self._changed:
                self.latest.update(latest)
                self._changed.notify_all()

    def _read(self) -> dict[str, int]:
        with session_scope(self.database_url) as session:
            return {name: read(session) for name, read in SOURCES.items()}
