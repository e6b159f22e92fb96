"""ORM models. The schema itself is created by the Alembic migrations, which must match."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, declarative_base, relationship, validates
from sqlalchemy.types import TypeDecorator

ROLES = ("customer", "retailer", "guardian", "agent", "admin")
REQUEST_STATUSES = ("open", "closed")
HANDOFF_OUTCOMES = ("returned", "closed")
HANDOFF_MESSAGE_KINDS = ("customer", "agent", "note", "system")
OUTBOX_STATUSES = ("pending", "sending", "sent", "dead")
OUTBOX_UNFINISHED = ("pending", "sending")
LAST_MESSAGE_MAX = 2000
TICKET_CATEGORIES = ("delivery", "payment", "product", "account", "device", "other")
TICKET_STATUSES = ("open", "in_progress", "resolved", "closed")
TICKET_ACTIVE = ("open", "in_progress", "resolved")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
COMMENT_AUTHORS = ("customer", "agent", "system")
FAQ_OUTCOMES = ("answered", "unanswered")
LOCATION_KINDS = ("store", "warehouse")
PRODUCT_NAME_KINDS = ("name", "alias")
MOVEMENT_KINDS = ("received", "sold", "adjusted", "transferred_in", "transferred_out")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Base = declarative_base(metadata=MetaData(naming_convention=NAMING_CONVENTION))


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect: Any) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Optional[datetime], dialect: Any) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


JSONType = JSON().with_variant(JSONB(), "postgresql")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id = Column(Integer, primary_key=True)
    display_name = Column(String(200), nullable=True)
    role = Column(String(16), nullable=False, default="customer", server_default="customer")
    preferred_language = Column(String(35), nullable=True)
    language_explicit = Column(Boolean, nullable=False, default=False, server_default=false())
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    identities = relationship(
        "ChannelIdentity",
        back_populates="user",
        cascade="all, delete-orphan",
        order_by="ChannelIdentity.id",
    )

    def __repr__(self) -> str:
        return f"<User id={self.id} role={self.role}>"


class ChannelIdentity(Base):
    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "channel_user_id"),)

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    channel = Column(String(32), nullable=False)
    channel_user_id = Column(String(255), nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    last_seen_at = Column(UTCDateTime, nullable=False, default=utcnow)

    user = relationship("User", back_populates="identities")

    def __repr__(self) -> str:
        return f"<ChannelIdentity id={self.id} channel={self.channel}>"


class AuditLog(Base):
    """Append-only: updates and deletes are refused by the ORM and by database triggers."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "subject_type", "subject_id"),)

    id = Column(Integer, primary_key=True)
    at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)
    actor = Column(Text, nullable=False)
    action = Column(Text, nullable=False)
    subject_type = Column(String(50), nullable=True)
    subject_id = Column(String(255), nullable=True)
    details = Column(JSONType, nullable=True)

    def __repr__(self) -> str:
        return f"<AuditLog id={self.id} action={self.action}>"


