"""Intent accuracy, macro-F1 and language identification on the held-out sets (bench/data/heldout/<lang>.yml).

    .venv/bin/python bench/heldout.py [--model models/sahayak.tar.gz] [--errors]

``out_of_scope`` examples count as right when the assistant answers ``nlu_fallback``: that is the public name
of "not something I handle".
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))

from bench.common import LANGUAGES, ROOT, load_examples, macro_f1  # noqa: E402

EQUIVALENT = {"out_of_scope": "nlu_fallback"}


async def evaluate(model: str, show_errors: bool) -> None:
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.common import configure_logging_and_warnings

    configure_logging_and_warnings(logging.WARNING)

    agent = Agent.load(model)
    print(f"{'language':9} {'n':>4} {'accuracy':>8} {'macro-F1':>8} {'lang-id':>8}")
    for language in LANGUAGES:
        examples = load_examples(ROOT / "bench" / "data" / "heldout" / f"{language}.yml")
        pairs, language_right, errors = [], 0, Counter()
        for text, intent in examples:
            parse = await agent.parse_message(text)
            predicted = parse["intent"]["name"]
            gold = EQUIVALENT.get(intent, intent)
            pairs.append((gold, predicted))
            detected = (parse.get("language") or {}).get("code")
            language_right += detected == language
            if gold != predicted:
                errors[(gold, predicted)] += 1
                if show_errors:
                    print(f"  {language} {gold:>15} -> {predicted:15} {text}")
            elif show_errors and detected != language:
                print(f"  {language} language {detected}: {text}")
        accuracy = sum(g == p for g, p in pairs) / len(pairs)
        print(f"{language:9} {len(pairs):4} {accuracy:8.3f} {macro_f1(pairs):8.3f} {language_right / len(pairs):8.3f}")
        if errors:
            print("          most confused:", ", ".join(f"{g}->{p} x{n}" for (g, p), n in errors.most_common(4)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "models" / "sahayak.tar.gz"))
    parser.add_argument("--errors", action="store_true", help="print every misclassified example")
    args = parser.parse_args()
    asyncio.run(evaluate(args.model, args.errors))


if __name__ == "__main__":
    main()
