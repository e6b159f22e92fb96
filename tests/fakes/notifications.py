"""Fakes for the notification outbox: a recording in-process sender, and a notification API on loopback
with an HTTP sender that talks to it.

:class:`FakeNotificationApi` accepts ``POST /messages`` (JSON ``{"channel", "to", "user_id", "text",
"idempotency_key", ...}``) and records each accepted message in ``deliveries``. It fails like a real provider
when told to: ``fail_first`` answers 500 to the first N requests, ``reject`` answers 400 (permanent) for the
given idempotency keys, ``rate_limit`` answers 429 with a Retry-After header, and ``hold_request=N`` keeps
the Nth request waiting, unrecorded, until :meth:`FakeNotificationApi.release` (it sets ``held`` first).
It never de-duplicates: a message sent twice is recorded twice.
"""
from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Callable, Iterable, Optional

import httpx

from backend.notifications.delivery import DeliveryError, OutboundMessage, Recipient
from tests.fakes.loopback import LoopbackServer

CHANNELS = ("telegram", "whatsapp", "sms", "rest")


class RecordingSender:
    """A sender that records what it is given. ``fail(recipient, message)`` may return an exception to raise;
    ``delay`` sleeps up to that many seconds first (deterministically varied) to interleave workers."""

    def __init__(
        self,
        channel: str,
        *,
        fail: Optional[Callable[[Recipient, OutboundMessage], Optional[BaseException]]] = None,
        delay: float = 0.0,
    ) -> None:
        self.channel = channel
        self.fail = fail
        self.delay = delay
        self.calls = 0
        self.sent: list[tuple[Recipient, OutboundMessage]] = []
        self._lock = threading.Lock()

    @property
    def keys(self) -> list[str]:
        with self._lock:
            return [message.idempotency_key for _, message in self.sent]

    async def send(self, recipient: Recipient, message: OutboundMessage) -> None:
        with self._lock:
            self.calls += 1
            call = self.calls
        if self.delay:
            await asyncio.sleep(self.delay * ((call * 7919) % 10) / 10)
        error = self.fail(recipient, message) if self.fail else None
        if error is not None:
            raise error
        with self._lock:
            self.sent.append((recipient, message))


class FakeNotificationApi(LoopbackServer):
    def __init__(
        self,
        *,
        fail_first: int = 0,
        reject: Iterable[str] = (),
        rate_limit: Iterable[str] = (),
        retry_after: float = 30,
        hold_request: Optional[int] = None,
    ) -> None:
        self.fail_first = fail_first
        self.reject = set(reject)
        self.rate_limit = set(rate_limit)  # each key is rate limited once
        self.retry_after = retry_after
        self.hold_request = hold_request
        self.requests = 0
        self.deliveries: list[dict] = []
        self.held_body: Optional[dict] = None
        self.held = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: object, headers: Optional[dict] = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if self.path != "/messages":
                    return self._send(404, {"error": "Not Found"})
                with fake._lock:
                    fake.requests += 1
                    number = fake.requests
                    hold = number == fake.hold_request
                    if hold:
                        fake.held_body = body
                if hold:
                    fake.held.set()
                    fake._release.wait(timeout=120)
                    try:  # the client is usually gone by now
                        self._send(503, {"error": "held and dropped"})
                    except OSError:
                        pass
                    return
                key = body.get("idempotency_key")
                with fake._lock:
                    if number <= fake.fail_first:
                        status, reply, headers = 500, {"error": "Internal Server Error"}, None
                    elif key in fake.reject:
                        status, reply, headers = 400, {"error": "chat not found"}, None
                    elif key in fake.rate_limit:
                        fake.rate_limit.discard(key)
                        status, reply = 429, {"error": "Too Many Requests"}
                        headers = {"Retry-After": str(fake.retry_after)}
                    else:
                        fake.deliveries.append(body)
                        status, reply, headers = 200, {"id": len(fake.deliveries)}, None
                self._send(status, reply, headers)

        super().__init__(Handler)

    @property
    def keys(self) -> list[str]:
        with self._lock:
            return [body["idempotency_key"] for body in self.deliveries]

    def release(self) -> None:
        self._release.set()

    def close(self) -> None:
        self.release()
        super().close()


class HttpSender:
    """A sender for :class:`FakeNotificationApi`, mapping its answers the way real senders map theirs."""

    def __init__(self, channel: str, base_url: str, timeout: float = 30.0) -> None:
        self.channel = channel
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    async def send(self, recipient: Recipient, message: OutboundMessage) -> None:
        body = {
            "channel": recipient.channel,
            "to": recipient.address,
            "user_id": recipient.user_id,
            "language": recipient.language,
            "text": message.text,
            "buttons": list(message.buttons),
            "idempotency_key": message.idempotency_key,
        }
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                reply = await client.post(f"{self.base_url}/messages", json=body)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__} talking to the notification API") from exc
        if reply.status_code == 200:
            return
        if reply.status_code == 429:
            raise DeliveryError("HTTP 429", retry_after=float(reply.headers.get("Retry-After", "1")))
        if 400 <= reply.status_code < 500:
            raise DeliveryError(f"HTTP {reply.status_code}: {reply.json().get('error')}", permanent=True)
        raise DeliveryError(f"HTTP {reply.status_code}")


def http_senders(base_url: str) -> dict[str, HttpSender]:
    return {channel: HttpSender(channel, base_url) for channel in CHANNELS}
