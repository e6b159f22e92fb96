"""Linking retailers' chat accounts to their stores with one-time codes.

An admin invites a retailer for one location and one chat identity (a WhatsApp or SMS number, a Telegram chat,
a web chat id); the code is shown to the admin (and is what an SMS would carry). The retailer sends it from
that identity: only there does it work, only once, only within CODE_VALIDITY, and after MAX_FAILED_ATTEMPTS
wrong codes the invitation is spent. A wrong, expired or someone else's code all get the same answer.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.models import Location, RetailerInvite, User, utcnow
from backend.services import audit, stock, users
from backend.services.ticket_text import ascii_digits

CODE_VALIDITY = timedelta(minutes=30)
MAX_FAILED_ATTEMPTS = 5
CODE_DIGITS = 6
_CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


@dataclass(frozen=True)
class Invitation:
    invite_id: int
    code: str  # shown once, to the admin
    expires_at: datetime


@dataclass(frozen=True)
class Redemption:
    """What a code did: linked ``user`` to ``location``, or was ``refused`` ("invalid", or "locked" after too
    many wrong codes). A refusal is returned, not raised, so the caller commits the counted attempt."""

    user: Optional[User] = None
    location: Optional[Location] = None
    refused: Optional[str] = None


def _hash(invite_salt: str, code: str) -> str:
    return hashlib.sha256(f"{invite_salt}:{code}".encode()).hexdigest()


def invite(
    session: Session, *, location: Location, display_name: str, channel: str, address: str, actor: str,
    now: Optional[datetime] = None,
) -> Invitation:
    now = now or utcnow()
    users.check_identity(channel, address)
    if not display_name.strip() or len(display_name) > 200:
        raise ValueError("display_name must be 1-200 characters")
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    entry = RetailerInvite(
        location_id=location.id, display_name=display_name.strip(), channel=channel, address=address,
        code_hash="pending", expires_at=now + CODE_VALIDITY, created_by=actor[:200], created_at=now,
    )
    session.add(entry)
    session.flush()
    entry.code_hash = _hash(str(entry.id), code)
    audit.record(session, actor=actor, action="retailer.invited", subject_type="location", subject_id=location.code,
                 details={"invite": entry.id, "channel": channel})
    return Invitation(entry.id, code, entry.expires_at)


def find_code(text: Optional[str]) -> Optional[str]:
    """A 6-digit code in a message (digits of any script)."""
    match = _CODE.search(ascii_digits(text or ""))
    return match.group(1) if match else None


def redeem(
    session: Session, *, channel: str, channel_user_id: str, code: str, now: Optional[datetime] = None
) -> Redemption:
    """Link the chat identity to the invitation's location when ``code`` is right."""
    now = now or utcnow()
    pending = session.execute(
        select(RetailerInvite)
        .where(RetailerInvite.channel == channel, RetailerInvite.address == channel_user_id,
               RetailerInvite.used_at.is_(None), RetailerInvite.expires_at > now)
        .order_by(RetailerInvite.id.desc())
        .with_for_update()
    ).scalars().all()
    usable = [i for i in pending if i.failed_attempts < MAX_FAILED_ATTEMPTS]
    for entry in usable:
        if hmac.compare_digest(entry.code_hash, _hash(str(entry.id), code or "")):
            user = users.identify(session, channel, channel_user_id, entry.display_name)
            entry.used_at, entry.used_by = now, user.id
            stock.link_retailer(session, user, entry.location, actor=f"invite:{entry.id}")
            return Redemption(user, entry.location)
    for entry in usable:
        entry.failed_attempts += 1
    session.flush()
    if pending and not [i for i in pending if i.failed_attempts < MAX_FAILED_ATTEMPTS]:
        return Redemption(refused="locked")
    return Redemption(refused="invalid")