class HumanRequest(Base):
    __tablename__ = "human_requests"
    __table_args__ = (
        CheckConstraint(_in("status", REQUEST_STATUSES), name="status"),
        # At most one open request per user, enforced by the database.
        Index(
            "uq_human_requests_open_user",
            "user_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index(None, "status", "created_at"),
        Index(None, "status", "team", "agent_id"),
        CheckConstraint("outcome IS NULL OR " + _in("outcome", HANDOFF_OUTCOMES), name="outcome"),
    )

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    channel = Column(String(32), nullable=False)
    channel_user_id = Column(String(255), nullable=False)
    language = Column(String(35), nullable=True)
    reason = Column(String(50), nullable=False)
    last_message = Column(Text, nullable=True)
    status = Column(String(16), nullable=False, default="open", server_default="open")
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    # The handoff: the Rasa conversation in agent mode, its ticket and team, and who holds it. An open request
    # with no agent is waiting in the queue; with an agent, that agent is talking to the customer.
    sender_id = Column(String(255), nullable=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id", ondelete="SET NULL"), nullable=True, index=True)
    team = Column(String(50), nullable=False, default="customer-care", server_default="customer-care")
    agent_id = Column(Integer, ForeignKey("agents.id", ondelete="SET NULL"), nullable=True, index=True)
    queued_at = Column(UTCDateTime, nullable=True)
    taken_at = Column(UTCDateTime, nullable=True)
    first_response_at = Column(UTCDateTime, nullable=True)
    ended_at = Column(UTCDateTime, nullable=True)
    outcome = Column(String(16), nullable=True)

    user = relationship("User")
    ticket = relationship("Ticket")
    agent = relationship("Agent")

    @property
    def reference(self) -> str:
        return f"H-{self.id:06d}"

    @property
    def waiting(self) -> bool:
        return self.status == "open" and self.agent_id is None

    @validates("last_message")
    def _truncate_last_message(self, _key: str, value: Optional[str]) -> Optional[str]:
        return truncate_last_message(value)

    def __repr__(self) -> str:
        return f"<HumanRequest id={self.id} status={self.status}>"


def truncate_last_message(value: Optional[str]) -> Optional[str]:
    return value[:LAST_MESSAGE_MAX] if value is not None else None


class TranslationCache(Base):
    __tablename__ = "translation_cache"
    __table_args__ = (
        UniqueConstraint(
            "provider",
            "source_language",
            "target_language",
            "text_hash",
            name="uq_translation_cache_key",
        ),
    )

    id = Column(Integer, primary_key=True)
    provider = Column(String(32), nullable=False)
    source_language = Column(String(35), nullable=False)
    target_language = Column(String(35), nullable=False)
    text_hash = Column(String(64), nullable=False)
    source_text = Column(Text, nullable=False)
    translated_text = Column(Text, nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class InboundMessage(Base):
    """One delivery of a message from a channel, by the channel's own id (Telegram's update_id, Twilio's
    MessageSid): a second delivery of the same id is a retry, not a new message."""

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_inbound_messages_delivery"),)

    id = Column(Integer, primary_key=True)
    channel = Column(String(32), nullable=False)
    external_id = Column(String(128), nullable=False)
    received_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)


_OUTBOX_UNFINISHED_ONLY = text(_in("status", OUTBOX_UNFINISHED))


class OutboxMessage(Base):
    """A proactive message to one user, delivered by the outbox worker (backend.notifications).

    Either a catalogue ``response`` with ``params``, rendered at delivery time in the recipient's language,
    or a ready ``text``. ``channel`` and ``address`` record where it was actually delivered.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint(_in("status", OUTBOX_STATUSES), name="status"),
        CheckConstraint("(response IS NULL) <> (text IS NULL)", name="content"),
        UniqueConstraint("idempotency_key", name="uq_outbox_messages_idempotency_key"),
        Index(None, "status", "id"),
        # Per-recipient ordering looks up a user's older unfinished messages; few rows are unfinished.
        Index(
            "ix_outbox_messages_unfinished_user",
            "user_id",
            "id",
            sqlite_where=_OUTBOX_UNFINISHED_ONLY,
            postgresql_where=_OUTBOX_UNFINISHED_ONLY,
        ),
    )

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    kind = Column(String(50), nullable=False)
    response = Column(String(100), nullable=True)
    params = Column(JSONType, nullable=True)
    text = Column(Text, nullable=True)
    idempotency_key = Column(String(255), nullable=False)
    status = Column(String(16), nullable=False, default="pending", server_default="pending")
    attempts = Column(Integer, nullable=False, default=0, server_default="0")
    next_attempt_at = Column(UTCDateTime, nullable=False, default=utcnow)
    lease_until = Column(UTCDateTime, nullable=True)
    claim_token = Column(String(32), nullable=True, index=True)
    last_error = Column(Text, nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    sent_at = Column(UTCDateTime, nullable=True)
    channel = Column(String(32), nullable=True)
    address = Column(String(255), nullable=True)

    user = relationship("User")

    def __repr__(self) -> str:
        return f"<OutboxMessage id={self.id} kind={self.kind} status={self.status}>"


class KbArticle(Base):
    """A knowledge-base article; its text in each language is a :class:`KbArticleText`."""

    __tablename__ = "kb_articles"

    id = Column(Integer, primary_key=True)
    slug = Column(String(100), nullable=False, unique=True)
    category = Column(String(50), nullable=False)
    published = Column(Boolean, nullable=False, default=True, server_default=true())
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    texts = relationship(
        "KbArticleText", back_populates="article", cascade="all, delete-orphan", order_by="KbArticleText.language"
    )

    def text_in(self, language: str) -> Optional["KbArticleText"]:
        return next((t for t in self.texts if t.language == language), None)

    def __repr__(self) -> str:
        return f"<KbArticle id={self.id} slug={self.slug}>"


class KbArticleText(Base):
    __tablename__ = "kb_article_texts"
    __table_args__ = (UniqueConstraint("article_id", "language"),)

    id = Column(Integer, primary_key=True)
    article_id = Column(Integer, ForeignKey("kb_articles.id", ondelete="CASCADE"), nullable=False, index=True)
    language = Column(String(35), nullable=False)
    title = Column(String(300), nullable=False)
    body = Column(Text, nullable=False)
    keywords = Column(JSONType, nullable=False, default=list)
    # Other ways customers ask for this article (the editor's "alternative phrasings"); searched like the text.
    questions = Column(JSONType, nullable=False, default=list)

    article = relationship("KbArticle", back_populates="texts")


class FaqQuery(Base):
    """A question put to the knowledge base, what it answered, and whether that helped."""

    __tablename__ = "faq_queries"
    __table_args__ = (
        CheckConstraint(_in("outcome", FAQ_OUTCOMES), name="outcome"),
        Index(None, "outcome", "created_at"),
    )

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True)
    language = Column(String(35), nullable=True)
    question = Column(Text, nullable=False)
    article_id = Column(Integer, ForeignKey("kb_articles.id", ondelete="SET NULL"), nullable=True, index=True)
    score = Column(Float, nullable=True)
    outcome = Column(String(16), nullable=False)
    helpful = Column(Boolean, nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    feedback_at = Column(UTCDateTime, nullable=True)

    article = relationship("KbArticle")


class Ticket(Base):
    """A support ticket. Its readable number is ``T-`` and the zero-padded id; owning it is what grants access."""

    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint(_in("category", TICKET_CATEGORIES), name="category"),
        CheckConstraint(_in("status", TICKET_STATUSES), name="status"),
        CheckConstraint(_in("priority", TICKET_PRIORITIES), name="priority"),
        CheckConstraint("rating IS NULL OR (rating BETWEEN 1 AND 5)", name="rating"),
        Index(None, "user_id", "status"),
        Index(None, "status", "team"),
    )

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    channel = Column(String(32), nullable=False)
    language = Column(String(35), nullable=True)
    category = Column(String(16), nullable=False)
    description = Column(Text, nullable=False)
    details = Column(String(200), nullable=True)
    fingerprint = Column(String(64), nullable=False)
    status = Column(String(16), nullable=False, default="open", server_default="open")
    priority = Column(String(16), nullable=False)
    team = Column(String(50), nullable=False)
    assignee = Column(String(200), nullable=True)
    escalation_level = Column(Integer, nullable=False, default=0, server_default="0")
    reopen_count = Column(Integer, nullable=False, default=0, server_default="0")
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow)
    first_response_due = Column(UTCDateTime, nullable=False)
    resolution_due = Column(UTCDateTime, nullable=False)
    first_response_at = Column(UTCDateTime, nullable=True)
    first_response_breached_at = Column(UTCDateTime, nullable=True)
    resolution_breached_at = Column(UTCDateTime, nullable=True)
    last_customer_activity_at = Column(UTCDateTime, nullable=False, default=utcnow)
    resolved_at = Column(UTCDateTime, nullable=True)
    closed_at = Column(UTCDateTime, nullable=True)
    closed_by = Column(String(16), nullable=True)
    rating = Column(Integer, nullable=True)
    rating_comment = Column(Text, nullable=True)
    rated_at = Column(UTCDateTime, nullable=True)

    user = relationship("User")
    comments = relationship(
        "TicketComment", back_populates="ticket", cascade="all, delete-orphan", order_by="TicketComment.id"
    )

    @property
    def reference(self) -> str:
        return format_ticket_reference(self.id)

    def __repr__(self) -> str:
        return f"<Ticket id={self.id} status={self.status}>"


def format_ticket_reference(ticket_id: int) -> str:
    return f"T-{ticket_id:06d}"


class TicketComment(Base):
    __tablename__ = "ticket_comments"
    __table_args__ = (CheckConstraint(_in("author_type", COMMENT_AUTHORS), name="author_type"),)

    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True)
    author_type = Column(String(16), nullable=False)
    author = Column(String(200), nullable=False)
    body = Column(Text, nullable=False)
    internal = Column(Boolean, nullable=False, default=False, server_default=false())
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)

    ticket = relationship("Ticket", back_populates="comments")


class WebInboxMessage(Base):
    """A notification delivered to a web chat user, waiting for their page to fetch it."""

    __tablename__ = "web_inbox"
    __table_args__ = (Index(None, "address", "id"),)

    id = Column(Integer, primary_key=True)
    address = Column(String(255), nullable=False)
    idempotency_key = Column(String(255), nullable=False, unique=True)
    text = Column(Text, nullable=False)
    buttons = Column(JSONType, nullable=False, default=list)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class Location(Base):
    """A store or a warehouse."""

    __tablename__ = "locations"
    __table_args__ = (CheckConstraint(_in("kind", LOCATION_KINDS), name="kind"),)

    id = Column(Integer, primary_key=True)
    code = Column(String(32), nullable=False, unique=True)
    name = Column(String(200), nullable=False)
    kind = Column(String(16), nullable=False)


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (CheckConstraint("price_paise >= 0", name="price"),)

    id = Column(Integer, primary_key=True)
    sku = Column(String(64), nullable=False, unique=True)
    category = Column(String(50), nullable=False)
    unit = Column(String(32), nullable=False)
    price_paise = Column(Integer, nullable=False)  # exact on every database (SQLite has no decimal type)
    active = Column(Boolean, nullable=False, default=True, server_default=true())
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    names = relationship("ProductName", back_populates="product", cascade="all, delete-orphan",
                         order_by="ProductName.id")

    @property
    def price(self) -> Decimal:
        return Decimal(self.price_paise) / 100

    def name_in(self, language: str) -> Optional[str]:
        found = [n.name for n in self.names if n.kind == "name" and n.language == language]
        english = [n.name for n in self.names if n.kind == "name" and n.language == "en"]
        return (found or english or [self.sku])[0]


class ProductName(Base):
    """A product's name or an alias in one language: what chat messages are matched against."""

    __tablename__ = "product_names"
    __table_args__ = (
        CheckConstraint(_in("kind", PRODUCT_NAME_KINDS), name="kind"),
        UniqueConstraint("product_id", "language", "name"),
    )

    id = Column(Integer, primary_key=True)
    product_id = Column(Integer, ForeignKey("products.id", ondelete="CASCADE"), nullable=False, index=True)
    language = Column(String(35), nullable=False)
    name = Column(String(200), nullable=False)
    kind = Column(String(16), nullable=False)

    product = relationship("Product", back_populates="names")


class StockLevel(Base):
    """The quantity of a product at a location. Changed only with a ledger movement (services.stock)."""

    __tablename__ = "stock_levels"
    __table_args__ = (
        UniqueConstraint("product_id", "location_id"),
        CheckConstraint("quantity >= 0", name="quantity"),
        CheckConstraint("reorder_point >= 0", name="reorder_point"),
    )

    id = Column(Integer, primary_key=True)
    product_id = Column(Integer, ForeignKey("products.id", ondelete="CASCADE"), nullable=False, index=True)
    location_id = Column(Integer, ForeignKey("locations.id", ondelete="CASCADE"), nullable=False, index=True)
    quantity = Column(Integer, nullable=False, default=0, server_default="0")
    reorder_point = Column(Integer, nullable=False, default=0, server_default="0")
    # True from the low-stock alert until the level rises above the reorder point again.
    low_alerted = Column(Boolean, nullable=False, default=False, server_default=false())
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow)

    product = relationship("Product")
    location = relationship("Location")


class StockMovement(Base):
    """Append-only ledger of stock changes; a level always equals the sum of its movements."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        CheckConstraint(_in("kind", MOVEMENT_KINDS), name="kind"),
        UniqueConstraint("idempotency_key", name="uq_stock_movements_idempotency_key"),
        Index(None, "product_id", "location_id", "id"),
    )

    id = Column(Integer, primary_key=True)
    product_id = Column(Integer, ForeignKey("products.id"), nullable=False)
    location_id = Column(Integer, ForeignKey("locations.id"), nullable=False)
    kind = Column(String(20), nullable=False)
    delta = Column(Integer, nullable=False)
    balance_after = Column(Integer, nullable=False)
    actor = Column(String(200), nullable=False)
    channel = Column(String(32), nullable=True)
    reason = Column(Text, nullable=True)
    transfer_id = Column(String(32), nullable=True)
    idempotency_key = Column(String(255), nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class RetailerLocation(Base):
    """Which locations a retailer manages (sees counts of and changes)."""

    __tablename__ = "retailer_locations"
    __table_args__ = (UniqueConstraint("user_id", "location_id"),)

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    location_id = Column(Integer, ForeignKey("locations.id", ondelete="CASCADE"), nullable=False)


class RetailerInvite(Base):
    """An admin's invitation for a retailer to link one chat account to a location, proven with a one-time code
    (stored hashed) that expires, is used once and allows a few wrong tries."""

    __tablename__ = "retailer_invites"
    __table_args__ = (Index(None, "channel", "address"),)

    id = Column(Integer, primary_key=True)
    location_id = Column(Integer, ForeignKey("locations.id", ondelete="CASCADE"), nullable=False)
    display_name = Column(String(200), nullable=False)
    channel = Column(String(32), nullable=False)
    address = Column(String(255), nullable=False)  # the chat identity that must redeem it
    code_hash = Column(String(64), nullable=False)
    expires_at = Column(UTCDateTime, nullable=False)
    failed_attempts = Column(Integer, nullable=False, default=0, server_default="0")
    used_at = Column(UTCDateTime, nullable=True)
    used_by = Column(Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_by = Column(String(200), nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)

    location = relationship("Location")


class Agent(Base):
    """A person who answers customers in the agent console. Passwords are stored as Argon2id hashes."""

    __tablename__ = "agents"

    id = Column(Integer, primary_key=True)
    username = Column(String(64), nullable=False, unique=True)
    display_name = Column(String(200), nullable=False)
    password_hash = Column(String(255), nullable=False)
    language = Column(String(35), nullable=False, default="en", server_default="en")
    is_admin = Column(Boolean, nullable=False, default=False, server_default=false())
    active = Column(Boolean, nullable=False, default=True, server_default=true())
    failed_logins = Column(Integer, nullable=False, default=0, server_default="0")
    locked_until = Column(UTCDateTime, nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    last_login_at = Column(UTCDateTime, nullable=True)

    teams = relationship("AgentTeam", cascade="all, delete-orphan", order_by="AgentTeam.team")

    @property
    def team_names(self) -> list[str]:
        return [t.team for t in self.teams]

    def __repr__(self) -> str:
        return f"<Agent id={self.id} username={self.username}>"


class AgentTeam(Base):
    __tablename__ = "agent_teams"
    __table_args__ = (UniqueConstraint("agent_id", "team"),)

    id = Column(Integer, primary_key=True)
    agent_id = Column(Integer, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False, index=True)
    team = Column(String(50), nullable=False)


class AgentSession(Base):
    """A logged-in console session: the cookie carries the token, the database keeps only its hash."""

    __tablename__ = "agent_sessions"

    id = Column(Integer, primary_key=True)
    token_hash = Column(String(64), nullable=False, unique=True)
    agent_id = Column(Integer, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False, index=True)
    csrf_token = Column(String(64), nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = Column(UTCDateTime, nullable=False)

    agent = relationship("Agent")


class HandoffMessage(Base):
    """One entry of a handoff as the console shows it: a customer message, an agent reply, an internal note, or
    a system event (queued, taken, transferred, returned, closed). Its id also orders the console's live feed."""

    __tablename__ = "handoff_messages"
    __table_args__ = (
        CheckConstraint(_in("kind", HANDOFF_MESSAGE_KINDS), name="kind"),
        Index(None, "request_id", "id"),
    )

    id = Column(Integer, primary_key=True)
    request_id = Column(Integer, ForeignKey("human_requests.id", ondelete="CASCADE"), nullable=False)
    kind = Column(String(16), nullable=False)
    author = Column(String(200), nullable=True)
    text = Column(Text, nullable=False)
    language = Column(String(35), nullable=True)
    translation = Column(Text, nullable=True)
    translation_language = Column(String(35), nullable=True)
    # Idempotency for customer messages relayed by the action server (the Rasa event id).
    external_id = Column(String(128), nullable=True, unique=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class AuditLogImmutable(RuntimeError):
    """An attempt to change or delete an audit log entry."""


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, _context: Any, _instances: Any) -> None:
    for obj in session.deleted:
        if isinstance(obj, (AuditLog, StockMovement)):
            raise AuditLogImmutable(f"{obj.__tablename__} entry {obj.id} cannot be deleted")
    for obj in session.dirty:
        if isinstance(obj, (AuditLog, StockMovement)) and session.is_modified(obj):
            raise AuditLogImmutable(f"{obj.__tablename__} entry {obj.id} cannot be changed")


@event.listens_for(Session, "do_orm_execute")
def _refuse_audit_bulk_changes(state: Any) -> None:
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    append_only = (AuditLog, StockMovement)
    if table in (AuditLog.__table__, StockMovement.__table__) or any(m.class_ in append_only for m in state.all_mappers):
        raise AuditLogImmutable("audit log and stock ledger entries cannot be changed or deleted")
