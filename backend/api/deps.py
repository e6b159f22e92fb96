"""Shared FastAPI dependencies: settings, database session, admin authentication."""
from __future__ import annotations

import hmac
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
