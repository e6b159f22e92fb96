"""The product catalogue and locations: demo data, CSV import and export.

A CSV import is all or nothing: every row is checked first, every bad row is reported with its line number and
what is wrong, and nothing is written unless all rows are good.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Iterable, Optional

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from backend.models import LOCATION_KINDS, Location, Product, ProductName, utcnow
from backend.services import audit, stock
from backend.services.users import LANGUAGE_PATTERN

SEED_FILE = Path(__file__).resolve().parent.parent / "retail_data" / "catalogue.yml"
LANGUAGES = ("en", "hi", "ta", "es", "hi-Latn", "ta-Latn")
CSV_COLUMNS = ("sku", "category", "unit", "price", *(f"name_{language}" for language in LANGUAGES), "aliases")
IMPORT_MAX_ROWS = 10_000


@dataclass(frozen=True)
class RowError:
    line: int
    problem: str


class ImportRejected(ValueError):
    """A CSV with bad rows: nothing was imported. ``errors`` lists every bad row."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} bad row(s); nothing was imported")
        self.errors = errors


def save_location(session: Session, *, code: str, name: str, kind: str) -> Location:
    if kind not in LOCATION_KINDS:
        raise ValueError(f"kind must be one of {', '.join(LOCATION_KINDS)}")
    location = session.execute(select(Location).where(Location.code == code)).scalar_one_or_none()
    if location is None:
        location = Location(code=code, name=name, kind=kind)
        session.add(location)
    else:
        location.name, location.kind = name, kind
    session.flush()
    return location


def save_product(
    session: Session,
    *,
    sku: str,
    category: str,
    unit: str,
    price: Decimal,
    names: dict[str, str],
    aliases: Optional[dict[str, Iterable[str]]] = None,
) -> Product:
    """Create or replace a product and its names and aliases (per language)."""
    product = session.execute(
        select(Product).options(selectinload(Product.names)).where(Product.sku == sku)
    ).scalar_one_or_none()
    paise = int((Decimal(price) * 100).to_integral_value())
    if product is None:
        product = Product(sku=sku, category=category, unit=unit, price_paise=paise)
        session.add(product)
    else:
        product.category, product.unit, product.price_paise, product.updated_at = category, unit, paise, utcnow()
    # One entry per language and spelling (ignoring case); a name also listed as an alias stays a name.
    given = [(language, name, "name") for language, name in names.items()] + [
        (language, alias, "alias") for language, words in (aliases or {}).items() for alias in words
    ]
    wanted: dict[tuple[str, str], tuple[str, str, str]] = {}
    for language, text, kind in given:
        text = (text or "").strip()
        if text:
            wanted.setdefault((language, text.casefold()), (language, text, kind))
    kept = set(wanted.values())
    current = {(n.language, n.name, n.kind): n for n in product.names}
    for key, entry in current.items():
        if key not in kept:
            product.names.remove(entry)
    for language, name, kind in wanted.values():
        if (language, name, kind) not in current:
            product.names.append(ProductName(language=language, name=name, kind=kind))
    session.flush()
    return product


def products(session: Session, *, active: Optional[bool] = True) -> list[Product]:
    statement = select(Product).options(selectinload(Product.names)).order_by(Product.sku)
    if active is not None:
        statement = statement.where(Product.active == active)
    return list(session.execute(statement).scalars())


def load_seed_catalogue(session: Session, path: Path = SEED_FILE) -> int:
    """Load the demo chain (``backend/retail_data/catalogue.yml``); stock is set only where there is none yet,
    so running it again keeps what was sold and received. Returns the number of products."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    locations = {
        item["code"]: save_location(session, code=item["code"], name=item["name"], kind=item["kind"])
        for item in data["locations"]
    }
    saved = {
        item["sku"]: save_product(
            session, sku=item["sku"], category=item["category"], unit=item["unit"],
            price=Decimal(str(item["price"])), names=item["names"], aliases=item.get("aliases") or {},
        )
        for item in data["products"]
    }
    for row in data.get("stock", []):
        product, location = saved[row["sku"]], locations[row["location"]]
        existing = stock.level(session, product.id, location.id)
        if existing is None:
            stock.set_reorder_point(
                session, product_id=product.id, location_id=location.id,
                reorder_point=int(row["reorder_point"]), actor="system:seed",
            )
            if row["quantity"]:
                stock.apply(
                    session, product_id=product.id, location_id=location.id, kind="received",
                    quantity=int(row["quantity"]), actor="system:seed", reason="opening stock",
                    idempotency_key=f"seed:{row['sku']}:{row['location']}",
                )
    return len(saved)


def export_csv(session: Session) -> str:
    """Every product as CSV (the import format): names per language, aliases as ``lang:alias|lang:alias``."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for product in products(session, active=None):
        names = {n.language: n.name for n in product.names if n.kind == "name"}
        aliases = "|".join(f"{n.language}:{n.name}" for n in product.names if n.kind == "alias")
        writer.writerow([product.sku, product.category, product.unit, f"{product.price:.2f}",
                         *(names.get(language, "") for language in LANGUAGES), aliases])
    return out.getvalue()


