"""The web chat's sender: a notification is delivered when it is stored for the user's page to fetch.

Web chat users talk through Rasa's REST channel ("rest"), with sender ids ``web-<id>`` given by the backend's
signed cookie; their page polls ``GET /chat/inbox``. Other REST clients (``make chat``, scripts) have nobody to
fetch their inbox, so their notifications are stored the same way and logged. A ready text (an agent's reply)
seldom gets here: ``backend.notifications.outbox.deliver_to_web_chat`` stores it in the transaction that queued
it.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Optional

from backend.db import DatabaseUnavailable, session_scope
from backend.notifications.delivery import DeliveryError, OutboundMessage, Recipient
from backend.services import web_inbox

log = logging.getLogger(__name__)


class WebchatSender:
    channel = "rest"

    def __init__(self, database_url: Optional[str] = None) -> None:
        self.database_url = database_url

    async def send(self, recipient: Recipient, message: OutboundMessage) -> None:
        try:
            await asyncio.to_thread(self._store, recipient, message)
        except DatabaseUnavailable as exc:
            raise DeliveryError(f"web inbox unavailable: {exc}") from None
        if not recipient.address.startswith("web-"):
            log.info("Notification %s for REST user %s stored (no web page polls it).", message.idempotency_key, recipient.user_id)

    def _store(self, recipient: Recipient, message: OutboundMessage) -> None:
        with session_scope(self.database_url) as session:
            web_inbox.deliver(
                session,
                address=recipient.address,
                idempotency_key=message.idempotency_key,
                text=message.text,
                buttons=message.buttons,
            )
