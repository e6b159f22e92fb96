"""The agent console: server-rendered pages, a small JSON API for their scripts, and a live feed (SSE).

Security: every page and API answers only with a valid session (pages redirect to the login, the API says
401). The session cookie is HttpOnly and SameSite=Strict (Secure over HTTPS); every state-changing request
carries the session's CSRF token (a form field or the ``X-CSRF-Token`` header), and the login form a
double-submit token of its own. Agents see only their teams' chats: anything else answers 404, like a chat
that does not exist.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Optional
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, StrictStr
from sqlalchemy.orm import Session

from backend.api import console_history
from backend.api.deps import db_session, get_app_settings
from backend.api.live import Behind, Row, handoff_rows
from backend.config import Settings
from backend.db import session_scope
from backend.models import Agent, HumanRequest, utcnow
from backend.services import agents, handoff
from bot.languages import endonym

log = logging.getLogger(__name__)

router = APIRouter(prefix="/console", tags=["agent console"])
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))

SESSION_COOKIE = "sahayak_console"
LOGIN_CSRF_COOKIE = "sahayak_console_login"
FEED_KEEPALIVE = 15.0
FORM_MAX_BYTES = 8192
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
CHANNEL_NAMES = {"rest": "web chat", "telegram": "Telegram", "whatsapp": "WhatsApp", "sms": "SMS"}
LOGIN_MESSAGES = {
    "invalid": "Wrong username or password.",
    "locked": "Too many wrong passwords: this account is locked for a while. Try again later.",
    "csrf": "The login form expired. Please try again.",
}


class NotLoggedIn(Exception):
    """Raised by the page dependency: the exception handler redirects to the login page."""


@dataclass(frozen=True)
class Caller:
    agent: Agent
    csrf_token: str


def _caller(request: Request, session: Session) -> Optional[Caller]:
    record = agents.session_for(session, request.cookies.get(SESSION_COOKIE))
    if record is None:
        return None
    record.agent.team_names  # load the teams while the session is open
    return Caller(record.agent, record.csrf_token)


def page_caller(request: Request, session: Session = Depends(db_session)) -> Caller:
    caller = _caller(request, session)
    if caller is None:
        raise NotLoggedIn()
    return caller


def api_caller(request: Request, session: Session = Depends(db_session)) -> Caller:
    caller = _caller(request, session)
    if caller is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Log in to the console first.")
    if request.method not in ("GET", "HEAD"):
        given = request.headers.get("X-CSRF-Token", "")
        if not hmac.compare_digest(given.encode(), caller.csrf_token.encode()):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Missing or wrong CSRF token.")
    return caller


async def not_logged_in(request: Request, _exc: Exception) -> Response:
    return RedirectResponse("/console/login", status.HTTP_303_SEE_OTHER)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _page(request: Request, name: str, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, headers=PAGE_HEADERS)


STATIC = Path(__file__).resolve().parent / "static" / "console"
STATIC_TYPES = {"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"}


@router.get("/static/{name}", include_in_schema=False)
def static_file(name: str) -> FileResponse:
    if name not in STATIC_TYPES:
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    return FileResponse(STATIC / name, media_type=STATIC_TYPES[name], headers={"Cache-Control": "no-cache"})


# --- logging in and out ---------------------------------------------------------------------------------------


@router.get("/login", include_in_schema=False)
def login_page(request: Request, error: Optional[str] = None) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = _page(request, "console/login.html", csrf_token=token, error=LOGIN_MESSAGES.get(error or ""))
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                        secure=_secure(request), path="/console/login")
    return response


async def _form(request: Request) -> dict[str, str]:
    """A small urlencoded form (the login and logout forms), without a multipart parser."""
    body = await request.body()
    if len(body) > FORM_MAX_BYTES:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "Form too large.")
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=10)
    return {name: values[0] for name, values in fields.items()}


@router.post("/login", include_in_schema=False)
async def log_in(request: Request, settings: Settings = Depends(get_app_settings)) -> Response:
    form = await _form(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(form.get("csrf_token", "").encode(), expected.encode()):
        return RedirectResponse("/console/login?error=csrf", status.HTTP_303_SEE_OTHER)

    def attempt() -> tuple[Optional[agents.Login], str]:
        with session_scope(settings.database_url) as session:
            try:
                return agents.log_in(session, form.get("username", ""), form.get("password", "")), ""
            except agents.LoginRefused as refused:
                return None, refused.code  # the failed attempt is committed, so lock-out counts it

    login, error = await asyncio.to_thread(attempt)
    if login is None:
        log.info("Console login refused (%s)", error)
        return RedirectResponse(f"/console/login?error={error}", status.HTTP_303_SEE_OTHER)
    response = RedirectResponse("/console", status.HTTP_303_SEE_OTHER)
    response.set_cookie(SESSION_COOKIE, login.token, max_age=int(agents.SESSION_DURATION.total_seconds()),
                        httponly=True, samesite="strict", secure=_secure(request), path="/console")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    return response


@router.post("/logout", include_in_schema=False)
async def log_out(request: Request, settings: Settings = Depends(get_app_settings)) -> Response:
    form = await _form(request)
    token = request.cookies.get(SESSION_COOKIE)

    def end() -> bool:
        with session_scope(settings.database_url) as session:
            record = agents.session_for(session, token)
            if record is None or not hmac.compare_digest(form.get("csrf_token", "").encode(),
                                                         record.csrf_token.encode()):
                return False
            agents.log_out(session, token)
            return True

    if not await asyncio.to_thread(end):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Missing or wrong CSRF token.")
    response = RedirectResponse("/console/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


# --- pages ------------------------------------------------------------------------------------------------------


@router.get("", include_in_schema=False)
def queue_page(request: Request, caller: Caller = Depends(page_caller), session: Session = Depends(db_session)) -> HTMLResponse:
    return _page(request, "console/queue.html", me=caller, items=_queue(session, caller.agent), page="queue")


@router.get("/chats/{request_id}", include_in_schema=False)
async def chat_page(
    request_id: int, request: Request, caller: Caller = Depends(page_caller),
    settings: Settings = Depends(get_app_settings),
) -> HTMLResponse:
    chat, history = await _chat_with_history(request, settings, caller.agent, request_id)
    teams, colleagues = await asyncio.to_thread(_teams_and_colleagues, settings.database_url, caller.agent)
    return _page(request, "console/chat.html", me=caller, chat=chat, history=history, teams=teams, colleagues=colleagues,
                 page="chat", last_feed_id=max((e.feed_id or 0 for e in history.entries), default=0))


@router.get("/dashboard", include_in_schema=False)
def dashboard_page(request: Request, caller: Caller = Depends(page_caller), session: Session = Depends(db_session)) -> HTMLResponse:
    return _page(request, "console/dashboard.html", me=caller, metrics=_dashboard(session, caller.agent),
                 page="dashboard")


# --- the JSON API used by the pages' scripts ----------------------------------------------------------------------


class Text(BaseModel):
    text: StrictStr


class Transfer(BaseModel):
    team: Optional[StrictStr] = None
    agent: Optional[StrictStr] = None


@router.get("/api/queue")
def api_queue(caller: Caller = Depends(api_caller), session: Session = Depends(db_session)) -> JSONResponse:
    return JSONResponse({"items": _queue(session, caller.agent)}, headers={"Cache-Control": "no-store"})


@router.get("/api/dashboard")
def api_dashboard(caller: Caller = Depends(api_caller), session: Session = Depends(db_session)) -> JSONResponse:
    return JSONResponse(_dashboard(session, caller.agent), headers={"Cache-Control": "no-store"})


@router.get("/api/chats/{request_id}")
async def api_chat(
    request_id: int, request: Request, caller: Caller = Depends(api_caller),
    settings: Settings = Depends(get_app_settings),
) -> JSONResponse:
    chat, history = await _chat_with_history(request, settings, caller.agent, request_id)
    return JSONResponse({"chat": chat, "entries": [e.as_json() for e in history.entries],
                         "tracker_available": history.tracker_available, "translation_note": history.translation_note})


@router.get("/api/chats/{request_id}/messages")
async def api_messages(
    request_id: int, request: Request, after: int = 0, caller: Caller = Depends(api_caller),
    settings: Settings = Depends(get_app_settings),
) -> JSONResponse:
    """The chat's handoff entries after the feed id ``after``, translated for the agent."""

    def load() -> tuple[dict, list[console_history.Entry], Optional[str]]:
        with session_scope(settings.database_url) as session:
            chat = _visible(session, caller.agent, request_id)
            entries = [console_history.handoff_entry(m) for m in handoff.messages(session, chat, after)]
            summary = _summary(session, chat, caller.agent)
        note = console_history.translate_for(caller.agent, entries, request.app.state.translator)
        return summary, entries, note

    summary, entries, note = await asyncio.to_thread(load)
    return JSONResponse({"chat": summary, "entries": [e.as_json() for e in entries], "translation_note": note},
                        headers={"Cache-Control": "no-store"})


