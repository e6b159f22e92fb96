"""Per-language intent macro-F1 by cross-validation, our pipeline beside Rasa's default pipeline.

    .venv/bin/python bench/nlu_cv.py [--folds 5] [--configs config.yml bench/configs/rasa_default.yml] [--reuse]

Runs `rasa test nlu --cross-validation` on data/nlu for each config (same folds: Rasa shuffles with a fixed
seed; 5 folds unless told, Rasa's own default), then splits the test-fold predictions by the language folder
each example came from. ``out_of_scope`` is reported by our pipeline as ``nlu_fallback``; for both pipelines a
gold ``out_of_scope`` counts as right when the prediction is ``out_of_scope`` or ``nlu_fallback``.

Rasa's evaluation scores the classifier's top intent, undoing the FallbackClassifier; the last table applies
fallback thresholds to those out-of-fold confidences (the ambiguity threshold cannot be: only the top intent
is reported). ``--reuse`` reads the results of an earlier run instead of running Rasa again.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import LANGUAGES, ROOT, load_examples, macro_f1  # noqa: E402

FALLBACK = {"out_of_scope", "nlu_fallback"}


def language_of_text() -> dict[str, str]:
    """Every training file of each language folder (nlu.yml, helpdesk.yml, retail.yml, ...), not nlu.yml alone."""
    index = {}
    for language in LANGUAGES:
        for path in sorted((ROOT / "data" / "nlu" / language).glob("*.yml")):
            for text, _ in load_examples(path):
                index[text.strip()] = language
    return index


def normalise(label: str | None) -> str:
    return "nlu_fallback" if label in FALLBACK else (label or "None")


def run(config: Path, folds: int, out: Path) -> float:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "bot.rasa_cli", "test", "nlu", "--nlu", "data/nlu", "--config", str(config),
         "--cross-validation", "--folds", str(folds), "--out", str(out), "--successes", "--no-plot"],
        cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return time.monotonic() - started


def read(out: Path) -> dict[str, list[tuple[str, str, float]]]:
    """(gold, predicted, confidence) of every test-fold example, by language."""
    index = language_of_text()
    per_language: dict[str, list[tuple[str, str, float]]] = {language: [] for language in LANGUAGES}
    for name in ("intent_successes.json", "intent_errors.json"):
        for row in json.loads((out / name).read_text(encoding="utf-8")):
            language = index.get(row["text"].strip())
            if language:
                prediction = row.get("intent_prediction") or {}
                per_language[language].append(
                    (normalise(row["intent"]), normalise(prediction.get("name")), float(prediction.get("confidence") or 0))
                )
    return per_language


def fallback_table(rows: list[tuple[str, str, float]], thresholds: list[float]) -> None:
    in_scope = [r for r in rows if r[0] != "nlu_fallback"]
    out_of_scope = [r for r in rows if r[0] == "nlu_fallback"]
    print(f"\n{'threshold':>9} {'in-scope right':>14} {'in-scope wrong':>14} {'to fallback':>11} "
          f"{'out-of-scope recognised (n=' + str(len(out_of_scope)) + ')':>34}")
    for threshold in thresholds:
        right = sum(g == p and c >= threshold for g, p, c in in_scope) / len(in_scope)
        fallback = sum(c < threshold for _, _, c in in_scope) / len(in_scope)
        recognised = sum(p == "nlu_fallback" or c < threshold for _, p, c in out_of_scope) / len(out_of_scope)
        print(f"{threshold:9.2f} {right:14.3f} {1 - right - fallback:14.3f} {fallback:11.1%} {recognised:34.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--configs", nargs="+", default=["config.yml", "bench/configs/rasa_default.yml"])
    parser.add_argument("--out", default="bench/results/nlu_cv")
    parser.add_argument("--reuse", action="store_true", help="read the results of an earlier run in --out")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.0, 0.3, 0.4, 0.5, 0.55, 0.6, 0.7])
    args = parser.parse_args()
    results = {}
    for config in args.configs:
        out = ROOT / args.out / Path(config).stem
        if not args.reuse:
            elapsed = run(ROOT / config, args.folds, out)
            print(f"{config}: {args.folds}-fold cross-validation took {elapsed:.0f} s")
        results[config] = read(out)
    print(f"\n{'language':9} {'n':>5} " + " ".join(f"{Path(c).stem + ' F1':>16} {'errors':>6}" for c in args.configs))
    for language in LANGUAGES:
        cells = []
        n = 0
        for config in args.configs:
            pairs = [(g, p) for g, p, _ in results[config][language]]
            n = len(pairs)
            errors = sum(g != p for g, p in pairs)
            cells.append(f"{macro_f1(pairs):16.3f} {errors:6d}")
        print(f"{language:9} {n:5d} " + " ".join(cells))
    for config in args.configs:
        rows = [row for language in LANGUAGES for row in results[config][language]]
        pairs = [(g, p) for g, p, _ in rows]
        confused = Counter((g, p) for g, p in pairs if g != p).most_common(5)
        print(f"{Path(config).stem}: all {macro_f1(pairs):.3f}, errors {sum(g != p for g, p in pairs)}; most confused "
              + ", ".join(f"{g}->{p} x{n}" for (g, p), n in confused))
        fallback_table(rows, args.thresholds)


if __name__ == "__main__":
    main()
