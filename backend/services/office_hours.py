"""When people answer the chat: ``SUPPORT_HOURS`` such as ``mon-fri 09:00-18:00, sat 10:00-14:00`` in
``SUPPORT_TIMEZONE``. An empty value means someone is always there."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^(?P<first>[a-z]{3})(?:-(?P<last>[a-z]{3}))?\s+(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$")


@dataclass(frozen=True)
class OfficeHours:
    """Opening times per weekday (0 = Monday) in ``zone``; ``None`` hours means always open."""

    hours: Optional[dict[int, tuple[time, time]]]
    zone: ZoneInfo

    @property
    def always_open(self) -> bool:
        return self.hours is None

    def is_open(self, at: datetime) -> bool:
        if self.hours is None:
            return True
        local = at.astimezone(self.zone)
        span = self.hours.get(local.weekday())
        return span is not None and span[0] <= local.time() < span[1]

    def next_opening(self, at: datetime) -> datetime:
        """The next moment the team is there (``at`` itself when open now), as an aware datetime in ``zone``."""
        if self.is_open(at):
            return at.astimezone(self.zone)
        local = at.astimezone(self.zone)
        for offset in range(8):
            day = (local + timedelta(days=offset)).date()
            span = self.hours.get(day.weekday()) if self.hours else None
            if span is None:
                continue
            opening = datetime.combine(day, span[0], tzinfo=self.zone)
            if opening > local:
                return opening
        raise ValueError("office hours have no opening day")  # pragma: no cover - parse() refuses that


def parse(spec: str, timezone: str = "Asia/Kolkata") -> OfficeHours:
    """Parse ``SUPPORT_HOURS``; raises ValueError with a message fit for the operator."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"SUPPORT_TIMEZONE must be a time zone such as 'Asia/Kolkata', got {timezone!r}") from None
    spec = (spec or "").strip().lower()
    if not spec:
        return OfficeHours(None, zone)
    hours: dict[int, tuple[time, time]] = {}
    for part in (p.strip() for p in spec.split(",")):
        match = _SPAN.match(part)
        if not match or match["first"] not in DAYS or (match["last"] and match["last"] not in DAYS):
            raise ValueError(
                f"SUPPORT_HOURS: cannot read {part!r}; write e.g. 'mon-fri 09:00-18:00, sat 10:00-14:00'"
            )
        start, end = _clock(match["start"], part), _clock(match["end"], part)
        if not start < end:
            raise ValueError(f"SUPPORT_HOURS: {part!r} closes before it opens")
        first = DAYS.index(match["first"])
        last = DAYS.index(match["last"] or match["first"])
        for day in range(first, last + 1) if first <= last else [*range(first, 7), *range(0, last + 1)]:
            hours[day] = (start, end)
    return OfficeHours(hours, zone)


def _clock(value: str, part: str) -> time:
    hour, minute = (int(x) for x in value.split(":"))
    if hour == 24 and minute == 0:
        return time.max
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValueError(f"SUPPORT_HOURS: {value!r} in {part!r} is not a time of day")
    return time(hour, minute)
