"""Read-only admin API, guarded by the X-API-Key header."""
from __future__ import annotations

from datetime import datetime
from typing import List, Literal, Optional

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from backend.api.deps import db_session, require_admin
from backend.models import HumanRequest, User

router = APIRouter(prefix="/api", tags=["admin"], dependencies=[Depends(require_admin)])


class IdentityOut(BaseModel):
    channel: str
    channel_user_id: str
    last_seen_at: datetime


class UserOut(BaseModel):
    id: int
    display_name: Optional[str]
    role: str
    preferred_language: Optional[str]
    language_explicit: bool
    identities: List[IdentityOut]


class HumanRequestOut(BaseModel):
    reference: str
    status: str
    channel: str
    language: Optional[str]
    reason: str
    last_message: Optional[str]
    created_at: datetime
    team: str
    ticket: Optional[str]
    agent: Optional[str]
    taken_at: Optional[datetime]
    ended_at: Optional[datetime]
    outcome: Optional[str]


@router.get("/users", response_model=List[UserOut])
def list_users(
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    session: Session = Depends(db_session),
) -> List[UserOut]:
    statement = (
        select(User).options(selectinload(User.identities)).order_by(User.id).limit(limit).offset(offset)
    )
    return [
        UserOut(
            id=user.id,
            display_name=user.display_name,
            role=user.role,
            preferred_language=user.preferred_language,
            language_explicit=user.language_explicit,
            identities=[
                IdentityOut(
                    channel=identity.channel,
                    channel_user_id=identity.channel_user_id,
                    last_seen_at=identity.last_seen_at,
                )
                for identity in user.identities
            ],
        )
        for user in session.execute(statement).scalars()
    ]


@router.get("/human-requests", response_model=List[HumanRequestOut])
def list_human_requests(
    status: Optional[Literal["open", "closed"]] = Query(None),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    session: Session = Depends(db_session),
) -> List[HumanRequestOut]:
    statement = select(HumanRequest).order_by(HumanRequest.created_at, HumanRequest.id)
    if status is not None:
        statement = statement.where(HumanRequest.status == status)
    statement = statement.limit(limit).offset(offset)
    return [
        HumanRequestOut(
            reference=request.reference,
            status=request.status,
            channel=request.channel,
            language=request.language,
            reason=request.reason,
            last_message=request.last_message,
            created_at=request.created_at,
            team=request.team,
            ticket=request.ticket.reference if request.ticket is not None else None,
            agent=request.agent.username if request.agent is not None else None,
            taken_at=request.taken_at,
            ended_at=request.ended_at,
            outcome=request.outcome,
        )
        for request in session.execute(statement).scalars()
    ]
