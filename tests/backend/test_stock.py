"""Retail stock: the ledger and the levels agree, concurrent updates lose nothing, alerts go once per fall,
the catalogue imports all or nothing, and product names are found as people type them."""
from __future__ import annotations

import multiprocessing
import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from backend.db import reset_engine, session_scope
from backend.models import AuditLogImmutable, Location, OutboxMessage, Product, StockLevel, StockMovement
from backend.services import catalogue, product_match, stock, users


@pytest.fixture
def shop(database_url: str) -> str:
    with session_scope(database_url) as session:
        catalogue.save_location(session, code="ANNA-NAGAR", name="Anna Nagar store", kind="store")
        catalogue.save_location(session, code="WH", name="Ambattur warehouse", kind="warehouse")
        catalogue.save_product(
            session, sku="RICE-BAS-5", category="grocery", unit="bag", price=Decimal("649.00"),
            names={"en": "Basmati rice 5 kg", "ta": "பாஸ்மதி அரிசி 5 கிலோ"}, aliases={"en": ["basmati"]},
        )
    return database_url


def ids(session, sku: str = "RICE-BAS-5", code: str = "ANNA-NAGAR") -> tuple[int, int]:
    product = session.execute(select(Product).where(Product.sku == sku)).scalar_one()
    location = session.execute(select(Location).where(Location.code == code)).scalar_one()
    return product.id, location.id


def move(url: str, kind: str, quantity: int, **extra) -> stock.Applied:
    with session_scope(url) as session:
        product_id, location_id = ids(session)
        return stock.apply(session, product_id=product_id, location_id=location_id, kind=kind, quantity=quantity,
                           actor="test", **extra)


def test_movements_keep_the_level_equal_to_the_ledger(shop: str) -> None:
    assert move(shop, "received", 50).quantity == 50
    assert move(shop, "sold", 3).quantity == 47
    assert move(shop, "adjusted", 45, reason="counted").quantity == 45
    with pytest.raises(stock.StockError) as short:
        move(shop, "sold", 46)
    assert short.value.code == "insufficient"
    for bad in (0, -1, 1.5, True, 10**7):
        with pytest.raises(stock.StockError):
            move(shop, "sold", bad)
    with session_scope(shop) as session:
        product_id, location_id = ids(session)
        assert stock.level(session, product_id, location_id).quantity == 45
        assert stock.ledger_total(session, product_id, location_id) == 45
        assert [m.delta for m in session.execute(select(StockMovement).order_by(StockMovement.id)).scalars()] == [50, -3, -2]


def test_a_repeated_movement_changes_nothing(shop: str) -> None:
    first = move(shop, "received", 10, idempotency_key="telegram:update:991")
    again = move(shop, "received", 10, idempotency_key="telegram:update:991")
    assert (first.created, again.created, again.quantity, again.movement.id) == (True, False, 10, first.movement.id)


def test_the_ledger_is_append_only(shop: str) -> None:
    move(shop, "received", 5)
    with pytest.raises(AuditLogImmutable):
        with session_scope(shop) as session:
            session.execute(select(StockMovement)).scalar_one().delta = 500
    with pytest.raises(Exception):
        with session_scope(shop) as session:
            session.connection().execute(text("UPDATE stock_movements SET delta = 500"))
    with session_scope(shop) as session:
        assert session.execute(select(StockMovement.delta)).scalar_one() == 5


def test_a_transfer_is_two_movements_or_none(shop: str) -> None:
    move(shop, "received", 20)
    with session_scope(shop) as session:
        product_id, store = ids(session)
        _, warehouse = ids(session, code="WH")
        out, into = stock.transfer(session, product_id=product_id, from_location_id=store,
                                   to_location_id=warehouse, quantity=8, actor="test")
        assert (out.quantity, into.quantity) == (12, 8)
        assert out.movement.transfer_id == into.movement.transfer_id
    with pytest.raises(stock.StockError):
        with session_scope(shop) as session:
            product_id, store = ids(session)
            _, warehouse = ids(session, code="WH")
            stock.transfer(session, product_id=product_id, from_location_id=store, to_location_id=warehouse,
                           quantity=13, actor="test")
    with session_scope(shop) as session:
        product_id, store = ids(session)
        assert stock.level(session, product_id, store).quantity == 12


