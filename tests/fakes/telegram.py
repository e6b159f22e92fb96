"""A Telegram Bot API server for tests: the real HTTP API, on loopback.

Point python-telegram-bot at it with ``TELEGRAM_API_BASE_URL=fake.url`` (PTB then calls
``POST {url}/bot<token>/<method>``). It answers getMe, sendMessage, sendPhoto, sendDocument, sendLocation,
answerCallbackQuery, setWebhook, deleteWebhook, getWebhookInfo and getUpdates with Telegram's envelopes
(``{"ok": true, "result": ...}`` and ``{"ok": false, "error_code", "description", "parameters"}``) and
realistic Message objects, and takes parameters as Telegram does: query string, form, JSON or multipart.

It checks what Telegram checks and fails as Telegram fails: a wrong token gets 401, a text over 4,096 characters
(UTF-16 code units) or an empty one 400, a callback_data over 64 bytes 400 BUTTON_DATA_INVALID, a chat in
``unknown_chats`` 400 "chat not found", one in ``blocked_chats`` 403 "bot was blocked by the user", getUpdates
while a webhook is set 409. ``mode`` fails every request: ``"error"`` 500, ``"flood"`` 429 with
``parameters.retry_after`` = ``retry_after``, ``"hang"`` answers only after ``hang_seconds``; :meth:`fail`
scripts failures of one method. getUpdates serves the updates a test queues with :meth:`push_update`, with
Telegram's offset and long-poll semantics. Every request is recorded in ``requests``.

The ``*_update`` functions build updates shaped as the Bot API documents them (Update, Message, User, Chat,
CallbackQuery, PhotoSize, Document, Location).
"""
from __future__ import annotations

import itertools
import json
import re
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from typing import Any, Optional
from urllib.parse import parse_qs, urlparse
from tests.fakes.loopback import LoopbackServer

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
BOT_USER = {
    "id": 123456789,
    "is_bot": True,
    "first_name": "Sahayak",
    "username": "sahayak_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
JSON_FIELDS = {"reply_markup", "allowed_updates", "entities", "caption_entities", "reply_parameters",
               "link_preview_options"}
INT_FIELDS = {"offset", "limit", "timeout", "message_id", "max_connections", "cache_time", "reply_to_message_id"}
FLOAT_FIELDS = {"latitude", "longitude", "horizontal_accuracy"}
BOOL_FIELDS = {"show_alert", "drop_pending_updates", "disable_notification", "protect_content"}
SEND_METHODS = {"sendmessage", "sendphoto", "senddocument", "sendlocation"}
_PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: Optional[dict] = None) -> None:
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters


