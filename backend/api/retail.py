"""Admin API for retail: catalogue, stock levels, the stock ledger, CSV import/export, retailers' stores."""
from __future__ import annotations

from datetime import datetime
from typing import Dict, List, Literal, Optional

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field, StrictInt, StrictStr, conint
from sqlalchemy import select
from sqlalchemy.orm import Session

from fastapi.concurrency import run_in_threadpool

from backend.api.deps import db_session, get_app_settings, require_admin
from backend.config import Settings
from backend.db import session_scope
from backend.models import Location, Product, StockMovement, User
from backend.services import catalogue, retailers, stock

router = APIRouter(prefix="/api/retail", tags=["retail"], dependencies=[Depends(require_admin)])
ADMIN_ACTOR = "admin:api"
CSV_MAX_BYTES = 5 * 1024 * 1024


class ProductOut(BaseModel):
    sku: str
    category: str
    unit: str
    price: str
    active: bool
    names: Dict[str, List[str]]  # language -> [name, aliases...]

    @classmethod
    def of(cls, product: Product) -> "ProductOut":
        names: Dict[str, List[str]] = {}
        for entry in sorted(product.names, key=lambda n: (n.language, n.kind != "name", n.id)):
            names.setdefault(entry.language, []).append(entry.name)
        return cls(sku=product.sku, category=product.category, unit=product.unit, price=f"{product.price:.2f}",
                   active=product.active, names=names)


class LevelOut(BaseModel):
    sku: str
    location: str
    quantity: int
    reorder_point: int
    low: bool


class MovementIn(BaseModel):
    sku: StrictStr
    location: StrictStr
    kind: Literal["received", "sold", "adjusted"]
    quantity: conint(strict=True, ge=0, le=stock.QUANTITY_MAX)
    reason: Optional[StrictStr] = Field(None, max_length=2000)
    idempotency_key: Optional[StrictStr] = Field(None, max_length=255)


class TransferIn(BaseModel):
    sku: StrictStr
    from_location: StrictStr
    to_location: StrictStr
    quantity: conint(strict=True, ge=1, le=stock.QUANTITY_MAX)


class MovementOut(BaseModel):
    id: int
    sku: str
    location: str
    kind: str
    delta: int
    balance_after: int
    actor: str
    channel: Optional[str]
    reason: Optional[str]
    transfer_id: Optional[str]
    created_at: datetime


class InviteIn(BaseModel):
    location: StrictStr
    display_name: StrictStr = Field(..., min_length=1, max_length=200)
    channel: Literal["telegram", "whatsapp", "sms", "rest"]
    address: StrictStr = Field(..., min_length=1, max_length=255, description="the chat identity: "
                               "Telegram chat id, whatsapp:+91..., +91..., or a web chat sender id")


class InviteOut(BaseModel):
    invite_id: int
    code: str
    expires_at: datetime


class LinkIn(BaseModel):
    user_id: StrictInt
    location: StrictStr


def _product(session: Session, sku: str) -> Product:
    product = session.execute(select(Product).where(Product.sku == sku)).scalar_one_or_none()
    if product is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No product {sku!r}.")
    return product


def _location(session: Session, code: str) -> Location:
    location = session.execute(select(Location).where(Location.code == code)).scalar_one_or_none()
    if location is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No location {code!r}.")
    return location


def _movement_out(session: Session, movement: StockMovement) -> MovementOut:
    return MovementOut(
        id=movement.id, sku=session.get(Product, movement.product_id).sku,
        location=session.get(Location, movement.location_id).code, kind=movement.kind, delta=movement.delta,
        balance_after=movement.balance_after, actor=movement.actor, channel=movement.channel,
        reason=movement.reason, transfer_id=movement.transfer_id, created_at=movement.created_at,
    )


@router.get("/products", response_model=List[ProductOut])
def list_products(session: Session = Depends(db_session)) -> List[ProductOut]:
    return [ProductOut.of(p) for p in catalogue.products(session, active=None)]


@router.get("/locations/{code}/stock", response_model=List[LevelOut], responses={404: {"description": "No such location"}})
def location_stock(code: str, low: bool = Query(False), session: Session = Depends(db_session)) -> List[LevelOut]:
    """Every level at a location (``low=true``: only those at or below their reorder point)."""
    location = _location(session, code)
    levels = stock.low_at(session, location.id) if low else stock.levels_at(session, location.id)
    return [
        LevelOut(sku=session.get(Product, s.product_id).sku, location=code, quantity=s.quantity,
                 reorder_point=s.reorder_point, low=s.quantity <= s.reorder_point)
        for s in levels
    ]


@router.post("/movements", response_model=MovementOut, status_code=status.HTTP_201_CREATED,
             responses={404: {"description": "No such product or location"}, 409: {"description": "Not enough stock"}})
