"""Twilio's Messages API for tests: the real wire format, answered on loopback.

``POST /2010-04-01/Accounts/<AccountSid>/Messages.json`` takes a form (To, From, Body, MediaUrl repeated,
ContentSid, ContentVariables) with HTTP basic auth (account SID, auth token) and answers 201 with a Message
resource as Twilio's JSON, or Twilio's error JSON (``{"code", "message", "more_info", "status"}``): 401 for
wrong credentials, 400 21211 for a number in ``invalid_numbers``, 21602 without Body/MediaUrl/ContentSid,
21617 for a Body over 1,600 characters. ``mode`` makes it fail like the real API: ``"error"`` answers 500,
``"rate_limited"`` 429 (with ``Retry-After: retry_after`` when that is set), ``"hang"`` does not answer for
``hang_seconds``. Every request is recorded in ``requests``; accepted messages also in ``messages``.
"""
from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from typing import Optional
from urllib.parse import parse_qs, urlparse
from tests.fakes.loopback import LoopbackServer

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-twilio-auth-token-0123456789"
MAX_BODY_CHARACTERS = 1600


def error_body(status: int, code: int, message: str) -> dict:
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


class FakeTwilio(LoopbackServer):
    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN,
                 templates: Optional[dict[str, str]] = None):
        """``templates`` maps a Content SID to its text, with ``{{1}}``-style variables."""
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.templates = dict(templates or {})
        self.invalid_numbers: set[str] = set()
        self.requests: list[dict] = []
        self.messages: list[dict] = []
        self.mode = "ok"
        self.hang_seconds = 10.0
        self.retry_after: Optional[str] = None
        self._changed = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: object, headers: Optional[dict] = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the "hang" mode), as clients of the real API do

            def _credentials(self) -> tuple[str, str]:
                header = self.headers.get("Authorization") or ""
                if not header.startswith("Basic "):
                    return "", ""
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                return user, password

            def do_GET(self) -> None:
                self._send(404, error_body(404, 20404, f"The requested resource {self.path} was not found"))

            def do_POST(self) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode() if length else "", keep_blank_values=True)
                params = {k: v if k == "MediaUrl" else v[0] for k, v in form.items()}
                user, password = self._credentials()
                request = {"path": url.path, "auth": (user, password),
                           "content_type": self.headers.get("Content-Type"), **params}
                with fake._changed:
                    fake.requests.append(request)
                    fake._changed.notify_all()
                expected = f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
                if (user, password) != (fake.account_sid, fake.auth_token):
                    return self._send(401, error_body(401, 20003, "Authenticate"))
                if url.path != expected:
                    return self._send(404, error_body(404, 20404, f"The requested resource {url.path} was not found"))
                if fake.mode == "hang":
                    time.sleep(fake.hang_seconds)
                if fake.mode == "error":
                    return self._send(500, error_body(500, 20500, "Internal Server Error"))
                if fake.mode == "rate_limited":
                    headers = {"Retry-After": fake.retry_after} if fake.retry_after else {}
                    return self._send(429, error_body(429, 20429, "Too Many Requests"), headers)
                to = params.get("To", "")
                if not to or to.removeprefix("whatsapp:") in fake.invalid_numbers:
                    return self._send(400, error_body(400, 21211, f"The 'To' number {to} is not a valid phone number."))
                if not params.get("From"):
                    return self._send(400, error_body(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message"))
                if not (params.get("Body") or params.get("MediaUrl") or params.get("ContentSid")):
                    return self._send(400, error_body(400, 21602, "Message body is required."))
                if len(params.get("Body", "")) > MAX_BODY_CHARACTERS:
                    return self._send(400, error_body(400, 21617, "The concatenated message body exceeds the 1600 character limit."))
                self._send(201, fake._created(params))

        super().__init__(Handler)

    def _created(self, params: dict) -> dict:
        sid = "SM" + secrets.token_hex(16)
        body = params.get("Body", "")
        if params.get("ContentSid"):
            body = self.templates.get(params["ContentSid"], "")
            for name, value in json.loads(params.get("ContentVariables") or "{}").items():
                body = body.replace("{{" + name + "}}", value)
        now = formatdate(usegmt=True).replace("GMT", "+0000")
        base = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
        message = {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": body,
            "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": params["From"], "messaging_service_sid": None,
            "num_media": str(len(params.get("MediaUrl", []))), "num_segments": str(max(1, -(-len(body) // 153))),
            "price": None, "price_unit": "USD", "sid": sid, "status": "queued",
            "subresource_uris": {"media": f"{base}/Media.json", "feedback": f"{base}/Feedback.json"},
            "to": params["To"], "uri": f"{base}.json",
        }
        with self._changed:
            self.messages.append({**message, "media_url": list(params.get("MediaUrl", [])),
                                  "content_sid": params.get("ContentSid"),
                                  "content_variables": params.get("ContentVariables")})
            self._changed.notify_all()
        return message

    def messages_to(self, to: str) -> list[dict]:
        return [m for m in self.messages if m["to"] == to]

    def wait_for_messages(self, to: str, count: int, timeout: float = 30) -> list[dict]:
        """The first ``count`` accepted messages to ``to``, waiting for them (replies are sent in the background)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.messages_to(to)) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{count} message(s) to {to} expected, got {self.messages_to(to)}")
                self._changed.wait(remaining)
            return self.messages_to(to)[:count]