@router.post("/api/chats/{request_id}/take")
def api_take(request_id: int, caller: Caller = Depends(api_caller), session: Session = Depends(db_session)) -> JSONResponse:
    chat = _act(lambda: handoff.take(session, request_id, caller.agent))
    return JSONResponse({"chat": _summary(session, chat, caller.agent)})


@router.post("/api/chats/{request_id}/reply")
def api_reply(
    request_id: int, body: Text, request: Request, caller: Caller = Depends(api_caller),
    session: Session = Depends(db_session),
) -> JSONResponse:
    translator = request.app.state.translator
    message = _act(lambda: handoff.reply(session, request_id, caller.agent, body.text, translator.translate))
    untranslated = message.translation is None and message.translation_language is None and _needs_translation(
        session.get(HumanRequest, request_id), caller.agent)
    return JSONResponse({"entry": console_history.handoff_entry(message).as_json(), "translation_note": (
        "Machine translation is unavailable: your reply was sent as written." if untranslated else None)})


def _needs_translation(chat: HumanRequest, agent: Agent) -> bool:
    return bool(chat.language) and console_history.base_language(chat.language) != console_history.base_language(
        agent.language)


@router.post("/api/chats/{request_id}/note")
def api_note(
    request_id: int, body: Text, caller: Caller = Depends(api_caller), session: Session = Depends(db_session),
) -> JSONResponse:
    message = _act(lambda: handoff.note(session, request_id, caller.agent, body.text))
    return JSONResponse({"entry": console_history.handoff_entry(message).as_json()})


