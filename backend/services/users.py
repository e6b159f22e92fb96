"""Users, their channel identities and their language preference."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.models import ChannelIdentity, User, utcnow
from backend.services import audit
from backend.services._insert import insert_ignore

CHANNEL_PATTERN = re.compile(r"^[a-z0-9_-]{1,32}$")
CHANNEL_USER_ID_MAX = 255
LANGUAGE_PATTERN = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


@dataclass(frozen=True)
class UserProfile:
    user_id: int
    role: str
    preferred_language: Optional[str]
    language_explicit: bool


def identify(
    session: Session,
    channel: str,
    channel_user_id: str,
    display_name: Optional[str] = None,
) -> User:
    """The user behind a channel identity, created on first contact.

    Safe when several processes see the same new sender at once: the identity
    insert ignores a conflict and the winner's row is read back.
    """
    check_identity(channel, channel_user_id)
    identity = _find_identity(session, channel, channel_user_id)
    if identity is None:
        identity = _create_identity(session, channel, channel_user_id, display_name)
    identity.last_seen_at = utcnow()
    user = identity.user
    if display_name and not user.display_name:
        user.display_name = display_name[:200]
    session.flush()
    return user


def latest_identity(session: Session, user_id: int) -> Optional[ChannelIdentity]:
    """The identity the user wrote from last: where messages for them go."""
    statement = (
        select(ChannelIdentity)
        .where(ChannelIdentity.user_id == user_id)
        .order_by(ChannelIdentity.last_seen_at.desc(), ChannelIdentity.id.desc())
        .limit(1)
    )
    return session.execute(statement).scalar_one_or_none()


def profile(session: Session, channel: str, channel_user_id: str) -> UserProfile:
    """A snapshot of the user's role and language, creating the user if new."""
    user = identify(session, channel, channel_user_id)
    return UserProfile(
        user_id=user.id,
        role=user.role,
        preferred_language=user.preferred_language,
        language_explicit=bool(user.language_explicit),
    )


def set_language(session: Session, user: User, language: str, explicit: bool) -> None:
    """Record the user's language.

    A detected language (``explicit=False``) never replaces one the user chose;
    a new explicit choice always wins and is audit-logged.
    """
    language = normalize_language(language)
    if not explicit:
        if not user.language_explicit and user.preferred_language != language:
            user.preferred_language = language
            session.flush()
        return
    if user.language_explicit and user.preferred_language == language:
        return
    previous = user.preferred_language
    user.preferred_language = language
    user.language_explicit = True
    session.flush()
    audit.record(
        session,
        actor=f"user:{user.id}",
        action="user.language_set",
        subject_type="user",
        subject_id=user.id,
        details={"from": previous, "to": language},
    )


def normalize_language(tag: str) -> str:
    """Canonical casing of a BCP 47 tag: ``TA-latn`` -> ``ta-Latn``, ``pt-br`` -> ``pt-BR``."""
    tag = (tag or "").strip().replace("_", "-")
    if not LANGUAGE_PATTERN.match(tag):
        raise ValueError(f"not a language tag: {tag!r}")
    primary, *rest = tag.split("-")
    parts = [primary.lower()]
    for sub in rest:
        if len(sub) == 4 and sub.isalpha():
            parts.append(sub.title())
        elif (len(sub) == 2 and sub.isalpha()) or (len(sub) == 3 and sub.isdigit()):
            parts.append(sub.upper())
        else:
            parts.append(sub.lower())
    return "-".join(parts)


def check_identity(channel: str, channel_user_id: str) -> None:
    if not isinstance(channel, str) or not CHANNEL_PATTERN.match(channel):
        raise ValueError(f"channel must be 1-32 lowercase letters, digits, '-' or '_', got {channel!r}")
    if not isinstance(channel_user_id, str) or not channel_user_id.strip():
        raise ValueError("channel_user_id must be a non-empty string")
    if len(channel_user_id) > CHANNEL_USER_ID_MAX:
        raise ValueError(f"channel_user_id is longer than {CHANNEL_USER_ID_MAX} characters")


def _find_identity(session: Session, channel: str, channel_user_id: str) -> Optional[ChannelIdentity]:
    statement = select(ChannelIdentity).where(
        ChannelIdentity.channel == channel,
        ChannelIdentity.channel_user_id == channel_user_id,
    )
    return session.execute(statement).scalar_one_or_none()


def _create_identity(
    session: Session, channel: str, channel_user_id: str, display_name: Optional[str]
) -> ChannelIdentity:
    user = User(display_name=display_name[:200] if display_name else None)
    session.add(user)
    session.flush()
    now = utcnow()
    inserted = insert_ignore(
        session,
        ChannelIdentity.__table__,
        {
            "user_id": user.id,
            "channel": channel,
            "channel_user_id": channel_user_id,
            "created_at": now,
            "last_seen_at": now,
        },
        conflict_columns=("channel", "channel_user_id"),
    )
    if not inserted:
        # Someone else created this identity first: drop our user, use theirs.
        session.delete(user)
        session.flush()
    identity = _find_identity(session, channel, channel_user_id)
    if identity is None:  # pragma: no cover - would mean the winner rolled back mid-read
        raise RuntimeError(f"channel identity {channel}:{channel_user_id} vanished while being created")
    return identity
