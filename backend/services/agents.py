"""Console agents: accounts, password login with lock-out, and sessions that carry a CSRF token.

Passwords are hashed with Argon2id (argon2-cffi's defaults). Five wrong passwords in a row lock the account for
15 minutes; while locked even the right password is refused, and an unknown name costs the same hashing work as
a known one, so neither the answer nor its timing tells which usernames exist. A session token is random, sent
only in an HttpOnly cookie, and stored as its SHA-256, so a copy of the database cannot be used to log in.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from backend.models import Agent, AgentSession, AgentTeam, utcnow
from backend.services import audit

MAX_FAILED_LOGINS = 5
LOCK_DURATION = timedelta(minutes=15)
SESSION_DURATION = timedelta(hours=12)
PASSWORD_MIN = 10
PASSWORD_MAX = 1024
USERNAME = re.compile(r"^[a-z0-9_.-]{2,64}$")
TEAM = re.compile(r"^[a-z0-9-]{2,50}$")

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password of anyone " + secrets.token_hex(8))


class LoginRefused(Exception):
    """``code``: "invalid" (unknown name or wrong password) or "locked"."""

    def __init__(self, code: str, locked_until: Optional[datetime] = None) -> None:
        super().__init__(code)
        self.code = code
        self.locked_until = locked_until


@dataclass(frozen=True)
class Login:
    agent: Agent
    token: str  # for the cookie; only its hash is stored
    csrf_token: str
    expires_at: datetime


def create_agent(
    session: Session,
    *,
    username: str,
    display_name: str,
    password: str,
    teams: Iterable[str],
    language: str = "en",
    is_admin: bool = False,
    actor: str = "admin",
) -> Agent:
    username = (username or "").strip().lower()
    if not USERNAME.match(username):
        raise ValueError("username must be 2-64 characters: lower-case letters, digits, '.', '_' or '-'")
    if session.execute(select(Agent.id).where(Agent.username == username)).first() is not None:
        raise ValueError(f"an agent called {username!r} exists already")
    display_name = (display_name or "").strip()
    if not display_name or len(display_name) > 200:
        raise ValueError("name must be 1-200 characters")
    team_names = sorted({t.strip().lower() for t in teams if t and t.strip()})
    if not team_names and not is_admin:
        raise ValueError("an agent needs at least one team")
    for team in team_names:
        if not TEAM.match(team):
            raise ValueError(f"team {team!r} must be 2-50 characters: lower-case letters, digits or '-'")
    agent = Agent(
        username=username,
        display_name=display_name,
        password_hash=_hash(password),
        language=language,
        is_admin=is_admin,
        teams=[AgentTeam(team=t) for t in team_names],
        created_at=utcnow(),
    )
    session.add(agent)
    session.flush()
    audit.record(
        session, actor=actor, action="agent.created", subject_type="agent", subject_id=agent.username,
        details={"teams": team_names, "admin": is_admin, "language": language},
    )
    return agent


def set_password(session: Session, agent: Agent, password: str, *, actor: str = "admin") -> None:
    agent.password_hash = _hash(password)
    agent.failed_logins, agent.locked_until = 0, None
    session.execute(delete(AgentSession).where(AgentSession.agent_id == agent.id))
    audit.record(session, actor=actor, action="agent.password_set", subject_type="agent", subject_id=agent.username)


def _hash(password: str) -> str:
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise ValueError(f"password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters")
    return _hasher.hash(password)


def find(session: Session, username: str) -> Optional[Agent]:
    return session.execute(select(Agent).where(Agent.username == (username or "").strip().lower())).scalar_one_or_none()


def log_in(session: Session, username: str, password: str, now: Optional[datetime] = None) -> Login:
    """Check the password and open a session, or raise :class:`LoginRefused`. The caller commits either way:
    a failed attempt is counted in the same transaction."""
    now = now or utcnow()
    agent = find(session, username) if username and len(username) <= 64 else None
    if agent is None or not agent.active:
        _verify(_DUMMY_HASH, password)
        raise LoginRefused("invalid")
    if agent.locked_until is not None and agent.locked_until > now:
        _verify(_DUMMY_HASH, password)
        raise LoginRefused("locked", agent.locked_until)
    if not _verify(agent.password_hash, password):
        agent.failed_logins += 1
        locked = agent.failed_logins >= MAX_FAILED_LOGINS
        if locked:
            agent.failed_logins, agent.locked_until = 0, now + LOCK_DURATION
        audit.record(
            session, actor=f"agent:{agent.username}", action="agent.login_failed", subject_type="agent",
            subject_id=agent.username, details={"locked": locked},
        )
        raise LoginRefused("locked" if locked else "invalid", agent.locked_until if locked else None)
    agent.failed_logins, agent.locked_until, agent.last_login_at = 0, None, now
    if _hasher.check_needs_rehash(agent.password_hash):
        agent.password_hash = _hasher.hash(password)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    record = AgentSession(
        token_hash=_token_hash(token), agent_id=agent.id, csrf_token=csrf, created_at=now,
        expires_at=now + SESSION_DURATION,
    )
    session.add(record)
    session.execute(delete(AgentSession).where(AgentSession.agent_id == agent.id, AgentSession.expires_at <= now))
    audit.record(session, actor=f"agent:{agent.username}", action="agent.logged_in", subject_type="agent",
                 subject_id=agent.username)
    return Login(agent, token, csrf, record.expires_at)


def _verify(password_hash: str, password: str) -> bool:
    if not isinstance(password, str) or len(password) > PASSWORD_MAX:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def session_for(session: Session, token: Optional[str], now: Optional[datetime] = None) -> Optional[AgentSession]:
    """The live session of a cookie token, or None (unknown, expired, or its agent deactivated)."""
    if not token or len(token) > 200:
        return None
    now = now or utcnow()
    record = session.execute(
        select(AgentSession).where(AgentSession.token_hash == _token_hash(token))
    ).scalar_one_or_none()
    if record is None or record.expires_at <= now or not record.agent.active:
        return None
    return record


def log_out(session: Session, token: Optional[str]) -> None:
    if token:
        session.execute(delete(AgentSession).where(AgentSession.token_hash == _token_hash(token)))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def can_see(agent: Agent, team: str) -> bool:
    """Agents see the chats of their own teams; admins see every team."""
    return agent.is_admin or team in agent.team_names


def team_agents(session: Session, team: str) -> list[Agent]:
    statement = (
        select(Agent).join(AgentTeam).where(AgentTeam.team == team, Agent.active.is_(True)).order_by(Agent.username)
    )
    return list(session.execute(statement).scalars())


def all_teams(session: Session) -> list[str]:
    from backend.services.ticket_routing import TEAMS

    known = set(TEAMS.values()) | set(session.execute(select(AgentTeam.team).distinct()).scalars())
    return sorted(known)


def list_agents(session: Session) -> list[Agent]:
    return list(session.execute(select(Agent).order_by(Agent.username)).scalars())