class FakeTelegram(LoopbackServer):
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.requests: list[dict] = []
        self.mode = "ok"
        self.retry_after = 3
        self.hang_seconds = 10.0
        self.blocked_chats: set = set()
        self.unknown_chats: set = set()
        self.webhook: Optional[dict] = None
        self._failures: list[dict] = []
        self._updates: list[dict] = []
        self._allowed_updates: list[str] = []
        self._update_ids = itertools.count(700_000_001)
        self._message_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._changed = threading.Condition()
        self._closing = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # http.server writes headers and body separately; with Nagle's algorithm on, the body waits for the
            # client's delayed ACK (about 40 ms on Linux), which Telegram's real API does not make us wait.
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting ("hang")
                    self.close_connection = True

            def do_GET(self) -> None:
                self._handle(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._handle(self.rfile.read(length) if length else b"")

            def _handle(self, raw: bytes) -> None:
                url = urlparse(self.path)
                match = _PATH.match(url.path)
                if not match:
                    return self._send(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                files: dict[str, dict] = {}
                content_type = self.headers.get("Content-Type") or ""
                try:
                    params.update(_parse_body(raw, content_type, files))
                except ValueError:
                    return self._send(400, {"ok": False, "error_code": 400,
                                            "description": "Bad Request: can't parse request body"})
                method = match["method"]
                params = {name: _coerce(name, value) for name, value in params.items()}
                record = {"method": method, "params": params, "files": files, "content_type": content_type,
                          "status": None, "result": None}
                fake.requests.append(record)
                if match["token"] != fake.token:
                    record["status"] = 401
                    return self._send(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                try:
                    result = fake._answer(method, params, files)
                except ApiError as error:
                    body = {"ok": False, "error_code": error.status, "description": error.description}
                    if error.parameters:
                        body["parameters"] = error.parameters
                    record["status"] = error.status
                    return self._send(error.status, body)
                record["status"], record["result"] = 200, result
                self._send(200, {"ok": True, "result": result})

        super().__init__(Handler)

    # -- for tests ------------------------------------------------------------------------------------------

    def close(self) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        super().close()

    def push_update(self, update: dict) -> dict:
        """Queue an update for getUpdates (an ``update_id`` is given when it has none)."""
        update = dict(update)
        update.setdefault("update_id", next(self._update_ids))
        with self._changed:
            self._updates.append(update)
            self._changed.notify_all()
        return update

    @property
    def pending_updates(self) -> list[dict]:
        with self._changed:
            return list(self._updates)

    def fail(self, method: Optional[str], status: Any, *, retry_after: Optional[int] = None,
             description: Optional[str] = None, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` (any method when None) fail with ``status`` (an HTTP status,
        or ``"hang"``: answered normally after ``hang_seconds``)."""
        self._failures.append({"method": method.lower() if method else None, "status": status,
                               "retry_after": retry_after, "description": description, "times": times})

    def calls(self, method: str) -> list[dict]:
        return [r for r in self.requests if r["method"].lower() == method.lower()]

    def sent_to(self, chat_id: Any) -> list[dict]:
        """What the bot sent to a chat, in order: the accepted sendMessage, sendPhoto, sendDocument and
        sendLocation requests (each with its ``result``, the Message as Telegram returned it)."""
        return [r for r in self.requests if r["method"].lower() in SEND_METHODS and r["status"] == 200
                and str(r["params"].get("chat_id")) == str(chat_id)]

    def texts_to(self, chat_id: Any) -> list[str]:
        return [r["params"]["text"] for r in self.sent_to(chat_id) if r["method"].lower() == "sendmessage"]

    def wait_for(self, predicate, timeout: float = 15.0) -> list[dict]:
        """Wait until ``predicate(requests)`` is true (polling every 20 ms); returns the requests."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            requests = list(self.requests)
            if predicate(requests):
                return requests
            time.sleep(0.02)
        raise AssertionError(f"the fake Telegram did not see what was expected within {timeout} s; "
                             f"it saw {[r['method'] for r in self.requests]}")

    # -- the API ----------------------------------------------------------------------------------------------

    def _answer(self, method: str, params: dict, files: dict) -> Any:
        name = method.lower()
        self._scripted_failure(name)
        handler = getattr(self, f"_m_{name}", None)
        if handler is None:
            raise ApiError(404, "Not Found: method not found")
        return handler(params, files)

    def _scripted_failure(self, name: str) -> None:
        failure = next((f for f in self._failures if f["times"] > 0 and f["method"] in (None, name)), None)
        status = failure["status"] if failure else {"ok": None, "error": 500, "flood": 429,
                                                     "hang": "hang"}.get(self.mode)
        if failure:
            failure["times"] -= 1
        if status is None:
            return
        if status == "hang":
            time.sleep(self.hang_seconds)
            return
        if status == 429:
            seconds = (failure or {}).get("retry_after") or self.retry_after
            raise ApiError(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})
        default = {500: "Internal Server Error", 502: "Bad Gateway", 400: "Bad Request: chat not found",
                   403: "Forbidden: bot was blocked by the user", 409: "Conflict"}.get(status, "Error")
        raise ApiError(status, (failure or {}).get("description") or default)

    def _m_getme(self, params: dict, files: dict) -> dict:
        return dict(BOT_USER)

    def _m_sendmessage(self, params: dict, files: dict) -> dict:
        chat_id = self._chat(params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_length(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        return self._message(chat_id, params, text=text)

    def _m_sendphoto(self, params: dict, files: dict) -> dict:
        chat_id = self._chat(params)
        photo = self._file(params, files, "photo")
        sizes = [{"file_id": f"AgACAgIAAxkDAAI{photo}{w}", "file_unique_id": f"AQAD{photo}{w}", "width": w,
                  "height": w * 3 // 4, "file_size": w * 120} for w in (90, 320, 800)]
        return self._message(chat_id, params, photo=sizes, **self._caption(params))

    def _m_senddocument(self, params: dict, files: dict) -> dict:
        chat_id = self._chat(params)
        number = self._file(params, files, "document")
        upload = files.get("document") or {}
        name = upload.get("filename") or str(params.get("document", "")).rsplit("/", 1)[-1] or "file"
        document = {"file_id": f"BQACAgIAAxkDAAI{number}", "file_unique_id": f"AgAD{number}", "file_name": name,
                    "mime_type": upload.get("content_type") or "application/octet-stream",
                    "file_size": len(upload.get("data") or b"") or 1024}
        return self._message(chat_id, params, document=document, **self._caption(params))

    def _m_sendlocation(self, params: dict, files: dict) -> dict:
        chat_id = self._chat(params)
        latitude, longitude = params.get("latitude"), params.get("longitude")
        if not isinstance(latitude, float) or not -90 <= latitude <= 90:
            raise ApiError(400, "Bad Request: wrong latitude specified")
        if not isinstance(longitude, float) or not -180 <= longitude <= 180:
            raise ApiError(400, "Bad Request: wrong longitude specified")
        return self._message(chat_id, params, location={"latitude": latitude, "longitude": longitude})

    def _m_answercallbackquery(self, params: dict, files: dict) -> bool:
        if not params.get("callback_query_id"):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        return True

    def _m_setwebhook(self, params: dict, files: dict) -> bool:
        url = params.get("url")
        if not isinstance(url, str) or not url.startswith("https://"):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET.match(str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = {"url": url, "secret_token": secret, "allowed_updates": params.get("allowed_updates")}
        return True

    def _m_deletewebhook(self, params: dict, files: dict) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates"):
            with self._changed:
                self._updates.clear()
        return True

    def _m_getwebhookinfo(self, params: dict, files: dict) -> dict:
        info = {"url": (self.webhook or {}).get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}
        return info

    def _m_getupdates(self, params: dict, files: dict) -> list:
        if self.webhook:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook "
                                "to delete the webhook first")
        offset, limit, timeout = params.get("offset"), params.get("limit") or 100, params.get("timeout") or 0
        if isinstance(params.get("allowed_updates"), list):
            self._allowed_updates = params["allowed_updates"]
        deadline = time.monotonic() + float(timeout)
        with self._changed:
            if isinstance(offset, int) and offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while True:
                ready = [u for u in self._updates if self._allowed(u)][:limit]
                remaining = deadline - time.monotonic()
                if ready or remaining <= 0 or self._closing:
                    return ready
                self._changed.wait(remaining)

    # -- helpers ----------------------------------------------------------------------------------------------

    def _allowed(self, update: dict) -> bool:
        return not self._allowed_updates or any(kind in update for kind in self._allowed_updates)

    def _chat(self, params: dict) -> Any:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        if chat_id in self.blocked_chats or str(chat_id) in {str(c) for c in self.blocked_chats}:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if str(chat_id) in {str(c) for c in self.unknown_chats}:
            raise ApiError(400, "Bad Request: chat not found")
        markup = params.get("reply_markup")
        if markup is not None:
            _check_markup(markup)
        return chat_id

    def _file(self, params: dict, files: dict, field: str) -> int:
        value = params.get(field)
        if field not in files and not (isinstance(value, str) and value):
            raise ApiError(400, f"Bad Request: there is no {field} in the request")
        if isinstance(value, str) and value.startswith("attach://") and value[len("attach://"):] not in files:
            raise ApiError(400, f"Bad Request: there is no {field} in the request")
        return next(self._file_ids)

    def _caption(self, params: dict) -> dict:
        caption = params.get("caption")
        if caption is None:
            return {}
        if utf16_length(caption) > MAX_CAPTION:
            raise ApiError(400, "Bad Request: message caption is too long")
        return {"caption": caption}

    def _message(self, chat_id: Any, params: dict, **content: Any) -> dict:
        if isinstance(chat_id, int) and chat_id > 0:
            chat = {"id": chat_id, "first_name": "Test", "last_name": "User", "username": "testuser",
                    "type": "private"}
        elif isinstance(chat_id, int):
            chat = {"id": chat_id, "title": "Test group",
                    "type": "supergroup" if str(chat_id).startswith("-100") else "group"}
        else:
            chat = {"id": -1001234567890, "title": "Test channel", "username": str(chat_id).lstrip("@"),
                    "type": "channel"}
        message = {"message_id": next(self._message_ids), "from": dict(BOT_USER), "chat": chat,
                   "date": int(time.time()), **content}
        if params.get("reply_markup") is not None:
            message["reply_markup"] = params["reply_markup"]
        return message


def _check_markup(markup: Any) -> None:
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard") or []:
        for button in row:
            if not button.get("text"):
                raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


def _parse_body(raw: bytes, content_type: str, files: dict) -> dict:
    if not raw:
        return {}
    if "application/json" in content_type:
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ValueError("not an object")
        return body
    if "multipart/form-data" in content_type:
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
        params = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True) or b""
            if part.get_filename() is not None:
                files[name] = {"filename": part.get_filename(), "content_type": part.get_content_type(),
                               "data": data}
            else:
                params[name] = data.decode()
        return params
    return {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}


def _coerce(name: str, value: Any) -> Any:
    """Parameters as Telegram reads them: a form sends every value as a string."""
    if not isinstance(value, str):
        return value
    try:
        if name in JSON_FIELDS:
            return json.loads(value)
        if name == "chat_id" and re.fullmatch(r"-?\d+", value):
            return int(value)
        if name in INT_FIELDS:
            return int(value)
        if name in FLOAT_FIELDS:
            return float(value)
    except ValueError:
        return value
    if name in BOOL_FIELDS:
        return value.lower() == "true"
    return value


# -- updates, shaped as https://core.telegram.org/bots/api#update documents them ---------------------------------

_update_ids = itertools.count(900_000_001)
_message_ids = itertools.count(5001)


def user(user_id: int, *, first_name: str = "Priya", language_code: Optional[str] = "en",
         username: Optional[str] = "priya_s") -> dict:
    data = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username:
        data["username"] = username
    if language_code:
        data["language_code"] = language_code
    return data


def private_chat(chat_id: int, first_name: str = "Priya") -> dict:
    return {"id": chat_id, "first_name": first_name, "username": "priya_s", "type": "private"}


def group_chat(chat_id: int, title: str = "Shop owners") -> dict:
    return {"id": chat_id, "title": title, "type": "supergroup" if str(chat_id).startswith("-100") else "group"}


def message(chat_id: int, *, sender: Optional[dict] = None, chat: Optional[dict] = None,
            language_code: Optional[str] = "en", **content: Any) -> dict:
    data = {
        "message_id": next(_message_ids),
        "from": sender or user(abs(chat_id) if chat_id > 0 else 5550001, language_code=language_code),
        "chat": chat or private_chat(chat_id),
        "date": int(time.time()),
    }
    data.update(content)
    return data


def text_update(chat_id: int, text: str, *, update_id: Optional[int] = None, edited: bool = False,
                **kwargs: Any) -> dict:
    content: dict = {"text": text}
    if text.startswith("/"):
        command = text.split()[0]
        content["entities"] = [{"offset": 0, "length": len(command), "type": "bot_command"}]
    body = message(chat_id, **kwargs, **content)
    if edited:
        body["edit_date"] = body["date"] + 30
    return {"update_id": update_id or next(_update_ids), ("edited_message" if edited else "message"): body}


def photo_update(chat_id: int, *, caption: Optional[str] = None, update_id: Optional[int] = None,
                 **kwargs: Any) -> dict:
    sizes = [
        {"file_id": "AgACAgQAAxkBAAIBZ2X0small", "file_unique_id": "AQADsmall", "file_size": 1402, "width": 90,
         "height": 67},
        {"file_id": "AgACAgQAAxkBAAIBZ2X0medium", "file_unique_id": "AQADmedium", "file_size": 18530,
         "width": 320, "height": 240},
        {"file_id": "AgACAgQAAxkBAAIBZ2X0large", "file_unique_id": "AQADlarge", "file_size": 84215,
         "width": 1280, "height": 960},
    ]
    content: dict = {"photo": sizes}
    if caption is not None:
        content["caption"] = caption
    return {"update_id": update_id or next(_update_ids), "message": message(chat_id, **kwargs, **content)}


def location_update(chat_id: int, latitude: float, longitude: float, *, update_id: Optional[int] = None,
                    **kwargs: Any) -> dict:
    content = {"location": {"latitude": latitude, "longitude": longitude}}
    return {"update_id": update_id or next(_update_ids), "message": message(chat_id, **kwargs, **content)}


def callback_update(chat_id: int, data: str, *, keyboard_message: Optional[dict] = None,
                    update_id: Optional[int] = None, language_code: Optional[str] = "en") -> dict:
    """A press on an inline button of ``keyboard_message`` (the Message the bot sent, as the fake returned it)."""
    bot_message = keyboard_message or {
        "message_id": next(_message_ids), "from": dict(BOT_USER), "chat": private_chat(chat_id),
        "date": int(time.time()), "text": "Choose",
        "reply_markup": {"inline_keyboard": [[{"text": "Choose", "callback_data": data}]]},
    }
    query = {
        "id": str(4382000000000000000 + next(_update_ids)),
        "from": user(abs(chat_id) if chat_id > 0 else 5550001, language_code=language_code),
        "message": bot_message,
        "chat_instance": "-8834229372451982739",
        "data": data,
    }
    return {"update_id": update_id or next(_update_ids), "callback_query": query}
