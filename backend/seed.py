"""Demo users for local development. Run ``python -m backend.seed`` to migrate and seed."""
from __future__ import annotations

from typing import NamedTuple, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.models import Location
from backend.services import catalogue, knowledge_base, stock, users

DEMO_CHANNEL = "demo"
DEMO_RETAILER_STORE = "ANNA-NAGAR"


class DemoUser(NamedTuple):
    channel_user_id: str
    display_name: str
    role: str
    language: Optional[str] = None


DEMO_USERS = (
    DemoUser("admin", "Asha (admin)", "admin"),
    DemoUser("agent", "Ravi (agent)", "agent"),
    DemoUser("retailer", "Meena (retailer)", "retailer"),
    DemoUser("guardian", "Kiran (guardian)", "guardian"),
    DemoUser("customer-hi", "Arjun (customer)", "customer", "hi"),
    DemoUser("customer-ta", "Kaveri (customer)", "customer", "ta"),
)


def load_demo_data(session: Session) -> None:
    """Create or refresh the demo users, the knowledge base and the retail catalogue with its stock; running it
    again creates no duplicates (and keeps stock that moved since)."""
    knowledge_base.load_seed_articles(session)
    catalogue.load_seed_catalogue(session)
    for demo in DEMO_USERS:
        user = users.identify(session, DEMO_CHANNEL, demo.channel_user_id, demo.display_name)
        if user.display_name != demo.display_name:
            user.display_name = demo.display_name
        if user.role != demo.role:
            user.role = demo.role
        if demo.language and (user.preferred_language, user.language_explicit) != (demo.language, True):
            user.preferred_language = demo.language
            user.language_explicit = True
    session.flush()
    retailer = users.identify(session, DEMO_CHANNEL, "retailer")
    store = session.execute(select(Location).where(Location.code == DEMO_RETAILER_STORE)).scalar_one()
    stock.link_retailer(session, retailer, store, actor="system:seed")


def main() -> None:
    from backend.db import migrate, session_scope

    migrate()
    with session_scope() as session:
        load_demo_data(session)
    print(f"Demo data loaded: {len(DEMO_USERS)} users on channel {DEMO_CHANNEL!r}, the knowledge base and the shop's stock.")


if __name__ == "__main__":
    main()
