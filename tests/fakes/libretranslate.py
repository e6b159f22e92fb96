"""A LibreTranslate server for tests: the real HTTP API, with fixed translations.

It answers ``POST /translate`` (parameters in the query string, a form or JSON, as clients differ) with
``{"translatedText": ...}`` and ``GET /languages``. ``mode`` makes it fail like a real peer: ``"error"`` answers
500, ``"hang"`` does not answer for ``hang_seconds``. Every request is recorded.
"""
from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse
from tests.fakes.loopback import LoopbackServer

LANGUAGES = ["en", "es", "fr", "de", "hi", "pt", "it", "ja", "zh", "ru", "ar"]


class FakeLibreTranslate(LoopbackServer):
    def __init__(
        self,
        translations: dict[tuple[str, str, str], str] | None = None,
        api_key: str | None = None,
        otherwise=None,
    ):
        """``otherwise(q, source, target)`` answers texts without a fixed translation (default: 400)."""
        self.translations = dict(translations or {})
        self.otherwise = otherwise
        self.api_key = api_key
        self.requests: list[dict] = []
        self.mode = "ok"
        self.hang_seconds = 10.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if urlparse(self.path).path.rstrip("/") == "/languages":
                    self._send(200, [{"code": c, "name": c, "targets": LANGUAGES} for c in LANGUAGES])
                else:
                    self._send(404, {"error": "Not Found"})

            def do_POST(self) -> None:
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                if raw:
                    if "json" in (self.headers.get("Content-Type") or ""):
                        params.update(json.loads(raw))
                    else:
                        params.update({k: v[0] for k, v in parse_qs(raw).items()})
                fake.requests.append({"path": url.path, **params})
                if url.path.rstrip("/") != "/translate":
                    return self._send(404, {"error": "Not Found"})
                if fake.mode == "hang":
                    time.sleep(fake.hang_seconds)
                if fake.mode == "error":
                    return self._send(500, {"error": "Internal Server Error"})
                if fake.api_key and params.get("api_key") != fake.api_key:
                    return self._send(403, {"error": "Invalid API key"})
                if not params.get("q") or not params.get("source") or not params.get("target"):
                    return self._send(400, {"error": "Invalid request: missing q, source or target"})
                key = (params["source"], params["target"], params["q"])
                if key not in fake.translations and fake.otherwise:
                    return self._send(200, {"translatedText": fake.otherwise(params["q"], params["source"], params["target"])})
                if key not in fake.translations:
                    return self._send(400, {"error": f"no fixed translation for {key}"})
                self._send(200, {"translatedText": fake.translations[key]})

        super().__init__(Handler)

    @property
    def url(self) -> str:
        return super().url + "/"
