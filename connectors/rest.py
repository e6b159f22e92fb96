"""Rasa's REST channel, strict about what it accepts.

Same URL (``/webhooks/rest/webhook``) and replies as Rasa's own, but:
- a body that is not a JSON object, a missing or blank ``sender``, or a ``message`` that is not a string
  get a 400 saying why (Rasa's would file a missing sender under one shared "default" conversation);
- a message over ``MAX_MESSAGE_CHARACTERS`` gets a 413;
- the channel name is always ``rest``: a client cannot claim to be another channel's user through
  ``input_channel`` or ``metadata.channel``. Every input channel of Sahayak sets ``metadata.channel``
  itself, which is what actions use to know the channel of a new conversation.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Text

from rasa.core.channels.rest import RestInput
from sanic.exceptions import InvalidUsage, PayloadTooLarge
from sanic.request import Request

MAX_MESSAGE_CHARACTERS = 20_000
MAX_SENDER_CHARACTERS = 128


def _body(request: Request) -> Dict[Text, Any]:
    body = request.json
    if not isinstance(body, dict):
        raise InvalidUsage('The body must be a JSON object: {"sender": "...", "message": "..."}.')
    return body


class ValidatedRestInput(RestInput):
    @classmethod
    def name(cls) -> Text:
        return "rest"

    async def _extract_sender(self, req: Request) -> Optional[Text]:
        sender = _body(req).get("sender")
        if not isinstance(sender, str) or not sender.strip():
            raise InvalidUsage('"sender" must be a non-empty string identifying the conversation.')
        if len(sender) > MAX_SENDER_CHARACTERS or not sender.isprintable():
            raise InvalidUsage(f'"sender" must be at most {MAX_SENDER_CHARACTERS} printable characters.')
        return sender

    def _extract_message(self, req: Request) -> Optional[Text]:
        message = _body(req).get("message")
        if not isinstance(message, str):
            raise InvalidUsage('"message" must be a string.')
        if len(message) > MAX_MESSAGE_CHARACTERS:
            raise PayloadTooLarge(f'"message" is longer than {MAX_MESSAGE_CHARACTERS} characters.')
        return message

    def _extract_input_channel(self, req: Request) -> Text:
        return self.name()

    def get_metadata(self, request: Request) -> Optional[Dict[Text, Any]]:
        metadata = _body(request).get("metadata") or {}
        if not isinstance(metadata, dict):
            raise InvalidUsage('"metadata" must be a JSON object.')
        return {**metadata, "channel": self.name()}
