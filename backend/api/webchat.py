"""The browser chat: the static page and a proxy to Rasa's REST channel.

While a person has the chat (an open handoff), a message goes to them at once, without a Rasa turn: the backend
records it for the agent's console and appends to Rasa's tracker the turn ``bot.policies.HandoffPolicy`` would
have made of it, so the conversation's history stays whole.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, StrictStr, validator

from backend.api import chat_cookie
from backend.api.deps import get_app_settings
from backend.api.live import Behind
from backend.config import Settings
from backend.db import DatabaseUnavailable, session_scope
from backend.models import HandoffMessage
from backend.services import handoff, web_inbox

log = logging.getLogger(__name__)

router = APIRouter(tags=["web chat"])

PAGE = Path(__file__).resolve().parent / "static" / "webchat.html"
MAX_MESSAGE_CHARS = 10_000
# Raw body cap checked before JSON parsing; generous enough for 10,000 escaped characters.
MAX_BODY_BYTES = 128 * 1024
RASA_TIMEOUT_SECONDS = 15.0
TRACKER_TIMEOUT_SECONDS = 5.0
REST_CHANNEL = "rest"  # Rasa's input channel for the web chat (connectors/rest.py)
RELAY_ACTION = "action_relay_to_agent"  # bot.policies.RELAY_ACTION
# The intent of a message the backend relayed itself: no intent of the domain, as the NLU never read it.
RELAYED_INTENT = "relayed_to_agent"
INBOX_MAX_WAIT = 30.0
UNREACHABLE = "The assistant is not reachable right now. Please try again in a moment."
TOO_LONG = f"The message is too long: at most {MAX_MESSAGE_CHARS:,} characters are allowed."

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src * data:; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class ChatMessage(BaseModel):
    message: StrictStr

    @validator("message")
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("message must not be empty")
        return value


@router.get("/", include_in_schema=False)
def webchat_page() -> FileResponse:
    return FileResponse(PAGE, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


@router.post(
    "/chat/messages",
    responses={413: {"description": "Message too long"}, 502: {"description": "Rasa unreachable"}},
)
async def post_message(
    body: ChatMessage,
    request: Request,
    settings: Settings = Depends(get_app_settings),
) -> JSONResponse:
    """Send the message to the assistant and return its replies (Rasa's REST channel format)."""
    chat_id = chat_cookie.verify(settings.webchat_secret, request.cookies.get(chat_cookie.COOKIE_NAME))
    new_cookie = chat_id is None
    if chat_id is None:
        chat_id = chat_cookie.new_id()

    if len(body.message) > MAX_MESSAGE_CHARS:
        response = JSONResponse({"detail": TOO_LONG}, status_code=413)
    else:
        replies = await _answer(request.app.state.http, settings, f"web-{chat_id}", body.message)
        if replies is None:
            response = JSONResponse({"detail": UNREACHABLE}, status_code=502)
        else:
            response = JSONResponse(replies)

    if new_cookie:
        response.set_cookie(
            chat_cookie.COOKIE_NAME,
            chat_cookie.sign(settings.webchat_secret, chat_id),
            max_age=chat_cookie.COOKIE_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/",
        )
    return response


@router.get("/chat/inbox")
async def get_inbox(
    request: Request,
    after: int = Query(0, ge=0),
    wait: float = Query(0, ge=0, le=INBOX_MAX_WAIT, description="seconds to wait for a message (long poll)"),
    settings: Settings = Depends(get_app_settings),
) -> JSONResponse:
    """Messages for this browser's chat (an agent's replies, ticket updates...) with an id above ``after``,
    oldest first; with ``wait``, held open until one arrives or ``wait`` seconds pass. A browser without a
    valid chat cookie has none."""
    chat_id = chat_cookie.verify(settings.webchat_secret, request.cookies.get(chat_cookie.COOKIE_NAME))
    if chat_id is None:
        return JSONResponse({"messages": []})
    address = f"web-{chat_id}"
    watcher = request.app.state.watcher
    cursor = await watcher.current("web_inbox")
    messages = await asyncio.to_thread(_fetch_inbox, settings.database_url, address, after)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while not messages and loop.time() < deadline and not await request.is_disconnected():
        try:
            rows, cursor = await watcher.wait("web_inbox", cursor, min(deadline - loop.time(), 5.0),
                                              lambda key: key == address)
        except Behind:
            rows, cursor = [None], await watcher.current("web_inbox")
        if rows:
            messages = await asyncio.to_thread(_fetch_inbox, settings.database_url, address, after)
    return JSONResponse(
        {"messages": [{"id": m.id, "text": m.text, "buttons": m.buttons} for m in messages]},
        headers={"Cache-Control": "no-store"},
    )


def _fetch_inbox(database_url: str, address: str, after: int) -> list:
    with session_scope(database_url) as session:
        return web_inbox.fetch(session, address, after=after)


async def _answer(client: httpx.AsyncClient, settings: Settings, sender: str, message: str) -> Optional[list[Any]]:
    """The replies to the message (None when Rasa cannot be reached): none while a person has the chat, the
    message having gone to them; else the bot's."""
    relayed = await asyncio.to_thread(_relay_to_agent, settings.database_url, sender, message)
    if relayed is None:
        return await _ask_rasa(client, settings.rasa_url, sender, message)
    await _append_to_tracker(client, settings.rasa_url, settings.rasa_token, sender, _relayed_turn(message, relayed))
    return []


def _relay_to_agent(database_url: str, sender: str, message: str) -> Optional[HandoffMessage]:
    """The message as recorded for the agent; None when the chat is not with one, or when the database cannot
    tell (then Rasa answers, as its handoff policy does without the database)."""
    try:
        with session_scope(database_url) as session:
            return handoff.relay_customer_message(session, sender_id=sender, text=message, language=None,
                                                  external_id=uuid.uuid4().hex)
    except DatabaseUnavailable as exc:
        log.warning("Could not tell whether the web chat is with an agent: %s", exc)
        return None


def _relayed_turn(text: str, message: HandoffMessage) -> list[dict[str, Any]]:
    """The events Rasa's turn for a message relayed to the agent leaves in the tracker: the user's message
    (under the relayed message's id, so the console shows it once), ``action_relay_to_agent``, listening again.
    The message carries no language: the NLU did not read it."""
    metadata = {"channel": REST_CHANNEL}
    return [
        {
            "event": "user",
            "timestamp": message.created_at.timestamp(),
            "text": text,
            "input_channel": REST_CHANNEL,
            "message_id": message.external_id,
            "metadata": metadata,
            "parse_data": {"intent": {"name": RELAYED_INTENT, "confidence": 1.0}, "entities": [], "text": text,
                           "message_id": message.external_id, "metadata": metadata},
        },
        {"event": "user_featurization", "use_text_for_featurization": False},
        {"event": "action", "name": RELAY_ACTION},
        {"event": "action", "name": "action_listen"},
    ]


async def _append_to_tracker(
    client: httpx.AsyncClient, rasa_url: str, token: Optional[str], sender: str, events: list[dict[str, Any]],
) -> None:
    """Add ``events`` to the conversation in Rasa. A failure is logged only: the agent has the message."""
    params = {"include_events": "NONE"}  # Rasa answers with the tracker: without its events, it is short
    if token:
        params["token"] = token
    try:
        reply = await client.post(f"{rasa_url}/conversations/{quote(sender, safe='')}/tracker/events", json=events,
                                  params=params, timeout=TRACKER_TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        log.warning("A message relayed to the agent is missing from Rasa's tracker: %s", type(exc).__name__)
        return
    if reply.status_code != 200:
        log.warning("A message relayed to the agent is missing from Rasa's tracker: HTTP %s", reply.status_code)


async def _ask_rasa(client: httpx.AsyncClient, rasa_url: str, sender: str, message: str) -> Optional[list[Any]]:
    """Rasa's reply list, or None when Rasa cannot be reached or answers garbage."""
    try:
        reply = await client.post(
            f"{rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": message},
            timeout=RASA_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        log.warning("Rasa request failed: %s", type(exc).__name__)
        return None
    if reply.status_code != 200:
        log.warning("Rasa answered HTTP %s", reply.status_code)
        return None
    try:
        data = reply.json()
    except ValueError:
        log.warning("Rasa answered with invalid JSON")
        return None
    if not isinstance(data, list):
        log.warning("Rasa answered with %s instead of a list", type(data).__name__)
        return None
    return data


async def limit_body_size(request: Request, call_next: Any) -> Any:
    """Reject oversized chat bodies before they are read and parsed."""
    if request.method == "POST" and request.url.path == "/chat/messages":
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            return JSONResponse({"detail": TOO_LONG}, status_code=413)
    return await call_next(request)
