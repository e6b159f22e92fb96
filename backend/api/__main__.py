"""``python -m backend.api``: serve the API on BACKEND_HOST:BACKEND_PORT."""
from __future__ import annotations

import sys

import uvicorn

from backend.config import ConfigError, get_settings


def main() -> None:
    try:
        settings = get_settings()
    except ConfigError as exc:
        sys.exit(str(exc))
    # Rasa pins websockets 10, which uvicorn's default websocket implementation cannot import; wsproto
    # serves websockets without it. Plain `uvicorn ...` needs `--ws wsproto` (or `--ws none`) too.
    uvicorn.run("backend.api.app:app", host=settings.backend_host, port=settings.backend_port, ws="wsproto")


if __name__ == "__main__":
    main()
