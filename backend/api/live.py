"""Live updates for long-polling and server-sent events, from append-only tables other processes write to.

The action server records customer messages for agents and the outbox worker fills web chat inboxes, each in
its own process, and so does the backend, in whichever of its processes served the request: the request that
waits cannot be told directly. One task per backend process reads the rows added to each watched table every
``interval`` seconds (one indexed query per table, however many browsers wait) and keeps the recent ones in
memory; each waiting request is woken and picks the rows that concern it there, so a new row costs one query
in all, not one per waiting browser.

Rows are handed out in the order the watcher first saw them (``seq``), not by id: on PostgreSQL a row with a
lower id can commit after one with a higher id, so each read looks back ``LOOKBACK`` ids for such late rows.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Callable, NamedTuple, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db import session_scope
from backend.models import HandoffMessage, WebInboxMessage
from backend.services import handoff

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.05
KEPT_ROWS = 10_000  # per table; a waiter further behind than this is told to read the table itself
LOOKBACK = 50  # ids below the newest seen that are read again, for rows that committed late


class Row(NamedTuple):
    id: int
    key: Any  # web_inbox: the address; handoff: (chat id, team, kind)


class Seen(NamedTuple):
    seq: int  # the order in which the watcher saw it
    row: Row


def web_inbox_rows(session: Session, after: int) -> list[Row]:
    statement = (
        select(WebInboxMessage.id, WebInboxMessage.address).where(WebInboxMessage.id > after)
        .order_by(WebInboxMessage.id).limit(KEPT_ROWS)
    )
    return [Row(row_id, address) for row_id, address in session.execute(statement).all()]


def handoff_rows(session: Session, after: int) -> list[Row]:
    return [Row(row_id, (chat_id, team, kind)) for row_id, chat_id, team, kind in handoff.feed(session, after, KEPT_ROWS)]


def _newest(session: Session, table: Any) -> int:
    return session.execute(select(func.max(table.c.id))).scalar_one() or 0


SOURCES: dict[str, tuple[Callable[[Session, int], list[Row]], Any]] = {
    "web_inbox": (web_inbox_rows, WebInboxMessage.__table__),
    "handoff": (handoff_rows, HandoffMessage.__table__),
}


class Behind(Exception):
    """The waiter is further behind than the rows kept in memory: it must read the table itself."""


class ChangeWatcher:
    def __init__(self, database_url: str, interval: float = POLL_INTERVAL) -> None:
        self.database_url = database_url
        self.interval = interval
        self.newest_id: dict[str, int] = {}
        self.seq: dict[str, int] = {name: 0 for name in SOURCES}
        self.kept: dict[str, deque[Seen]] = {name: deque(maxlen=KEPT_ROWS) for name in SOURCES}
        self._ids: dict[str, set[int]] = {name: set() for name in SOURCES}
        self._changed = asyncio.Condition()
        self._task: Optional[asyncio.Task] = None

    async def current(self, source: str) -> int:
        """A cursor at the present: waiting from it yields only rows that come after this call."""
        self._start()
        if source not in self.newest_id:
            await self._poll()
        return self.seq[source]

    async def wait(
        self, source: str, cursor: int, timeout: float, wanted: Callable[[Any], bool] = lambda key: True,
    ) -> tuple[list[Row], int]:
        """Wait up to ``timeout`` seconds for rows of ``source`` after ``cursor`` whose key is ``wanted``; return
        them (possibly none) and the cursor to wait from next time. Raises :class:`Behind` when rows after
        ``cursor`` are no longer kept."""
        self._start()
        if source not in self.newest_id:
            await self._poll()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._changed:
            while True:
                kept = self.kept[source]
                if kept and cursor < kept[0].seq - 1:
                    raise Behind(source)
                found = [seen.row for seen in kept if seen.seq > cursor and wanted(seen.row.key)]
                cursor = self.seq[source]
                remaining = deadline - loop.time()
                if found or remaining <= 0:
                    return found, cursor
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except asyncio.TimeoutError:
                    pass

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
        known = dict(self.newest_id)
        fresh = await asyncio.to_thread(self._read, known)
        async with self._changed:
            added = False
            for source, (rows, newest) in fresh.items():
                ids, kept = self._ids[source], self.kept[source]
                if source not in self.newest_id:  # the first look: what is there already is not news
                    ids.update(row.id for row in rows)
                    self.newest_id[source] = newest
                    continue
                self.newest_id[source] = max(self.newest_id[source], newest)
                for row in rows:
                    if row.id in ids:
                        continue
                    if len(kept) == kept.maxlen:
                        ids.discard(kept[0].row.id)
                    self.seq[source] += 1
                    kept.append(Seen(self.seq[source], row))
                    ids.add(row.id)
                    added = True
                if len(ids) > 2 * KEPT_ROWS:  # ids of the first look, long since passed
                    ids.intersection_update(seen.row.id for seen in kept)
            if added:
                self._changed.notify_all()

    def _read(self, known: dict[str, int]) -> dict[str, tuple[list[Row], int]]:
        with session_scope(self.database_url) as session:
            result = {}
            for source, (read_rows, table) in SOURCES.items():
                after = known[source] if source in known else _newest(session, table)
                rows = read_rows(session, max(0, after - LOOKBACK))
                result[source] = (rows, max([after, *(row.id for row in rows)]))
            return result
