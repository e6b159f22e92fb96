"""Stock levels and their ledger: every change is one movement, applied atomically, so a level always equals
the sum of its movements, and concurrent updates from any number of threads or processes lose no unit.

How a change is applied: one conditional ``UPDATE stock_levels SET quantity = quantity + delta WHERE ... AND
quantity + delta >= 0`` (a row lock on PostgreSQL, the write lock on SQLite, held to the end of the caller's
transaction), then the new balance is read back and the movement is appended with it. A level falling to or
below its reorder point sends one low-stock alert to the location's retailers through the outbox, and arms
again only when the level has risen above the point.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Optional, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backend.models import (
    MOVEMENT_KINDS,
    Location,
    Product,
    RetailerLocation,
    StockLevel,
    StockMovement,
    User,
    utcnow,
)
from backend.notifications import outbox
from backend.services import audit
from backend.services._insert import insert_ignore
from backend.services.errors import ServiceError

QUANTITY_MAX = 1_000_000
LEVELS = StockLevel.__table__


class StockError(ServiceError):
    """A change the stock does not allow."""


@dataclass(frozen=True)
class Applied:
    movement: StockMovement
    quantity: int  # the level after the movement
    reorder_point: int
    alerted: bool  # this movement sent the low-stock alert
    created: bool  # False: a repeat of an earlier movement (same idempotency key), nothing changed


def level(session: Session, product_id: int, location_id: int) -> Optional[StockLevel]:
    return session.execute(
        select(StockLevel).where(StockLevel.product_id == product_id, StockLevel.location_id == location_id)
    ).scalar_one_or_none()


def levels_at(session: Session, location_id: int) -> list[StockLevel]:
    return list(
        session.execute(select(StockLevel).where(StockLevel.location_id == location_id).order_by(StockLevel.id)).scalars()
    )


def low_at(session: Session, location_id: int) -> list[StockLevel]:
    """Levels at or below their reorder point, emptiest first."""
    statement = (
        select(StockLevel)
        .where(StockLevel.location_id == location_id, StockLevel.quantity <= StockLevel.reorder_point)
        .order_by(StockLevel.quantity, StockLevel.id)
    )
    return list(session.execute(statement).scalars())


def apply(
    session: Session,
    *,
    product_id: int,
    location_id: int,
    kind: str,
    quantity: int,
    actor: str,
    channel: Optional[str] = None,
    reason: Optional[str] = None,
    idempotency_key: Optional[str] = None,
    transfer_id: Optional[str] = None,
    now: Optional[datetime] = None,
) -> Applied:
    """Record a movement: ``received`` and ``transferred_in`` add ``quantity``, ``sold`` and ``transferred_out``
    take it away, ``adjusted`` sets the level to ``quantity`` (a count). Raises :class:`StockError`
    ("insufficient" when the level would go below zero). A repeated ``idempotency_key`` changes nothing."""
    now = now or utcnow()
    if kind not in MOVEMENT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(MOVEMENT_KINDS)}")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 <= quantity <= QUANTITY_MAX:
        raise StockError("bad_quantity", f"quantity must be a whole number from 0 to {QUANTITY_MAX:,}")
    if quantity == 0 and kind != "adjusted":
        raise StockError("bad_quantity", "quantity must be at least 1")
    if idempotency_key:
        existing = session.execute(
            select(StockMovement).where(StockMovement.idempotency_key == idempotency_key)
        ).scalar_one_or_none()
        if existing is not None:
            current = level(session, existing.product_id, existing.location_id)
            return Applied(existing, current.quantity, current.reorder_point, False, False)
    _ensure_level(session, product_id, location_id, now)
    if kind == "adjusted":
        # Lock the row first (a no-op update), then the count is exact relative to what is there now.
        session.execute(_where(update(LEVELS), product_id, location_id).values(updated_at=now))
        before = _read(session, product_id, location_id)[0]
        delta = quantity - before
    else:
        delta = quantity if kind in ("received", "transferred_in") else -quantity
    changed = session.execute(
        _where(update(LEVELS), product_id, location_id)
        .where(LEVELS.c.quantity + delta >= 0)
        .values(quantity=LEVELS.c.quantity + delta, updated_at=now)
    ).rowcount
    after, reorder_point, level_id, low_alerted = _read(session, product_id, location_id)
    if not changed:
        raise StockError("insufficient", f"only {after} in stock, cannot take {quantity}")
    movement = StockMovement(
        product_id=product_id, location_id=location_id, kind=kind, delta=delta, balance_after=after,
        actor=actor[:200], channel=channel, reason=(reason or None) and reason[:2000],
        transfer_id=transfer_id, idempotency_key=idempotency_key, created_at=now,
    )
    session.add(movement)
    session.flush()
    alerted = _update_alert(session, level_id, after, reorder_point, low_alerted, movement)
    return Applied(movement, after, reorder_point, alerted, True)


def transfer(
    session: Session,
    *,
    product_id: int,
    from_location_id: int,
    to_location_id: int,
    quantity: int,
    actor: str,
    channel: Optional[str] = None,
    now: Optional[datetime] = None,
) -> tuple[Applied, Applied]:
    """Move stock between locations: two movements with one transfer id, both or neither."""
    if from_location_id == to_location_id:
        raise StockError("same_location", "a transfer needs two different locations")
    transfer_id = secrets.token_hex(8)
    common = dict(product_id=product_id, quantity=quantity, actor=actor, channel=channel, transfer_id=transfer_id,
                  now=now)
    out = apply(session, location_id=from_location_id, kind="transferred_out", **common)
    into = apply(session, location_id=to_location_id, kind="transferred_in", **common)
    return out, into


def set_reorder_point(
    session: Session, *, product_id: int, location_id: int, reorder_point: int, actor: str
) -> StockLevel:
    if not isinstance(reorder_point, int) or not 0 <= reorder_point <= QUANTITY_MAX:
        raise StockError("bad_quantity", f"the reorder point must be a whole number from 0 to {QUANTITY_MAX:,}")
    _ensure_level(session, product_id, location_id, utcnow())
    session.execute(_where(update(LEVELS), product_id, location_id).values(reorder_point=reorder_point))
    stock = level(session, product_id, location_id)
    session.refresh(stock)
    audit.record(
        session, actor=actor, action="stock.reorder_point_set", subject_type="stock_level", subject_id=stock.id,
        details={"reorder_point": reorder_point},
    )
    if stock.quantity > reorder_point and stock.low_alerted:
        stock.low_alerted = False
    return stock


def ledger_total(session: Session, product_id: int, location_id: int) -> int:
    """The sum of all movements of a product at a location: what the level must equal."""
    return session.execute(
        select(func.coalesce(func.sum(StockMovement.delta), 0)).where(
            StockMovement.product_id == product_id, StockMovement.location_id == location_id
        )
    ).scalar_one()


def retailers_of(session: Session, location_id: int) -> Sequence[User]:
    statement = (
        select(User).join(RetailerLocation, RetailerLocation.user_id == User.id)
        .where(RetailerLocation.location_id == location_id).order_by(User.id)
    )
    return list(session.execute(statement).scalars())


def link_retailer(session: Session, user: User, location: Location, *, actor: str) -> None:
    """Let ``user`` see and change the stock of ``location`` (their role becomes retailer)."""
    inserted = insert_ignore(
        session, RetailerLocation.__table__, {"user_id": user.id, "location_id": location.id},
        conflict_columns=("user_id", "location_id"),
    )
    if user.role == "customer":
        user.role = "retailer"
    if inserted:
        audit.record(session, actor=actor, action="retailer.linked", subject_type="location", subject_id=location.code,
                     details={"user_id": user.id})


def locations_of(session: Session, user_id: int) -> list[Location]:
    statement = (
        select(Location).join(RetailerLocation, RetailerLocation.location_id == Location.id)
        .where(RetailerLocation.user_id == user_id).order_by(Location.id)
    )
    return list(session.execute(statement).scalars())


def _where(statement, product_id: int, location_id: int):
    return statement.where(LEVELS.c.product_id == product_id, LEVELS.c.location_id == location_id)


def _read(session: Session, product_id: int, location_id: int) -> tuple[int, int, int, bool]:
    row = session.execute(
        _where(select(LEVELS.c.quantity, LEVELS.c.reorder_point, LEVELS.c.id, LEVELS.c.low_alerted),
               product_id, location_id)
    ).one()
    return int(row.quantity), int(row.reorder_point), int(row.id), bool(row.low_alerted)


def _ensure_level(session: Session, product_id: int, location_id: int, now: datetime) -> None:
    if session.get(Product, product_id) is None or session.get(Location, location_id) is None:
        raise StockError("unknown", "no such product or location")
    insert_ignore(
        session, LEVELS,
        {"product_id": product_id, "location_id": location_id, "quantity": 0, "reorder_point": 0,
         "low_alerted": False, "updated_at": now},
        conflict_columns=("product_id", "location_id"),
    )


def _update_alert(
    session: Session, level_id: int, quantity: int, reorder_point: int, low_alerted: bool, movement: StockMovement
) -> bool:
    """Send the low-stock alert once per fall to or below the reorder point; re-arm above it."""
    if quantity > reorder_point:
        if low_alerted:
            session.execute(update(LEVELS).where(LEVELS.c.id == level_id).values(low_alerted=False))
        return False
    if low_alerted:
        return False
    session.execute(update(LEVELS).where(LEVELS.c.id == level_id).values(low_alerted=True))
    product = session.get(Product, movement.product_id)
    location = session.get(Location, movement.location_id)
    for retailer in retailers_of(session, movement.location_id):
        language = retailer.preferred_language or "en"
        outbox.enqueue(
            session,
            user_id=retailer.id,
            response="utter_notify_stock_low",
            params={"product": product.name_in(language), "location": location.name, "quantity": quantity,
                    "unit": product.unit, "reorder_point": reorder_point},
            idempotency_key=f"stock-low:{level_id}:{movement.id}:{retailer.id}",
            kind="stock_alert",
        )
    return True