@router.post("/api/chats/{request_id}/transfer")
def api_transfer(
    request_id: int, body: Transfer, caller: Caller = Depends(api_caller), session: Session = Depends(db_session),
) -> JSONResponse:
    chat = _act(lambda: handoff.transfer(session, request_id, caller.agent, team=body.team, to_username=body.agent))
    return JSONResponse({"chat": _summary(session, chat, caller.agent)})


@router.post("/api/chats/{request_id}/return")
def api_return(request_id: int, caller: Caller = Depends(api_caller), session: Session = Depends(db_session)) -> JSONResponse:
    chat = _act(lambda: handoff.return_to_bot(session, request_id, caller.agent))
    return JSONResponse({"chat": _summary(session, chat, caller.agent)})


@router.post("/api/chats/{request_id}/close")
def api_close(request_id: int, caller: Caller = Depends(api_caller), session: Session = Depends(db_session)) -> JSONResponse:
    chat = _act(lambda: handoff.close(session, request_id, caller.agent))
    return JSONResponse({"chat": _summary(session, chat, caller.agent)})


@router.get("/api/events")
async def api_events(
    request: Request, caller: Caller = Depends(api_caller), settings: Settings = Depends(get_app_settings),
) -> StreamingResponse:
    """Server-sent events: one ``handoff`` event per change of a chat the agent may see (a message, a chat
    queued, taken, transferred or ended). The stream ends when the session does."""
    token = request.cookies.get(SESSION_COOKIE)
    is_admin, teams = caller.agent.is_admin, set(caller.agent.team_names)
    watcher = request.app.state.watcher

    def still_logged_in() -> bool:
        with session_scope(settings.database_url) as session:
            return agents.session_for(session, token) is not None

    def changes(after: int) -> list[Row]:
        with session_scope(settings.database_url) as session:
            return handoff_rows(session, after)

    def visible_to_me(key: tuple[int, str, str]) -> bool:
        return is_admin or key[1] in teams

    async def stream() -> AsyncIterator[str]:
        cursor = await watcher.current("handoff")
        last_sent = watcher.newest_id["handoff"]
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            try:
                rows, cursor = await watcher.wait("handoff", cursor, FEED_KEEPALIVE, visible_to_me)
            except Behind:  # this stream fell far behind: read what it missed from the table
                cursor = await watcher.current("handoff")
                rows = [r for r in await asyncio.to_thread(changes, last_sent) if visible_to_me(r.key)]
            if not rows:
                if not await asyncio.to_thread(still_logged_in):
                    yield "event: logged_out\ndata: {}\n\n"
                    return
                yield ": keep-alive\n\n"
                continue
            for feed_id, (chat_id, _team, kind) in rows:
                last_sent = max(last_sent, feed_id)
                data = json.dumps({"feed_id": feed_id, "chat_id": chat_id, "kind": kind})
                yield f"id: {feed_id}\nevent: handoff\ndata: {data}\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# --- helpers ------------------------------------------------------------------------------------------------------


