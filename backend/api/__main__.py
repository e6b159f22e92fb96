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
    # ws="none": Rasa pins websockets 10, which uvicorn's default websocket support cannot
    # import, and this API serves no websockets. Plain `uvicorn ...` needs `--ws none` too.
    uvicorn.run("backend.api.app:app", host=settings.backend_host, port=settings.backend_port, ws="none")


if __name__ == "__main__":
    main()