def _sell_in_process(url: str, count: int) -> None:
    for _ in range(count):
        move(url, "sold", 2)
    reset_engine(url)


def test_concurrent_updates_from_threads_and_processes_lose_no_unit(shop: str) -> None:
    move(shop, "received", 1000)
    errors: list[BaseException] = []

    def receive() -> None:
        try:
            for _ in range(25):
                move(shop, "received", 1)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_sell_in_process, args=(shop, 25)) for _ in range(3)]
    threads = [threading.Thread(target=receive) for _ in range(4)]
    for worker in (*processes, *threads):
        worker.start()
    for thread in threads:
        thread.join()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    assert not errors
    with session_scope(shop) as session:
        product_id, location_id = ids(session)
        assert stock.level(session, product_id, location_id).quantity == 1000 - 3 * 25 * 2 + 4 * 25
        assert stock.ledger_total(session, product_id, location_id) == 950
        assert session.execute(select(func.count(StockMovement.id))).scalar_one() == 1 + 75 + 100


def test_low_stock_alerts_once_per_fall_to_the_store_retailers(shop: str) -> None:
    with session_scope(shop) as session:
        product_id, location_id = ids(session)
        _, warehouse = ids(session, code="WH")
        meena = users.identify(session, "telegram", "5001")
        meena.preferred_language = "ta"
        other = users.identify(session, "telegram", "5002")
        stock.link_retailer(session, meena, session.get(Location, location_id), actor="admin:test")
        stock.link_retailer(session, other, session.get(Location, warehouse), actor="admin:test")
        stock.set_reorder_point(session, product_id=product_id, location_id=location_id, reorder_point=10, actor="t")
    move(shop, "received", 15)
    assert not move(shop, "sold", 4).alerted  # 11
    assert move(shop, "sold", 1).alerted  # 10: at the reorder point
    assert not move(shop, "sold", 3).alerted  # 7: still low, no second alert
    assert not move(shop, "received", 10).alerted  # 17: re-armed
    assert move(shop, "sold", 9).alerted  # 8: fell again
    with session_scope(shop) as session:
        alerts = session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()
        assert [(a.user_id, a.response) for a in alerts] == [(meena.id, "utter_notify_stock_low")] * 2
        assert alerts[0].params == {"product": "பாஸ்மதி அரிசி 5 கிலோ", "location": "Anna Nagar store",
                                    "quantity": 10, "unit": "bag", "reorder_point": 10}


def test_concurrent_sales_across_the_reorder_point_alert_once(shop: str, run_in_threads) -> None:
    with session_scope(shop) as session:
        product_id, location_id = ids(session)
        retailer = users.identify(session, "telegram", "5003")
        stock.link_retailer(session, retailer, session.get(Location, location_id), actor="admin:test")
        stock.set_reorder_point(session, product_id=product_id, location_id=location_id, reorder_point=20, actor="t")
    move(shop, "received", 30)
    run_in_threads(8, lambda i: move(shop, "sold", 2))
    with session_scope(shop) as session:
        assert session.execute(select(func.count(OutboxMessage.id))).scalar_one() == 1


CSV_GOOD = """sku,category,unit,price,name_en,name_hi,name_ta,name_es,name_hi-Latn,name_ta-Latn,aliases
SUGAR-1,grocery,packet,52.00,Sugar 1 kg,चीनी 1 किलो,சர்க்கரை 1 கிலோ,Azúcar 1 kg,cheeni 1 kilo,sakkarai 1 kilo,hi-Latn:chini|ta-Latn:sarkarai
RICE-BAS-5,grocery,bag,659.50,Basmati rice 5 kg,,,,,,en:basmati
"""


