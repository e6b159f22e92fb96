"""Product-name recognition: top-1 accuracy on misspelt and transliterated names, per language.

    .venv/bin/python bench/product_names.py [--errors]

The names (bench/data/products/heldout.yml) were written by someone who had not seen the catalogue's names
and aliases (backend/retail_data/catalogue.yml). The demo catalogue is loaded into a fresh SQLite database and
each name is looked up with ``product_match``, as the assistant will. "top-1" counts the right product ranked
first (answered outright or first among the offered choices); "answered" counts it answered outright;
"wrong" counts another product answered outright.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import LANGUAGES, ROOT  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--errors", action="store_true")
    args = parser.parse_args()

    from backend.db import migrate, session_scope
    from backend.models import Product
    from backend.services import catalogue, product_match

    names = yaml.safe_load((ROOT / "bench" / "data" / "products" / "heldout.yml").read_text("utf-8"))["names"]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/products.db"
        migrate(url)
        with session_scope(url) as session:
            catalogue.load_seed_catalogue(session)
        with session_scope(url) as session:
            index = product_match.index_for(session)
            skus = {p.id: p.sku for p in session.query(Product)}
            rows = defaultdict(list)
            for item in names:
                result = index.find(item["text"])
                first = result.best or (result.choices[0] if result.choices else None)
                rows[item["language"]].append((
                    item["text"], item["sku"], skus.get(first.product_id) if first else None,
                    skus.get(result.best.product_id) if result.best else None,
                ))
    print(f"{'language':9} {'n':>4} {'top-1':>7} {'answered':>9} {'wrong':>7}")
    total = [0, 0]
    for language in LANGUAGES:
        found = rows.get(language, [])
        if not found:
            continue
        top1 = sum(1 for _, gold, first, _ in found if first == gold)
        answered = sum(1 for _, gold, _, best in found if best == gold)
        wrong = sum(1 for _, gold, _, best in found if best is not None and best != gold)
        total[0] += top1
        total[1] += len(found)
        print(f"{language:9} {len(found):>4} {top1 / len(found):>7.1%} {answered / len(found):>9.1%} "
              f"{wrong / len(found):>7.1%}")
    print(f"{'all':9} {total[1]:>4} {total[0] / total[1]:>7.1%}")
    if args.errors:
        for language, found in rows.items():
            for text, gold, first, best in found:
                if first != gold:
                    print(f"{language:8} want {gold:15} got {first}: {text}")


if __name__ == "__main__":
    main()