def _act(step):
    try:
        return step()
    except handoff.HandoffError as error:
        code = {"not_found": 404, "taken": 409, "ended": 409, "not_yours": 409}.get(error.code, 422)
        raise HTTPException(code, {"code": error.code, "message": str(error)}) from None


def _visible(session: Session, agent: Agent, request_id: int) -> HumanRequest:
    return _act(lambda: handoff.visible(session, agent, request_id))


def _teams_and_colleagues(database_url: str, agent: Agent) -> tuple[list[str], list[dict[str, Any]]]:
    with session_scope(database_url) as session:
        colleagues = [{"username": a.username, "display_name": a.display_name, "teams": a.team_names}
                      for a in agents.list_agents(session) if a.active and a.id != agent.id]
        return agents.all_teams(session), colleagues


async def _chat_with_history(request: Request, settings: Settings, agent: Agent, request_id: int):
    def load() -> tuple[dict, HumanRequest, list]:
        with session_scope(settings.database_url) as session:
            chat = _visible(session, agent, request_id)
            return _summary(session, chat, agent), chat, handoff.messages(session, chat)

    summary, chat, messages = await asyncio.to_thread(load)
    history = await console_history.build(request.app.state.http, settings.rasa_url, settings.rasa_token, chat,
                                          messages, agent, request.app.state.translator)
    return summary, history


def _summary(session: Session, chat: HumanRequest, agent: Agent) -> dict[str, Any]:
    now = utcnow()
    started = chat.queued_at or chat.created_at
    return {
        "id": chat.id,
        "reference": chat.reference,
        "ticket": chat.ticket.reference if chat.ticket is not None else None,
        "language": chat.language,
        "language_name": endonym(chat.language) if chat.language else "unknown",
        "channel": chat.channel,
        "channel_name": CHANNEL_NAMES.get(chat.channel, chat.channel),
        "team": chat.team,
        "status": "ended" if chat.status != "open" else ("waiting" if chat.waiting else "with_agent"),
        "outcome": chat.outcome,
        "agent": chat.agent.display_name if chat.agent is not None else None,
        "mine": chat.agent_id == agent.id,
        "waiting_seconds": int((now - started).total_seconds()) if chat.waiting else None,
        "position": handoff.queue_position(session, chat) if chat.waiting else 0,
        "queued_at": started.isoformat(),
        "last_message": (chat.last_message or "")[:160],
        "reason": chat.reason,
    }


def _queue(session: Session, agent: Agent) -> list[dict[str, Any]]:
    return [_summary(session, chat, agent) for chat in handoff.queue(session, agent)]


def _dashboard(session: Session, agent: Agent) -> dict[str, Any]:
    return asdict(handoff.dashboard(session, agent))
