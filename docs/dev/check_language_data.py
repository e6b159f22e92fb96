"""Checks one language's data files against docs/dev/language-data.md: `python docs/dev/check_language_data.py hi`."""
from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot.catalogue import check_catalogue, load_locale, load_source, locale_file  # noqa: E402

INTENTS = ["greet", "goodbye", "thank", "ask_help", "bot_challenge", "switch_language", "affirm", "deny",
           "restart", "request_human", "out_of_scope"]
ACTIONS = {"greet": "utter_greet", "goodbye": "utter_goodbye", "thank": "utter_you_are_welcome",
           "ask_help": "utter_menu", "bot_challenge": "utter_iamabot", "switch_language": "action_switch_language",
           "affirm": "utter_affirm_ack", "deny": "utter_deny_ack", "restart": "action_restart",
           "request_human": "action_request_human"}
ENTITY = re.compile(r"\[([^\]]+)\]\{\"entity\": \"language\", \"value\": \"([^\"]+)\"\}")
VALUES = {"en", "hi", "ta", "es", "hi-Latn", "ta-Latn", "fr", "de", "pt", "bn", "te", "mr", "ur", "ar", "zh"}


def examples(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
        if "intent" in block:
            lines = [l[2:].strip() for l in block["examples"].splitlines() if l.strip().startswith("- ")]
            out.setdefault(block["intent"], []).extend(lines)
    return out


def main(lang: str) -> int:
    problems: list[str] = []
    nlu = ROOT / "data" / "nlu" / lang / "nlu.yml"
    train = examples(nlu) if nlu.exists() else {}
    if not train:
        problems.append(f"{nlu} missing or empty")
    for intent in INTENTS:
        n = len(train.get(intent, []))
        need = 40 if intent == "out_of_scope" else 30
        if n < need:
            problems.append(f"nlu: {intent} has {n} examples, needs {need}")
    all_train = [e for ex in train.values() for e in ex]
    for text, count in Counter(all_train).items():
        if count > 1:
            problems.append(f"nlu: duplicate example {text!r}")
    for text in all_train:
        for _, value in ENTITY.findall(text):
            if value not in VALUES:
                problems.append(f"nlu: unknown language value {value!r} in {text!r}")
    held = ROOT / "bench" / "data" / "heldout" / f"{lang}.yml"
    if held.exists():
        heldout = examples(held)
        overlap = {e for ex in heldout.values() for e in ex} & set(all_train)
        for text in overlap:
            problems.append(f"heldout repeats training example {text!r}")
        for intent in INTENTS:
            if len(heldout.get(intent, [])) < 12:
                problems.append(f"heldout: {intent} has {len(heldout.get(intent, []))} examples, needs 12")
    else:
        problems.append(f"{held} missing")
    stories_file = ROOT / "tests" / "conversations" / f"test_{lang}.yml"
    if stories_file.exists():
        seen: Counter[str] = Counter()
        for story in yaml.safe_load(stories_file.read_text(encoding="utf-8")).get("stories", []):
            steps = story.get("steps", [])
            for i, step in enumerate(steps):
                if "intent" in step:
                    seen[step["intent"]] += 1
                    if "user" not in step:
                        problems.append(f"stories: {story['story']}: step without user text")
                    nxt = steps[i + 1] if i + 1 < len(steps) else {}
                    expected = ACTIONS.get(step["intent"])
                    if step["intent"] == "nlu_fallback":
                        expected = "action_handle_fallback"
                    if expected and nxt.get("action") not in (expected, "action_request_human", "utter_human_declined"):
                        problems.append(f"stories: {story['story']}: {step['intent']} followed by {nxt}")
                    if step.get("user", "").strip() in all_train:
                        problems.append(f"stories: copies training example {step['user'].strip()!r}")
        for intent in list(ACTIONS) + ["nlu_fallback"]:
            if seen[intent] < 2:
                problems.append(f"stories: {intent} covered {seen[intent]} times, needs 2")
    else:
        problems.append(f"{stories_file} missing")
    if lang != "en":
        if locale_file(lang).exists():
            problems += [str(p) for p in check_catalogue(lang, load_source(), load_locale(lang))]
        else:
            problems.append(f"{locale_file(lang)} missing")
    if lang in ("en", "hi-Latn", "ta-Latn"):
        lex = ROOT / "bot" / "language" / "lexicons" / f"{lang}.txt"
        words = [w.strip() for w in lex.read_text(encoding="utf-8").splitlines() if w.strip()] if lex.exists() else []
        need = 800 if lang == "en" else 600
        if len(set(words)) < need:
            problems.append(f"lexicon has {len(set(words))} words, needs {need}")
    for p in problems:
        print(p)
    print(f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
