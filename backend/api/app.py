"""FastAPI application factory. ``uvicorn backend.api.app:app`` serves the default app."""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Optional

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from backend.api import admin, console, health, knowledge_base, outbox, retail, tickets, webchat
from backend.api.live import ChangeWatcher
from backend.config import Settings, get_settings
from backend.db import DatabaseUnavailable
from bot.translation import translator_for

log = logging.getLogger(__name__)


def create_app(settings: Optional[Settings] = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info("Starting Sahayak backend with %s", settings.describe())
        async with httpx.AsyncClient(follow_redirects=False) as client:
            app.state.http = client
            app.state.watcher = ChangeWatcher(settings.database_url)
            try:
                yield
            finally:
                await app.state.watcher.stop()

    app = FastAPI(title="Sahayak backend", lifespan=lifespan)
    app.state.settings = settings
    app.state.translator = translator_for(settings)
    app.middleware("http")(webchat.limit_body_size)
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable)
    app.add_exception_handler(console.NotLoggedIn, console.not_logged_in)
    app.include_router(health.router)
    app.include_router(webchat.router)
    app.include_router(admin.router)
    app.include_router(outbox.router)
    app.include_router(tickets.router)
    app.include_router(knowledge_base.router)
    app.include_router(retail.router)
    app.include_router(console.router)
    return app


async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    log.error("%s", exc)
    return JSONResponse(
        {"detail": "The database is not reachable right now. Please try again in a moment."},
        status_code=503,
    )


def __getattr__(name: str) -> Any:
    # ``app`` is built on first access so importing this module has no side effects.
    if name == "app":
        global app
        app = create_app()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
