"""The interface between the outbox worker and the channel senders (see docs/dev/channels-contract.md).

A sender delivers one already rendered message to one recipient on its channel. It returns when the provider
accepted the message and raises :class:`DeliveryError` otherwise; the worker owns retries, backoff, dead
letters and bookkeeping, so a sender never retries on its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional, Protocol, runtime_checkable


@dataclass(frozen=True)
class Recipient:
    user_id: int
    channel: str  # "telegram", "whatsapp", "sms", "rest" (web chat)
    address: str  # the channel's user id: Telegram chat id, "whatsapp:+9198...", "+9198...", web sender id
    language: str  # e.g. "ta", "hi-Latn"
    last_inbound_at: Optional[datetime]  # when this user last wrote to us on this channel (WhatsApp 24 h window)


@dataclass(frozen=True)
class OutboundMessage:
    idempotency_key: str
    text: str
    buttons: tuple[dict, ...] = ()  # Rasa buttons: {"title", "payload"}
    image: Optional[str] = None  # URL
    document: Optional[str] = None  # URL
    response: Optional[str] = None  # the catalogue key it was rendered from, when there is one
    params: dict = field(default_factory=dict)


class DeliveryError(Exception):
    """The provider did not accept the message.

    ``permanent``: retrying cannot help (chat not found, blocked by the user, invalid number).
    ``retry_after``: the provider asked to wait that many seconds (e.g. Telegram 429).
    """

    def __init__(self, reason: str, *, retry_after: Optional[float] = None, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.permanent = permanent

    def __repr__(self) -> str:
        return (
            f"DeliveryError({self.reason!r}, retry_after={self.retry_after!r}, permanent={self.permanent!r})"
        )


@runtime_checkable
class Sender(Protocol):
    channel: str

    async def send(self, recipient: Recipient, message: OutboundMessage) -> None:
        """Return when the provider accepted ``message``; raise :class:`DeliveryError` otherwise."""
        ...
