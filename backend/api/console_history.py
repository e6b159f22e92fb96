"""What the agent reads: the whole conversation, bot and human turns, each beside its machine translation.

The bot's side of the story is Rasa's tracker (``GET /conversations/<id>/tracker`` of Rasa's HTTP API); the
human side (agent replies, notes, handoff events) is the backend's. Customer messages are in both while a
person has the chat; the tracker's copy is shown, and the backend's when Rasa cannot be reached, so the agent
still sees what the customer wrote.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Optional
from urllib.parse import quote

import httpx

from backend.models import Agent, HandoffMessage, HumanRequest
from bot.languages import BASE_LANGUAGE
from bot.translation import Translator

log = logging.getLogger(__name__)

TRACKER_TIMEOUT = 5.0


@dataclass
class Entry:
    kind: str  # customer, bot, agent, note, system
    text: str
    at: datetime
    language: Optional[str] = None
    author: Optional[str] = None
    translation: Optional[str] = None  # in the agent's language; for an agent's reply, what the customer got
    translation_language: Optional[str] = None
    message_id: Optional[str] = None  # the Rasa message id of a customer message, to show it once
    feed_id: Optional[int] = None  # the handoff message id, for the live feed

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data


@dataclass(frozen=True)
class History:
    entries: list[Entry]
    tracker_available: bool
    translation_note: Optional[str]  # why some messages are shown untranslated


async def tracker_events(client: httpx.AsyncClient, rasa_url: str, token: Optional[str], sender_id: str) -> Optional[list]:
    """The conversation's events from Rasa, or None when Rasa cannot be reached."""
    params = {"include_events": "ALL"}
    if token:
        params["token"] = token
    try:
        response = await client.get(f"{rasa_url}/conversations/{quote(sender_id, safe='')}/tracker", params=params,
                                    timeout=TRACKER_TIMEOUT)
        response.raise_for_status()
        events = response.json().get("events")
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        log.warning("Could not read the conversation from Rasa: %s", type(exc).__name__)
        return None
    return events if isinstance(events, list) else None


def tracker_entries(events: list, request: HumanRequest) -> list[Entry]:
    entries = []
    for event in events:
        kind = {"user": "customer", "bot": "bot"}.get(event.get("event"))
        text = (event.get("text") or "").strip()
        if kind is None or not text:
            continue
        language = request.language
        if kind == "customer":
            detected = (event.get("parse_data") or {}).get("language") or {}
            if detected.get("reliable") and detected.get("code"):
                language = detected["code"]
        at = datetime.fromtimestamp(float(event.get("timestamp") or 0), timezone.utc)
        entries.append(Entry(kind, text, at, language, message_id=event.get("message_id")))
    return entries


def handoff_entry(message: HandoffMessage) -> Entry:
    return Entry(
        message.kind, message.text, message.created_at, message.language, message.author,
        message.translation, message.translation_language, message.external_id, message.id,
    )


def merge(tracker: Optional[list[Entry]], handoff_messages: list[HandoffMessage]) -> list[Entry]:
    entries = list(tracker or [])
    shown = {e.message_id for e in entries if e.message_id}
    for message in handoff_messages:
        if message.kind == "customer" and tracker is not None and message.external_id in shown:
            continue
        entries.append(handoff_entry(message))
    return sorted(entries, key=lambda e: e.at)


def translate_for(agent: Agent, entries: list[Entry], translator: Translator) -> Optional[str]:
    """Put the agent's-language translation beside each customer and bot message (blocking: run in a thread).
    Returns a note for the console when some could not be translated."""
    todo = [
        e for e in entries
        if e.kind in ("customer", "bot") and e.language and base_language(e.language) != base_language(agent.language)
        and not e.text.startswith("/")
    ]
    if not todo:
        return None
    if not translator.configured:
        return "Machine translation is not configured: messages are shown as written."
    missing = 0
    for entry in todo:
        translated = translator.translate(entry.text, entry.language, agent.language)
        if translated is None:
            missing += 1
        else:
            entry.translation, entry.translation_language = translated, agent.language
    if missing:
        return "Machine translation is unavailable right now: some messages are shown as written."
    return None


def base_language(language: str) -> str:
    return BASE_LANGUAGE.get(language, language.split("-")[0])


async def build(
    client: httpx.AsyncClient, rasa_url: str, token: Optional[str], request: HumanRequest,
    handoff_messages: list[HandoffMessage], agent: Agent, translator: Translator,
) -> History:
    events = await tracker_events(client, rasa_url, token, request.sender_id) if request.sender_id else None
    tracker = tracker_entries(events, request) if events is not None else None
    entries = merge(tracker, handoff_messages)
    note = await asyncio.to_thread(translate_for, agent, entries, translator)
    return History(entries, tracker is not None, note)