def test_csv_import_is_all_or_nothing_and_reports_every_bad_row(shop: str) -> None:
    bad = CSV_GOOD + "OIL 1,grocery,pouch,abc,,,,,,,\nSUGAR-1,grocery,packet,50,Sugar,,,,,,xx\n"
    with session_scope(shop) as session:
        with pytest.raises(catalogue.ImportRejected) as rejected:
            catalogue.import_csv(session, bad, actor="admin:test")
    lines = {e.line: e.problem for e in rejected.value.errors}
    assert sorted(lines) == [4, 5]
    assert "sku" in lines[4] and "price" in lines[4] and "name_en" in lines[4]
    assert "line 2" in lines[5] and "alias" in lines[5]
    with session_scope(shop) as session:
        assert session.execute(select(Product.sku)).scalars().all() == ["RICE-BAS-5"]
        assert session.execute(select(Product.price_paise)).scalar_one() == 64900
    with session_scope(shop) as session:
        assert catalogue.import_csv(session, CSV_GOOD, actor="admin:test") == 2
    with session_scope(shop) as session:
        exported = catalogue.export_csv(session)
        assert "SUGAR-1,grocery,packet,52.00,Sugar 1 kg,चीनी 1 किलो" in exported
        assert session.execute(select(Product).where(Product.sku == "RICE-BAS-5")).scalar_one().price == Decimal("659.50")
        with pytest.raises(catalogue.ImportRejected):
            catalogue.import_csv(session, "sku,colour\nX,red\n", actor="admin:test")
        # What was exported imports again unchanged.
        assert catalogue.import_csv(session, exported, actor="admin:test") == 2
        assert catalogue.export_csv(session) == exported


def test_the_demo_catalogue_loads_once_and_keeps_what_happened_since(database_url: str) -> None:
    with session_scope(database_url) as session:
        assert catalogue.load_seed_catalogue(session) == 30
    move_sku = ("RICE-BAS-5", "ANNA-NAGAR")
    with session_scope(database_url) as session:
        product_id, location_id = ids(session, *move_sku)
        before = stock.level(session, product_id, location_id).quantity
        stock.apply(session, product_id=product_id, location_id=location_id, kind="sold", quantity=1, actor="t")
    with session_scope(database_url) as session:
        catalogue.load_seed_catalogue(session)
        assert stock.level(session, product_id, location_id).quantity == before - 1
        low = stock.low_at(session, location_id)
        assert {session.get(Product, s.product_id).sku for s in low} >= {"TOORDAL-1", "MILK-500", "WATCH-KID-PNK"}
        for level in session.execute(select(StockLevel)).scalars():
            assert stock.ledger_total(session, level.product_id, level.location_id) == level.quantity


@pytest.mark.parametrize(
    "typed, sku",
    [
        ("basmti", "RICE-BAS-5"),
        ("how many basmati bags at anna nagar?", "RICE-BAS-5"),
        ("பாஸ்மதி", "RICE-BAS-5"),
        ("sugar", "SUGAR-1"),
    ],
)
def test_names_are_found_as_people_type_them(database_url: str, typed: str, sku: str) -> None:
    with session_scope(database_url) as session:
        catalogue.load_seed_catalogue(session)
        index = product_match.index_for(session)
        result = index.find(typed)
        assert result.best is not None and session.get(Product, result.best.product_id).sku == sku


def test_two_sizes_are_offered_as_choices_and_nonsense_gets_suggestions(database_url: str) -> None:
    with session_scope(database_url) as session:
        catalogue.load_seed_catalogue(session)
        index = product_match.index_for(session)
        kurtas = index.find("is the blue kurta in stock?")
        assert kurtas.best is None
        assert {session.get(Product, m.product_id).sku for m in kurtas.choices} == {"KURTA-BLU-M", "KURTA-BLU-L"}
        assert session.get(Product, index.find("blue kurta large").best.product_id).sku == "KURTA-BLU-L"
        nothing = index.find("xylophone")
        assert nothing.best is None and not nothing.choices and len(nothing.suggestions) <= 3
