"""Fixtures and helpers of the Telegram connector tests, imported by them (the migrated database is in
conftest.py): the fake Bot API, a channel served by Sanic on a loopback port exactly as Rasa
mounts it, a stand-in for Rasa's agent, and a small file server for media."""
from __future__ import annotations

import socket
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Callable, Optional

import pytest
from rasa.core.channels.channel import InputChannel, UserMessage, register
from sanic import Sanic

from tests.fakes.telegram import FakeTelegram
from tests.fakes.loopback import LoopbackServer


@pytest.fixture
def telegram():
    with FakeTelegram() as fake:
        yield fake


class StubAgent:
    """Stands in for Rasa's agent: records each message and answers with ``reply(message)``, a list of Rasa
    responses, through the message's output channel, as Rasa's processor does."""

    def __init__(self, reply: Optional[Callable[[UserMessage], list]] = None) -> None:
        self.messages: list[UserMessage] = []
        self.reply = reply or (lambda message: [{"text": f"echo: {message.text}"}])

    async def handle_message(self, message: UserMessage) -> None:
        self.messages.append(message)
        for response in self.reply(message):
            await message.output_channel.send_response(message.sender_id, dict(response))


@pytest.fixture
async def serve(monkeypatch):
    """``await serve(channel, agent)``: the channel's blueprint on a loopback port, mounted by Rasa's own
    ``register`` under /webhooks/; returns the server's base URL."""
    # Sanic rewrites its request handling code once per app unless in test mode, which fails for a second app.
    monkeypatch.setattr(Sanic, "test_mode", True)
    servers = []

    async def start(channel: InputChannel, agent: StubAgent) -> str:
        app = Sanic(f"telegram_test_{uuid.uuid4().hex}", configure_logging=False)
        app.ctx.agent = agent
        register([channel], app, route="/webhooks/")
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
        await server.startup()
        await server.after_start()
        servers.append(server)
        host, port = sock.getsockname()[:2]
        return f"http://{host}:{port}"

    yield start
    for server in servers:
        await server.before_stop()
        server.close()
        await server.wait_closed()


class FileServer(LoopbackServer):
    """Serves ``files`` (path -> (content type, bytes)) on loopback, like the backend serving a chart."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[str, bytes]] = {}
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                if self.path not in files:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                content_type, data = files[self.path]
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        super().__init__(Handler)
        self.start()


@pytest.fixture
def file_server():
    server = FileServer()
    yield server
    server.close()
