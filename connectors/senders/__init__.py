"""Outbound senders of the notification outbox, one per channel (the contract: backend/notifications/delivery.py)."""
from __future__ import annotations

import os
from typing import Mapping

from backend.notifications.delivery import Sender


def build_senders(environ: Mapping[str, str] = os.environ) -> dict[str, Sender]:
    """The senders of the channels configured in ``environ``; an unconfigured channel has none. The web chat
    needs no configuration: its sender stores messages in the backend database for the page to fetch."""
    from connectors.senders.telegram import TelegramSender
    from connectors.senders.twilio import senders_from_environ
    from connectors.senders.webchat import WebchatSender

    senders: dict[str, Sender] = {WebchatSender.channel: WebchatSender()}
    senders.update(senders_from_environ(environ))
    telegram = TelegramSender.from_environ(environ)
    if telegram is not None:
        senders[telegram.channel] = telegram
    return senders
