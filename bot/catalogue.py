"""Response catalogues: English in domain.yml, every other native language in bot/locales/<lang>.yml.

A catalogue maps a response key (``utter_greet``) to a list of variations in Rasa's response format.
``check_catalogue`` states what a translated catalogue must share with the English one: the same keys,
the same ``{placeholders}`` in every variation, and the same buttons (count and payloads).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.languages import NATIVE_LANGUAGES, SOURCE_LANGUAGE

ROOT = Path(__file__).resolve().parent.parent
DOMAIN_FILE = ROOT / "domain.yml"
LOCALES_DIR = Path(__file__).resolve().parent / "locales"

Responses = dict[str, list[dict[str, Any]]]

# A placeholder as Rasa's interpolator sees it: {name}, but not the doubled braces of a literal.
_PLACEHOLDER = re.compile(r"(?<!\{)\{([^\n{}]+?)\}(?!\})")


@dataclass(frozen=True)
class CatalogueProblem:
    language: str
    key: str
    problem: str

    def __str__(self) -> str:
        return f"{self.language}: {self.key}: {self.problem}"


def _read_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def load_source(domain_file: Path = DOMAIN_FILE) -> Responses:
    return _read_yaml(domain_file).get("responses", {})


def locale_file(language: str) -> Path:
    return LOCALES_DIR / f"{language}.yml"


def load_locale(language: str) -> Responses:
    """The catalogue of one native language (English comes from the domain)."""
    if language == SOURCE_LANGUAGE:
        return load_source()
    data = _read_yaml(locale_file(language))
    if data.get("language") != language:
        raise ValueError(f"{locale_file(language)} declares language {data.get('language')!r}")
    return data.get("responses", {})


@lru_cache(maxsize=None)
def cached_locale(language: str) -> Responses:
    return load_locale(language)


def placeholders(variation: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for text in [variation.get("text", "")] + [b.get("title", "") for b in variation.get("buttons", [])]:
        found.update(_PLACEHOLDER.findall(text or ""))
    return found


def _button_payloads(variation: dict[str, Any]) -> list[str]:
    return [button.get("payload", "") for button in variation.get("buttons", [])]


def check_catalogue(language: str, source: Responses, target: Responses) -> list[CatalogueProblem]:
    problems: list[CatalogueProblem] = []
    for key in sorted(set(source) - set(target)):
        problems.append(CatalogueProblem(language, key, "missing"))
    for key in sorted(set(target) - set(source)):
        problems.append(CatalogueProblem(language, key, "not in domain.yml"))
    for key in sorted(set(source) & set(target)):
        variations = target[key]
        if not isinstance(variations, list) or not variations:
            problems.append(CatalogueProblem(language, key, "has no variation"))
            continue
        expected = source[key][0]
        for index, variation in enumerate(variations):
            where = f"variation {index + 1}"
            if not str(variation.get("text", "")).strip():
                problems.append(CatalogueProblem(language, key, f"{where} has no text"))
            if placeholders(variation) != placeholders(expected):
                problems.append(
                    CatalogueProblem(
                        language,
                        key,
                        f"{where} placeholders {sorted(placeholders(variation))} "
                        f"!= {sorted(placeholders(expected))}",
                    )
                )
            if _button_payloads(variation) != _button_payloads(expected):
                problems.append(CatalogueProblem(language, key, f"{where} buttons differ from English"))
            for button in variation.get("buttons", []):
                if not str(button.get("title", "")).strip():
                    problems.append(CatalogueProblem(language, key, f"{where} has a button without a title"))
    return problems


def check_all() -> list[CatalogueProblem]:
    source = load_source()
    problems: list[CatalogueProblem] = []
    for language in NATIVE_LANGUAGES:
        if language == SOURCE_LANGUAGE:
            continue
        if not locale_file(language).exists():
            problems.append(CatalogueProblem(language, "*", f"{locale_file(language)} does not exist"))
            continue
        problems.extend(check_catalogue(language, source, load_locale(language)))
    return problems