def add_movement(body: MovementIn, session: Session = Depends(db_session)) -> MovementOut:
    product, location = _product(session, body.sku), _location(session, body.location)
    try:
        applied = stock.apply(
            session, product_id=product.id, location_id=location.id, kind=body.kind, quantity=body.quantity,
            actor=ADMIN_ACTOR, channel="api", reason=body.reason, idempotency_key=body.idempotency_key,
        )
    except stock.StockError as exc:
        code = status.HTTP_409_CONFLICT if exc.code == "insufficient" else status.HTTP_422_UNPROCESSABLE_ENTITY
        raise HTTPException(code, str(exc)) from None
    return _movement_out(session, applied.movement)


@router.post("/transfers", response_model=List[MovementOut], status_code=status.HTTP_201_CREATED,
             responses={404: {"description": "No such product or location"}, 409: {"description": "Not enough stock"}})
def add_transfer(body: TransferIn, session: Session = Depends(db_session)) -> List[MovementOut]:
    """Move stock from one location to another: two ledger movements sharing a transfer id, both or neither."""
    product = _product(session, body.sku)
    source, target = _location(session, body.from_location), _location(session, body.to_location)
    try:
        out, into = stock.transfer(session, product_id=product.id, from_location_id=source.id,
                                   to_location_id=target.id, quantity=body.quantity, actor=ADMIN_ACTOR, channel="api")
    except stock.StockError as exc:
        code = status.HTTP_409_CONFLICT if exc.code == "insufficient" else status.HTTP_422_UNPROCESSABLE_ENTITY
        raise HTTPException(code, str(exc)) from None
    return [_movement_out(session, out.movement), _movement_out(session, into.movement)]


@router.get("/movements", response_model=List[MovementOut])
def list_movements(
    sku: Optional[str] = Query(None),
    location: Optional[str] = Query(None),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    session: Session = Depends(db_session),
) -> List[MovementOut]:
    """The ledger, newest first, optionally for one product and/or location."""
    statement = select(StockMovement).order_by(StockMovement.id.desc()).limit(limit).offset(offset)
    if sku:
        statement = statement.where(StockMovement.product_id == _product(session, sku).id)
    if location:
        statement = statement.where(StockMovement.location_id == _location(session, location).id)
    return [_movement_out(session, m) for m in session.execute(statement).scalars()]


@router.get("/catalogue.csv", response_class=PlainTextResponse)
def export_catalogue(session: Session = Depends(db_session)) -> PlainTextResponse:
    return PlainTextResponse(catalogue.export_csv(session), media_type="text/csv; charset=utf-8")


@router.post(
    "/catalogue.csv",
    responses={413: {"description": "File too large"}, 422: {"description": "Bad rows: nothing imported"}},
)
async def import_catalogue(request: Request, settings: Settings = Depends(get_app_settings)) -> JSONResponse:
    """Import products in the export's format (the CSV file as the request body): all rows or none; every
    bad row is reported with its line."""
    raw = await request.body()
    if len(raw) > CSV_MAX_BYTES:
        return JSONResponse({"detail": f"The file is larger than {CSV_MAX_BYTES // 1024 // 1024} MB."}, status_code=413)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return JSONResponse({"detail": "The file must be UTF-8 text."}, status_code=422)
    try:
        count = await run_in_threadpool(_import, settings.database_url, text)
    except catalogue.ImportRejected as exc:
        return JSONResponse(
            {"detail": str(exc), "errors": [{"line": e.line, "problem": e.problem} for e in exc.errors]},
            status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    return JSONResponse({"imported": count})


def _import(database_url: str, text: str) -> int:
    with session_scope(database_url) as session:
        return catalogue.import_csv(session, text, actor=ADMIN_ACTOR)


@router.post("/invites", response_model=InviteOut, status_code=status.HTTP_201_CREATED,
             responses={404: {"description": "No such location"}})
def invite_retailer(body: InviteIn, session: Session = Depends(db_session)) -> InviteOut:
    """Invite a retailer: they send the one-time code (shown here, once) to the assistant from that chat
    identity within 30 minutes to see and change the location's stock."""
    try:
        invitation = retailers.invite(
            session, location=_location(session, body.location), display_name=body.display_name,
            channel=body.channel, address=body.address, actor=ADMIN_ACTOR,
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    return InviteOut(invite_id=invitation.invite_id, code=invitation.code, expires_at=invitation.expires_at)


@router.post("/retailers", responses={404: {"description": "No such user or location"}})
def link_retailer(body: LinkIn, session: Session = Depends(db_session)) -> Dict[str, object]:
    """Let a user see and change the stock of a location (they become a retailer); returns their locations."""
    user = session.get(User, body.user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No user {body.user_id}.")
    stock.link_retailer(session, user, _location(session, body.location), actor=ADMIN_ACTOR)
    return {"user_id": user.id, "role": user.role, "locations": [l.code for l in stock.locations_of(session, user.id)]}
