"""Render a response of the catalogues for a user outside a conversation (notifications).

The same catalogues and rules as the conversation's NLG (bot.nlg): native languages from their catalogue,
English from domain.yml, any other language machine translated from English when translation is available.
"""
from __future__ import annotations

import copy
from typing import Any

from rasa.core.nlg import interpolator

from bot.catalogue import cached_locale
from bot.languages import SOURCE_LANGUAGE, endonym, is_native


class UnknownResponse(KeyError):
    pass


def render_response(response: str, language: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """{"text": ..., "buttons": [...]} (and any other keys of the response) with ``params`` filled in."""
    values = {"language_name": endonym(language), **(params or {})}
    catalogue = cached_locale(language) if is_native(language) else cached_locale(SOURCE_LANGUAGE)
    variations = catalogue.get(response) or cached_locale(SOURCE_LANGUAGE).get(response)
    if not variations:
        raise UnknownResponse(response)
    rendered = interpolator.interpolate(copy.deepcopy(variations[0]), values)
    rendered.setdefault("buttons", [])
    if not is_native(language):
        rendered = _translated(rendered, language)
    return rendered


def _translated(rendered: dict[str, Any], language: str) -> dict[str, Any]:
    from bot.translation import get_translator

    translator = get_translator()
    if not translator.configured:
        return rendered
    if rendered.get("text"):
        rendered["text"] = translator.translate(rendered["text"], SOURCE_LANGUAGE, language) or rendered["text"]
    for button in rendered["buttons"]:
        if button.get("title"):
            button["title"] = translator.translate(button["title"], SOURCE_LANGUAGE, language) or button["title"]
    return rendered