def import_csv(session: Session, text: str, *, actor: str) -> int:
    """Create or update the products of a CSV in the export format. All rows or none: raises
    :class:`ImportRejected` listing every bad row. Returns how many products were imported."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"sku", "category", "unit", "price", "name_en"} <= set(reader.fieldnames):
        raise ImportRejected([RowError(1, "the header must include sku, category, unit, price and name_en")])
    unknown = [f for f in reader.fieldnames if f not in CSV_COLUMNS]
    if unknown:
        raise ImportRejected([RowError(1, f"unknown column(s): {', '.join(unknown)}")])
    rows, errors, seen = [], [], {}
    for line, row in enumerate(reader, start=2):
        if line - 1 > IMPORT_MAX_ROWS:
            errors.append(RowError(line, f"more than {IMPORT_MAX_ROWS:,} rows; split the file"))
            break
        problems, parsed = _check_row(row)
        sku = (row.get("sku") or "").strip()
        if sku and sku in seen:
            problems.append(f"SKU {sku} is also on line {seen[sku]}")
        seen.setdefault(sku, line)
        if problems:
            errors.append(RowError(line, "; ".join(problems)))
        else:
            rows.append(parsed)
    if errors:
        raise ImportRejected(errors)
    if not rows:
        raise ImportRejected([RowError(2, "no products in the file")])
    for parsed in rows:
        save_product(session, **parsed)
    audit.record(session, actor=actor, action="catalogue.imported", subject_type="catalogue", subject_id=None,
                 details={"products": len(rows)})
    return len(rows)


def _check_row(row: dict) -> tuple[list[str], dict]:
    problems: list[str] = []
    if None in row:  # more cells than columns
        problems.append("more cells than the header has columns")
    sku = (row.get("sku") or "").strip()
    if not sku or len(sku) > 64 or any(ch.isspace() for ch in sku):
        problems.append("sku must be 1-64 characters without spaces")
    category = (row.get("category") or "").strip()
    if not category or len(category) > 50:
        problems.append("category must be 1-50 characters")
    unit = (row.get("unit") or "").strip()
    if not unit or len(unit) > 32:
        problems.append("unit must be 1-32 characters")
    price: Optional[Decimal] = None
    try:
        price = Decimal((row.get("price") or "").strip())
        if not price.is_finite() or price < 0 or price >= Decimal("1e10"):
            raise InvalidOperation
        price = price.quantize(Decimal("0.01"))
    except InvalidOperation:
        problems.append(f"price must be a number of rupees, got {row.get('price')!r}")
    names = {language: (row.get(f"name_{language}") or "").strip() for language in LANGUAGES}
    if not names["en"]:
        problems.append("name_en is required")
    if any(len(name) > 200 for name in names.values()):
        problems.append("names must be at most 200 characters")
    aliases: dict[str, list[str]] = {}
    for item in filter(None, (a.strip() for a in (row.get("aliases") or "").split("|"))):
        language, separator, alias = item.partition(":")
        if not separator or not LANGUAGE_PATTERN.match(language) or not alias.strip() or len(alias) > 200:
            problems.append(f"alias {item!r} must be written language:alias")
        else:
            aliases.setdefault(language, []).append(alias.strip())
    parsed = dict(sku=sku, category=category, unit=unit, price=price, names={k: v for k, v in names.items() if v},
                  aliases=aliases)
    return problems, parsed
