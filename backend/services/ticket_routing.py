"""Where a ticket goes and how fast it must be handled: team and priority by category, SLA targets by priority."""
from __future__ import annotations

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


def route(category: str, opened_at: datetime) -> Route:
    """The team, priority and SLA due times of a new ticket in ``category``."""
    if category not in TEAMS:
        raise ValueError(f"category must be one of {', '.join(TICKET_CATEGORIES)}, got {category!r}")
    priority = PRIORITIES[category]
    target = SLA_TARGETS[priority]
    return Route(TEAMS[category], priority, opened_at + target.first_response, opened_at + target.resolution)


def escalated(priority: str) -> str:
    """The next priority up (urgent stays urgent)."""
    index = TICKET_PRIORITIES.index(priority)
    return TICKET_PRIORITIES[min(index + 1, len(TICKET_PRIORITIES) - 1)]


def first_response_hours(priority: str) -> int:
    """The first-response target in whole hours (at least 1), as told to customers."""
    return max(1, round(SLA_TARGETS[priority].first_response.total_seconds() / 3600))
