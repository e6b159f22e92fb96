"""FAQ retrieval: top-1 accuracy and confidently wrong answers per native language.

    .venv/bin/python bench/faq_retrieval.py [--set heldout|dev] [--threshold 0.3] [--errors]

Questions are in bench/data/faq/<set>/<lang>.yml, written separately from the articles
(backend/knowledge/). The articles are loaded into a fresh SQLite database and asked through
``backend.services.knowledge_base.search``, exactly as the assistant asks them. For each language:

- top-1: share of answerable questions whose best article is the right one (whatever the confidence);
- answered right: share of answerable questions answered (confidence >= threshold) with the right article;
- confidently wrong: share of all questions (answerable or not) answered with a wrong article;
- right or offered: share of answerable questions answered right, or (when unsure) with the right article
  among the "did you mean...?" buttons the assistant offers.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import LANGUAGES, ROOT  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", default="heldout", choices=("heldout", "dev"))
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--errors", action="store_true")
    parser.add_argument("--sweep", action="store_true", help="print the figures for a range of thresholds")
    args = parser.parse_args()

    from backend.db import migrate, session_scope
    from backend.services import knowledge_base

    threshold = knowledge_base.CONFIDENCE_THRESHOLD if args.threshold is None else args.threshold
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/faq.db"
        migrate(url)
        with session_scope(url) as session:
            knowledge_base.load_seed_articles(session)
        results = {}
        with session_scope(url) as session:
            for language in LANGUAGES:
                path = ROOT / "bench" / "data" / "faq" / args.set / f"{language}.yml"
                if not path.exists():
                    print(f"{language}: no questions ({path.relative_to(ROOT)} is missing)")
                    continue
                data = yaml.safe_load(path.read_text("utf-8"))
                rows = []
                for item in data["questions"]:
                    hits = knowledge_base.search(session, item["q"])
                    best = hits[0] if hits else (None, 0.0, 0.0)
                    offered = [slug for slug, _, _ in hits[: knowledge_base.SUGGESTIONS]]
                    if best[2] < knowledge_base.SUGGESTION_THRESHOLD:
                        offered = []
                    rows.append((item["q"], item["slug"], best[0], best[2], offered))
                results[language] = rows

    thresholds = [round(0.05 * i, 2) for i in range(0, 13)] if args.sweep else [threshold]
    for t in thresholds:
        print(f"threshold {t}")
        print(f"{'language':9} {'n':>4} {'top-1':>6} {'answered right':>15} {'confidently wrong':>18} "
              f"{'said unsure':>12} {'right or offered':>17}")
        for language, rows in results.items():
            answerable = [r for r in rows if r[1]]
            top1 = sum(1 for r in answerable if r[2] == r[1]) / len(answerable)
            right = sum(1 for r in answerable if r[2] == r[1] and r[3] >= t) / len(answerable)
            wrong = sum(1 for r in rows if r[3] >= t and r[2] != r[1]) / len(rows)
            unsure = sum(1 for r in rows if r[3] < t) / len(rows)
            helped = sum(
                1 for r in answerable if (r[2] == r[1] and r[3] >= t) or (r[3] < t and r[1] in r[4])
            ) / len(answerable)
            print(f"{language:9} {len(rows):>4} {top1:>6.1%} {right:>15.1%} {wrong:>18.1%} {unsure:>12.1%} "
                  f"{helped:>17.1%}")
    if args.errors:
        for language, rows in results.items():
            for question, gold, got, confidence, _ in rows:
                if got != gold:
                    print(f"{language:8} {confidence:.2f} want {gold} got {got}: {question}")


if __name__ == "__main__":
    main()
