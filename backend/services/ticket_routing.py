"""Where a ticket goes and how fast it must be handled: team and priority by category, SLA targets by priority."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from backend.models import TICKET_CATEGORIES, TICKET_PRIORITIES

TEAMS = {
    "delivery": "logistics",
    "payment": "billing",
    "product": "product-care",
    "account": "accounts",
    "device": "device-support",
    "other": "customer-care",
}

# A child-safety watch that fails and money taken wrongly cannot wait.
PRIORITIES = {
    "delivery": "normal",
    "payment": "high",
    "product": "normal",
    "account": "normal",
    "device": "high",
    "other": "low",
}


@dataclass(frozen=True)
class SlaTarget:
    first_response: timedelta
    resolution: timedelta


SLA_TARGETS = {
    "urgent": SlaTarget(timedelta(minutes=30), timedelta(hours=4)),
    "high": SlaTarget(timedelta(hours=1), timedelta(hours=8)),
    "normal": SlaTarget(timedelta(hours=4), timedelta(hours=48)),
    "low": SlaTarget(timedelta(hours=24), timedelta(hours=120)),
}

assert set(TEAMS) == set(PRIORITIES) == set(TICKET_CATEGORIES)
assert set(SLA_TARGETS) == set(TICKET_PRIORITIES)


@dataclass(frozen=True)
class Route:
    team: str
    priority: str
    first_response_due: datetime
    resolution_due: datetime


def route(category: str, opened_at: datetime, description: str = "") -> Route:
    """The team, priority and SLA due times of a new ticket in ``category`` (urgent: see :func:`is_urgent`)."""
    if category not in TEAMS:
        raise ValueError(f"category must be one of {', '.join(TICKET_CATEGORIES)}, got {category!r}")
    priority = "urgent" if is_urgent(category, description) else PRIORITIES[category]
    target = SLA_TARGETS[priority]
    return Route(TEAMS[category], priority, opened_at + target.first_response, opened_at + target.resolution)


def escalated(priority: str) -> str:
    """The next priority up (urgent stays urgent)."""
    index = TICKET_PRIORITIES.index(priority)
    return TICKET_PRIORITIES[min(index + 1, len(TICKET_PRIORITIES) - 1)]


def first_response_hours(priority: str) -> int:
    """The first-response target in whole hours (at least 1), as told to customers."""
    return max(1, round(SLA_TARGETS[priority].first_response.total_seconds() / 3600))


# Problems that go to a person at once, whatever the queue: a child-safety watch whose SOS fails, money taken
# twice. Words in every native language (romanized Hindi and Tamil included); Latin words match whole.
URGENT_SIGNS = {
    "device": (
        "sos", "emergency", "emergencia", "urgent", "urgente", "एसओएस", "आपातकाल", "आपात", "इमरजेंसी",
        "அவசர", "எஸ்ஓஎஸ்", "avasaram", "avasara", "aapatkal",
    ),
    "payment": (
        "twice", "two times", "2 times", "double charged", "charged double", "double payment", "dos veces",
        "doble", "duplicado", "cobrado dos", "दो बार", "डबल", "2 बार", "do baar", "do bar", "double",
        "இரண்டு முறை", "ரெண்டு தடவை", "இரண்டு தடவை", "2 தடவை", "rendu thadava", "rendu murai", "rendu dhadava",
    ),
}
_URGENT_PATTERNS = {
    category: re.compile(
        "|".join(rf"\b{re.escape(w)}\b" if w.isascii() else re.escape(w) for w in words), re.IGNORECASE
    )
    for category, words in URGENT_SIGNS.items()
}


def is_urgent(category: str, description: str) -> bool:
    """A device SOS problem or a payment taken twice."""
    pattern = _URGENT_PATTERNS.get(category)
    return bool(pattern and pattern.search(description or ""))
