"""Signed web chat session cookie: ``<id>.<HMAC-SHA256(secret, id)>``.

The id becomes the Rasa sender id, so the browser must not be able to pick it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Optional

COOKIE_NAME = "sahayak_chat"
COOKIE_MAX_AGE = 365 * 24 * 3600
_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_CONTEXT = b"sahayak-webchat-v1:"


def new_id() -> str:
    return secrets.token_urlsafe(18)


def sign(secret: str, chat_id: str) -> str:
    """The cookie value for ``chat_id``."""
    return f"{chat_id}.{_signature(secret, chat_id)}"


def verify(secret: str, value: Optional[str]) -> Optional[str]:
    """The chat id in a correctly signed cookie value, else None."""
    if not value or value.count(".") != 1:
        return None
    chat_id, signature = value.split(".")
    if not _ID_PATTERN.match(chat_id):
        return None
    if not hmac.compare_digest(signature.encode("ascii", "replace"), _signature(secret, chat_id).encode("ascii")):
        return None
    return chat_id


def _signature(secret: str, chat_id: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), _CONTEXT + chat_id.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
