"""Append-only audit trail of changes made on behalf of users and operators."""
from __future__ import annotations

from typing import Any, Optional

from sqlalchemy.orm import Session

from backend.models import AuditLog


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    subject_type: Optional[str],
    subject_id: Any,
    details: Optional[dict[str, Any]] = None,
) -> AuditLog:
    """Add an audit entry to the session (flushed, not committed)."""
    if not actor or not action:
        raise ValueError("audit entries need an actor and an action")
    entry = AuditLog(
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        details=details,
    )
    session.add(entry)
    session.flush()
    return entry
