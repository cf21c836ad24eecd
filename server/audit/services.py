"""Writing and reading the audit trail. Entries are written in the same transaction as the
change they describe, so a change and its audit entry commit (or roll back) together."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.models import AuditEvent
from server.auth.identity import Actor

__all__ = ["diff", "jsonable", "list_events", "record"]


def jsonable(value: Any) -> Any:
    """A JSON-safe form of a column value (dates and UUIDs as strings)."""
    if isinstance(value, dt.datetime | dt.date | uuid.UUID):
        return value.isoformat() if not isinstance(value, uuid.UUID) else str(value)
    if hasattr(value, "value"):
        return value.value
    return value


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for each field whose value changed."""
    return {
        key: [jsonable(before.get(key)), jsonable(value)] for key, value in after.items() if before.get(key) != value
    }


def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: Any,
    changes: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one audit entry to the session (committed with the change itself)."""
    event = AuditEvent(
        actor_id=actor.user_id,
        actor_role=actor.role,
        device_id=actor.device_id,
        request_id=actor.request_id,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        changes={k: jsonable(v) if not isinstance(v, list) else v for k, v in (changes or {}).items()},
    )
    session.add(event)
    return event


async def list_events(
    session: AsyncSession,
    *,
    entity: str | None = None,
    entity_id: str | None = None,
    actor_id: uuid.UUID | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[AuditEvent]:
    """Audit entries in the order they were written, filtered, after ``after_id``."""
    query = select(AuditEvent).where(AuditEvent.id > after_id).order_by(AuditEvent.id).limit(limit)
    if entity:
        query = query.where(AuditEvent.entity == entity)
    if entity_id:
        query = query.where(AuditEvent.entity_id == entity_id)
    if actor_id:
        query = query.where(AuditEvent.actor_id == actor_id)
    return list((await session.scalars(query)).all())
