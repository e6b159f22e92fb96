"""Which language to answer in.

In order:
1. a language the user chose ("switch to Tamil", "/lang ta") holds until they choose another;
2. otherwise the language of the latest message, when it was clear enough (``reliable``);
3. otherwise the last language the user clearly wrote in (this conversation, then what the backend stored);
4. otherwise the latest fair guess (``GUESS_CONFIDENCE``) of the conversation, a non-English one first: a
   brand-new user who writes "hola" is answered in Spanish, and one who wrote "vanakkam" and then "menu" stays
   in Tamil, because "menu", "ok" and "hi" are written in every language; keyboard mash is no fair guess;
5. otherwise the default language.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from bot.languages import DEFAULT_LANGUAGE

GUESS_CONFIDENCE = 0.5


def _detection(parse_data: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (parse_data or {}).get("language") or {}


def reply_language(
    parse_history: Iterable[Mapping[str, Any]],
    preferred: str | None,
    remembered: str | None,
    default: str = DEFAULT_LANGUAGE,
) -> str:
    """``parse_history``: parse data of the user's messages in this conversation, newest first."""
    if preferred:
        return preferred
    detections = [_detection(parse_data) for parse_data in parse_history]
    for detection in detections:
        if detection.get("reliable") and detection.get("code"):
            return detection["code"]
    if remembered:
        return remembered
    guesses = [d["code"] for d in detections if d.get("code") and (d.get("confidence") or 0) >= GUESS_CONFIDENCE]
    return next((code for code in guesses if code != "en"), guesses[0] if guesses else default)


def core_parse_history(tracker: Any) -> list[Mapping[str, Any]]:
    """Parse data of the user messages of a Rasa core tracker since the session started, newest first."""
    from rasa.shared.core.events import UserUttered

    return [e.parse_data for e in reversed(tracker.applied_events()) if isinstance(e, UserUttered)]


def sdk_user_events(events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The user events of an action server's tracker since the session started, newest first."""
    found = []
    for event in reversed(list(events)):
        if event.get("event") in ("session_started", "restart"):
            break
        if event.get("event") == "user":
            found.append(event)
    return found


def sdk_parse_history(events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The same as core_parse_history for the event dicts an action server receives."""
    return [event.get("parse_data") or {} for event in sdk_user_events(events)]
