"""Shared FastAPI dependencies: settings, database session, admin authentication."""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Iterator, Optional

from fastapi import Depends, Header, HTTPException, Request, status
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db import session_scope


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def db_session(settings: Settings = Depends(get_app_settings)) -> Iterator[Session]:
    with session_scope(settings.database_url) as session:
        yield session


@dataclass(frozen=True)
class Staff:
    """Who called the agent API: ``kind`` "agent" or "admin", and a name for the audit log."""

    kind: str
    name: str


def require_staff(
    settings: Settings = Depends(get_app_settings),
    x_api_key: Optional[str] = Header(None, alias="X-API-Key"),
) -> Staff:
    """Agent routes take an agent's key (AGENT_API_KEYS) or the admin key (ADMIN_API_KEY)."""
    if not settings.admin_api_key and not settings.agent_api_keys:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The agent API is disabled: set AGENT_API_KEYS or ADMIN_API_KEY on the server to enable it.",
        )
    given = (x_api_key or "").encode("utf-8")
    found: Optional[Staff] = None
    # Compare with every key, so the time taken does not tell which names exist.
    for name, key in settings.agent_api_keys.items():
        if hmac.compare_digest(given, key.encode("utf-8")):
            found = Staff("agent", name)
    if settings.admin_api_key and hmac.compare_digest(given, settings.admin_api_key.encode("utf-8")):
        found = Staff("admin", "admin")
    if not x_api_key or found is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Missing or invalid X-API-Key header.",
            headers={"WWW-Authenticate": "X-API-Key"},
        )
    return found


def require_admin(
    settings: Settings = Depends(get_app_settings),
    x_api_key: Optional[str] = Header(None, alias="X-API-Key"),
) -> None:
    """Admin routes need ``X-API-Key`` equal to ADMIN_API_KEY; disabled when it is unset."""
    if not settings.admin_api_key:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The admin API is disabled: set ADMIN_API_KEY on the server to enable it.",
        )
    given = (x_api_key or "").encode("utf-8")
    if not x_api_key or not hmac.compare_digest(given, settings.admin_api_key.encode("utf-8")):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Missing or invalid X-API-Key header.",
            headers={"WWW-Authenticate": "X-API-Key"},
        )
