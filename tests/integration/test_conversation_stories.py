"""Rasa's conversation tests (tests/conversations/test_<language>.yml) against the trained model.

Two checks, because the dialogue is deterministic and the language understanding is statistical:
- the dialogue: with the intents as written in the stories, every predicted action must be right (100 %);
- end to end (``--e2e``): each user message goes through the real NLU pipeline; in every native language at
  least ``TURN_ACCURACY`` of the user turns must be understood (intent and entities). A classifier makes
  mistakes, and each change of training data moves some, so a floor, not perfection, is what can be asserted;
  the figures are in docs/benchmarks.md. Rasa's exit code does not reflect failures in --e2e mode, so its report files are read.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.languages import NATIVE_LANGUAGES
from bot.training import MODEL

ROOT = Path(__file__).resolve().parents[2]
STORIES = ROOT / "tests" / "conversations"

pytestmark = pytest.mark.integration


def test_there_are_conversation_tests_for_every_intent_in_every_native_language():
    """Every intent is exercised in every language, by Rasa's test stories or by the scripted conversations
    through the whole stack (tests/conversations/<capability>/, test_scripted_conversations.py)."""
    domain_intents = set(yaml.safe_load((ROOT / "domain.yml").read_text())["intents"]) - {"out_of_scope"}
    for language in NATIVE_LANGUAGES:
        stories = yaml.safe_load((STORIES / f"test_{language}.yml").read_text(encoding="utf-8"))["stories"]
        covered = {step["intent"] for story in stories for step in story["steps"] if "intent" in step}
        for capability in ("helpdesk", "retail"):
            scripts = yaml.safe_load((STORIES / capability / f"{language}.yml").read_text(encoding="utf-8"))
            covered |= {turn["intent"] for c in scripts["conversations"] for turn in c["turns"] if "intent" in turn}
        assert domain_intents | {"nlu_fallback"} <= covered, (language, domain_intents - covered)


TURN_ACCURACY = 0.9


def run_stories(stories: Path, out: Path, e2e: bool = True) -> dict:
    assert MODEL.exists(), "train first: python -m bot train"
    result = subprocess.run(
        [sys.executable, "-m", "bot.rasa_cli", "test", "core", *(["--e2e"] if e2e else []), "--stories", str(stories),
         "--model", str(MODEL), "--out", str(out), "--no-plot"],
        cwd=ROOT, env={**os.environ, "ACTION_PORT": os.environ.get("ACTION_PORT", "5055")},
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    report = json.loads((out / "story_report.json").read_text())["conversation_accuracy"]
    failed = out / "failed_test_stories.yml"
    report["failed"] = failed.read_text(encoding="utf-8") if failed.exists() else ""
    return report


def user_turns(language: str) -> int:
    stories = yaml.safe_load((STORIES / f"test_{language}.yml").read_text(encoding="utf-8"))["stories"]
    return sum(1 for story in stories for step in story["steps"] if "user" in step)


def misunderstood_turns(failed_stories: str) -> dict[str, int]:
    """Wrongly understood user turns per language, from Rasa's failed_test_stories.yml."""
    counts: dict[str, int] = {}
    language = None
    for line in failed_stories.splitlines():
        if line.startswith("- story:"):
            match = re.search(r"\((?:\S*/)?test_([\w-]+)\.yml\)$", line)
            language = match.group(1) if match else None
        elif "# predicted:" in line and language:
            counts[language] = counts.get(language, 0) + 1
    return counts


def test_the_dialogue_of_every_story_is_right(tmp_path):
    report = run_stories(STORIES, tmp_path, e2e=False)
    assert report["total"] >= 6 * 10
    assert report["correct"] == report["total"], report["failed"]


def test_the_users_words_in_the_stories_are_understood(tmp_path):
    report = run_stories(STORIES, tmp_path)
    wrong = misunderstood_turns(report["failed"])
    for language in NATIVE_LANGUAGES:
        accuracy = 1 - wrong.get(language, 0) / user_turns(language)
        assert accuracy >= TURN_ACCURACY, f"{language}: {accuracy:.2f} of user turns understood\n{report['failed']}"


def test_a_story_whose_user_says_something_else_fails(tmp_path):
    stories = tmp_path / "stories"
    stories.mkdir()
    (stories / "test_wrong.yml").write_text(
        'version: "3.1"\nstories:\n- story: hello is not thanks\n  steps:\n  - user: |\n      hello there\n'
        "    intent: thank\n  - action: utter_you_are_welcome\n"
    )
    report = run_stories(stories, tmp_path / "out")
    assert (report["total"], report["correct"]) == (1, 0)
    assert misunderstood_turns(report["failed"]) == {"wrong": 1}
