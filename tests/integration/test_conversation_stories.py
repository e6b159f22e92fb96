"""Rasa's conversation tests (tests/conversations/test_<language>.yml) against the trained model.

Run end to end (``--e2e``): each story's user messages go through the real NLU pipeline and each bot action is
the policy's prediction, so one wrong intent, entity or action fails the story. (Without ``--e2e`` Rasa takes
the intents written in the story and checks only the actions.) Rasa's exit code does not reflect failures in
this mode, so the report is read instead.
"""
from __future__ import annotations

import json
import os
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
    domain_intents = set(yaml.safe_load((ROOT / "domain.yml").read_text())["intents"]) - {"out_of_scope"}
    for language in NATIVE_LANGUAGES:
        stories = yaml.safe_load((STORIES / f"test_{language}.yml").read_text(encoding="utf-8"))["stories"]
        covered = {step["intent"] for story in stories for step in story["steps"] if "intent" in step}
        assert domain_intents | {"nlu_fallback"} <= covered, (language, domain_intents - covered)


def run_stories(stories: Path, out: Path) -> dict:
    assert MODEL.exists(), "train first: python -m bot train"
    result = subprocess.run(
        [sys.executable, "-m", "bot.rasa_cli", "test", "core", "--e2e", "--stories", str(stories), "--model", str(MODEL),
         "--out", str(out), "--no-plot"],
        cwd=ROOT, env={**os.environ, "ACTION_PORT": os.environ.get("ACTION_PORT", "5055")},
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    report = json.loads((out / "story_report.json").read_text())["conversation_accuracy"]
    failed = out / "failed_test_stories.yml"
    report["failed"] = failed.read_text(encoding="utf-8") if failed.exists() else ""
    return report


def test_every_conversation_story_passes(tmp_path):
    report = run_stories(STORIES, tmp_path)
    assert report["total"] >= 6 * 10
    assert report["correct"] == report["total"], report["failed"]


def test_a_story_whose_user_says_something_else_fails(tmp_path):
    stories = tmp_path / "stories"
    stories.mkdir()
    (stories / "test_wrong.yml").write_text(
        'version: "3.1"\nstories:\n- story: hello is not thanks\n  steps:\n  - user: |\n      hello there\n'
        "    intent: thank\n  - action: utter_you_are_welcome\n"
    )
    report = run_stories(stories, tmp_path / "out")
    assert (report["total"], report["correct"]) == (1, 0)
