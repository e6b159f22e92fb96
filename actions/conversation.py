"""What every action needs to know about the conversation it is in."""
from __future__ import annotations

from dataclasses import dataclass

from rasa_sdk import Tracker

from sqlalchemy.orm import Session

from backend.models import User
from backend.services import users
from bot.language.preference import reply_language, sdk_parse_history

DEFAULT_CHANNEL = "rest"


@dataclass(frozen=True)
class Conversation:
    channel: str
    channel_user_id: str
    language: str


def channel_of(tracker: Tracker) -> str:
    metadata = tracker.get_slot("session_started_metadata") or {}
    return metadata.get("channel") or tracker.get_latest_input_channel() or DEFAULT_CHANNEL


def conversation(tracker: Tracker) -> Conversation:
    language = reply_language(
        sdk_parse_history(tracker.events), tracker.get_slot("preferred_language"), tracker.get_slot("language")
    )
    return Conversation(channel_of(tracker), tracker.sender_id, language)


def latest_language_detection(tracker: Tracker) -> dict:
    return (tracker.latest_message or {}).get("language") or {}


def user_of(session: Session, talk: Conversation) -> User:
    """The backend's user behind the conversation (created on first contact)."""
    return users.identify(session, talk.channel, talk.channel_user_id)
