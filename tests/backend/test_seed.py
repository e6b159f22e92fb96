from __future__ import annotations

from sqlalchemy import func, select

from backend.db import session_scope
from backend.models import AuditLog, ChannelIdentity, User
from backend.seed import DEMO_CHANNEL, load_demo_data


def snapshot(database_url: str) -> list[tuple]:
    with session_scope(database_url) as session:
        rows = session.execute(
            select(User.display_name, User.role, User.preferred_language, User.language_explicit, ChannelIdentity.channel_user_id)
            .join(ChannelIdentity)
            .order_by(User.id)
        ).all()
        audited = dict(session.execute(select(AuditLog.action, func.count()).group_by(AuditLog.action)).all())
    return [tuple(row) for row in rows] + [("audit", sorted(audited.items()))]


def test_seed_is_idempotent(database_url: str) -> None:
    with session_scope(database_url) as session:
        load_demo_data(session)
    first = snapshot(database_url)
    with session_scope(database_url) as session:
        load_demo_data(session)
    assert snapshot(database_url) == first

    first = first[:-1]
    roles = {name: role for name, role, *_ in first}
    assert roles["Asha (admin)"] == "admin"
    assert roles["Ravi (agent)"] == "agent"
    assert {"retailer", "guardian"} <= set(roles.values())
    languages = {lang for _, role, lang, explicit, _ in first if role == "customer" and explicit}
    assert languages == {"hi", "ta"}


def test_seed_loads_the_knowledge_base_and_the_shop_with_its_retailer(database_url: str) -> None:
    from backend.models import KbArticle, Location, Product, StockMovement
    from backend.services import stock

    with session_scope(database_url) as session:
        load_demo_data(session)
    with session_scope(database_url) as session:
        assert session.execute(select(func.count(KbArticle.id))).scalar_one() == 14
        assert session.execute(select(func.count(Product.id))).scalar_one() == 30
        assert session.execute(select(func.count(StockMovement.id))).scalar_one() > 30
        retailer = session.execute(
            select(User).join(ChannelIdentity).where(ChannelIdentity.channel_user_id == "retailer")
        ).scalar_one()
        assert [l.code for l in stock.locations_of(session, retailer.id)] == ["ANNA-NAGAR"]


def test_seed_repairs_changed_demo_user(database_url: str) -> None:
    with session_scope(database_url) as session:
        load_demo_data(session)
    with session_scope(database_url) as session:
        user = session.execute(
            select(User).join(ChannelIdentity).where(
                ChannelIdentity.channel == DEMO_CHANNEL, ChannelIdentity.channel_user_id == "admin"
            )
        ).scalar_one()
        user.role = "customer"
    with session_scope(database_url) as session:
        load_demo_data(session)
        assert session.get(User, user.id).role == "admin"
