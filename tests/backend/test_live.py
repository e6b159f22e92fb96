"""The live-update watcher: one poll for all waiters, rows handed to the waiters they concern, late commits."""
from __future__ import annotations

from backend.api.live import ChangeWatcher
from backend.db import session_scope
from backend.models import WebInboxMessage, utcnow


def deliver(database_url: str, address: str, row_id: int) -> None:
    with session_scope(database_url) as session:
        session.add(WebInboxMessage(id=row_id, address=address, idempotency_key=f"k{row_id}", text="hi", buttons=[],
                                    created_at=utcnow()))


async def test_rows_reach_the_waiters_they_concern_including_late_commits(database_url: str) -> None:
    deliver(database_url, "web-old", 5)  # there before: not news
    watcher = ChangeWatcher(database_url, interval=0.01)
    try:
        cursor = await watcher.current("web_inbox")
        assert await watcher.wait("web_inbox", cursor, 0.2, lambda key: key == "web-old") == ([], cursor)

        deliver(database_url, "web-a", 10)
        deliver(database_url, "web-b", 11)
        rows, cursor_a = await watcher.wait("web_inbox", cursor, 5, lambda key: key == "web-a")
        assert [(r.id, r.key) for r in rows] == [(10, "web-a")]
        rows, _ = await watcher.wait("web_inbox", cursor, 5, lambda key: key == "web-b")
        assert [(r.id, r.key) for r in rows] == [(11, "web-b")]

        # A row with a lower id that commits later (PostgreSQL sequences do that) is still news.
        deliver(database_url, "web-a", 8)
        rows, cursor_a = await watcher.wait("web_inbox", cursor_a, 5, lambda key: key == "web-a")
        assert [(r.id, r.key) for r in rows] == [(8, "web-a")]
        assert (await watcher.wait("web_inbox", cursor_a, 0.2, lambda key: key == "web-a"))[0] == []
    finally:
        await watcher.stop()
