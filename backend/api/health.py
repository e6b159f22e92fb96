"""Liveness of the API and its dependencies."""
from __future__ import annotations

import asyncio

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from backend.api.deps import get_app_settings
from backend.config import Settings
from backend.db import check_database

router = APIRouter(tags=["health"])

RASA_TIMEOUT_SECONDS = 1.0


@router.get("/health")
async def health(request: Request, settings: Settings = Depends(get_app_settings)) -> JSONResponse:
    """HTTP 200 when the database answers, 503 otherwise; Rasa is reported but not required."""
    database_ok, rasa_ok = await asyncio.gather(
        run_in_threadpool(check_database, settings.database_url),
        _rasa_reachable(request.app.state.http, settings.rasa_url),
    )
    body = {
        "status": "ok" if database_ok else "unavailable",
        "database": "ok" if database_ok else "unavailable",
        "rasa": "ok" if rasa_ok else "unreachable",
    }
    return JSONResponse(body, status_code=200 if database_ok else 503)


async def _rasa_reachable(client: httpx.AsyncClient, rasa_url: str) -> bool:
    try:
        reply = await client.get(f"{rasa_url}/", timeout=RASA_TIMEOUT_SECONDS)
    except httpx.HTTPError:
        return False
    return reply.status_code < 500
